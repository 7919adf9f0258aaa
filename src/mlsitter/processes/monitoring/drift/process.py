"""The ``drift`` process: profile the reference once (stored as an artifact, reusable), compare each window of
current data with it feature by feature (corrected tests and effect sizes), follow the prediction and the
accuracy (on labels, or estimated from scores), write the report and, on an alert, ask for approval; the
approved recommendation to retrain is the journaled output until a ``retraining`` process exists."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from mlsitter import Context, Doc, Interval, process
from mlsitter.naming import stable_name
from mlsitter.processes.monitoring.drift import tasks as steps
from mlsitter.processes.monitoring.drift.report import write_drift_report


@stable_name("drift.DriftResult")
@dataclass
class DriftResult:
    """What drifted where, what was decided about it, and where the profile and the report are."""

    status: str  # drift | no-drift
    alerts: list[str]
    windows: list[dict[str, Any]]
    profile: str  # the reference profile artifact (reference_profile= of a later run)
    report: str
    recommendation: dict[str, Any] = field(default_factory=dict)
    approved_by: str = ""
    notes: list[str] = field(default_factory=list)


def _names(text: str) -> list[str]:
    return [c.strip() for c in str(text or "").split(",") if c.strip()]


def window_summary(result: Any) -> dict[str, Any]:
    """The journaled summary of one window: its drifted features with their numbers, and its performance."""
    d, p = result.drift, result.performance
    return {"window": d.label, "rows": d.rows, "drifted": d.drifted, "share": round(d.share, 4),
            "features": {f.name: {"test": f.test, "statistic": f.statistic, "p_value": f.p_value,
                                  "p_adjusted": f.p_adjusted, "effect": f.effect, "effect_value": f.effect_value,
                                  "psi": f.psi, "drifted": f.drifted} for f in d.features},
            "prediction_drift": bool(d.prediction and d.prediction.drifted),
            "accuracy": p.accuracy, "accuracy_ci": [p.low, p.high], "estimated_accuracy": p.estimated,
            "estimated_ci": [p.estimated_low, p.estimated_high], "accuracy_degraded": p.degraded}


def alerts_of(results: list[Any], min_drifted: int) -> list[str]:
    """One line per window that alerts: enough drifted features, a drifted prediction, or lower accuracy."""
    out = []
    for r in results:
        d, p = r.drift, r.performance
        reasons = []
        if len(d.drifted) >= min_drifted:
            reasons.append(f"{len(d.drifted)} feature(s) drifted ({', '.join(d.drifted[:6])})")
        if d.prediction is not None and d.prediction.drifted:
            reasons.append(f"the prediction drifted ({d.prediction.effect} {d.prediction.effect_value:.3f})")
        if p.degraded:
            reasons.append(f"accuracy {p.accuracy:.3f} (95% CI {p.low:.3f}-{p.high:.3f}) below the reference")
        if reasons:
            out.append(f"window {d.label}: " + "; ".join(reasons))
    return out


@process("drift", phase="monitoring",
         description="Data, prediction and concept drift of windows against a stored reference profile")
def drift(
    ctx: Context,
    current: Annotated[str, Doc("the table to check (CSV, Parquet, JSON, SQL URL); windows over time with timestamp=")] = "",
    reference: Annotated[str, Doc("the reference table; default: the first window of current")] = "",
    reference_profile: Annotated[str, Doc("a reference-profile.npz of an earlier run: reused, no reference is read")] = "",
    timestamp: Annotated[str, Doc("column ordering current in time; with window= it is cut into windows")] = "",
    window: Annotated[str, Doc("window size: a number in the timestamp's unit, or a duration like '7d'")] = "",
    prediction_log: Annotated[str, Doc("a deployment's prediction-log folder, read instead of current=")] = "",
    model: Annotated[str, Doc("with prediction_log: only this model's predictions (NAME/VERSION)")] = "",
    features: Annotated[str, Doc("comma-separated feature columns; default: every column without a role")] = "",
    categorical: Annotated[str, Doc("comma-separated numeric columns to treat as categories")] = "",
    prediction: Annotated[str, Doc("column with the model's prediction (prediction drift, accuracy)")] = "",
    target: Annotated[str, Doc("column with the true label, where known (concept drift)")] = "",
    score: Annotated[str, Doc("column with the model's score for the positive class (accuracy without labels)")] = "",
    positive: Annotated[str, Doc("the positive class of a binary target; default: the larger label")] = "",
    alpha: Annotated[float, Interval(0, 1), Doc("significance level after correction")] = 0.05,
    correction: Annotated[Literal["bh", "bonferroni", "none"], Doc("multiple-testing correction")] = "bh",
    numeric_effect: Annotated[Literal["wasserstein", "ks", "psi"], Doc("effect size deciding numeric drift")] = "wasserstein",
    categorical_effect: Annotated[Literal["jensenshannon", "psi"], Doc("effect size deciding categorical drift")]
    = "jensenshannon",
    ks_threshold: Annotated[float, Interval(0, 1), Doc("KS distance a numeric feature needs (numeric_effect=ks)")] = 0.1,
    wasserstein_threshold: Annotated[float, Interval(0, None), Doc("Wasserstein over the reference std")] = 0.1,
    js_threshold: Annotated[float, Interval(0, 1), Doc("Jensen-Shannon distance a categorical feature needs")] = 0.1,
    psi_threshold: Annotated[float, Interval(0, None), Doc("PSI a feature needs (effect=psi)")] = 0.2,
    min_drifted: Annotated[int, Interval(1, None), Doc("drifted features in one window that raise an alert")] = 1,
    max_accuracy_drop: Annotated[float, Interval(0, 1), Doc("accuracy below the reference's that raises an alert")] = 0.05,
    max_sample: Annotated[int, Interval(1000, None), Doc("raw values kept per feature for KS and Wasserstein")] = 100_000,
    bins: Annotated[int, Interval(2, 100), Doc("quantile bins of numeric features for PSI and the plots")] = 10,
    seed: Annotated[int, Doc("seed of the bounded samples")] = 0,
) -> DriftResult:
    """Compare ``current`` (or each of its windows) with the reference, feature by feature."""
    from mlsitter.ml.drift import Thresholds

    thresholds = Thresholds(alpha, correction, numeric_effect, categorical_effect, ks_threshold,
                            wasserstein_threshold, js_threshold, psi_threshold)
    plan = ctx.task(steps.plan_windows, out_dir=str(ctx.workdir), reference=reference, current=current,
                    timestamp=timestamp, window=window, prediction_log=prediction_log, model=model,
                    reuse_profile=bool(reference_profile))
    roles = {"prediction": prediction or plan.columns.get("prediction", ""),
             "target": target or plan.columns.get("target", ""), "score": score or plan.columns.get("score", "")}
    if reference_profile:
        profile = ctx.task(steps.load_reference_profile, path=reference_profile)
    else:
        profile = ctx.task(steps.profile_reference, reference=plan.reference, out=str(ctx.workdir / "reference-profile.npz"),
                           features=_names(features), categorical=_names(categorical),
                           exclude=[plan.timestamp, *roles.values()], positive=positive, max_sample=max_sample,
                           bins=bins, seed=seed, label=plan.reference_label, **roles)
    stored = ctx.artifact("reference-profile.npz", Path(profile.path))
    ctx.log("info", f"reference profile: {profile.rows:,} rows, {len(profile.kinds)} features; "
                    f"{len(plan.windows)} window(s) to compare")
    results = []
    for i, w in enumerate(plan.windows):
        if not w.rows:
            continue
        results.append(ctx.task(steps.compare, profile=stored.path, window=w, thresholds=thresholds, columns=roles,
                                timestamp=plan.timestamp, max_accuracy_drop=max_accuracy_drop, seed=seed + 7919 * i))
        ctx.log("info", f"window {i + 1}/{len(plan.windows)} ({w.label}, {w.rows:,} rows): "
                        f"{len(results[-1].drift.drifted)} feature(s) drifted")
    alerts = alerts_of(results, min_drifted)
    files = ctx.task(write_drift_report, out_dir=str(ctx.workdir), results=results, profile=profile, alerts=alerts,
                     notes=plan.notes, thresholds=thresholds, reference=plan.reference_label or profile.source)
    report = ctx.artifact("drift-report.html", Path(files["html"]))
    ctx.artifact("drift-report.json", Path(files["json"]))
    summaries = [window_summary(r) for r in results]
    recommendation: dict[str, Any] = {"action": "none", "reason": "no alert"}
    approved_by = ""
    if alerts:
        answer = ctx.breakpoint("Drift alert: recommend retraining the model on recent data?",
                                context={"alerts": alerts, "report": report.path,
                                         "windows": [{k: s[k] for k in ("window", "rows", "drifted", "accuracy",
                                                                        "estimated_accuracy")} for s in summaries]},
                                artifacts=[report], tags=("drift", "retraining"), checkpoint="monitoring")
        approved_by = answer.by
        drifted = sorted({n for s in summaries for n in s["drifted"]})
        effects = {n: max(s["features"][n]["effect_value"] for s in summaries if n in s["drifted"]) for n in drifted}
        recommendation = ({"action": "retrain", "reason": f"approved by {answer.by}", "alerts": alerts,
                           "features": effects, "windows": [s["window"] for s in summaries if s["drifted"]]}
                          if answer.approved else
                          {"action": "none", "reason": f"rejected by {answer.by}: {answer.feedback or ''}".strip(": "),
                           "alerts": alerts})
        ctx.log("info", f"recommendation: {recommendation['action']} ({recommendation['reason']})")
    return DriftResult("drift" if alerts else "no-drift", alerts, summaries, stored.path, report.path, recommendation,
                       approved_by, plan.notes)
