"""The ``evaluation`` process: metrics with bootstrap CIs, calibration, error analysis by slice,
robustness to perturbations, fairness (Fairlearn) with gates and ThresholdOptimizer mitigation as a
breakpoint option, business value, and a production-readiness approval summarising every gate."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from mlsitter import Context, Doc, GateResult, Interval, process
from mlsitter.errors import GateFailedError, SpecError
from mlsitter.processes.common import model_scoring as scoring
from mlsitter.processes.vocabulary import ModelReference
from mlsitter.processes.common.gates import gate_rows
from mlsitter.processes.validation.evaluation import tasks as steps
from mlsitter.processes.validation.evaluation.report import write_evaluation_report
from mlsitter.naming import ADDED_LATER, stable_name

FAIRNESS_OPTIONS = ["mitigate", "accept", "reject"]
READINESS_OPTIONS = ["ready", "not-ready"]


@stable_name("evaluation.EvaluationResult")
@dataclass
class EvaluationResult:
    """What ``evaluation`` measured and decided."""

    task: str
    n_rows: int
    metrics: dict[str, dict[str, float]]
    fairness: list[dict[str, Any]]
    fairness_decision: str  # passed | mitigated | accepted | not-measured
    mitigated_fairness: list[dict[str, Any]]
    mitigated_model: str
    ece: float | None
    worst_slices: list[dict[str, Any]]
    robustness: list[dict[str, Any]]
    business: dict[str, Any] | None
    gates: list[dict[str, Any]]
    ready: bool
    readiness_by: str
    readiness_feedback: str
    report: str
    summary: str
    recalibrated_model: str = ""
    warnings: list[str] = field(default_factory=list)
    predictions: str = field(default="", metadata=ADDED_LATER)  # the per-row predictions' CSV


def parse_targets(text: str) -> list[tuple[str, str, float]]:
    """``"roc_auc>=0.85, log_loss<=0.4"`` -> [(metric, op, threshold), ...]."""
    out = []
    for part in filter(None, (p.strip() for p in re.split(r"[,;]", text or ""))):
        match = re.match(r"^([A-Za-z_0-9]+)\s*(>=|<=|>|<)\s*(-?[0-9.eE+-]+)$", part)
        if not match:
            raise SpecError(f"metric target {part!r} must look like 'roc_auc>=0.85' (metric, >= <= > <, number)")
        out.append((match.group(1), match.group(2), float(match.group(3))))
    return out


def fairness_choice(answer: Any) -> str:
    """mitigate / accept / reject from the answer's option, else its feedback, else approve=mitigate."""
    if answer.option in FAIRNESS_OPTIONS:
        return answer.option
    words = (answer.feedback or "").lower()
    for option in FAIRNESS_OPTIONS:
        if option in words:
            return option
    return "mitigate" if answer.approved else "reject"


def check_evaluation_inputs(n_resamples: int, recalibrate: str, mitigation: str) -> None:
    """Raise SpecError for a resample count, recalibration method or mitigation constraint out of range."""
    if n_resamples < 0 or n_resamples > 100_000:
        raise SpecError(f"n_resamples must be between 0 and 100000; got {n_resamples}")
    if recalibrate not in ("none", "isotonic", "sigmoid"):
        raise SpecError(f"recalibrate must be 'none', 'isotonic' or 'sigmoid'; got {recalibrate!r}")
    if mitigation not in ("auto", "demographic_parity", "equalized_odds"):
        raise SpecError(f"mitigation must be 'auto', 'demographic_parity' or 'equalized_odds'; got {mitigation!r}")


def charter_defaults(sensitive: list[str] | None, positive_label: str,
                     from_charter: dict[str, Any] | None) -> tuple[list[str], str]:
    """(sensitive attributes, positive label): the inputs where given, else what the scoping charter names."""
    attributes = list(sensitive or [])
    if from_charter:
        attributes = attributes or from_charter["sensitive"]
        positive_label = positive_label or from_charter["positive_class"]
    return attributes, positive_label


