"""The ``explain`` process: SHAP (tree / linear / kernel as fits the model), permutation importance,
PDP and ICE, local explanations, counterfactual probes, a bootstrap stability gate on the importance
ranking, and a model card (Mitchell et al. 2019) approved through a refine loop."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from mlsitter import Context, Doc, Interval, process, task
from mlsitter.errors import SpecError
from mlsitter.processes.common import model_scoring as ev
from mlsitter.processes.vocabulary import ModelReference
from mlsitter.processes.common.gates import gate_rows
from mlsitter.processes.validation.explain import tasks as ex
from mlsitter.naming import stable_name
DEFAULT_USE = ("Decision support on data like the evaluation data, with a person reviewing individual decisions. "
               "Reject with 'Intended use: ...' to state the approved use.")


@stable_name("explain.ExplainResult")
@dataclass
class ExplainResult:
    """What ``explain`` found and where the report and approved model card are."""

    explainer: str
    importance: list[dict[str, Any]]
    permutation_importance: list[dict[str, Any]]
    local: list[dict[str, Any]]
    counterfactuals: list[dict[str, Any]]
    stability: dict[str, Any]
    gates: list[dict[str, Any]]
    report: str
    model_card_html: str
    model_card_markdown: str
    model_card_version: int
    warnings: list[str] = field(default_factory=list)


@task(name="explain.card_inputs")
def card_inputs(*, info: Any, scored: Any, details: dict[str, Any], metrics: Any, fairness: Any, summary: dict[str, Any] | None,
                shap: Any, stability: Any, probes: list[Any], attributes: list[str], intended_use: str, out_of_scope: str,
                training_data: str, data: str) -> ex.CardInputs:
    """Turn measured results (this run's, or an evaluation run's summary) into card inputs.

    Ethical notes and caveats come from what was measured. Runs as a task: the journal does not keep
    dict order, so ordered tables are built here rather than in the process body.
    """
    evaluation_gates: list[dict[str, Any]] = []
    if summary is not None:
        metric_rows = [{"metric": k, "value": v.get("value"), "ci_low": v.get("low"), "ci_high": v.get("high")}
                       for k, v in summary.get("metrics", {}).items() if isinstance(v, dict)]
        fairness = [f for f in summary.get("fairness", []) if isinstance(f, dict) and "dp_ratio" in f]
        evaluation_gates = [g for g in summary.get("gates", []) if isinstance(g, dict)]
    else:
        metric_rows = metrics.table()
        fairness = [r.summary() for r in fairness["results"]] if fairness else []
    metrics = metric_rows
    ethical = []
    used = [a for a in attributes if a in scored.feature_columns]
    if used:
        ethical.append(f"The model takes the sensitive attribute(s) {', '.join(used)} as input features.")
    for f in fairness:
        ethical.append(f"{f['attribute']}: demographic parity ratio {f['dp_ratio']:.3f} (CI {f['dp_ratio_low']:.3f}-"
                       f"{f['dp_ratio_high']:.3f}), equalized odds difference {f['eo_difference']:.3f}"
                       + (f" ({f['binning']})." if f.get("binning") else "."))
    flips = [p for p in probes if p.feature in attributes]
    for p in flips:
        ethical.append(f"Changing only {p.feature} from {p.original!r} to {p.changed_to!r} flips the decision for row {p.row}.")
    if not attributes:
        ethical.append("No sensitive attributes were named, so group fairness was not measured.")
    caveats = [f"Evaluated on {scored.n_rows:,} rows of {Path(data).name}; results may not hold on other populations."]
    failed = [g["name"] for g in evaluation_gates if not g.get("passed")]
    if failed:
        caveats.append(f"Evaluation gates that did not pass: {', '.join(failed)}.")
    if shap.explainer == "kernel":
        caveats.append("Explanations use a sampled kernel explainer: importances are approximate.")
    caveats.append(f"Importance ranking stability (mean Spearman over bootstrap resamples): {stability.mean_spearman:.3f}.")
    evaluation_data = {"file": data, "rows": scored.n_rows, "target": scored.target, "task": scored.task}
    if scored.class_balance:
        evaluation_data["class balance"] = ", ".join(f"{k}: {v:,}" for k, v in scored.class_balance.items())
    return ex.CardInputs(
        title=details.get("registered name") or Path(info.source).stem, details=details, intended_use=intended_use,
        out_of_scope=out_of_scope, factors=attributes, metrics=metrics, evaluation_data=evaluation_data,
        training_data=training_data or details.get("dataset version") and f"Dataset version {details['dataset version']}"
        or "Not recorded with the model; state it with 'Training data: ...'.",
        fairness=fairness, importance=[{"feature": r["feature"], "mean |SHAP|": r["mean_abs_shap"]} for r in shap.importance[:10]],
        stability={"n_resamples": stability.n_resamples, "mean_spearman": stability.mean_spearman, "top_k": stability.top_k,
                   "top_k_agreement": stability.top_k_agreement},
        ethical=ethical, caveats=caveats,
    )


@process("explain", phase="validation",
         description="SHAP, permutation importance, PDP/ICE, local explanations, counterfactuals, stability gate, model card")
def explain(
    ctx: Context,
    model: ModelReference,
    data: Annotated[str, Doc("table to explain the model on, with the target column")],
    target: Annotated[str, Doc("target column")],
    sensitive: Annotated[list[str] | None, Doc("sensitive attribute columns: probed by the counterfactuals and "
                                               "named on the model card")] = None,
    evaluation: Annotated[str, Doc("evaluation-summary.json of an evaluation run: its metrics, fairness and gates "
                                   "go on the card")] = "",
    rows: Annotated[list[int] | None, Interval(0, None), Doc("row numbers to explain locally (default: a seeded "
                                                              "sample of n_local rows)")] = None,
    n_local: Annotated[int, Interval(0, None), Doc("rows explained locally when rows is not given")] = 3,
    max_rows: Annotated[int, Interval(10, None), Doc("rows SHAP and permutation importance use at most")] = 2000,
    top_features: Annotated[int, Interval(1, None), Doc("most important features that get dependence plots and "
                                                        "counterfactual probes")] = 4,
    n_resamples: Annotated[int, Interval(0, None), Doc("bootstrap resamples of the rank-stability check and the "
                                                       "metric intervals")] = 200,
    min_rank_stability: Annotated[float, Interval(-1, 1), Doc("gate: the mean Spearman correlation of the "
                                                              "importance ranks across resamples must reach "
                                                              "this")] = 0.8,
    intended_use: Annotated[str, Doc("the model card's intended use")] = DEFAULT_USE,
    out_of_scope: Annotated[str, Doc("uses the model card rules out")] = "",
    training_data: Annotated[str, Doc("how the model card describes the training data (default: its dataset "
                                      "version)")] = "",
    sample_rows: Annotated[int, Interval(0, None), Doc("explain a seeded sample of this many rows (0: every "
                                                       "row)")] = 0,
    seed: Annotated[int, Doc("seed of the samples, SHAP and the resamples")] = 0,
    max_attempts: Annotated[int, Interval(1, None), Doc("review rounds of the model card before the run gives "
                                                        "up")] = 3,
) -> ExplainResult:
    """Explain ``model`` on ``data`` and get its model card approved."""
    check_explain_inputs(max_rows, top_features)
    out = str(ctx.workdir)
    info = ctx.task(ev.inspect_model, model=model)
    warnings = []
    if info.warning:
        ctx.log("warning", info.warning)
        warnings.append(info.warning)
    attributes = list(sensitive or [])
    scored = ctx.task(ev.score_dataset, model=model, data=data, target=target, positive_label="", sample_rows=sample_rows,
                      seed=seed, out_dir=out)
    chosen = ctx.task(ex.pick_rows, n_rows=scored.n_rows, rows=list(rows or []), n_local=n_local, seed=seed)
    shap = ctx.task(ex.run_shap, model=model, scored=scored, max_rows=max_rows, rows=list(rows or []), n_local=n_local,
                    seed=seed, out_dir=out)
    top = top_shap_features(shap, scored, top_features)
    permutation = ctx.task(ex.run_permutation_importance, model=model, scored=scored, max_rows=max_rows, seed=seed)
    pdp = ctx.task(ex.run_partial_dependence, model=model, scored=scored, features=top, max_rows=min(max_rows, 1000),
                   seed=seed, out_dir=out)
    probes: list[Any] = []
    probed = probe_features(top, attributes, scored) if scored.task == "binary" else []
    if probed:
        probes = ctx.task(ex.run_counterfactuals, model=model, scored=scored, rows=chosen, features=probed)
    stability = ctx.task(ex.run_stability, values_path=shap.values_path, n_resamples=n_resamples, top_k=min(5, len(shap.importance)),
                         seed=seed)
    gates = gate_rows([ctx.gate("explanation-stability", round(stability.mean_spearman, 6), ">=", min_rank_stability,
                                on_fail="ask", checkpoint="explainability")])
    files = ctx.task(ex.write_explain_report, out_dir=out, model=info, scored=scored, shap=shap, permutation=permutation,
                     pdp=pdp, probes=probes, stability=stability, gates=gates, probed=probed, rows=chosen)
    report_ref = ctx.artifact("explain-report.html", Path(files["html"]))
    ctx.artifact("explain-report.md", Path(files["markdown"]))

    inputs = gather_card_inputs(ctx, model=model, info=info, scored=scored, evaluation=evaluation, attributes=attributes,
                                n_resamples=n_resamples, seed=seed, out=out, shap=shap, stability=stability,
                                probes=probes, intended_use=intended_use, out_of_scope=out_of_scope,
                                training_data=training_data, data=data)
    card = approve_model_card(ctx, inputs=inputs, out=out, stability=stability, report_ref=report_ref,
                              max_attempts=max_attempts)
    return explain_result(shap=shap, permutation=permutation, probes=probes, stability=stability, gates=gates,
                          files=files, card=card, warnings=warnings)


# -- the chapters of the story: each makes its ctx calls in the order the body always made them ----------------
def check_explain_inputs(max_rows: int, top_features: int) -> None:
    """Raise SpecError for too few rows to explain on or no feature to draw."""
    if max_rows < 10:
        raise SpecError(f"max_rows must be at least 10; got {max_rows}")
    if top_features < 1:
        raise SpecError(f"top_features must be at least 1; got {top_features}")


def top_shap_features(shap: Any, scored: Any, top_features: int) -> list[str]:
    """The model's input features with the largest mean |SHAP|, most important first."""
    return [r["feature"] for r in shap.importance if r["feature"] in scored.feature_columns][:top_features]


