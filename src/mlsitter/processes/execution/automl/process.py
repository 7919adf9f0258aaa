"""The ``automl`` process: a portfolio of algorithms (linear, k-NN, random forest, extra trees,
HistGradientBoosting, LightGBM, XGBoost) tuned with Optuna under one time budget, weak families
eliminated early, a Caruana ensemble kept only if it beats the best single model on held-out rows,
a leaderboard, test validation, a model card stub, and a human check of the winner."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from mlsitter import Context, Doc, Interval, Normalize, process, task
from mlsitter.errors import SpecError
from mlsitter.processes.execution.training.process import optuna_storage, prepare_data, process_code_version
from mlsitter.naming import stable_name
from mlsitter.processes.vocabulary import ModelFamily, TrainingMetric, family_spelling, metric_spelling


@stable_name("automl.FamilyAsk")
@dataclass
class FamilyAsk:
    """One asked trial of one family's study."""

    family: str
    study_name: str
    number: int
    params: dict[str, Any]


@stable_name("automl.Winner")
@dataclass
class Winner:
    """The refitted winner (ensemble or single model), its test scores and plots."""

    final: Any
    description: str
    members: list[dict[str, Any]]
    member_test_scores: list[float]


@stable_name("automl.AutomlResult")
@dataclass
class AutomlResult:
    """What ``automl`` produced: the winner, how it compared, the leaderboard, and the registered version."""

    accepted: bool
    model_name: str
    version: int | None
    winner: str
    metric: str
    task: str
    test_score: float
    test_metrics: dict[str, float]
    ensemble_kept: bool
    ensemble_heldout_score: float | None
    best_single_heldout_score: float | None
    best_single_family: str
    best_single_cv: float
    trials_run: int
    eliminated: dict[str, str]
    families_tried: list[str]
    search_seconds: float
    total_seconds: float
    mlflow_run_id: str
    mlflow_logging_seconds: float
    leaderboard_csv: str
    report: str
    model_card: str
    dataset_version: str
    feedback: str = ""
    leaderboard_top: list[dict[str, Any]] = field(default_factory=list)


# -- tasks -------------------------------------------------------------------------------------------
@task(name="automl.plan_portfolio")
def plan_portfolio(families: list[str], task: str, metric: str, y: Any, classes: list[Any]) -> dict[str, Any]:
    """Validate families and metric; each family's default space and default configuration, the search
    order under ``"order"`` (the journal sorts dict keys, so order is never read from the dict itself) and
    the no-skill score elimination is judged against under ``"no_skill"``."""
    import numpy as np

    from mlsitter.processes.execution.automl.search import check_portfolio
    from mlsitter.ml.metrics._scoring import get_metric, no_skill_score
    from mlsitter.ml.modeling._search_space import build_space, default_params, space_to_dict

    measure = get_metric(metric, task)
    order = check_portfolio(families)
    plan: dict[str, Any] = {"order": order,
                            "no_skill": no_skill_score(measure, y, np.asarray(classes) if classes else None)}
    for family in order:
        space = build_space(family, task)
        plan[family] = {"space": space_to_dict(space), "defaults": default_params(family, space)}
    return plan


@task(name="automl.ask_portfolio")
def ask_portfolio(*, storage: str, run_id: str, direction: str, plan: dict[str, Any], families: list[str], seed: int,
                  first: list[str]) -> list[FamilyAsk]:
    """One new trial from each named family's study (a family's first trial is its default configuration)."""
    from mlsitter.ml.modeling._hpo import ask_trials, study_name_for

    asks = []
    for i, family in enumerate(families):
        study = study_name_for(run_id, 1, family)
        enqueue = [plan[family]["defaults"]] if family in first else []
        for a in ask_trials(storage=storage, study_name=study, direction=direction, space=plan[family]["space"], n=1,
                            seed=seed + i, n_startup=4, enqueue=enqueue):
            asks.append(FamilyAsk(family, study, a.number, a.params))
    return asks


@task(name="automl.evaluate_family_trial")
def evaluate_family_trial(ask: FamilyAsk, **common: Any) -> Any:
    """Evaluate one family's trial, keeping its out-of-fold predictions for the ensemble."""
    from mlsitter.ml.modeling._hpo import evaluate_trial

    return evaluate_trial(family=ask.family, study_name=ask.study_name, params=ask.params, number=ask.number,
                          keep_oof=True, **common)


