"""The ``training`` process: Optuna HPO on one model family with pruning and patience, test-set
evaluation, gates on CV stability / CV-test gap / target metric, MLflow tracking, and registration
as ``challenger`` after approval (a rejection's feedback changes the budget, family or space)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from mlsitter import Context, Doc, Interval, Normalize, process, task
from mlsitter.errors import SpecError
from mlsitter.ml.modeling._generalization import measure_gaps
from mlsitter.ml.tracking._registry import default_model_name
from mlsitter.naming import stable_name
from mlsitter.processes.vocabulary import (
    DatasetVersion, DropColumns, ModelFamily, Seed, TestData, TestSize, TrainingMetric, family_spelling, metric_spelling,
)
# Steps automl shares with training; importable here too, where journals written before the move look for them.
from mlsitter.processes.common.training_setup import (
    dropped_note, identifier_warning, optuna_storage, prepare_data, process_code_version,
)
from mlsitter.processes.common.model_files import record_model_files
from mlsitter.processes.execution.training.calibration import calibration_gate, measure_calibration
from mlsitter.processes.common.gates import gate_rows

FEEDBACK_KEYS = ("trials", "family", "timeout_s", "folds", "patience", "metric", "search_space")


@stable_name("training.TrainingSettings")
@dataclass
class TrainingSettings:
    """What one attempt trains with; rejection feedback changes fields of it."""

    family: str
    search_space: str
    trials: int
    timeout_s: float
    patience: int
    folds: int
    metric: str


@stable_name("training.HpoOutcome")
@dataclass
class HpoOutcome:
    """The study of one attempt: best trial, all trial outcomes and why the search stopped."""

    study_name: str
    best_params: dict[str, Any]
    best_value: float
    best_fold_scores: list[float]
    best_number: int
    trials_run: int
    n_pruned: int
    n_failed: int
    stop_reason: str
    trials: list[dict[str, Any]] = field(default_factory=list)


@stable_name("training.TrainingResult")
@dataclass
class TrainingResult:
    """What ``training`` produced: the registered version, its scores and where everything is."""

    model_name: str
    version: int
    alias: str
    family: str
    metric: str
    cv_mean: float
    cv_std: float
    test_score: float
    test_metrics: dict[str, float]
    best_params: dict[str, Any]
    trials_run: int
    n_pruned: int
    stop_reason: str
    dataset_version: str
    code_version: str
    mlflow_run_id: str
    model_uri: str
    artifact_sha256: str
    attempts: int
    mlflow_logging_seconds: float
    report: str
    feature_pipeline: str = ""
    selection: str = ""


#: other spellings of the settings a reviewer may write
FEEDBACK_ALIASES = {"budget": "trials", "n_trials": "trials", "timeout": "timeout_s", "model": "family", "cv": "folds",
                    "space": "search_space"}


def parse_feedback(text: str | None) -> dict[str, Any]:
    """Read ``key: value`` changes from rejection feedback, in the one feedback grammar
    (:mod:`mlsitter.ml.handoffs._review_feedback`: one per line, or separated by ';' or by a comma before
    the next setting).

    Keys: trials, family, timeout_s, folds, patience, metric, search_space (a JSON object, or a file).
    Text without a key is a comment; an unknown key raises SpecError listing the known ones.
    """
    from mlsitter.ml.handoffs._review_feedback import parse_feedback as read_feedback

    changes: dict[str, Any] = {}
    for part in read_feedback(text, allowed=FEEDBACK_KEYS, aliases=FEEDBACK_ALIASES, unknown="keep").ordered():
        key, value = part.key, part.value
        if key != "search_space":  # every other setting is one value: text after a comma is a comment
            value = value.split(",", 1)[0].strip()
        if not value:  # 'trials:' with nothing after it sets nothing
            continue
        if key not in FEEDBACK_KEYS:
            raise SpecError(f"feedback: unknown setting {key!r}; expected 'key: value' with key one of "
                            f"{', '.join(FEEDBACK_KEYS)} (e.g. 'trials: 40' or 'family: lightgbm')")
        try:
            if key in ("trials", "folds", "patience"):
                changes[key] = int(value)
            elif key == "timeout_s":
                changes[key] = float(value.rstrip("s"))
            elif key == "search_space":
                changes[key] = value
            else:
                changes[key] = value.strip().strip("'\"")
        except ValueError:
            raise SpecError(f"feedback: {key!r} needs a number; got {value!r}") from None
    return changes


def apply_feedback(settings: TrainingSettings, feedbacks: list[str]) -> TrainingSettings:
    """Settings after every rejection so far (later feedback wins)."""
    for text in feedbacks:
        settings = replace(settings, **parse_feedback(text))
    return settings


# -- tasks -------------------------------------------------------------------------------------------
@task(name="training.resolve_space")
def resolve_space(family: str, task: str, search_space: str, metric: str) -> dict[str, Any]:
    """Validate family, metric and search space; return the space (JSON form) and its default config."""
    from mlsitter.ml.metrics._scoring import get_metric
    from mlsitter.ml.modeling._search_space import build_space, check_family, default_params, space_to_dict

    get_metric(metric, task)
    name = check_family(family)
    space = build_space(name, task, search_space or None)
    return {"family": name, "space": space_to_dict(space), "defaults": default_params(name, space)}


@task(name="training.read_selection")
def read_selection(path: str) -> Any:
    """The approved recommendation a model-selection run wrote (``selection.json``)."""
    from mlsitter.ml.handoffs._handoff import read_selection as read

    return read(path)


@task(name="training.read_features")
def read_features(path: str) -> Any:
    """The feature pipeline a features run saved, unfitted, with its input columns and content hash."""
    from mlsitter.ml.handoffs._handoff import read_feature_pipeline

    return read_feature_pipeline(path)


@task(name="training.fit_best")
def fit_best(prep: Any, family: str, params: dict[str, Any], seed: int, metric: str, n_jobs: int = 1,
             features: Any = None) -> Any:
    """Refit the best configuration on the training split, evaluate on the test split, draw plots."""
    from mlsitter.ml.modeling._final_fit import fit_final
    from mlsitter.ml.modeling._model_families import build_pipeline, column_kinds

    pipeline = build_pipeline(family, prep.task, params, column_kinds(prep.X_train), seed, n_jobs=n_jobs,
                              features=features)
    return fit_final(pipeline, prep.X_train, prep.y_train, prep.X_test, prep.y_test, task=prep.task, metric=metric,
                     classes=prep.classes, seed=seed, threads=n_jobs)


@task(name="training.log_to_mlflow", local=True)
def log_to_mlflow(*, mlsitter_run_id: str, step: str, final: Any, prep: Any, hpo: HpoOutcome, settings: TrainingSettings,
                  code_version: str, gates: list[dict[str, Any]], report_files: dict[str, str], model_name: str,
                  process_name: str = "training", lineage: dict[str, str] | None = None) -> Any:
    """Log params, per-fold / per-trial / final metrics, tags, plots, report and model to MLflow (once per step)."""
    import dataclasses
    import time

    from mlsitter.ml.tracking import _tracking as tracking
    started = time.perf_counter()  # the whole task counts as logging overhead (store setup included)
    existing = tracking.find_logged_run(mlsitter_run_id, step)
    if existing:
        import mlflow

        run = mlflow.get_run(existing)
        return tracking.LoggedRun(existing, run.info.experiment_id, run.data.tags.get("mlsitter.model_uri", ""),
                                  run.data.tags.get("mlsitter.model_sha256", ""), 0.0, run.info.artifact_uri)
    params = {"family": settings.family, "metric": settings.metric, "trials": settings.trials,
              "timeout_s": settings.timeout_s, "patience": settings.patience, "folds": settings.folds,
              "test_rows": len(prep.y_test), "train_rows": len(prep.y_train), "task": prep.task,
              "target": prep.target, "dropped_columns": ",".join(prep.dropped_columns),
              **{f"best.{k}": v for k, v in hpo.best_params.items()}}
    metrics = {f"cv_{settings.metric}": hpo.best_value, f"cv_{settings.metric}_std": _std(hpo.best_fold_scores),
               **{f"test_{k}": v for k, v in final.test_metrics.items()},
               "trials_run": hpo.trials_run, "trials_pruned": hpo.n_pruned, "fit_seconds": final.fit_seconds}
    step_metrics = {
        f"cv_fold_{settings.metric}": list(enumerate(hpo.best_fold_scores)),
        f"trial_{settings.metric}": [(t["number"], t["value"]) for t in hpo.trials if t["value"] is not None],
    }
    tags = {tracking.TAG_RUN_ID: mlsitter_run_id, tracking.TAG_STEP: step, tracking.TAG_PROCESS: process_name,
            tracking.TAG_DATASET_VERSION: prep.dataset_version, tracking.TAG_CODE_VERSION: code_version,
            "mlsitter.model_name": model_name, "mlsitter.study": hpo.study_name,
            "mlsitter.gates": ", ".join(f"{g['name']}={'pass' if g['passed'] else 'fail'}" for g in gates),
            **(lineage or {})}
    logged = tracking.log_model_run(
        model=final.model, input_example=final.input_example, params=params, metrics=metrics,
        step_metrics=step_metrics, tags=tags, figures=final.figures, files=report_files,
        run_name=f"{model_name}-{mlsitter_run_id[:8]}-{step}")
    import mlflow

    mlflow.MlflowClient().set_tag(logged.mlflow_run_id, "mlsitter.model_uri", logged.model_uri)
    return dataclasses.replace(logged, logging_seconds=time.perf_counter() - started)


def _std(values: list[float]) -> float:
    import numpy as np

    return float(np.std(values)) if values else 0.0


@task(name="training.write_report")
def write_report(*, out_dir: str, model_name: str, prep: Any, settings: TrainingSettings, hpo: HpoOutcome,
                 final: Any, gates: list[dict[str, Any]], attempt: int, code_version: str,
                 lineage: dict[str, str] | None = None) -> dict[str, str]:
    """The training report: headline scores, gates, best parameters, trials, folds and plots."""
    from mlsitter.report import Report

    report = Report(f"Training: {model_name}", f"{settings.family} on {Path(prep.source).name or 'data'} — "
                    f"target {prep.target!r}, {prep.task}, attempt {attempt}")
    report.section("Summary").metrics({
        f"CV {settings.metric}": hpo.best_value, "CV std": _std(hpo.best_fold_scores),
        f"test {settings.metric}": final.test_score, "trials": hpo.trials_run, "pruned": hpo.n_pruned,
    })
    report.bullets([f"Search stopped: {hpo.stop_reason}", f"Dataset version: {prep.dataset_version}",
                    f"Code version: {code_version}", f"Rows: {prep.n_rows:,} (test {len(prep.y_test):,})",
                    f"Optuna study: {hpo.study_name}",
                    *(f"{key.removeprefix('mlsitter.').replace('_', ' ').capitalize()}: {value}"
                      for key, value in (lineage or {}).items())])
    if dropped_note(prep):
        report.note(dropped_note(prep), "warn")
    report.section("Gates").gates(gates)
    report.section("Best configuration").table([{"parameter": k, "value": v} for k, v in hpo.best_params.items()])
    report.table([{"fold": i + 1, settings.metric: s} for i, s in enumerate(hpo.best_fold_scores)], caption="CV folds")
    report.section("Test metrics").table([{"metric": k, "value": v} for k, v in final.test_metrics.items()])
    report.section("Trials").table(
        [{"trial": t["number"], "state": t["state"], settings.metric: t["value"], "seconds": round(t["seconds"], 2),
          **{k: v for k, v in t["params"].items()}} for t in hpo.trials], max_rows=100)
    report.section("Plots")
    for name, png in final.figures.items():
        report.figure(png, caption=name.removesuffix(".png").replace("_", " "), name=name)
    files = report.write(out_dir, stem="training-report")
    return {"html": str(files.html), "markdown": str(files.markdown), "json": str(files.json)}


@task(name="training.register", local=True)
def register(**kwargs: Any) -> Any:
    """Register the logged model as a new version with alias ``challenger``."""
    from mlsitter.ml.tracking._registry import register_model

    return register_model(**kwargs)


# -- orchestration ---------------------------------------------------------------------------------
def run_hpo(ctx: Context, *, prep: Any, settings: TrainingSettings, space: dict[str, Any], storage: str, attempt: int,
            seed: int, parallel: int, n_jobs: int, greater_is_better: bool, suffix: str = "",
            features: Any = None) -> HpoOutcome:
    """Batches of asked trials evaluated with ``ctx.map`` and told back, until the trial budget, the time
    budget or patience ends the search. Every piece is a journaled task, so a resumed run continues."""
    from mlsitter.ml.modeling._hpo import ask_trials, evaluate_asked_trial, is_converged, study_name_for, tell_trials

    study = study_name_for(ctx.run_id, attempt, suffix)
    direction = "maximize" if greater_is_better else "minimize"
    started = ctx.now()
    values: list[float | None] = []
    outcomes: list[Any] = []
    stop = f"trial budget ({settings.trials}) used"
    batch = 0
    n_startup = min(10, max(3, settings.trials // 4))
    while len(outcomes) < settings.trials:
        if batch and settings.timeout_s and (ctx.now() - started).total_seconds() >= settings.timeout_s:
            stop = f"time budget ({settings.timeout_s:g} s) used"
            break
        n = min(max(1, parallel), settings.trials - len(outcomes))
        asks = ctx.task(ask_trials, storage=storage, study_name=study, direction=direction, space=space["space"], n=n,
                        seed=seed + batch, n_startup=n_startup, enqueue=[space["defaults"]] if batch == 0 else [])
        results = ctx.map(evaluate_asked_trial, asks, X=prep.X_train, y=prep.y_train, family=space["family"],
                          task=prep.task, metric=settings.metric, storage=storage, study_name=study,
                          direction=direction, folds=settings.folds, seed=seed, n_jobs=n_jobs, features=features)
        ctx.task(tell_trials, storage=storage, study_name=study, direction=direction, outcomes=results)
        outcomes.extend(results)
        values.extend(r.value if r.state == "complete" else None for r in results)
        batch += 1
        scored = [v for v in values if v is not None]
        if scored:  # a progress line (the CLI shows it beside its bar); a log takes no journal position
            ctx.log("info", f"trials {len(outcomes)}/{settings.trials}, best {settings.metric} "
                            f"{(max if greater_is_better else min)(scored):.4f}")
        if len(outcomes) < settings.trials and is_converged(values, settings.patience, greater_is_better):
            stop = f"converged: no improvement in {settings.patience} trials"
            break
    complete = [o for o in outcomes if o.state == "complete"]
    if not complete:
        errors = sorted({o.error for o in outcomes if o.error})
        raise SpecError(f"every trial of {space['family']} failed; first error: {errors[0] if errors else 'all pruned'}. "
                        "Check the search space and the data")
    best = max(complete, key=lambda o: o.value) if greater_is_better else min(complete, key=lambda o: o.value)
    return HpoOutcome(
        study_name=study, best_params=dict(best.params), best_value=float(best.value),
        best_fold_scores=list(best.fold_scores), best_number=best.number, trials_run=len(outcomes),
        n_pruned=sum(o.state == "pruned" for o in outcomes), n_failed=sum(o.state == "failed" for o in outcomes),
        stop_reason=stop,
        trials=[{"number": o.number, "state": o.state, "value": o.value, "seconds": o.seconds, "params": o.params,
                 "fold_scores": o.fold_scores, "error": o.error} for o in outcomes],
    )


@task(name="training.charter_settings")
def charter_settings(charter: str) -> dict[str, Any]:
    """What the scoping charter fixes for training: target, metric and its threshold, excluded columns."""
    from mlsitter.ml.handoffs._charter import load_charter
    from mlsitter.ml.metrics._scoring import ALIASES, METRICS

    loaded = load_charter(charter)
    name = ALIASES.get(loaded.metric.name, loaded.metric.name)
    return {"target": loaded.target, "metric": name if name in METRICS else "", "threshold": loaded.metric.threshold,
            "excluded": sorted(loaded.excluded_columns), "task": loaded.task}


def agreed_target(target: str, sources: dict[str, str]) -> str:
    """The target every given source agrees on (``target`` input, charter, selection, feature pipeline)."""
    named = {k: v for k, v in {"target input": target, **sources}.items() if v}
    if not named:
        raise SpecError("no target: give target=COLUMN, a charter from scoping, a selection from model-selection "
                        "or a pipeline from features")
    if len(set(named.values())) > 1:
        raise SpecError("the target differs between " + ", ".join(f"{k} ({v!r})" for k, v in named.items()))
    return next(iter(named.values()))


@process("training", phase="execution",
         description="HPO (Optuna) + CV + test evaluation with gates, MLflow tracking and registration as challenger")
def training(
    ctx: Context,
    data: Annotated[str, Doc("the training table: a CSV, Parquet or JSON file")],
    target: Annotated[str, Doc("target column (default: the charter's, the selection's or the pipeline's)")] = "",
    family: Annotated[Literal["", ModelFamily], Normalize(family_spelling),
                      Doc("model family to tune (empty: the selection's, else lightgbm)")] = "",
    search_space: Annotated[str, Doc("search space as JSON or a JSON/YAML file, merged over the family's "
                                     "defaults")] = "",
    metric: Annotated[TrainingMetric, Normalize(metric_spelling),
                      Doc("metric to tune and gate on (auto: the charter's or selection's, else the task's "
                          "default)")] = "auto",
    trials: Annotated[int, Interval(1, None), Doc("Optuna trials at most")] = 20,
    timeout_s: Annotated[float, Interval(0, None), Doc("time limit of the search in seconds (0: none)")] = 0.0,
    patience: Annotated[int, Interval(0, None), Doc("stop after this many trials without improvement (0: "
                                                    "off)")] = 10,
    folds: Annotated[int, Interval(2, None), Doc("cross-validation folds of each trial")] = 5,
    seed: Seed = 0,
    test_size: TestSize = 0.2,
    test_data: TestData = "",
    drop: DropColumns = None,
    dataset_version: DatasetVersion = "",
    model_name: Annotated[str, Doc("registry name of the model (default: <file stem>-<target>)")] = "",
    target_metric: Annotated[float | None, Doc("gate: the test score must reach this (default: the charter's "
                                               "threshold)")] = None,
    charter: Annotated[str, Doc("scoping charter: target, metric and its threshold, excluded columns")] = "",
    pipeline: Annotated[str, Doc("feature pipeline saved by features; replaces the family's "
                                 "preprocessing")] = "",
    selection: Annotated[str, Doc("selection.json of an approved model-selection run: family, metric and "
                                  "pipeline")] = "",
    max_cv_std: Annotated[float, Interval(0, None), Doc("gate: the spread of the fold scores may not exceed "
                                                        "this (relative for unbounded metrics)")] = 0.05,
    max_cv_test_gap: Annotated[float, Interval(0, None), Doc("gate: how far the test score may fall below the CV "
                                                             "score (relative for unbounded metrics)")] = 0.05,
    max_ece: Annotated[float, Interval(0, 1), Doc("calibration gate (warns): the test split's expected calibration "
                                                  "error of a binary classifier may not exceed this")] = 0.1,
    parallel: Annotated[int, Interval(1, None), Doc("trials evaluated at once, one per worker")] = 2,
    n_jobs: Annotated[int, Doc("threads per model fit, as scikit-learn's n_jobs")] = 1,
    sample_rows: Annotated[int, Interval(0, None), Doc("train on a seeded sample of this many rows (0: every "
                                                       "row)")] = 0,
    max_attempts: Annotated[int, Interval(1, None), Doc("review rounds before the run gives up (each rejection "
                                                        "retrains with its feedback)")] = 3,
) -> TrainingResult:
    """Tune, train, evaluate and track one model family; register it as ``challenger`` once approved.

    ``selection`` (the ``selection.json`` of an approved model-selection run) supplies the family, the metric
    and the feature pipeline it was measured with; ``pipeline`` (saved by ``features``) replaces the family's
    own preprocessing and fixes the input columns. Explicit ``family``/``metric``/``pipeline`` inputs win.
    """
    from mlsitter.ml.modeling._hpo import check_budget
    from mlsitter.ml.tracking._registry import CHALLENGER

    check_budget(trials, timeout_s, folds, patience)
    chosen = ctx.task(read_selection, path=selection) if selection else None
    pipeline = pipeline or (chosen.pipeline if chosen else "")
    features = ctx.task(read_features, path=pipeline) if pipeline else None
    agreed = ctx.task(charter_settings, charter=charter) if charter else None
    plan = reconcile_inputs(data=data, target=target, family=family, metric=metric, target_metric=target_metric,
                            model_name=model_name, agreed=agreed, chosen=chosen, features=features)
    prep = ctx.task(prepare_data, data=data, target=plan.target, drop=list(drop or []), test_size=test_size, seed=seed,
                    metric=plan.metric, dataset_version=dataset_version, sample_rows=sample_rows, test_data=test_data,
                    exclude=agreed["excluded"] if agreed else [], inputs=features.input_columns if features else None,
                    inputs_of=f"the feature pipeline {pipeline!r}")
    # a feature pipeline decides the features: the columns it does not read are its choice, not identifiers
    decided = [*(drop or []), *(agreed["excluded"] if agreed else []), *(prep.dropped_columns if features else [])]
    if identifier_warning(prep, decided):
        ctx.log("warning", identifier_warning(prep, decided))
    code = ctx.task(process_code_version)
    storage = ctx.task(optuna_storage)
    base = TrainingSettings(plan.family, search_space, trials, timeout_s, patience, folds, prep.metric)
    for attempt in ctx.refine("registration", max_attempts=max_attempts):
        done = train_attempt(ctx, attempt.number, apply_feedback(base, attempt.feedbacks), prep=prep, plan=plan,
                             features=features, storage=storage, code=code, seed=seed, parallel=parallel,
                             n_jobs=n_jobs, max_cv_std=max_cv_std, max_cv_test_gap=max_cv_test_gap, max_ece=max_ece)
        attempt.review(
            f"Register {plan.name} ({done.settings.family}, CV {done.settings.metric} {done.hpo.best_value:.4f}, test "
            f"{done.final.test_score:.4f}) as '{CHALLENGER}'? Reject with e.g. 'trials: 40' or 'family: xgboost' to retrain.",
            context={"cv": done.hpo.best_value, "test": done.final.test_score, "params": done.hpo.best_params,
                     "mlflow_run_id": done.logged.mlflow_run_id, "gates": done.gates},
            artifacts=done.refs, checkpoint="model-quality")
    settings, hpo, final, logged = done.settings, done.hpo, done.final, done.logged
    registered = ctx.task(register, name=plan.name, model_uri=logged.model_uri, mlflow_run_id=logged.mlflow_run_id,
                          artifact_sha256=logged.artifact_sha256, mlsitter_run_id=ctx.run_id,
                          dataset_version=prep.dataset_version, code_version=code, process="training",
                          metrics={f"cv_{settings.metric}": hpo.best_value, f"test_{settings.metric}": final.test_score},
                          alias=CHALLENGER)
    ctx.log("info", f"registered {registered.name} version {registered.version} as {CHALLENGER}")
    record_model_files(ctx, registered)
    return training_result(registered, done, prep=prep, code=code, attempts=attempt.number, features=features,
                           selection=selection)


# -- the chapters of the story ---------------------------------------------------------------------------------
@stable_name("training.ReconciledInputs")
@dataclass
class ReconciledInputs:
    """What the inputs, the charter, the selection and the feature pipeline agree to train (never journaled)."""

    target: str
    family: str
    metric: str
    goal: float | None  # the test score the target gate asks for, if any
    name: str  # the registry name
    lineage: dict[str, str]  # MLflow tags naming the upstream runs and files


def reconcile_inputs(*, data: str, target: str, family: str, metric: str, target_metric: float | None, model_name: str,
                     agreed: dict[str, Any] | None, chosen: Any, features: Any) -> ReconciledInputs:
    """Reconcile the inputs with the scoping charter, the model-selection handoff and the feature pipeline:
    the target must agree; an explicit input wins, then the charter, then the selection."""
    from mlsitter.ml.metrics._scoring import ALIASES, METRICS
    from mlsitter.ml.tracking._registry import validate_model_name

    target = agreed_target(target, {"charter": agreed["target"] if agreed else "",
                                    "selection": chosen.target if chosen else "",
                                    "feature pipeline": features.target if features else ""})
    family = family or (chosen.family if chosen else "lightgbm")
    name = validate_model_name(model_name or default_model_name(data, target))
    goal = target_metric
    if agreed:
        if metric == "auto" and agreed["metric"]:
            metric = agreed["metric"]
        if goal is None and agreed["metric"] == metric:
            goal = agreed["threshold"]
    if chosen and metric == "auto" and ALIASES.get(chosen.metric, chosen.metric) in METRICS:
        metric = ALIASES.get(chosen.metric, chosen.metric)
    lineage = {**({"mlsitter.feature_pipeline": f"{features.path} {features.sha256}"} if features else {}),
               **({"mlsitter.model_selection": f"run {chosen.run_id}: {chosen.recommended}"} if chosen else {})}
    return ReconciledInputs(target, family, metric, goal, name, lineage)


@stable_name("training.AttemptOutcome")
@dataclass
class AttemptOutcome:
    """One attempt's search, final model, gates, report and MLflow run (never journaled as such)."""

    settings: TrainingSettings
    hpo: HpoOutcome
    final: Any
    gates: list[dict[str, Any]]
    files: dict[str, str]
    logged: Any
    refs: list[Any]