def probe_features(top: list[str], attributes: list[str], scored: Any) -> list[str]:
    """What the counterfactual probes change: the top features, then the sensitive attributes the model takes."""
    return list(dict.fromkeys(top + [a for a in attributes if a in scored.feature_columns]))


def gather_card_inputs(ctx: Context, *, model: str, info: Any, scored: Any, evaluation: str, attributes: list[str],
                       n_resamples: int, seed: int, out: str, shap: Any, stability: Any, probes: list[Any],
                       intended_use: str, out_of_scope: str, training_data: str, data: str) -> ex.CardInputs:
    """What the card is assembled from: registry lineage, the evaluation run's summary (or metrics and fairness
    measured here), and the explanations."""
    details = {"source": info.source, "model": info.description, "loaded from": info.kind, "file sha256": info.sha256}
    if info.kind == "registry":
        details.update(ctx.task(ex.registry_details, model=model))
    summary = metrics = fair = None
    if evaluation:
        summary = ctx.task(ex.read_evaluation_summary, path=evaluation)
    else:
        metrics = ctx.task(ev.compute_metrics, scored=scored, n_resamples=n_resamples, seed=seed)
        if attributes and scored.task == "binary":
            fair = ctx.task(ev.compute_fairness, scored=scored, attributes=attributes, min_group_size=30,
                            n_resamples=n_resamples, seed=seed, out_dir=out)
    return ctx.task(card_inputs, info=info, scored=scored, details=details, metrics=metrics, fairness=fair, summary=summary,
                    shap=shap, stability=stability, probes=probes, attributes=attributes, intended_use=intended_use,
                    out_of_scope=out_of_scope, training_data=training_data, data=data)