@task(name="automl.tell_portfolio")
def tell_portfolio(*, storage: str, direction: str, asks: list[FamilyAsk], outcomes: list[Any]) -> int:
    """Tell each family's study its outcomes; returns how many were told."""
    from mlsitter.ml.modeling._hpo import tell_trials

    by_study: dict[str, list[Any]] = {}
    for ask, out in zip(asks, outcomes):
        by_study.setdefault(ask.study_name, []).append(out)
    for study, outs in by_study.items():
        tell_trials(storage=storage, study_name=study, direction=direction, outcomes=outs)
    return len(outcomes)


@task(name="automl.choose_ensemble")
def choose_ensemble(candidates: list[Any], y: Any, task: str, metric: str, classes: list[Any], seed: int,
                    iterations: int, repeats: int = 1) -> Any:
    """Caruana selection over the candidates' out-of-fold predictions, compared held-out with the best single."""
    import numpy as np

    from mlsitter.processes.execution.automl.search import select_ensemble
    from mlsitter.ml.metrics._scoring import get_metric

    rows = ~np.isnan(np.asarray(candidates[0].oof, dtype=float).reshape(len(y), -1)).any(axis=1)
    for c in candidates[1:]:
        rows &= ~np.isnan(np.asarray(c.oof, dtype=float).reshape(len(y), -1)).any(axis=1)
    preds = [np.asarray(c.oof, dtype=np.float64)[rows] for c in candidates]
    return select_ensemble(preds, np.asarray(y)[rows], get_metric(metric, task), classes or None, seed=seed,
                           iterations=iterations, repeats=repeats)


@task(name="automl.refit_member")
def refit_member(member: dict[str, Any], prep: Any, seed: int, n_jobs: int = 1) -> dict[str, Any]:
    """Refit one winning configuration on all training rows (members refit in parallel on the executor)."""
    import time

    from threadpoolctl import threadpool_limits

    from mlsitter.ml.modeling._model_families import build_pipeline, column_kinds

    started = time.perf_counter()
    with threadpool_limits(max(1, n_jobs)):
        pipeline = build_pipeline(member["family"], prep.task, member["params"], column_kinds(prep.X_train), seed,
                                  n_jobs=n_jobs)
        pipeline.fit(prep.X_train, prep.y_train.to_numpy())
    return {"model": pipeline, "seconds": time.perf_counter() - started}


@task(name="automl.evaluate_winner")
def evaluate_winner(prep: Any, members: list[dict[str, Any]], fitted: list[dict[str, Any]], seed: int, metric: str,
                    n_jobs: int = 1) -> Winner:
    """Assemble the winner from its refitted members and validate it on the test split (metrics, plots)."""
    import numpy as np

    from mlsitter.processes.execution.automl.search import WeightedEnsemble
    from mlsitter.ml.modeling._cross_validation import predict_scores
    from mlsitter.ml.modeling._final_fit import fit_final
    from mlsitter.ml.metrics._scoring import get_metric, score

    models = [f["model"] for f in fitted]
    if len(members) == 1:
        model, description = models[0], f"{members[0]['family']} (trial {members[0]['trial']})"
    else:
        model = WeightedEnsemble.from_fitted(models, [m["weight"] for m in members], prep.task)
        description = "ensemble of " + ", ".join(f"{m['family']}#{m['trial']} x{m['weight']:.2f}" for m in members)
    final = fit_final(model, prep.X_train, prep.y_train, prep.X_test, prep.y_test, task=prep.task, metric=metric,
                      classes=prep.classes, seed=seed, learning_curve=False, threads=n_jobs,
                      fitted_seconds=max(f["seconds"] for f in fitted))
    measure = get_metric(metric, prep.task)
    classes = np.asarray(prep.classes) if prep.classes else None
    member_scores = [score(measure, prep.y_test, predict_scores(m, prep.X_test, prep.task), classes) for m in models]
    return Winner(final=final, description=description, members=members, member_test_scores=member_scores)


