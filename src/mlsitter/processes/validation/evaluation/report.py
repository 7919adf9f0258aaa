"""The evaluation report (HTML + Markdown + JSON) and the machine-readable summary that ``explain``
reads for the model card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlsitter.report import Report, _jsonable
from mlsitter.runtime import task


def fairness_rows(results: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        rows.append({
            "attribute": r.attribute,
            "DP difference": r.dp_difference.value, "DP diff CI": f"[{r.dp_difference.low:.3f}, {r.dp_difference.high:.3f}]",
            "DP ratio": r.dp_ratio.value, "DP ratio CI": f"[{r.dp_ratio.low:.3f}, {r.dp_ratio.high:.3f}]",
            "EO difference": r.eo_difference.value, "EO diff CI": f"[{r.eo_difference.low:.3f}, {r.eo_difference.high:.3f}]",
            "EO ratio": r.eo_ratio.value, "EO ratio CI": f"[{r.eo_ratio.low:.3f}, {r.eo_ratio.high:.3f}]",
            "excluded small groups": ", ".join(r.excluded_groups),
            "left out of EO (< min_group_size positives or negatives)": ", ".join(getattr(r, "eo_excluded_groups", [])),
        })
    return rows


@task(name="evaluation.write_evaluation_report")
def write_evaluation_report(
    *, out_dir: str, model: Any, scored: Any, metrics: Any, calibration: dict[str, Any] | None,
    recalibration: dict[str, Any] | None, slices: dict[str, Any], robustness: list[Any], fairness: dict[str, Any] | None,
    mitigation: dict[str, Any] | None, mitigation_choice: str, business: dict[str, Any] | None, gates: list[dict[str, Any]],
    n_resamples: int,
) -> dict[str, str]:
    """Write ``evaluation-report.{html,md,json}`` and ``evaluation-summary.json``."""
    rep = Report(f"Evaluation: {Path(model.source).name}",
                 f"{model.description} · {scored.task} · target {scored.target!r} · {scored.n_rows:,} rows · "
                 f"{n_resamples} bootstrap resamples")
    rep.section("Summary")
    head = {k: e.value for k, e in list(metrics.values.items())[:6]}
    rep.metrics(head)
    if model.warning:
        rep.note(model.warning, "warn")
    rep.section("Gates").gates(gates)
    rep.section("Metrics with 95% bootstrap CIs").table(metrics.table())
    if scored.class_balance:
        rep.table([{"class": k, "rows": v} for k, v in scored.class_balance.items()], caption="Class balance")
    if calibration:
        c = calibration["result"]
        rep.section("Calibration").metrics({"ECE": c.ece.value, "ECE CI low": c.ece.low, "ECE CI high": c.ece.high, "max CE": c.mce})
        rep.figure(Path(calibration["figure"]).read_bytes(), caption="Reliability diagram", name="reliability.png")
        rep.table([vars(b) for b in c.bins], caption="Reliability bins")
        if recalibration:
            r = recalibration["result"]
            rep.text(f"Recalibration ({r.method}) fitted on {r.n_fit:,} rows, judged on {r.n_holdout:,} held-out rows: "
                     f"ECE {r.ece_before:.4f} -> {r.ece_after:.4f}, Brier {r.brier_before:.4f} -> {r.brier_after:.4f}. "
                     f"Calibrated model: {recalibration['model_path']}")
    rep.section("Error analysis: worst slices")
    rep.table([{"feature": s.feature, "slice": s.slice, "rows": s.size, "error": s.error, "CI low": s.ci_low,
                "CI high": s.ci_high, "overall": s.overall_error} for s in slices["slices"]])
    for name, path in slices["figures"].items():
        rep.figure(Path(path).read_bytes(), caption=name, name=f"{name}.png")
    rep.section("Robustness to perturbations")
    rep.table([{"perturbation": r.perturbation, "status": r.status, "severity": r.severity, "columns": r.columns,
                "metric": r.metric, "clean": r.clean, "perturbed": r.perturbed, "drop": r.drop,
                "error or note": r.error or r.note} for r in robustness])
    for r in robustness:
        if r.status == "not run":
            rep.note(f"{r.perturbation} was not run: it tested nothing ({r.note}), so it is not a pass.", "warn")
    if fairness:
        rep.section("Fairness (Fairlearn)")
        rep.table(fairness_rows(fairness["results"]), caption="Gaps with 95% bootstrap CIs")
        for r in fairness["results"]:
            rep.table(r.groups, caption=f"MetricFrame by {r.attribute}")
        rep.figure(Path(fairness["figure"]).read_bytes(), caption="Selection and true-positive rate by group", name="fairness.png")
        rep.text(f"Fairness gate outcome: {mitigation_choice}.")
    if mitigation:
        rep.section("Fairness mitigation (ThresholdOptimizer)")
        rep.text(f"Constraint {mitigation['constraint']} on {', '.join(mitigation['attributes'])}; fitted on "
                 f"{mitigation['n_fit']:,} rows, both models judged on the other {mitigation['n_holdout']:,} rows. "
                 f"Mitigated model: {mitigation['model_path']}")
        rows = []
        for item in mitigation["comparison"]:
            m = item["metrics"].values
            for fr in item["fairness"]:
                rows.append({"model": item["model"], "attribute": fr.attribute, "accuracy": m["accuracy"].value,
                             "DP ratio": fr.dp_ratio.value, "DP ratio CI": f"[{fr.dp_ratio.low:.3f}, {fr.dp_ratio.high:.3f}]",
                             "EO difference": fr.eo_difference.value,
                             "EO diff CI": f"[{fr.eo_difference.low:.3f}, {fr.eo_difference.high:.3f}]"})
        rep.table(rows)
    if business:
        b = business["result"]
        rep.section("Business value")
        rep.metrics({"value/decision at best threshold": b.value_at_best, "best threshold": b.best_threshold,
                     f"baseline ({b.baseline_name})": b.baseline_value, "uplift/decision": b.uplift_per_decision,
                     f"value at {b.default_threshold}": b.value_at_default})
        rep.text(f"Cost matrix per decision: TP {b.costs.tp:g}, FP {b.costs.fp:g}, TN {b.costs.tn:g}, FN {b.costs.fn:g}.")
        rep.figure(Path(business["figure"]).read_bytes(), caption="Expected value vs threshold", name="business-value.png")
    summary = {
        "model": {"source": model.source, "kind": model.kind, "description": model.description, "sha256": model.sha256},
        "data": {"rows": scored.n_rows, "target": scored.target, "task": scored.task, "positive_label": scored.positive_label,
                 "class_balance": scored.class_balance},
        "metrics": metrics.as_dict(),
        "fairness": [r.summary() for r in fairness["results"]] if fairness else [],
        "ece": calibration["result"].ece.value if calibration else None,
        "gates": gates,
        "fairness_decision": mitigation_choice,
    }
    rep.json_block("summary", summary)
    files = rep.write(out_dir, "evaluation-report")
    summary_path = Path(out_dir) / "evaluation-summary.json"
    summary_path.write_text(json.dumps(_jsonable(summary), indent=2), encoding="utf-8")
    return {"html": str(files.html), "markdown": str(files.markdown), "json": str(files.json), "summary": str(summary_path)}
