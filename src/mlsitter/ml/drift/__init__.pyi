from ._profile import (
    Columns as Columns,
    columns_of as columns_of,
    CATEGORICAL as CATEGORICAL,
    NUMERIC as NUMERIC,
    FeatureProfile as FeatureProfile,
    ReferenceProfile as ReferenceProfile,
    build_profile as build_profile,
    check_window as check_window,
    load_profile as load_profile,
    read_frame as read_frame,
    save_profile as save_profile,
)
from ._stats import (
    EFFECTS as EFFECTS,
    FeatureDrift as FeatureDrift,
    Thresholds as Thresholds,
    WindowDrift as WindowDrift,
    compare_feature as compare_feature,
    compare_window as compare_window,
    decide as decide,
    psi as psi,
)
from ._performance import (
    Performance as Performance,
    estimated_accuracy as estimated_accuracy,
    labelled_accuracy as labelled_accuracy,
    calibrate as calibrate,
    as_labels as as_labels,
)