@task(name="automl.write_outputs")
def write_outputs(*, out_dir: str, model_name: str, prep: Any, metric: str, board: list[Any], winner: Winner,
                  choice: Any, eliminated: dict[str, str], search_seconds: float, budget_s: float, run_id: str,
                  code_version: str, gates: list[dict[str, Any]], validation: str) -> dict[str, str]:
    """Leaderboard (CSV + HTML report) and the model card stub that ``explain`` completes."""
    import json

    import pandas as pd

    from mlsitter.report import Report
    from mlsitter.ml.modeling._training_data import class_balance

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame([{"rank": r.rank, "family": r.family, "trial": r.trial, "state": r.state,
                           f"cv_{metric}": r.cv_score, "cv_std": r.cv_std, "seconds": r.seconds,
                           "size_kb": round(r.size_bytes / 1024, 1), "params": json.dumps(r.params, default=str)}
                          for r in board])
    csv_path = out / "leaderboard.csv"
    table.to_csv(csv_path, index=False)
    fin = winner.final
    report = Report(f"AutoML: {model_name}", f"{prep.task} on {Path(prep.source).name}, target {prep.target!r}, "
                    f"metric {metric}, budget {budget_s:g} s, trials judged by {validation}")
    report.section("Winner").metrics({f"test {metric}": fin.test_score, "trials": len(board),
                                      "search seconds": round(search_seconds, 1), "members": len(winner.members)})
    report.text(f"Winner: {winner.description}.")
    if choice is not None:
        verdict = "kept" if choice.keep else "not kept"
        report.note(f"Ensemble {verdict}: held-out (cross-fitted) {metric} {choice.ensemble_score:.4f} vs best single "
                    f"model {choice.best_single_score:.4f}.", "info" if choice.keep else "warn")
    report.section("Gates").gates(gates)
    report.section("Test metrics").table([{"metric": k, "value": v} for k, v in fin.test_metrics.items()])
    report.table([{"member": f"{m['family']}#{m['trial']}", "weight": m.get("weight", 1.0), f"test {metric}": s}
                  for m, s in zip(winner.members, winner.member_test_scores)], caption="Members on the test split")
    report.section("Early elimination").table(
        [{"family": f, "reason": why} for f, why in eliminated.items()] or [{"family": "-", "reason": "none eliminated"}])
    report.section("Leaderboard").table(table.drop(columns=["params"]), max_rows=60)
    report.section("Plots")
    for name, png in fin.figures.items():
        report.figure(png, caption=name.removesuffix(".png").replace("_", " "), name=name)
    files = report.write(out, stem="automl-report")
    card = Report(f"Model card: {model_name}", "Stub written by automl; the explain process completes it")
    card.section("Model details").bullets([
        f"Model: {winner.description}", f"Task: {prep.task}; target {prep.target!r}",
        f"Trained by mlsitter run {run_id} (process automl)", f"Code version: {code_version}"])
    card.section("Intended use").note("To be completed by the explain process and the model owner.", "warn")
    card.section("Training data").bullets([
        f"Source: {prep.source}", f"Dataset version: {prep.dataset_version}", f"Rows: {prep.n_rows:,} "
        f"(train {len(prep.y_train):,}, test {len(prep.y_test):,})",
        *([f"Class balance: {class_balance(prep.y_train)}"] if prep.classes else [])])
    card.section("Metrics").table([{"metric": k, "test": v} for k, v in fin.test_metrics.items()])
    card.section("Ethical considerations and caveats").note(
        "Not assessed by automl: fairness, explanations and robustness are added by the evaluation and explain processes.",
        "warn")
    card_files = card.write(out, stem="model-card")
    return {"csv": str(csv_path), "html": str(files.html), "markdown": str(files.markdown), "json": str(files.json),
            "card": str(card_files.markdown), "card_json": str(card_files.json)}


