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
from ._feature_definitions import (
    EntityDefinition as EntityDefinition,
    FeatureViewDefinition as FeatureViewDefinition,
    FeatureDefinitions as FeatureDefinitions,
    SourceColumns as SourceColumns,
    DefinitionChange as DefinitionChange,
    load_spec as load_spec,
    parse_definitions as parse_definitions,
    describe_source as describe_source,
    diff_definitions as diff_definitions,
)
from ._feature_store import (
    AppliedVersion as AppliedVersion,
    Materialization as Materialization,
    ViewFreshness as ViewFreshness,
    require_feast as require_feast,
    create_local_repo as create_local_repo,
    open_store as open_store,
    read_source_table as read_source_table,
    stage_source as stage_source,
    check_unique_rows as check_unique_rows,
    write_source as write_source,
    feast_objects as feast_objects,
    definition_history as definition_history,
    applied_definitions as applied_definitions,
    definitions_from_registry as definitions_from_registry,
    apply_definitions as apply_definitions,
    materialize as materialize,
    freshness as freshness,
)
from ._point_in_time import (
    TrainingSet as TrainingSet,
    check_entity_frame as check_entity_frame,
    point_in_time_join as point_in_time_join,
)
from ._online_features import (
    OnlineFeatureLookup as OnlineFeatureLookup,
    ConsistencyMismatch as ConsistencyMismatch,
    ConsistencyReport as ConsistencyReport,
    check_consistency as check_consistency,
)
