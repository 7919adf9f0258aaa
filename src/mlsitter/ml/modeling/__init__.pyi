from ._candidates import (
    CANDIDATE_NAMES as CANDIDATE_NAMES,
    INTERPRETABLE as INTERPRETABLE,
    BASELINES as BASELINES,
    Candidate as Candidate,
    candidate_name as candidate_name,
    parse_candidate_names as parse_candidate_names,
    build_candidates as build_candidates,
)
from ._cross_validation import (
    CVResult as CVResult,
    split_indices as split_indices,
    predict_scores as predict_scores,
    cross_validate as cross_validate,
)
from ._family_names import (
    Family as Family,
    FAMILIES as FAMILIES,
    family_key as family_key,
    find_family as find_family,
    canonical_family as canonical_family,
    candidate_names as candidate_names,
    tunable_families as tunable_families,
)
from ._final_fit import (
    FinalFit as FinalFit,
    test_metrics as test_metrics,
    builtin_importances as builtin_importances,
    importances_of as importances_of,
    fit_final as fit_final,
)
from ._generalization import (
    measure_gaps as measure_gaps,
)
from ._hpo import (
    storage_url as storage_url,
    study_name_for as study_name_for,
    load_study as load_study,
    space_from_dict as space_from_dict,
    TrialAsk as TrialAsk,
    ask_trials as ask_trials,
    TrialOutcome as TrialOutcome,
    evaluate_trial as evaluate_trial,
    StudySummary as StudySummary,
    tell_trials as tell_trials,
    summarize_study as summarize_study,
    trials_without_improvement as trials_without_improvement,
    is_converged as is_converged,
    check_budget as check_budget,
    evaluate_asked_trial as evaluate_asked_trial,
)
from ._model_comparison import (
    CorrectedTTest as CorrectedTTest,
    corrected_resampled_ttest as corrected_resampled_ttest,
    corrected_interval as corrected_interval,
    CandidateResult as CandidateResult,
    Comparison as Comparison,
    compare_candidates as compare_candidates,
    recommend as recommend,
)
from ._model_families import (
    SCALED_ONE_HOT as SCALED_ONE_HOT,
    NATIVE_MISSING as NATIVE_MISSING,
    ColumnKinds as ColumnKinds,
    column_kinds as column_kinds,
    expand_datetimes as expand_datetimes,
    EncodedTargetClassifier as EncodedTargetClassifier,
    make_estimator as make_estimator,
    build_pipeline as build_pipeline,
    feature_names as feature_names,
    model_size_bytes as model_size_bytes,
)
from ._model_loading import (
    PICKLE_SUFFIXES as PICKLE_SUFFIXES,
    UNTRUSTED_WARNING as UNTRUSTED_WARNING,
    LoadedModel as LoadedModel,
    is_registry_ref as is_registry_ref,
    describe_model as describe_model,
    load_model as load_model,
)
from ._problem_type import (
    ProblemType as ProblemType,
    infer_problem_type as infer_problem_type,
    encode_target as encode_target,
)
from ._search_space import (
    ParamSpec as ParamSpec,
    default_params as default_params,
    families as families,
    check_family as check_family,
    default_space as default_space,
    parse_space as parse_space,
    build_space as build_space,
    validate_param as validate_param,
    suggest as suggest,
    space_to_dict as space_to_dict,
)
from ._champion_challenger import (
    PairedComparison as PairedComparison,
    delong_test as delong_test,
    paired_bootstrap_test as paired_bootstrap_test,
)
from ._thread_limits import (
    F as F,
    ml_threads as ml_threads,
    limit_threads as limit_threads,
)
from ._training_data import (
    PreparedData as PreparedData,
    read_frame as read_frame,
    prepare as prepare,
    load_and_prepare as load_and_prepare,
    class_balance as class_balance,
)
from ._training_plots import (
    learning_curve_png as learning_curve_png,
    confusion_matrix_png as confusion_matrix_png,
    residuals_png as residuals_png,
    importance_png as importance_png,
    optimisation_history_png as optimisation_history_png,
)