@task(name="automl.log_automl", local=True)
def log_automl(*, mlsitter_run_id: str, prep: Any, winner: Winner, board: list[Any], metric: str, choice: Any,
               files: dict[str, str], code_version: str, model_name: str, budget_s: float) -> Any:
    """Log the leaderboard, per-trial metrics, test metrics, model card and winner model to MLflow."""
    import dataclasses
    import time

    from mlsitter.ml.tracking import _tracking as tracking
    started = time.perf_counter()  # the whole task counts as logging overhead (store setup included)
    existing = tracking.find_logged_run(mlsitter_run_id, "automl")
    if existing:
        import mlflow

        run = mlflow.get_run(existing)
        return tracking.LoggedRun(existing, run.info.experiment_id, run.data.tags.get("mlsitter.model_uri", ""),
                                  run.data.tags.get("mlsitter.model_sha256", ""), 0.0, run.info.artifact_uri)
    done = [r for r in board if r.cv_score is not None]
    params = {"metric": metric, "task": prep.task, "time_budget_s": budget_s, "winner": winner.description[:500],
              "families": ",".join(sorted({r.family for r in board})), "trials": len(board),
              "ensemble_kept": bool(choice is not None and choice.keep)}
    metrics = {**{f"test_{k}": v for k, v in winner.final.test_metrics.items()},
               f"best_cv_{metric}": done[0].cv_score if done else float("nan")}
    if choice is not None:
        metrics.update(ensemble_heldout=choice.ensemble_score, best_single_heldout=choice.best_single_score)
    step_metrics = {f"trial_{metric}": [(i, r.cv_score) for i, r in enumerate(sorted(done, key=lambda r: (r.family, r.trial)))]}
    for family in sorted({r.family for r in done}):
        step_metrics[f"{family}_{metric}"] = [(r.trial, r.cv_score) for r in done if r.family == family]
    tags = {tracking.TAG_RUN_ID: mlsitter_run_id, tracking.TAG_STEP: "automl", tracking.TAG_PROCESS: "automl",
            tracking.TAG_DATASET_VERSION: prep.dataset_version, tracking.TAG_CODE_VERSION: code_version,
            "mlsitter.model_name": model_name}
    logged = tracking.log_model_run(
        model=winner.final.model, input_example=winner.final.input_example, params=params, metrics=metrics,
        step_metrics=step_metrics, tags=tags, figures=winner.final.figures,
        files={k: files[k] for k in ("csv", "html", "card")}, run_name=f"{model_name}-{mlsitter_run_id[:8]}-automl")
    import mlflow

    mlflow.MlflowClient().set_tag(logged.mlflow_run_id, "mlsitter.model_uri", logged.model_uri)
    return dataclasses.replace(logged, logging_seconds=time.perf_counter() - started)


@task(name="automl.register_winner", local=True)
def register_winner(**kwargs: Any) -> Any:
    """Register the accepted winner as ``challenger``."""
    from mlsitter.ml.tracking._registry import register_model

    return register_model(**kwargs)


# -- orchestration ---------------------------------------------------------------------------------
def _elapsed(ctx: Context, started: Any) -> float:
    return (ctx.now() - started).total_seconds()


@process("automl", phase="execution",
         description="Portfolio AutoML under a time budget with early elimination, ensemble selection and a leaderboard")
