"""The ``model-selection`` process: cross-validate candidate families (dummy, linear, tree, random
forest, extra trees, HistGradientBoosting, LightGBM, XGBoost, k-NN) behind the same feature pipeline
on the same repeated (stratified) folds; corrected CIs and Nadeau-Bengio t-tests; latency and size;
a recommendation that respects the charter's constraints.

Inputs come from earlier processes where they exist: ``charter`` (scoping: target, metric, threshold,
constraints, excluded columns) and ``pipeline`` (features: the fitted feature pipeline, cloned
unfitted into every fold, so target encoding is fitted inside folds only).

Gates: ``beats-dummy`` and ``beats-linear`` (one-sided corrected t-test p-value of the recommended
model against each baseline < ``alpha``; ``beats-linear`` is not applicable when the linear model is
the one recommended), and ``success-metric`` (the charter's threshold, when a charter is given).
Rejection feedback: ``candidates: a, b`` (only these, plus baselines), ``exclude: knn``,
``metric: f1``, ``alpha: 0.01``, ``max_latency_ms: 5``, ``max_model_size_mb: 1``,
``interpretability: required|preferred|none``, ``prefer_simpler: no``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from mlsitter import Context, Doc, Interval, Normalize, process, task
from mlsitter.naming import stable_name
from mlsitter.processes.common.gates import gate_rows
from mlsitter.processes.vocabulary import GatePolicy, MetricName, metric_spelling

FEEDBACK_KEYS = ("candidates", "exclude", "metric", "alpha", "max_latency_ms", "max_model_size_mb",
                 "interpretability", "prefer_simpler")


@stable_name("model-selection.ModelSelectionResult")
@dataclass
class ModelSelectionResult:
    """The recommendation and the evidence behind it."""

    recommended: str
    best: str
    metric: str
    recommended_score: float
    recommended_ci: tuple[float, float]
    p_values_vs_baselines: dict[str, float]
    candidates: list[dict[str, Any]]
    reasons: list[str]
    report: str
    attempts: int
    feedback: list[str] = field(default_factory=list)
    selection: str = ""  # selection.json: the approved recommendation, the input training's ``selection`` takes


@task(name="model-selection.read_selection_inputs")
def read_selection_inputs(data: str, sep: str, charter: str, pipeline: str, target: str, exclude: list[str],
                          sample_rows: int, seed: int) -> dict[str, Any]:
    """Data, charter and feature pipeline -> frame of inputs, encoded target, unfitted features, settings."""
    from sklearn.base import clone

    from mlsitter.errors import InputError
    from mlsitter.ml.handoffs._charter import load_charter
    from mlsitter.ml.features._pipeline import (FeatureSpec, build_feature_pipeline, infer_roles,
                                              load_feature_pipeline)
    from mlsitter.ml.modeling._problem_type import encode_target, infer_problem_type
    from mlsitter.ml.io._table_reader import read_table, require_columns

    frame = read_table(data, sep=sep, sample_rows=sample_rows, seed=seed)
    loaded = load_charter(charter) if charter else None
    fitted = load_feature_pipeline(pipeline) if pipeline else None
    target = target or (loaded.target if loaded else "") or (fitted.target if fitted else "")
    if not target:
        raise InputError("no target: give target=COLUMN, a charter from scoping or a pipeline from features")
    require_columns(frame, [target], "target")
    frame = frame[frame[target].notna()].reset_index(drop=True)
    problem = infer_problem_type(frame[target], task=loaded.task if loaded else None,
                                 positive_class=loaded.positive_class if loaded else None)
    if fitted is not None:
        require_columns(frame, fitted.input_columns, "feature pipeline input column(s)")
        features, columns = clone(fitted.transformer), list(fitted.input_columns)
    else:
        excluded = (list(loaded.excluded_columns) if loaded else []) + list(exclude)
        require_columns(frame, list(exclude), "exclude")
        roles = infer_roles(frame, target, FeatureSpec(), [c for c in excluded if c in frame.columns])
        features, columns = build_feature_pipeline(roles, FeatureSpec(), problem.task, seed), roles.inputs()
    return {"X": frame[columns], "y": encode_target(frame[target], problem), "features": features,
            "problem": problem, "target": target,
            "metric": loaded.metric.name if loaded else "", "threshold": loaded.metric.threshold if loaded else None,
            "constraints": dict(loaded.constraints) if loaded else {}}


@task(name="model-selection.selection_settings")
def selection_settings(metric: str, default_metric: str, constraints: dict[str, Any], candidates: str,
                       alpha: float, prefer_simpler: bool, feedbacks: list[str]) -> dict[str, Any]:
    """Inputs + charter + every rejection's directives -> the settings of this attempt."""
    from mlsitter.errors import SpecError
    from mlsitter.ml.modeling._candidates import BASELINES, candidate_name, parse_candidate_names
    from mlsitter.ml.metrics._metric_catalog import metric_info
    from mlsitter.ml.handoffs._review_feedback import parse_feedback

    settings = {"metric": metric or default_metric, "names": parse_candidate_names(candidates), "alpha": alpha,
                "prefer_simpler": prefer_simpler, "max_latency_ms": constraints.get("max_latency_ms"),
                "max_model_size_mb": constraints.get("max_model_size_mb"),
                "interpretability": constraints.get("interpretability") or "none", "notes": []}
    for text in feedbacks:
        fb = parse_feedback(text, allowed=FEEDBACK_KEYS)
        if "candidates" in fb.directives:
            settings["names"] = parse_candidate_names(fb.get_list("candidates"))
            settings["notes"].append(f"candidates -> {', '.join(settings['names'])}")
        for written in fb.get_list("exclude"):
            name = candidate_name(written)  # any spelling of a family: hgb, hist_gradient_boosting -> hist_gb
            if name in BASELINES:
                raise SpecError(f"feedback 'exclude: {written}': the baselines dummy and linear are always compared")
            settings["names"] = [n for n in settings["names"] if n != name]
            settings["notes"].append(f"exclude {name}")
        if "metric" in fb.directives:
            settings["metric"] = metric_info(fb.directives["metric"].strip()).name
            settings["notes"].append(f"metric -> {settings['metric']}")
        for key in ("alpha", "max_latency_ms", "max_model_size_mb"):
            if key in fb.directives:
                settings[key] = fb.get_float(key)
                settings["notes"].append(f"{key} -> {settings[key]}")
        if "interpretability" in fb.directives:
            value = fb.directives["interpretability"].strip().lower()
            if value not in ("required", "preferred", "none"):
                raise SpecError(f"feedback 'interpretability' must be required, preferred or none, got {value!r}")
            settings["interpretability"] = value
            settings["notes"].append(f"interpretability -> {value}")
        if "prefer_simpler" in fb.directives:
            settings["prefer_simpler"] = fb.directives["prefer_simpler"].strip().lower() in ("yes", "true", "1", "on")
            settings["notes"].append(f"prefer_simpler -> {settings['prefer_simpler']}")
    return settings


