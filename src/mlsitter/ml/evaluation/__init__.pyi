from ._business_value import (
    OUTCOMES as OUTCOMES,
    CostMatrix as CostMatrix,
    parse_cost_matrix as parse_cost_matrix,
    BusinessValue as BusinessValue,
    business_value as business_value,
    value_curve_figure as value_curve_figure,
)
from ._fairness import (
    FairnessResult as FairnessResult,
    MAX_GROUPS as MAX_GROUPS,
    SensitiveGroups as SensitiveGroups,
    sensitive_groups as sensitive_groups,
    binned_labels as binned_labels,
    fairness_by_group as fairness_by_group,
    fairness_figure as fairness_figure,
    OTHER_GROUPS as OTHER_GROUPS,
    combined_groups as combined_groups,
    fit_groups as fit_groups,
    MitigatedModel as MitigatedModel,
    MitigationResult as MitigationResult,
    mitigate_with_threshold_optimizer as mitigate_with_threshold_optimizer,
)
from ._robustness import (
    PerturbationResult as PerturbationResult,
    add_numeric_noise as add_numeric_noise,
    swap_categories as swap_categories,
    inject_missing as inject_missing,
    PERTURBATIONS as PERTURBATIONS,
    robustness_report as robustness_report,
)
from ._scored_data import (
    Y_TRUE as Y_TRUE,
    Y_PRED as Y_PRED,
    Y_SCORE as Y_SCORE,
    LABEL as LABEL,
    ModelInfo as ModelInfo,
    ScoredData as ScoredData,
    file_sha256 as file_sha256,
    model_task as model_task,
    load_quiet as load_quiet,
    feature_frame as feature_frame,
    positive_of as positive_of,
    read_scored as read_scored,
)
from ._slices import (
    SliceResult as SliceResult,
    wilson_interval as wilson_interval,
    worst_slices as worst_slices,
    confusion_figure as confusion_figure,
    residual_figure as residual_figure,
)