def approve_model_card(ctx: Context, *, inputs: ex.CardInputs, out: str, stability: Any, report_ref: Any,
                       max_attempts: int) -> dict[str, Any]:
    """Write the model card and ask for approval until it is approved; each rejection's feedback revises it."""
    card = None
    for attempt in ctx.refine("model-card", max_attempts=max_attempts):
        card = ctx.task(ex.write_model_card, inputs=inputs, feedbacks=list(attempt.feedbacks),
                        out_dir=str(Path(out) / f"card-attempt-{attempt.number}"))
        ref = ctx.artifact(f"model-card-v{card['version']}.html", Path(card["html"]))
        ctx.artifact(f"model-card-v{card['version']}.md", Path(card["markdown"]))
        attempt.review(
            f"Approve model card version {card['version']}? Reject with 'Section: text' lines (e.g. 'Intended use: ...', "
            "'Caveats: ...') to change a section; other feedback is added as a reviewer note.",
            context={"version": card["version"], "stability": stability.mean_spearman}, artifacts=[ref, report_ref],
            checkpoint="explainability",
        )
    return card


def explain_result(*, shap: Any, permutation: list[Any], probes: list[Any], stability: Any, gates: list[dict[str, Any]],
                   files: dict[str, str], card: dict[str, Any], warnings: list[str]) -> ExplainResult:
    """The result: the explanations, the stability gate, and where the report and the approved card are."""
    return ExplainResult(
        explainer=shap.explainer, importance=shap.importance,
        permutation_importance=[{"feature": p.feature, "importance": p.importance_mean, "sd": p.importance_std} for p in permutation],
        local=shap.local,
        counterfactuals=[{"row": p.row, "feature": p.feature, "from": p.original, "to": p.changed_to, "change": p.change,
                          "score_before": p.original_score, "score_after": p.new_score} for p in probes],
        stability={"mean_spearman": stability.mean_spearman, "p05_spearman": stability.p05_spearman,
                   "top_k_agreement": stability.top_k_agreement, "n_resamples": stability.n_resamples},
        gates=gates, report=files["html"], model_card_html=card["html"], model_card_markdown=card["markdown"],
        model_card_version=card["version"], warnings=warnings,
    )