@task(name="model-selection.compare_models")
def compare_models(X: Any, y: Any, features: Any, problem: Any, settings: dict[str, Any], cv_folds: int,
                   cv_repeats: int, n_jobs: int, seed: int) -> Any:
    """Build the candidates and compare them on the same repeated folds."""
    from mlsitter.errors import SpecError
    from mlsitter.ml.modeling._candidates import build_candidates
    from mlsitter.ml.metrics._metric_catalog import metric_info
    from mlsitter.ml.modeling._model_comparison import compare_candidates

    metric = metric_info(settings["metric"])
    if metric.task != problem.task:
        raise SpecError(f"metric {metric.name} is for {metric.task}; this target is {problem.task}")
    if metric.binary_only and not problem.is_binary:
        raise SpecError(f"metric {metric.name} needs a binary target; this one has {problem.n_classes} classes")
    candidates = build_candidates(features, problem.task, settings["names"], len(X), X.shape[1], seed, n_jobs)
    return compare_candidates(X, y, problem.task, metric, candidates, folds=cv_folds, repeats=cv_repeats, seed=seed,
                              alpha=settings["alpha"], max_latency_ms=settings["max_latency_ms"],
                              max_model_size_mb=settings["max_model_size_mb"],
                              interpretability=settings["interpretability"],
                              prefer_simpler=settings["prefer_simpler"])


@task(name="model-selection.write_selection_report")
def write_selection_report(comparison: Any, gates: list[dict[str, Any]], notes: list[str],
                           constraints: dict[str, Any], attempt: int, rows: int, out_dir: str,
                           skipped: dict[str, str] | None = None) -> dict[str, str]:
    from mlsitter.processes.planning.model_selection.report import write_model_selection_report

    files = write_model_selection_report(comparison, gates, notes, constraints, attempt, rows, out_dir, skipped=skipped)
    return {"html": str(files.html), "markdown": str(files.markdown), "json": str(files.json)}


@task(name="model-selection.write_handoff")
def write_handoff(out_dir: str, recommended: str, metric: str, score: float, target: str, task: str, pipeline: str,
                  data: str, run_id: str) -> str:
    """``selection.json``: the approved recommendation and what it was measured with, for ``training``."""
    from pathlib import Path

    from mlsitter.ml.handoffs._handoff import Selection, write_selection

    chosen = Selection(recommended=recommended, metric=metric, score=float(score), target=target, task=task,
                       pipeline=str(Path(pipeline).resolve()) if pipeline else "", data=str(Path(data).resolve()),
                       run_id=run_id)
    return str(write_selection(chosen, out_dir))


