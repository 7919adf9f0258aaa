from ._correlation import (
    Associations as Associations,
    category_codes as category_codes,
    cramers_v as cramers_v,
    pair_support as pair_support,
    correlation_ratio as correlation_ratio,
    vif_from_correlation as vif_from_correlation,
    compute_associations as compute_associations,
    matrix_frame as matrix_frame,
)
from ._data_split import (
    Split as Split,
    split_train_test as split_train_test,
)
from ._dataset_version import (
    MANIFEST as MANIFEST,
    LATEST as LATEST,
    DatasetManifest as DatasetManifest,
    content_hash as content_hash,
    version_id as version_id,
    latest_version as latest_version,
    read_manifest as read_manifest,
    register_version as register_version,
    lineage as lineage,
)
from ._leakage import (
    LeakageFinding as LeakageFinding,
    LeakageReport as LeakageReport,
    POST_OUTCOME_WORDS as POST_OUTCOME_WORDS,
    has_post_outcome_name as has_post_outcome_name,
    single_feature_scores as single_feature_scores,
    rest_score as rest_score,
    check_feature_leakage as check_feature_leakage,
    reconstructed_target as reconstructed_target,
    post_outcome_by_time as post_outcome_by_time,
    target_encoding_gap as target_encoding_gap,
    row_overlap as row_overlap,
    time_split_leakage as time_split_leakage,
)
from ._outliers import (
    ColumnOutliers as ColumnOutliers,
    RowOutliers as RowOutliers,
    OutlierReport as OutlierReport,
    column_outliers as column_outliers,
    row_outliers as row_outliers,
    detect_outliers as detect_outliers,
)
from ._identifiers import (
    MIN_ROWS as MIN_ROWS,
    IdentifierColumn as IdentifierColumn,
    looks_like_id_name as looks_like_id_name,
    find_identifiers as find_identifiers,
)
from ._pii import (
    PiiFinding as PiiFinding,
    find_pii_columns as find_pii_columns,
)
from ._profiling import (
    KINDS as KINDS,
    QUANTILES as QUANTILES,
    ColumnProfile as ColumnProfile,
    DatasetProfile as DatasetProfile,
    parse_date_strings as parse_date_strings,
    infer_kinds as infer_kinds,
    profile_frame as profile_frame,
)
from ._quality import (
    DimensionScore as DimensionScore,
    QualityAssessment as QualityAssessment,
    parse_rule as parse_rule,
    parse_duration as parse_duration,
    completeness as completeness,
    validity as validity,
    consistency as consistency,
    uniqueness as uniqueness,
    timeliness as timeliness,
    assess as assess,
)
from ._quarantine import (
    REASON_COLUMN as REASON_COLUMN,
    ROW_COLUMN as ROW_COLUMN,
    SOURCE_COLUMN as SOURCE_COLUMN,
    QuarantineSplit as QuarantineSplit,
    split_rows as split_rows,
    reason_counts as reason_counts,
    write_split as write_split,
)
from ._schema_contract import (
    SchemaDiff as SchemaDiff,
    ContractViolations as ContractViolations,
    dtype_name as dtype_name,
    infer_contract as infer_contract,
    save_contract as save_contract,
    load_contract as load_contract,
    contract_hash as contract_hash,
    diff_contract as diff_contract,
    update_contract as update_contract,
    enforce_contract as enforce_contract,
)
from ._target_analysis import (
    FeaturePower as FeaturePower,
    TargetAnalysis as TargetAnalysis,
    target_task as target_task,
    out_of_fold_means as out_of_fold_means,
    analyze_target as analyze_target,
)