def mitigation_constraint(mitigation: str, failed_dp: list[str]) -> str:
    """The constraint ThresholdOptimizer mitigates for: the one asked for, else demographic parity when a
    demographic-parity gate failed, else equalized odds."""
    return mitigation if mitigation != "auto" else ("demographic_parity" if failed_dp else "equalized_odds")


def is_ready(answer: Any) -> bool:
    """The readiness decision: the option picked (ready / not-ready), else whether the answer approved."""
    return answer.option == "ready" if answer.option in READINESS_OPTIONS else answer.approved


@stable_name("evaluation.FairnessReview")
@dataclass
class FairnessReview:
    """What the fairness chapter measured and decided, and the gates it recorded (never journaled as such)."""

    fairness: dict[str, Any] | None = None
    mitigated: dict[str, Any] | None = None
    decision: str = "not-measured"  # passed | mitigated | accepted | not-measured
    mitigated_rows: list[dict[str, Any]] = field(default_factory=list)
    gates: list[GateResult] = field(default_factory=list)


@process("evaluation", phase="validation",
         description="Metrics with CIs, calibration, slices, robustness, fairness gates with mitigation, business value, readiness")
def evaluation(
    ctx: Context,
    model: ModelReference,
    data: Annotated[str, Doc("evaluation table with the target column (rows the model has not seen)")],
    target: Annotated[str, Doc("target column")],
    sensitive: Annotated[list[str] | None, Doc("sensitive attribute columns for the fairness gates (default: the "
                                               "charter's)")] = None,
    charter: Annotated[str, Doc("scoping charter: sensitive attributes, positive class and success "
                                "metric")] = "",
    positive_label: Annotated[str, Doc("positive class of a binary target (default: the charter's, else the "
                                       "model's second class)")] = "",
    n_resamples: Annotated[int, Interval(0, 100_000), Doc("bootstrap resamples of the confidence intervals (0: "
                                                          "none)")] = 1000,
    seed: Annotated[int, Doc("seed of the bootstrap, the perturbations and the sample")] = 0,
    sample_rows: Annotated[int, Interval(0, None), Doc("evaluate a seeded sample of this many rows (0: every "
                                                       "row)")] = 0,
    targets: Annotated[str, Doc("metric gates, e.g. 'roc_auc>=0.85, log_loss<=0.4'")] = "",
    min_dp_ratio: Annotated[float, Interval(0, 1), Doc("fairness gate: each attribute's demographic-parity ratio "
                                                       "must reach this")] = 0.8,
    max_eo_difference: Annotated[float, Interval(0, 1), Doc("fairness gate: each attribute's equalized-odds "
                                                            "difference may not exceed this")] = 0.1,
    min_group_size: Annotated[int, Interval(1, None), Doc("groups with fewer rows are left out of the fairness "
                                                          "measures; equalized odds counts positives and "
                                                          "negatives, not rows")] = 30,
    max_fairness_ci_width: Annotated[float, Interval(0, 1, closed="right"),
                                     Doc("a fairness gap fails its gate only when its 95% CI is at most this wide (else "
                                         "warns)")] = 0.3,
    mitigation: Annotated[Literal["auto", "demographic_parity", "equalized_odds"],
                          Doc("constraint of the ThresholdOptimizer mitigation (auto: the one whose gate "
                              "failed)")] = "auto",
    max_ece: Annotated[float, Interval(0, 1), Doc("calibration gate (warns): the expected calibration error may "
                                                  "not exceed this")] = 0.1,
    recalibrate: Annotated[Literal["none", "isotonic", "sigmoid"], Doc("also fit a recalibrated copy of a binary "
                                                                      "model with this method")] = "none",
    costs: Annotated[str, Doc("business cost matrix: 'tp=100,fp=-20,tn=0,fn=-50', a JSON object or a JSON "
                              "file")] = "",
    max_robustness_drop: Annotated[float, Interval(0, None), Doc("robustness gate (warns): how much the main "
                                                                 "metric may drop under each "
                                                                 "perturbation")] = 0.05,
) -> EvaluationResult:
    """Evaluate ``model`` (registry reference or model file) on ``data`` and ask for a readiness decision."""
    check_evaluation_inputs(n_resamples, recalibrate, mitigation)
    metric_targets = parse_targets(targets)
    out = str(ctx.workdir)
    info = ctx.task(scoring.inspect_model, model=model)
    warnings = []
    if info.warning:
        ctx.log("warning", info.warning)
        warnings.append(info.warning)
    from_charter = ctx.task(steps.charter_settings, charter=charter) if charter else None
    attributes, positive_label = charter_defaults(sensitive, positive_label, from_charter)
    scored = ctx.task(scoring.score_dataset, model=model, data=data, target=target, positive_label=positive_label,
                      sample_rows=sample_rows, seed=seed, out_dir=out)
    has_score = scored.task == "binary" and info.task == "binary"
    exported = (ctx.task(steps.export_predictions, scored=scored, attributes=attributes, out_dir=out)
                if ctx.patched("evaluation.export-predictions") else None)  # a run begun before goes on without it
    evidence = [ctx.artifact("predictions.csv", Path(exported))] if exported else []
    metrics = ctx.task(scoring.compute_metrics, scored=scored, n_resamples=n_resamples, seed=seed)
    gates = gate_metric_targets(ctx, metrics, scored.task, metric_targets, from_charter, out=out, evidence=evidence)

    calibration = recal = None
    if has_score:
        calibration, recal, gate = measure_calibration(ctx, model=model, scored=scored, n_resamples=n_resamples,
                                                       seed=seed, out=out, max_ece=max_ece, recalibrate=recalibrate)
        gates.append(gate)
    slices = ctx.task(steps.compute_slices, scored=scored, out_dir=out)
    robustness = ctx.task(steps.compute_robustness, model=model, scored=scored, seed=seed)
    gates += gate_robustness(ctx, robustness, max_robustness_drop)
    fair = review_fairness(ctx, model=model, scored=scored, attributes=attributes, min_group_size=min_group_size,
                           n_resamples=n_resamples, seed=seed, out=out, min_dp_ratio=min_dp_ratio,
                           max_eo_difference=max_eo_difference, mitigation=mitigation,
                           max_ci_width=max_fairness_ci_width, evidence=evidence)
    gates += fair.gates
    business, business_gates = measure_business_value(ctx, scored=scored, costs=costs, has_score=has_score, out=out)
    gates += business_gates

    rows = gate_rows(gates)
    files = ctx.task(write_evaluation_report, out_dir=out, model=info, scored=scored, metrics=metrics, calibration=calibration,
                     recalibration=recal, slices=slices, robustness=robustness, fairness=fair.fairness,
                     mitigation=fair.mitigated, mitigation_choice=fair.decision, business=business, gates=rows,
                     n_resamples=n_resamples)
    refs = record_report(ctx, files, fair.mitigated) + evidence
    answer = ask_readiness(ctx, info=info, rows=rows, decision=fair.decision, metrics=metrics, refs=refs)
    return evaluation_result(scored=scored, metrics=metrics, fair=fair, calibration=calibration, recal=recal, slices=slices,
                             robustness=robustness, business=business, rows=rows, answer=answer, files=files,
                             warnings=warnings, predictions=str(evidence[0].path) if evidence else "")