@process("model-selection", phase="planning",
         description="Candidate families on the same repeated CV folds, corrected t-tests, latency/size, recommendation")
def model_selection(
    ctx: Context,
    data: Annotated[str, Doc("the table to select a model family for: a CSV, Parquet or JSON file")],
    target: Annotated[str, Doc("target column (default: the charter's or the pipeline's)")] = "",
    charter: Annotated[str, Doc("scoping charter: target, task, success metric and constraints")] = "",
    pipeline: Annotated[str, Doc("feature pipeline saved by features; replaces the default preprocessing")] = "",
    metric: Annotated[Literal["", MetricName], Normalize(metric_spelling),
                      Doc("metric the candidates are compared on (empty: the charter's, else the task's "
                          "default)")] = "",
    candidates: Annotated[str, Doc("candidate families, comma-separated (empty: all; dummy and linear are always "
                                   "compared)")] = "",
    exclude: Annotated[str, Doc("columns that must not be features, comma-separated (without a pipeline)")] = "",
    sep: Annotated[str, Doc("CSV field delimiter (empty: detected)")] = "",
    sample_rows: Annotated[int, Interval(0, None), Doc("read a seeded sample of this many rows (0: every "
                                                       "row)")] = 0,
    cv_folds: Annotated[int, Interval(2, None), Doc("cross-validation folds, the same for every "
                                                    "candidate")] = 5,
    cv_repeats: Annotated[int, Interval(1, None), Doc("repetitions of the cross-validation with new "
                                                      "folds")] = 2,
    alpha: Annotated[float, Interval(0, 1, closed="neither"), Doc("significance level of the corrected t-tests "
                                                                   "and the beats-dummy gate")] = 0.05,
    prefer_simpler: Annotated[bool, Doc("recommend the simpler of candidates the tests cannot tell "
                                        "apart")] = True,
    n_jobs: Annotated[int, Doc("threads per model fit, as scikit-learn's n_jobs")] = 1,
    on_gate_fail: Annotated[GatePolicy, Doc("what a failed gate does: fail the run, ask a person, or "
                                            "warn")] = "ask",
    max_attempts: Annotated[int, Interval(1, None), Doc("review rounds of the recommendation before the run "
                                                        "gives up")] = 3,
) -> ModelSelectionResult:
    """Select a model family for ``data``: ``target``/``metric`` or a scoping ``charter``; ``pipeline``
    is a feature pipeline saved by ``features``; ``candidates`` a comma list (empty = all); ``exclude``
    a comma list of columns that must not be features (without a pipeline)."""
    seed = ctx.seed()
    inputs = ctx.task(read_selection_inputs, data=data, sep=sep, charter=charter, pipeline=pipeline, target=target,
                      exclude=[c.strip() for c in exclude.split(",") if c.strip()], sample_rows=sample_rows, seed=seed)
    workdir = ctx.workdir / "model-selection"
    for attempt in ctx.refine("model-selection", max_attempts=max_attempts):
        feedbacks = [f for f in attempt.feedbacks if f]
        comparison, files, html = compare_attempt(ctx, attempt.number, feedbacks, inputs=inputs, metric=metric,
                                                  candidates=candidates, alpha=alpha, prefer_simpler=prefer_simpler,
                                                  cv_folds=cv_folds, cv_repeats=cv_repeats, n_jobs=n_jobs, seed=seed,
                                                  on_gate_fail=on_gate_fail, folder=workdir / f"attempt-{attempt.number}")
        recommended = comparison.result(comparison.recommended)
        attempt.review(
            f"Approve {comparison.recommended} ({comparison.metric} {recommended.mean:.4f}, CI {recommended.ci_low:.4f}"
            f"..{recommended.ci_high:.4f})? Reject with e.g. 'exclude: {comparison.recommended}' or "
            "'interpretability: required' or 'metric: f1'.",
            context={"recommended": comparison.recommended, "best": comparison.best,
                     "candidates": [r.name for r in comparison.results]},
            artifacts=[html], checkpoint="model-quality",
        )
    rec = comparison.result(comparison.recommended)
    handoff = ctx.task(write_handoff, out_dir=str(workdir), recommended=comparison.recommended,
                       metric=comparison.metric, score=rec.mean, target=inputs["target"], task=inputs["problem"].task,
                       pipeline=pipeline, data=data, run_id=ctx.run_id)
    ctx.artifact("selection.json", handoff, media_type="application/json")
    return model_selection_result(comparison, files=files, attempts=attempt.number, feedbacks=feedbacks, handoff=handoff)