def train_attempt(ctx: Context, number: int, settings: TrainingSettings, *, prep: Any, plan: ReconciledInputs,
                  features: Any, storage: str, code: str, seed: int, parallel: int, n_jobs: int, max_cv_std: float,
                  max_cv_test_gap: float, max_ece: float = 0.1) -> AttemptOutcome:
    """One attempt: search, refit the best configuration, gate it, write its report and log it to MLflow."""
    from mlsitter.ml.metrics._scoring import get_metric
    from mlsitter.ml.modeling._hpo import check_budget
    from mlsitter.ml.tracking import _tracking as tracking

    check_budget(settings.trials, settings.timeout_s, settings.folds, settings.patience)
    measure = get_metric(settings.metric, prep.task)
    space = ctx.task(resolve_space, family=settings.family, task=prep.task, search_space=settings.search_space,
                     metric=settings.metric)
    settings = replace(settings, family=space["family"])
    hpo = run_hpo(ctx, prep=prep, settings=settings, space=space, storage=storage, attempt=number,
                  seed=seed, parallel=parallel, n_jobs=n_jobs, greater_is_better=measure.greater_is_better,
                  features=features.transformer if features else None)
    final = ctx.task(fit_best, prep=prep, family=settings.family, params=hpo.best_params, seed=seed,
                     metric=settings.metric, n_jobs=n_jobs, features=features.transformer if features else None)
    ctx.prefetch(*tracking.MODULES)  # loads MLflow in the idle runner while a worker writes the report
    instability, drop_to_test = measure_gaps(settings.metric, hpo.best_value, hpo.best_fold_scores, final.test_score)
    # an override question carries the fold and test scores it asks about (a run begun before asks without the file)
    table = score_table(settings.metric, hpo.best_fold_scores, hpo.best_value, final.test_score)
    evidence = ([ctx.artifact(f"cv-scores-{number}.csv", table_csv(table), media_type="text/csv")]
                if ctx.patched("training.gate-evidence") else [])
    scores = {"scores": table, "test_metrics": final.test_metrics}
    results = [ctx.gate("cv-stability", round(instability, 6), "<=", max_cv_std, on_fail="ask",
                        checkpoint="model-quality", context=scores, artifacts=evidence),
               ctx.gate("cv-test-gap", round(drop_to_test, 6), "<=", max_cv_test_gap, on_fail="ask",
                        checkpoint="model-quality", context=scores, artifacts=evidence)]
    if plan.goal is not None:
        op = ">=" if measure.greater_is_better else "<="
        results.append(ctx.gate(f"target-{settings.metric}", round(final.test_score, 6), op, plan.goal, on_fail="ask",
                                checkpoint="model-quality", context=scores, artifacts=evidence))
    calibration = (ctx.task(measure_calibration, final=final, prep=prep, params=hpo.best_params)
                   if ctx.patched("training.calibration-gate") else None)  # a run begun before goes on without it
    if calibration is not None:
        results.append(calibration_gate(ctx, calibration, max_ece))
    gates = gate_rows(results)
    files = ctx.task(write_report, out_dir=str(ctx.workdir / f"attempt-{number}"), model_name=plan.name,
                     prep=prep, settings=settings, hpo=hpo, final=final, gates=gates, attempt=number,
                     code_version=code, lineage=plan.lineage)
    logged = ctx.task(log_to_mlflow, mlsitter_run_id=ctx.run_id, step=f"attempt-{number}", final=final,
                      prep=prep, hpo=hpo, settings=settings, code_version=code, gates=gates,
                      report_files={"html": files["html"]}, model_name=plan.name, lineage=plan.lineage)
    refs = [ctx.artifact("training-report.html", Path(files["html"])),
            ctx.artifact("training-report.md", Path(files["markdown"])),
            ctx.artifact("training-report.json", Path(files["json"]))]
    return AttemptOutcome(settings, hpo, final, gates, files, logged, refs)