# -- the chapters of the story: each makes its ctx calls in the order the body always made them ----------------
def gate_metric_targets(ctx: Context, metrics: Any, task: str, metric_targets: list[tuple[str, str, float]],
                        from_charter: dict[str, Any] | None, out: str = "", evidence: list[Any] | None = None
                        ) -> list[GateResult]:
    """One ``ask`` gate per metric target; the charter's success metric joins them when this evaluation measures it.
    An override question carries the metrics table (with CIs) and the per-row predictions."""
    targets = list(metric_targets)
    if from_charter and from_charter["metric"] not in [t[0] for t in targets]:
        if from_charter["metric"] in metrics.values:
            targets.append((from_charter["metric"], from_charter["op"], float(from_charter["threshold"])))
        else:
            ctx.log("warning", f"the charter's success metric {from_charter['metric']!r} is not one this evaluation measures")
    gates: list[GateResult] = []
    unknown = [t[0] for t in targets if t[0] not in metrics.values]
    if unknown:
        raise SpecError(f"metric target {unknown[0]!r} is not a metric of this {task} model; available: {list(metrics.values)}")
    refs = [ctx.artifact("metrics.csv", Path(ctx.task(steps.write_metrics_table, metrics=metrics, out_dir=out))),
            *(evidence or [])] if targets else []
    for name, op, threshold in targets:
        e = metrics.values[name]
        gates.append(ctx.gate(f"metric-{name}", round(e.value, 6), op, threshold, on_fail="ask",
                              context={"ci": [e.low, e.high]}, artifacts=refs, checkpoint="independent-validation"))
    return gates