def automl(
    ctx: Context,
    data: Annotated[str, Doc("the training table: a CSV, Parquet or JSON file")],
    target: Annotated[str, Doc("target column")],
    metric: Annotated[TrainingMetric, Normalize(metric_spelling),
                      Doc("metric the search optimises and the gates use (auto: the task's default)")] = "auto",
    time_budget_s: Annotated[float, Interval(0, None, closed="neither"), Doc("seconds the whole search may take, "
                                                                            "refit of the winner included")] = 60.0,
    families: Annotated[list[ModelFamily] | None, Normalize(family_spelling),
                        Doc("model families to search (default: the whole portfolio)")] = None,
    max_trials: Annotated[int | None, Interval(1, None), Doc("trials at most (default: the time budget alone "
                                                             "bounds the search)")] = None,
    folds: Annotated[int, Interval(2, None), Doc("cross-validation folds of each trial (below 15,000 training "
                                                 "rows)")] = 5,
    seed: Annotated[int, Doc("seed of the split, the search and the models")] = 0,
    test_size: Annotated[float, Interval(0.05, 0.5), Doc("share of rows held out as the test split (unless "
                                                         "test_data is given)")] = 0.2,
    test_data: Annotated[str, Doc("a separate test table with the same columns, instead of a split")] = "",
    drop: Annotated[list[str] | None, Doc("columns that are not features")] = None,
    dataset_version: Annotated[str, Doc("dataset version recorded as lineage (default: a content hash of the "
                                        "data)")] = "",
    model_name: Annotated[str, Doc("registry name of the winner (default: <file stem>-<target>-automl)")] = "",
    target_metric: Annotated[float | None, Doc("gate: the winner's test score must reach this")] = None,
    ensemble: Annotated[bool, Doc("try a Caruana ensemble of the best trials, kept only if it wins held "
                                  "out")] = True,
    ensemble_size: Annotated[int, Interval(1, None), Doc("selection rounds of the ensemble (members drawn with "
                                                         "replacement)")] = 25,
    max_cv_test_gap: Annotated[float, Interval(0, None), Doc("gate (warns): how far the test score may fall below "
                                                             "the CV score")] = 0.05,
    parallel: Annotated[int, Interval(1, None), Doc("trials evaluated at once, one per worker")] = 1,
    n_jobs: Annotated[int, Doc("threads per model fit, as scikit-learn's n_jobs")] = 1,
    sample_rows: Annotated[int, Interval(0, None), Doc("train on a seeded sample of this many rows (0: every "
                                                       "row)")] = 0,
) -> AutomlResult:
    """Search the portfolio under ``time_budget_s``; keep an ensemble only if it wins held out; ask a human."""
    from mlsitter.processes.execution.automl.search import (PORTFOLIO, cv_repeats, ensemble_candidates, families_to_eliminate,
                                    holdout_fraction, leaderboard)
    from mlsitter.ml.tracking import _tracking as tracking
    from mlsitter.ml.tracking._registry import CHALLENGER, validate_model_name
    from mlsitter.ml.metrics._scoring import get_metric
    from mlsitter.processes.execution.training.process import default_model_name, measure_gaps

    if time_budget_s <= 0:
        raise SpecError(f"time_budget_s must be > 0 seconds; got {time_budget_s}")
    if folds < 2 or (max_trials is not None and max_trials < 1) or ensemble_size < 1:
        raise SpecError(f"folds must be >= 2, max_trials >= 1 (or unset: the time budget alone bounds the search) and "
                        f"ensemble_size >= 1; got {folds}, {max_trials}, {ensemble_size}")
    name = validate_model_name(model_name or default_model_name(data, target) + "-automl")
    started = ctx.now()
    prep = ctx.task(prepare_data, data=data, target=target, drop=list(drop or []), test_size=test_size, seed=seed,
                    metric=metric, dataset_version=dataset_version, sample_rows=sample_rows,
                    test_data=test_data)
    plan = ctx.task(plan_portfolio, families=list(families or PORTFOLIO), task=prep.task, metric=prep.metric,
                    y=prep.y_train, classes=prep.classes)
    code = ctx.task(process_code_version)
    storage = ctx.task(optuna_storage)
    measure = get_metric(prep.metric, prep.task)
    direction = "maximize" if measure.greater_is_better else "minimize"
    holdout = holdout_fraction(len(prep.y_train))
    repeats = 1 if holdout else cv_repeats(len(prep.y_train))
    search_budget = 0.95 * time_budget_s  # minus, at each step, the time the refit of the winner will take
    common = dict(X=prep.X_train, y=prep.y_train, task=prep.task, metric=prep.metric, storage=storage,
                  direction=direction, folds=folds, seed=seed, holdout=holdout, n_jobs=n_jobs, repeats=repeats)

    alive = list(plan["order"])
    eliminated: dict[str, str] = {}
    outcomes: list[Any] = []
    seconds_by_family: dict[str, list[float]] = {f: [] for f in alive}
    tried: set[str] = set()
    round_number = 0
    width = max(1, parallel)  # trials started together, one per worker

    def room() -> int:
        """Trials the next chunk may start: ``width``, or fewer where ``max_trials`` is near."""
        return width if max_trials is None else min(width, max_trials - len(outcomes))

    stop = False
    while not stop and room() > 0 and alive:
        if round_number >= 1:
            best = {f: _best(outcomes, f, measure) for f in alive if _best(outcomes, f, measure) is not None}
            for family, why in families_to_eliminate(best, measure, round_number, plan["no_skill"]).items():
                eliminated[family] = why
                alive.remove(family)
        ranked = sorted(alive, key=lambda f: (_best(outcomes, f, measure) is None,
                                              measure.loss(_best(outcomes, f, measure) or 0.0)))
        queue = ranked[:1] * 2 + ranked[1:] if round_number >= 1 else list(ranked)
        launched = False
        for start in range(0, len(queue), width):
            spent = _elapsed(ctx, started) + _refit_reserve(outcomes, measure, holdout, (folds - 1) * repeats, parallel)
            if spent >= search_budget or room() <= 0:
                stop = True
                break
            left = search_budget - spent
            chunk = [f for f in queue[start:start + width]
                     if not seconds_by_family[f] or statistics.median(seconds_by_family[f]) < left]  # skip what cannot finish in time
            chunk = chunk[:room()]
            if not chunk:
                continue
            asks = ctx.task(ask_portfolio, storage=storage, run_id=ctx.run_id, direction=direction, plan=plan,
                            families=chunk, seed=seed + 100 * round_number + start,
                            first=[f for f in chunk if f not in tried])
            results = ctx.map(evaluate_family_trial, asks, **common)
            ctx.task(tell_portfolio, storage=storage, direction=direction, asks=asks, outcomes=results)
            tried.update(chunk)
            for r in results:
                seconds_by_family[r.family].append(r.seconds)
            outcomes.extend(results)
            launched = True
        stop = stop or not launched  # no family's median trial fits the time left: stop, don't spin
        round_number += 1
    search_seconds = _elapsed(ctx, started)
    complete = [o for o in outcomes if o.state == "complete" and o.oof is not None]
    if not complete:
        errors = sorted({o.error for o in outcomes if o.error})
        raise SpecError(f"no AutoML trial finished within {time_budget_s:g} s"
                        + (f"; first error: {errors[0]}" if errors else "; raise time_budget_s"))
    board = leaderboard(outcomes, measure)
    ranked_complete = sorted(complete, key=lambda o: measure.loss(o.value))
    best_single = ranked_complete[0]
    choice = None
    members = [{"family": best_single.family, "trial": best_single.number, "params": best_single.params, "weight": 1.0}]
    if ensemble and len(ranked_complete) > 1:
        candidates = ensemble_candidates(ranked_complete, measure)
        choice = ctx.task(choose_ensemble, candidates=candidates, y=prep.y_train, task=prep.task, metric=prep.metric,
                          classes=prep.classes, seed=seed, iterations=ensemble_size, repeats=repeats)
        if choice.keep:
            members = [{"family": c.family, "trial": c.number, "params": c.params, "weight": w}
                       for c, w in zip(candidates, choice.weights) if w > 0]
    fitted = ctx.map(refit_member, members, prep=prep, seed=seed, n_jobs=n_jobs)
    ctx.prefetch(*tracking.MODULES)  # the runner idles while a worker evaluates the winner: load MLflow meanwhile
    winner = ctx.task(evaluate_winner, prep=prep, members=members, fitted=fitted, seed=seed, metric=prep.metric,
                      n_jobs=n_jobs)
    total_seconds = _elapsed(ctx, started)
    reference = choice.ensemble_score if choice is not None and choice.keep else best_single.value
    _, drop_to_test = measure_gaps(prep.metric, reference, best_single.fold_scores, winner.final.test_score)
    results_ = [ctx.gate("cv-test-gap", round(drop_to_test, 6), "<=", max_cv_test_gap, on_fail="warn")]
    if target_metric is not None:
        results_.append(ctx.gate(f"target-{prep.metric}", round(winner.final.test_score, 6),
                                 ">=" if measure.greater_is_better else "<=", target_metric, on_fail="ask"))
    gates = [{"name": g.name, "value": g.value, "op": g.op, "threshold": g.threshold, "passed": g.passed,
              "overridden": g.overridden} for g in results_]
    files = ctx.task(write_outputs, out_dir=str(ctx.workdir / "automl"), model_name=name, prep=prep, metric=prep.metric,
                     board=board, winner=winner, choice=choice, eliminated=eliminated, search_seconds=search_seconds,
                     budget_s=time_budget_s, run_id=ctx.run_id, code_version=code, gates=gates,
                     validation=_validation_text(holdout, folds, repeats))
    logged = ctx.task(log_automl, mlsitter_run_id=ctx.run_id, prep=prep, winner=winner, board=board, metric=prep.metric,
                      choice=choice, files=files, code_version=code, model_name=name, budget_s=time_budget_s)
    refs = [ctx.artifact("leaderboard.csv", Path(files["csv"])), ctx.artifact("automl-report.html", Path(files["html"])),
            ctx.artifact("automl-report.json", Path(files["json"])), ctx.artifact("model-card.md", Path(files["card"])),
            ctx.artifact("model-card.json", Path(files["card_json"]))]
    answer = ctx.breakpoint(
        f"Accept the AutoML winner for {name}: {winner.description} (test {prep.metric} "
        f"{winner.final.test_score:.4f}) and register it as '{CHALLENGER}'?",
        context={"test": winner.final.test_metrics, "ensemble_kept": bool(choice and choice.keep),
                 "trials": len(outcomes), "eliminated": eliminated, "mlflow_run_id": logged.mlflow_run_id},
        artifacts=refs, tags=("production",))
    version = None
    if answer.approved:
        registered = ctx.task(register_winner, name=name, model_uri=logged.model_uri, mlflow_run_id=logged.mlflow_run_id,
                              artifact_sha256=logged.artifact_sha256, mlsitter_run_id=ctx.run_id,
                              dataset_version=prep.dataset_version, code_version=code, process="automl",
                              metrics={f"test_{prep.metric}": winner.final.test_score}, alias=CHALLENGER)
        version = registered.version
    top = [{"rank": r.rank, "family": r.family, "trial": r.trial, "cv_score": r.cv_score, "seconds": r.seconds}
           for r in board[:10]]
    return AutomlResult(
        accepted=bool(answer.approved), model_name=name, version=version, winner=winner.description, metric=prep.metric,
        task=prep.task, test_score=winner.final.test_score, test_metrics=winner.final.test_metrics,
        ensemble_kept=bool(choice is not None and choice.keep),
        ensemble_heldout_score=None if choice is None else choice.ensemble_score,
        best_single_heldout_score=None if choice is None else choice.best_single_score,
        best_single_family=best_single.family, best_single_cv=float(best_single.value), trials_run=len(outcomes),
        eliminated=eliminated, families_tried=sorted(tried), search_seconds=search_seconds, total_seconds=total_seconds,
        mlflow_run_id=logged.mlflow_run_id, mlflow_logging_seconds=logged.logging_seconds, leaderboard_csv=files["csv"],
        report=files["html"], model_card=files["card"], dataset_version=prep.dataset_version,
        feedback=answer.feedback or "", leaderboard_top=top,
    )


