from ._pipeline import (
    FeatureSpec as FeatureSpec,
    parse_feature_spec as parse_feature_spec,
    arithmetic_pairs as arithmetic_pairs,
    ColumnRoles as ColumnRoles,
    infer_roles as infer_roles,
    build_feature_pipeline as build_feature_pipeline,
    feature_sources as feature_sources,
    FittedFeaturePipeline as FittedFeaturePipeline,
    load_feature_pipeline as load_feature_pipeline,
    fit_feature_pipeline as fit_feature_pipeline,
    FEATURE_FEEDBACK_KEYS as FEATURE_FEEDBACK_KEYS,
    revise_spec as revise_spec,
)
from ._selection import (
    quality_scoring as quality_scoring,
    model_pipeline as model_pipeline,
    mutual_information as mutual_information,
    correlated_pairs as correlated_pairs,
    SelectionRound as SelectionRound,
    SelectionResult as SelectionResult,
    select_features as select_features,
)
from ._serving_skew import (
    default_serving_transform as default_serving_transform,
    json_records as json_records,
    FeatureSkew as FeatureSkew,
    SkewReport as SkewReport,
    compare_offline_serving as compare_offline_serving,
    load_serving_transform as load_serving_transform,
)
from ._transformers import (
    DATETIME_PARTS as DATETIME_PARTS,
    DatetimeParts as DatetimeParts,
    ColumnArithmetic as ColumnArithmetic,
    TextHashing as TextHashing,
    MissingAsNaN as MissingAsNaN,
)