def measure_calibration(ctx: Context, *, model: str, scored: Any, n_resamples: int, seed: int, out: str, max_ece: float,
                        recalibrate: str) -> tuple[dict[str, Any], dict[str, Any] | None, GateResult]:
    """(calibration, recalibration or None, the ECE gate) of a binary classifier with probabilities."""
    calibration = ctx.task(steps.compute_calibration, scored=scored, n_resamples=min(n_resamples, 1000), seed=seed, out_dir=out)
    gate = ctx.gate("calibration-ece", round(calibration["result"].ece.value, 6), "<=", max_ece, on_fail="warn",
                    checkpoint="independent-validation")
    recal = None
    if recalibrate != "none":
        recal = ctx.task(steps.recalibrate_model, model=model, scored=scored, method=recalibrate, seed=seed, out_dir=out)
    return calibration, recal, gate


def robustness_drop(result: Any) -> float:
    """The score a perturbation costs; a model that fails under it (NaN score) loses everything."""
    return result.drop if result.perturbed == result.perturbed else result.clean


def gate_robustness(ctx: Context, robustness: list[Any], max_drop: float) -> list[GateResult]:
    """One ``warn`` gate per perturbation on the score it costs; a perturbation that tested nothing gets no
    gate (it did not pass), only a line saying it was not run."""
    gates = []
    for r in robustness:
        if getattr(r, "status", "ran") == "not run":
            ctx.log("warning", f"robustness {r.perturbation}: {r.note}")
            continue
        gates.append(ctx.gate(f"robustness-{r.perturbation}", round(robustness_drop(r), 6), "<=", max_drop, on_fail="warn",
                              checkpoint="independent-validation"))
    return gates


