"""Task functions of the ``automl`` process: plan the portfolio, ask/evaluate/tell trials family by family,
choose the ensemble, refit and validate the winner, write the leaderboard, report and model card stub, log to
MLflow and register."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlsitter.naming import stable_name
from mlsitter.runtime import task


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
        y = prep.y_train.to_numpy()
        span = None if prep.classes else (float(np.min(y)), float(np.max(y)))
        model = WeightedEnsemble.from_fitted(models, [m["weight"] for m in members], prep.task, target_range=span)
        description = "ensemble of " + ", ".join(f"{m['family']}#{m['trial']} x{m['weight']:.2f}" for m in members)
    final = fit_final(model, prep.X_train, prep.y_train, prep.X_test, prep.y_test, task=prep.task, metric=metric,
                      classes=prep.classes, seed=seed, learning_curve=False, threads=n_jobs,
                      fitted_seconds=max(f["seconds"] for f in fitted))
    measure = get_metric(metric, prep.task)
    classes = np.asarray(prep.classes) if prep.classes else None
    member_scores = [score(measure, prep.y_test, predict_scores(m, prep.X_test, prep.task), classes) for m in models]
    return Winner(final=final, description=description, members=members, member_test_scores=member_scores)


def leaderboard_rows(board: list[Any], metric: str, *, holdout: bool) -> list[dict[str, Any]]:
    """The leaderboard as table rows, headed by how trials were scored: ``cv_<metric>`` and ``cv_std`` under
    k-fold CV, ``holdout_<metric>`` (one score, no spread to show) under a single holdout."""
    import json

    return [{"rank": r.rank, "family": r.family, "trial": r.trial, "state": r.state,
             **({f"holdout_{metric}": r.cv_score} if holdout else {f"cv_{metric}": r.cv_score, "cv_std": r.cv_std}),
             "seconds": r.seconds, "size_kb": round(r.size_bytes / 1024, 1), "params": json.dumps(r.params, default=str)}
            for r in board]


@task(name="automl.write_outputs")
def write_outputs(*, out_dir: str, model_name: str, prep: Any, metric: str, board: list[Any], winner: Winner,
                  choice: Any, eliminated: dict[str, str], search_seconds: float, budget_s: float, run_id: str,
                  code_version: str, gates: list[dict[str, Any]], validation: str) -> dict[str, str]:
    """Leaderboard (CSV + HTML report) and the model card stub that ``explain`` completes."""
    import pandas as pd

    from mlsitter.report import Report
    from mlsitter.ml.modeling._training_data import class_balance
    from mlsitter.processes.common.training_setup import dropped_note
    from mlsitter.processes.execution.automl.search import holdout_fraction

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(leaderboard_rows(board, metric, holdout=holdout_fraction(len(prep.y_train)) is not None))
    csv_path = out / "leaderboard.csv"
    table.to_csv(csv_path, index=False)
    fin = winner.final
    report = Report(f"AutoML: {model_name}", f"{prep.task} on {Path(prep.source).name}, target {prep.target!r}, "
                    f"metric {metric}, budget {budget_s:g} s, trials judged by {validation}")
    report.section("Winner").metrics({f"test {metric}": fin.test_score, "trials": len(board),
                                      "search seconds": round(search_seconds, 1), "members": len(winner.members)})
    report.text(f"Winner: {winner.description}.")
    if dropped_note(prep):
        report.note(dropped_note(prep), "warn")
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
              "ensemble_kept": bool(choice is not None and choice.keep), "target": prep.target,
              "train_rows": len(prep.y_train), "test_rows": len(prep.y_test),
              "dropped_columns": ",".join(prep.dropped_columns)}
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
