from ._ab_cleaning import (
    METRIC_TYPES as METRIC_TYPES,
    CleaningReport as CleaningReport,
    infer_metric_type as infer_metric_type,
    check_table as check_table,
    has_repeats as has_repeats,
    clean_assignments as clean_assignments,
)
from ._ab_plan import (
    Guardrail as Guardrail,
    PreRegistration as PreRegistration,
    parse_guardrail as parse_guardrail,
    read_preregistration as read_preregistration,
)
from ._ab_readout import (
    MetricReadout as MetricReadout,
    Readout as Readout,
    metric_readout as metric_readout,
    guardrail_breached as guardrail_breached,
    segment_effects as segment_effects,
    decide as decide,
    lift_figure as lift_figure,
)
from ._ab_stats import (
    SrmResult as SrmResult,
    sample_ratio_mismatch as sample_ratio_mismatch,
    Summary as Summary,
    summarise as summarise,
    TestResult as TestResult,
    two_proportion_ztest as two_proportion_ztest,
    welch_ttest as welch_ttest,
    mann_whitney as mann_whitney,
    BOOTSTRAP_BUCKETS as BOOTSTRAP_BUCKETS,
    bucket_sums as bucket_sums,
    bootstrap_difference as bootstrap_difference,
    BayesResult as BayesResult,
    bayes_binary as bayes_binary,
    bayes_normal as bayes_normal,
    CupedResult as CupedResult,
    cuped as cuped,
    LiftResult as LiftResult,
    relative_lift as relative_lift,
    adjust_pvalues as adjust_pvalues,
)
from ._power import (
    ALTERNATIVES as ALTERNATIVES,
    PowerPlan as PowerPlan,
    effect_size as effect_size,
    mde_for_group_size as mde_for_group_size,
    plan_power as plan_power,
    baseline_from_data as baseline_from_data,
)
from ._sequential import (
    Look as Look,
    SequentialResult as SequentialResult,
    msprt_pvalue as msprt_pvalue,
    msprt_radius as msprt_radius,
    sequential_monitor as sequential_monitor,
    sequential_figure as sequential_figure,
)