# -- the chapters of the story -----------------------------------------------------------------------------
def compare_attempt(ctx: Context, number: int, feedbacks: list[str], *, inputs: dict[str, Any], metric: str,
                    candidates: str, alpha: float, prefer_simpler: bool, cv_folds: int, cv_repeats: int, n_jobs: int,
                    seed: int, on_gate_fail: str, folder: Any) -> tuple[Any, dict[str, str], Any]:
    """(comparison, report files, the report's artifact) of one attempt: settings from the feedback so far, the
    candidates compared on the same folds, the recommendation gated against the baselines and the charter."""
    from mlsitter.ml.metrics._metric_catalog import default_success_metric
    from mlsitter.ml.modeling._candidates import skipped_candidates

    problem = inputs["problem"]
    settings = ctx.task(selection_settings, metric=metric or inputs["metric"],
                        default_metric=default_success_metric(problem.task, problem.n_classes),
                        constraints=inputs["constraints"], candidates=candidates, alpha=alpha,
                        prefer_simpler=prefer_simpler, feedbacks=feedbacks)
    comparison = ctx.task(compare_models, X=inputs["X"], y=inputs["y"], features=inputs["features"],
                          problem=problem, settings=settings, cv_folds=cv_folds, cv_repeats=cv_repeats,
                          n_jobs=n_jobs, seed=seed)
    gates = gate_recommendation(ctx, comparison, settings=settings, inputs=inputs, on_gate_fail=on_gate_fail)
    skipped = skipped_candidates(settings["names"], len(inputs["X"]), inputs["X"].shape[1])
    for name, why in skipped.items():
        ctx.log("warning", f"candidate {name} {why}")
    files = ctx.task(write_selection_report, comparison=comparison, gates=gate_rows(gates), notes=settings["notes"],
                     constraints={k: settings[k] for k in ("max_latency_ms", "max_model_size_mb",
                                                           "interpretability", "alpha")},
                     attempt=number, rows=len(inputs["X"]), out_dir=str(folder),
                     **({"skipped": skipped} if skipped else {}))  # passed only when used: runs in flight keep their hash
    html = ctx.artifact(f"model-selection-{number}.html", files["html"], media_type="text/html")
    ctx.artifact(f"model-selection-{number}.md", files["markdown"], media_type="text/markdown")
    ctx.artifact(f"model-selection-{number}.json", files["json"], media_type="application/json")
    return comparison, files, html


def gate_recommendation(ctx: Context, comparison: Any, *, settings: dict[str, Any], inputs: dict[str, Any],
                        on_gate_fail: str) -> list[Any]:
    """The recommended model must beat the dummy and (when it is not linear itself) the linear baseline, and
    reach the charter's threshold when the charter's metric is the one compared."""
    # p to 4 significant digits: rounded to 8 decimals, a p of 3e-12 read "0" in the gate
    gates = [ctx.gate("beats-dummy", float(f"{comparison.vs_baselines['dummy'].p_value:.4g}"), "<", settings["alpha"],
                      on_fail=on_gate_fail, checkpoint="model-quality")]
    if "linear" in comparison.vs_baselines:
        gates.append(ctx.gate("beats-linear", float(f"{comparison.vs_baselines['linear'].p_value:.4g}"), "<",
                              settings["alpha"], on_fail=on_gate_fail, checkpoint="model-quality"))
    recommended = comparison.result(comparison.recommended)
    if inputs["threshold"] is not None and settings["metric"] == inputs["metric"]:
        op = ">=" if comparison.greater_is_better else "<="
        gates.append(ctx.gate("success-metric", round(recommended.mean, 6), op, inputs["threshold"],
                              on_fail=on_gate_fail, checkpoint="model-quality"))
    return gates


def model_selection_result(comparison: Any, *, files: dict[str, str], attempts: int, feedbacks: list[str],
                           handoff: str) -> ModelSelectionResult:
    """The result: the recommendation, the evidence behind it and the handoff training reads."""
    rec = comparison.result(comparison.recommended)
    return ModelSelectionResult(
        recommended=comparison.recommended, best=comparison.best, metric=comparison.metric,
        recommended_score=rec.mean, recommended_ci=(rec.ci_low, rec.ci_high),
        p_values_vs_baselines={k: v.p_value for k, v in comparison.vs_baselines.items()},
        candidates=[{"name": r.name, "mean": r.mean, "ci_low": r.ci_low, "ci_high": r.ci_high,
                     "p_vs_best": r.vs_best.p_value if r.vs_best else None, "fit_seconds": r.fit_seconds,
                     "latency_ms": r.single_row_latency_ms, "size_mb": r.model_size_mb, "admissible": r.admissible}
                    for r in comparison.results],
        reasons=list(comparison.recommendation_reasons), report=files["html"], attempts=attempts, feedback=feedbacks,
        selection=handoff,
    )