def review_fairness(ctx: Context, *, model: str, scored: Any, attributes: list[str], min_group_size: int,
                    n_resamples: int, seed: int, out: str, min_dp_ratio: float, max_eo_difference: float,
                    mitigation: str, max_ci_width: float = 1.0, evidence: list[Any] | None = None) -> FairnessReview:
    """Fairness of a binary classifier by sensitive attribute, gated; failed gates ask whether to mitigate
    (ThresholdOptimizer), accept the model as it is, or reject it, with the per-group table, the figure and the
    per-row predictions attached. A gap too uncertain to judge (CI wider than ``max_ci_width``) fails no gate."""
    review = FairnessReview()
    if not attributes:
        return review
    if scored.task != "binary":
        ctx.log("warning", f"fairness needs a binary classifier; {scored.task} model: sensitive attributes not evaluated")
        return review
    review.fairness = ctx.task(scoring.compute_fairness, scored=scored, attributes=attributes,
                               min_group_size=min_group_size, n_resamples=n_resamples, seed=seed, out_dir=out)
    failed_dp: list[str] = []
    failed_eo: list[str] = []
    for r in review.fairness["results"]:
        for gap, op, limit, failed in (("dp-ratio", ">=", min_dp_ratio, failed_dp),
                                       ("eo-difference", "<=", max_eo_difference, failed_eo)):
            gate = judge_gap(ctx, f"fairness-{r.attribute}-{gap}", getattr(r, gap.replace("-", "_")), op, limit,
                             max_ci_width)
            if gate is not None:
                review.gates.append(gate)
                failed += [] if gate.passed or gate.name.endswith("-ci-width") else [r.attribute]
    review.decision = "passed"
    if not (failed_dp or failed_eo):
        return review
    failing = list(dict.fromkeys(failed_dp + failed_eo))
    constraint = mitigation_constraint(mitigation, failed_dp)
    refs = []
    if ctx.patched("evaluation.fairness-evidence"):  # a run begun before asks without the tables
        table = ctx.task(steps.write_fairness_table, results=review.fairness["results"], out_dir=out)
        refs = [ctx.artifact("fairness-by-group.csv", Path(table)),
                ctx.artifact("fairness.png", Path(review.fairness["figure"])), *(evidence or [])]
    answer = ctx.breakpoint(
        f"Fairness gates failed for {', '.join(failing)} (DP ratio >= {min_dp_ratio}, EO difference <= "
        f"{max_eo_difference}). Mitigate with ThresholdOptimizer ({constraint}), accept the model as it is, or reject it?",
        context={"failed": failing, "gaps": fairness_gaps(review.fairness["results"]), "constraint": constraint},
        artifacts=refs, options=FAIRNESS_OPTIONS, tags=("fairness",),
    )
    choice = fairness_choice(answer)
    if choice == "reject":
        raise GateFailedError(f"fairness gates failed for {failing} and the model was rejected by {answer.by}"
                              + (f": {answer.feedback}" if answer.feedback else ""))
    if choice == "accept":
        review.decision = "accepted"
        ctx.log("warning", f"fairness gaps accepted by {answer.by}: {answer.feedback or 'no reason given'}")
        return review
    review.decision = "mitigated"
    review.mitigated = ctx.task(steps.mitigate_fairness, model=model, scored=scored, attributes=failing,
                                constraint=constraint, min_group_size=min_group_size,
                                n_resamples=min(n_resamples, 500), seed=seed, out_dir=out)
    for r in review.mitigated["comparison"][1]["fairness"]:
        for gap, op, limit in (("dp-ratio", ">=", min_dp_ratio), ("eo-difference", "<=", max_eo_difference)):
            gate = judge_gap(ctx, f"fairness-{r.attribute}-{gap}-mitigated", getattr(r, gap.replace("-", "_")), op,
                             limit, max_ci_width)
            review.gates += [gate] if gate is not None else []
        review.mitigated_rows.append(r.summary())
    return review


def judge_gap(ctx: Context, name: str, gap: Any, op: str, limit: float, max_ci_width: float) -> GateResult | None:
    """The gate of one fairness gap. A gap beyond ``limit`` fails only when its 95% CI is at most ``max_ci_width``
    wide; a wider CI gives a warning gate on the width instead (too little evidence to fail the model). A gap
    within ``limit`` passes; one that could not be measured (NaN) gets no gate, only a warning."""
    if gap.value != gap.value:
        ctx.log("warning", f"{name}: not measured (too few groups with enough rows or events)")
        return None
    width = gap.high - gap.low
    breached = gap.value < limit if op == ">=" else gap.value > limit
    if breached and width == width and width > max_ci_width:
        ctx.log("warning", f"{name}: {gap.value:.3f} not judged, its 95% CI [{gap.low:.3f}, {gap.high:.3f}] is wider "
                           f"than {max_ci_width}")
        return ctx.gate(f"{name}-ci-width", round(width, 6), "<=", max_ci_width, on_fail="warn", checkpoint="fairness")
    return ctx.gate(name, round(gap.value, 6), op, limit, on_fail="warn", checkpoint="fairness")


def fairness_gaps(results: list[Any]) -> dict[str, Any]:
    """Per attribute, the DP ratio and EO difference with their CIs, as the fairness question shows them."""
    return {r.attribute: {"dp_ratio": [r.dp_ratio.value, r.dp_ratio.low, r.dp_ratio.high],
                          "eo_difference": [r.eo_difference.value, r.eo_difference.low, r.eo_difference.high]}
            for r in results}


