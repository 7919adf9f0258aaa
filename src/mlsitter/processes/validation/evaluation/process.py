"""The ``evaluation`` process: metrics with bootstrap CIs, calibration, error analysis by slice,
robustness to perturbations, fairness (Fairlearn) with gates and ThresholdOptimizer mitigation as a
breakpoint option, business value, and a production-readiness approval summarising every gate."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlsitter import Context, process
from mlsitter.errors import GateFailedError, SpecError
from mlsitter.processes.validation.evaluation import tasks as steps
from mlsitter.processes.validation.evaluation.report import write_evaluation_report
from mlsitter.naming import stable_name

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


def _gate_dict(g: Any) -> dict[str, Any]:
    return {"name": g.name, "value": g.value, "op": g.op, "threshold": g.threshold, "passed": g.passed,
            "overridden": g.overridden}


@process("evaluation", phase="validation",
         description="Metrics with CIs, calibration, slices, robustness, fairness gates with mitigation, business value, readiness")
def evaluation(
    ctx: Context,
    model: str,
    data: str,
    target: str,
    sensitive: list[str] | None = None,
    charter: str = "",
    positive_label: str = "",
    n_resamples: int = 1000,
    seed: int = 0,
    sample_rows: int = 0,
    targets: str = "",
    min_dp_ratio: float = 0.8,
    max_eo_difference: float = 0.1,
    min_group_size: int = 30,
    mitigation: str = "auto",
    max_ece: float = 0.1,
    recalibrate: str = "none",
    costs: str = "",
    max_robustness_drop: float = 0.05,
) -> EvaluationResult:
    """Evaluate ``model`` (registry reference or model file) on ``data`` and ask for a readiness decision."""
    if n_resamples < 0 or n_resamples > 100_000:
        raise SpecError(f"n_resamples must be between 0 and 100000; got {n_resamples}")
    if recalibrate not in ("none", "isotonic", "sigmoid"):
        raise SpecError(f"recalibrate must be 'none', 'isotonic' or 'sigmoid'; got {recalibrate!r}")
    if mitigation not in ("auto", "demographic_parity", "equalized_odds"):
        raise SpecError(f"mitigation must be 'auto', 'demographic_parity' or 'equalized_odds'; got {mitigation!r}")
    metric_targets = parse_targets(targets)
    out = str(ctx.workdir)
    info = ctx.task(steps.inspect_model, model=model)
    warnings = []
    if info.warning:
        ctx.log("warning", info.warning)
        warnings.append(info.warning)
    attributes = list(sensitive or [])
    from_charter = ctx.task(steps.charter_settings, charter=charter) if charter else None
    if from_charter:
        attributes = attributes or from_charter["sensitive"]
        positive_label = positive_label or from_charter["positive_class"]
    scored = ctx.task(steps.score_dataset, model=model, data=data, target=target, positive_label=positive_label,
                      sample_rows=sample_rows, seed=seed, out_dir=out)
    binary = scored.task == "binary"
    has_score = binary and info.task == "binary"
    metrics = ctx.task(steps.compute_metrics, scored=scored, n_resamples=n_resamples, seed=seed)
    gates = []
    if from_charter and from_charter["metric"] not in [t[0] for t in metric_targets]:
        if from_charter["metric"] in metrics.values:
            metric_targets.append((from_charter["metric"], from_charter["op"], float(from_charter["threshold"])))
        else:
            ctx.log("warning", f"the charter's success metric {from_charter['metric']!r} is not one this evaluation measures")
    for name, op, threshold in metric_targets:
        if name not in metrics.values:
            raise SpecError(f"metric target {name!r} is not a metric of this {scored.task} model; available: {list(metrics.values)}")
        gates.append(ctx.gate(f"metric-{name}", round(metrics.values[name].value, 6), op, threshold, on_fail="ask"))

    calibration = recal = None
    if has_score:
        calibration = ctx.task(steps.compute_calibration, scored=scored, n_resamples=min(n_resamples, 1000), seed=seed, out_dir=out)
        gates.append(ctx.gate("calibration-ece", round(calibration["result"].ece.value, 6), "<=", max_ece, on_fail="warn"))
        if recalibrate != "none":
            recal = ctx.task(steps.recalibrate_model, model=model, scored=scored, method=recalibrate, seed=seed, out_dir=out)
    slices = ctx.task(steps.compute_slices, scored=scored, out_dir=out)
    robustness = ctx.task(steps.compute_robustness, model=model, scored=scored, seed=seed)
    for r in robustness:
        drop = r.drop if r.perturbed == r.perturbed else r.clean  # a model that fails loses everything
        gates.append(ctx.gate(f"robustness-{r.perturbation}", round(drop, 6), "<=", max_robustness_drop, on_fail="warn"))

    fairness = mitigated = None
    decision = "not-measured"
    mitigated_rows: list[dict[str, Any]] = []
    if attributes and binary:
        fairness = ctx.task(steps.compute_fairness, scored=scored, attributes=attributes, min_group_size=min_group_size,
                            n_resamples=n_resamples, seed=seed, out_dir=out)
        failed_dp, failed_eo = [], []
        for r in fairness["results"]:
            g1 = ctx.gate(f"fairness-{r.attribute}-dp-ratio", round(r.dp_ratio.value, 6), ">=", min_dp_ratio, on_fail="warn")
            g2 = ctx.gate(f"fairness-{r.attribute}-eo-difference", round(r.eo_difference.value, 6), "<=", max_eo_difference, on_fail="warn")
            gates += [g1, g2]
            failed_dp += [] if g1.passed else [r.attribute]
            failed_eo += [] if g2.passed else [r.attribute]
        decision = "passed"
        if failed_dp or failed_eo:
            failing = list(dict.fromkeys(failed_dp + failed_eo))
            constraint = mitigation if mitigation != "auto" else ("demographic_parity" if failed_dp else "equalized_odds")
            summary = {r.attribute: {"dp_ratio": [r.dp_ratio.value, r.dp_ratio.low, r.dp_ratio.high],
                                     "eo_difference": [r.eo_difference.value, r.eo_difference.low, r.eo_difference.high]}
                       for r in fairness["results"]}
            answer = ctx.breakpoint(
                f"Fairness gates failed for {', '.join(failing)} (DP ratio >= {min_dp_ratio}, EO difference <= "
                f"{max_eo_difference}). Mitigate with ThresholdOptimizer ({constraint}), accept the model as it is, or reject it?",
                context={"failed": failing, "gaps": summary, "constraint": constraint}, options=FAIRNESS_OPTIONS,
                tags=("fairness",),
            )
            choice = fairness_choice(answer)
            if choice == "reject":
                raise GateFailedError(f"fairness gates failed for {failing} and the model was rejected by {answer.by}"
                                      + (f": {answer.feedback}" if answer.feedback else ""))
            if choice == "accept":
                decision = "accepted"
                ctx.log("warning", f"fairness gaps accepted by {answer.by}: {answer.feedback or 'no reason given'}")
            else:
                decision = "mitigated"
                mitigated = ctx.task(steps.mitigate_fairness, model=model, scored=scored, attributes=failing,
                                     constraint=constraint, min_group_size=min_group_size,
                                     n_resamples=min(n_resamples, 500), seed=seed, out_dir=out)
                after = mitigated["comparison"][1]
                for r in after["fairness"]:
                    gates.append(ctx.gate(f"fairness-{r.attribute}-dp-ratio-mitigated", round(r.dp_ratio.value, 6), ">=",
                                          min_dp_ratio, on_fail="warn"))
                    gates.append(ctx.gate(f"fairness-{r.attribute}-eo-difference-mitigated", round(r.eo_difference.value, 6),
                                          "<=", max_eo_difference, on_fail="warn"))
                    mitigated_rows.append(r.summary())
    elif attributes:
        ctx.log("warning", f"fairness needs a binary classifier; {scored.task} model: sensitive attributes not evaluated")

    business = None
    if costs and has_score:
        business = ctx.task(steps.compute_business_value, scored=scored, costs=costs, out_dir=out)
        b = business["result"]
        gates.append(ctx.gate("business-uplift-per-decision", round(b.uplift_per_decision, 6), ">", 0.0, on_fail="warn"))
    elif costs:
        ctx.log("warning", "a cost matrix needs a binary classifier with probabilities; business value not computed")

    gate_rows = [_gate_dict(g) for g in gates]
    files = ctx.task(write_evaluation_report, out_dir=out, model=info, scored=scored, metrics=metrics, calibration=calibration,
                     recalibration=recal, slices=slices, robustness=robustness, fairness=fairness, mitigation=mitigated,
                     mitigation_choice=decision, business=business, gates=gate_rows, n_resamples=n_resamples)
    refs = [ctx.artifact("evaluation-report.html", Path(files["html"])),
            ctx.artifact("evaluation-report.md", Path(files["markdown"])),
            ctx.artifact("evaluation-report.json", Path(files["json"])),
            ctx.artifact("evaluation-summary.json", Path(files["summary"]))]
    if mitigated:
        refs.append(ctx.artifact("mitigated-model.joblib", Path(mitigated["model_path"])))
    failed = [g["name"] for g in gate_rows if not g["passed"] and not g["overridden"]]
    answer = ctx.breakpoint(
        f"Production readiness of {Path(info.source).name}: {len(gate_rows) - len(failed)}/{len(gate_rows)} gates passed"
        + (f"; failed: {', '.join(failed)}" if failed else "") + f"; fairness: {decision}. Ready for production?",
        context={"gates": gate_rows, "fairness": decision,
                 "metrics": {k: v.value for k, v in metrics.values.items()}},
        artifacts=refs, options=READINESS_OPTIONS, tags=("production", "readiness"),
    )
    ready = answer.option == "ready" if answer.option in READINESS_OPTIONS else answer.approved
    return EvaluationResult(
        task=scored.task, n_rows=scored.n_rows, metrics=metrics.as_dict(),
        fairness=[r.summary() for r in fairness["results"]] if fairness else [], fairness_decision=decision,
        mitigated_fairness=mitigated_rows, mitigated_model=mitigated["model_path"] if mitigated else "",
        ece=calibration["result"].ece.value if calibration else None,
        worst_slices=[{"feature": s.feature, "slice": s.slice, "size": s.size, "error": s.error, "ci_low": s.ci_low,
                       "ci_high": s.ci_high} for s in slices["slices"][:10]],
        robustness=[{"perturbation": r.perturbation, "clean": r.clean, "perturbed": r.perturbed, "drop": r.drop,
                     "error": r.error} for r in robustness],
        business={"best_threshold": business["result"].best_threshold, "value_at_best": business["result"].value_at_best,
                  "baseline": business["result"].baseline_value, "uplift": business["result"].uplift_per_decision}
        if business else None,
        gates=gate_rows, ready=bool(ready), readiness_by=answer.by, readiness_feedback=answer.feedback or "",
        report=files["html"], summary=files["summary"],
        recalibrated_model=recal["model_path"] if recal else "", warnings=warnings,
    )