def score_table(metric: str, fold_scores: list[float], cv: float, test: float) -> list[dict[str, Any]]:
    """The scores the CV gates judge: one row per fold, then the CV mean and spread, then the test split."""
    return [*({"split": f"fold {i + 1}", metric: score} for i, score in enumerate(fold_scores)),
            {"split": "CV mean", metric: cv}, {"split": "CV std", metric: _std(fold_scores)},
            {"split": "test", metric: test}]


def table_csv(rows: list[dict[str, Any]]) -> bytes:
    """Rows of one shape as CSV bytes (the evidence file a question carries)."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def training_result(registered: Any, done: AttemptOutcome, *, prep: Any, code: str, attempts: int, features: Any,
                    selection: str) -> TrainingResult:
    """The result: the registered version, the approved attempt's scores and where everything is."""
    from mlsitter.ml.tracking._registry import CHALLENGER

    settings, hpo, final, logged = done.settings, done.hpo, done.final, done.logged
    return TrainingResult(
        model_name=registered.name, version=registered.version, alias=CHALLENGER, family=settings.family,
        metric=settings.metric, cv_mean=hpo.best_value, cv_std=_std(hpo.best_fold_scores), test_score=final.test_score,
        test_metrics=final.test_metrics, best_params=hpo.best_params, trials_run=hpo.trials_run, n_pruned=hpo.n_pruned,
        stop_reason=hpo.stop_reason, dataset_version=prep.dataset_version, code_version=code,
        mlflow_run_id=logged.mlflow_run_id, model_uri=logged.model_uri, artifact_sha256=logged.artifact_sha256,
        attempts=attempts, mlflow_logging_seconds=logged.logging_seconds, report=done.files["html"],
        feature_pipeline=features.path if features else "", selection=str(Path(selection).resolve()) if selection else "",
    )
