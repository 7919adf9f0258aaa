from ._counterfactuals import (
    CounterfactualProbe as CounterfactualProbe,
    counterfactual_probes as counterfactual_probes,
)
from ._explainers import (
    TREE_MODULES as TREE_MODULES,
    TREE_CLASSES as TREE_CLASSES,
    ShapExplanation as ShapExplanation,
    split_pipeline as split_pipeline,
    explainer_kind as explainer_kind,
    transform_features as transform_features,
    original_column_groups as original_column_groups,
    explain_with_shap as explain_with_shap,
    beeswarm_figure as beeswarm_figure,
    dependence_figure as dependence_figure,
    local_explanations as local_explanations,
    waterfall_figure as waterfall_figure,
)
from ._feature_effects import (
    PermutationImportance as PermutationImportance,
    permutation_importances as permutation_importances,
    is_numeric_feature as is_numeric_feature,
    partial_dependence_figure as partial_dependence_figure,
)
from ._importance_stability import (
    RankStability as RankStability,
    rank_stability as rank_stability,
)
from ._model_card import (
    SECTIONS as SECTIONS,
    FAIRNESS_COLUMNS as FAIRNESS_COLUMNS,
    CardSection as CardSection,
    ModelCard as ModelCard,
    section_for as section_for,
    build_model_card as build_model_card,
    apply_feedback as apply_feedback,
    render_model_card as render_model_card,
)