def measure_business_value(ctx: Context, *, scored: Any, costs: str, has_score: bool,
                           out: str) -> tuple[dict[str, Any] | None, list[GateResult]]:
    """(business value, its uplift gate) when a cost matrix is given for a binary classifier with probabilities."""
    if costs and has_score:
        business = ctx.task(steps.compute_business_value, scored=scored, costs=costs, out_dir=out)
        b = business["result"]
        return business, [ctx.gate("business-uplift-per-decision", round(b.uplift_per_decision, 6), ">", 0.0, on_fail="warn",
                                   checkpoint="independent-validation")]
    if costs:
        ctx.log("warning", "a cost matrix needs a binary classifier with probabilities; business value not computed")
    return None, []


def record_report(ctx: Context, files: dict[str, str], mitigated: dict[str, Any] | None) -> list[Any]:
    """The report's files (and the mitigated model) as artifacts of the run."""
    refs = [ctx.artifact("evaluation-report.html", Path(files["html"])),
            ctx.artifact("evaluation-report.md", Path(files["markdown"])),
            ctx.artifact("evaluation-report.json", Path(files["json"])),
            ctx.artifact("evaluation-summary.json", Path(files["summary"]))]
    if mitigated:
        refs.append(ctx.artifact("mitigated-model.joblib", Path(mitigated["model_path"])))
    return refs


def ask_readiness(ctx: Context, *, info: Any, rows: list[dict[str, Any]], decision: str, metrics: Any,
                  refs: list[Any]) -> Any:
    """The production-readiness question, with every gate and the fairness decision."""
    failed = [g["name"] for g in rows if not g["passed"] and not g["overridden"]]
    return ctx.breakpoint(
        f"Production readiness of {Path(info.source).name}: {len(rows) - len(failed)}/{len(rows)} gates passed"
        + (f"; failed: {', '.join(failed)}" if failed else "") + f"; fairness: {decision}. Ready for production?",
        context={"gates": rows, "fairness": decision,
                 "metrics": {k: v.value for k, v in metrics.values.items()}},
        artifacts=refs, options=READINESS_OPTIONS, tags=("production", "readiness"),
    )


def evaluation_result(*, scored: Any, metrics: Any, fair: FairnessReview, calibration: dict[str, Any] | None,
                      recal: dict[str, Any] | None, slices: dict[str, Any], robustness: list[Any],
                      business: dict[str, Any] | None, rows: list[dict[str, Any]], answer: Any, files: dict[str, str],
                      warnings: list[str], predictions: str = "") -> EvaluationResult:
    """The result: what was measured, the fairness decision and the readiness answer."""
    return EvaluationResult(
        task=scored.task, n_rows=scored.n_rows, metrics=metrics.as_dict(),
        fairness=[r.summary() for r in fair.fairness["results"]] if fair.fairness else [], fairness_decision=fair.decision,
        mitigated_fairness=fair.mitigated_rows, mitigated_model=fair.mitigated["model_path"] if fair.mitigated else "",
        ece=calibration["result"].ece.value if calibration else None,
        worst_slices=[{"feature": s.feature, "slice": s.slice, "size": s.size, "error": s.error, "ci_low": s.ci_low,
                       "ci_high": s.ci_high} for s in slices["slices"][:10]],
        robustness=[{"perturbation": r.perturbation, "status": r.status, "columns": r.columns, "clean": r.clean,
                     "perturbed": r.perturbed, "drop": r.drop, "error": r.error or r.note} for r in robustness],
        business={"best_threshold": business["result"].best_threshold, "value_at_best": business["result"].value_at_best,
                  "baseline": business["result"].baseline_value, "uplift": business["result"].uplift_per_decision}
        if business else None,
        gates=rows, ready=bool(is_ready(answer)), readiness_by=answer.by, readiness_feedback=answer.feedback or "",
        report=files["html"], summary=files["summary"],
        recalibrated_model=recal["model_path"] if recal else "", warnings=warnings, predictions=predictions,
    )
