from ._bootstrap import (
    MAX_CELLS as MAX_CELLS,
    Estimate as Estimate,
    poisson_counts as poisson_counts,
    poisson_one as poisson_one,
    weight_chunks as weight_chunks,
    bootstrap_samples as bootstrap_samples,
    percentile_interval as percentile_interval,
    bias_corrected_interval as bias_corrected_interval,
    estimate as estimate,
    safe_divide as safe_divide,
)
from ._calibration import (
    ReliabilityBin as ReliabilityBin,
    CalibrationResult as CalibrationResult,
    expected_calibration_error as expected_calibration_error,
    reliability_figure as reliability_figure,
    RecalibrationResult as RecalibrationResult,
    recalibrate as recalibrate,
)
from ._metric_catalog import (
    CLASSIFICATION as CLASSIFICATION,
    REGRESSION as REGRESSION,
    Metric as Metric,
    MetricInfo as MetricInfo,
    METRICS as METRICS,
    ALIASES as ALIASES,
    find_metric as find_metric,
    charter_metric_names as charter_metric_names,
    get_metric as get_metric,
    metric_info as metric_info,
    default_training_metric as default_training_metric,
    default_success_metric as default_success_metric,
)
from ._metrics import (
    CLASSIFICATION_METRICS as CLASSIFICATION_METRICS,
    REGRESSION_METRICS as REGRESSION_METRICS,
    LOWER_IS_BETTER as LOWER_IS_BETTER,
    MetricSet as MetricSet,
    weighted_auc_and_ap as weighted_auc_and_ap,
    weighted_roc_auc as weighted_roc_auc,
    weighted_average_precision as weighted_average_precision,
    binary_metrics as binary_metrics,
    multiclass_metrics as multiclass_metrics,
    regression_metrics as regression_metrics,
)
from ._scoring import (
    infer_task as infer_task,
    score as score,
    no_skill_score as no_skill_score,
    metric_scorer as metric_scorer,
)