def _refit_reserve(outcomes: list[Any], measure: Any, holdout: float | None, full_fits: float, parallel: int) -> float:
    """Seconds to keep for refitting and evaluating the winner: the fits of the current ensemble library,
    each a trial's time over ``full_fits`` (how many fits on all training rows one trial's CV is worth:
    (folds - 1) x repeats), spread over ``parallel`` workers (the slowest one at least), with half again for
    the test evaluation, plots and storing the model."""
    from mlsitter.processes.execution.automl.search import ensemble_candidates

    done = [o for o in outcomes if o.state == "complete" and o.value is not None]
    if not done:
        return 0.0
    scale = 1 / (1 - holdout) if holdout else 1 / full_fits
    fits = [o.seconds * scale for o in ensemble_candidates(done, measure)]
    return 1.5 * max(max(fits), sum(fits) / max(1, parallel))


def _validation_text(holdout: float | None, folds: int, repeats: int) -> str:
    if holdout:
        return f"a {holdout:.0%} holdout"
    return f"{folds}-fold CV" + (f" repeated {repeats} times" if repeats > 1 else "")


def _best(outcomes: list[Any], family: str, measure: Any) -> float | None:
    values = [o.value for o in outcomes if o.family == family and o.state == "complete" and o.value is not None]
    if not values:
        return None
    return max(values) if measure.greater_is_better else min(values)
