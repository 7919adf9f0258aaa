from ._charter import (
    CHARTER_VERSION as CHARTER_VERSION,
    CharterMetric as CharterMetric,
    Charter as Charter,
    write_charter as write_charter,
    charter_from_dict as charter_from_dict,
    load_charter as load_charter,
)
from ._handoff import (
    SELECTION_KIND as SELECTION_KIND,
    TUNABLE as TUNABLE,
    Selection as Selection,
    write_selection as write_selection,
    read_selection as read_selection,
    FeatureHandoff as FeatureHandoff,
    read_feature_pipeline as read_feature_pipeline,
)
from ._review_feedback import (
    FeedbackPart as FeedbackPart,
    Feedback as Feedback,
    normalize_key as normalize_key,
    parse_feedback as parse_feedback,
)
