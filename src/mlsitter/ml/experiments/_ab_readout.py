"""One A/B readout from a cleaned unit-level table: every statistic for the primary metric and the
guardrails, sequential monitoring, segments with multiple-testing correction, and the decision rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlsitter.ml.experiments import _ab_stats as st
from mlsitter.ml.experiments._ab_plan import Guardrail
from mlsitter.ml.experiments._sequential import SequentialResult, sequential_monitor
from mlsitter.naming import ADDED_LATER, stable_name


@stable_name("ml.experiments.MetricReadout")
@dataclass
class MetricReadout:
    """All statistics for one metric, control (A) vs treatment (B)."""

    metric: str
    kind: str
    control: dict[str, float]
    treatment: dict[str, float]
    tests: dict[str, dict[str, Any]]
    lift: dict[str, float]
    bayes: dict[str, float]
    cuped: dict[str, Any] | None
    primary_test: str
    sequential: SequentialResult | None = None

    @property
    def p_value(self) -> float:
        return float(self.tests[self.primary_test]["p_value"])

    @property
    def difference(self) -> float:
        return float(self.tests[self.primary_test]["difference"])


@stable_name("ml.experiments.Readout")
@dataclass
class Readout:
    """The whole readout: metrics, segments and the decision with its reasons."""

    control: str
    treatment: str
    n_control: int
    n_treatment: int
    alpha: float
    direction: str
    primary: MetricReadout
    guardrails: list[MetricReadout] = field(default_factory=list)
    guardrail_status: list[dict[str, Any]] = field(default_factory=list)
    segments: list[dict[str, Any]] = field(default_factory=list)
    decision: str = "inconclusive"
    reasons: list[str] = field(default_factory=list)
    p_value: float | None = field(default=None, metadata=ADDED_LATER)  # the primary test's p for the hypothesis' direction (one-sided unless two-sided)
    secondary: list[dict[str, Any]] = field(default_factory=list, metadata=ADDED_LATER)
    winsorized: dict[str, dict[str, float]] = field(default_factory=dict, metadata=ADDED_LATER)


def directional_p(p_two: float, difference: float, direction: str) -> float:
    """The one-sided p of a symmetric test for ``increase`` / ``decrease`` (the two-sided p otherwise)."""
    if direction == "two-sided" or p_two != p_two:
        return p_two
    toward = difference > 0 if direction == "increase" else difference < 0
    return p_two / 2 if toward else 1 - p_two / 2


def winsorize_upper(values: np.ndarray, share: float) -> tuple[np.ndarray, dict[str, float]]:
    """Cap the top ``share`` of a heavy-tailed metric at its pooled (1 - share) quantile (as Statsig's
    winsorization); returns the capped values and {cap, units_capped}."""
    if not 0 < share < 0.5:
        return values, {}
    cap = float(np.quantile(values, 1 - share))
    capped = values > cap
    return np.minimum(values, cap), {"share": share, "cap": cap, "units_capped": int(capped.sum())}


def secondary_effects(readouts: list[MetricReadout], alpha: float, direction: str,
                      method: str = "holm") -> list[dict[str, Any]]:
    """Secondary metrics' effects with their p-values corrected across them (they inform, never decide)."""
    rows = [{"metric": m.metric, "kind": m.kind, "control_mean": m.control["mean"], "treatment_mean": m.treatment["mean"],
             "difference": m.difference, "ci_low": m.tests[m.primary_test]["ci_low"],
             "ci_high": m.tests[m.primary_test]["ci_high"], "lift": m.lift["lift"],
             "p_value": directional_p(m.p_value, m.difference, direction)} for m in readouts]
    for r, p in zip(rows, st.adjust_pvalues([r["p_value"] for r in rows], method)):
        r["p_adjusted"] = p
        r["significant"] = bool(p < alpha)
    return rows


def metric_readout(
    metric: str, kind: str, a: np.ndarray, b: np.ndarray, *, x_a: np.ndarray | None = None, x_b: np.ndarray | None = None,
    t_a: np.ndarray | None = None, t_b: np.ndarray | None = None, alpha: float = 0.05, n_resamples: int = 1000,
    n_looks: int = 20, seed: int = 0, mann_whitney: bool = True, sequential: bool = True,
) -> MetricReadout:
    """Run every test that fits the metric type; CUPED when a pre-period covariate is given."""
    level = 1 - alpha
    sa, sb = st.summarise(a), st.summarise(b)
    tests: dict[str, dict[str, Any]] = {}
    if kind == "binary":
        tests["z"] = st.two_proportion_ztest(sa.total, sa.n, sb.total, sb.n, level).as_dict()
        bayes = st.bayes_binary(sa.total, sa.n, sb.total, sb.n, seed=seed).as_dict()
        primary = "z"
    else:
        bayes = st.bayes_normal(sa, sb).as_dict()
        primary = "welch"
    tests["welch"] = st.welch_ttest(sa, sb, level).as_dict()
    if mann_whitney and kind != "binary":
        tests["mann_whitney"] = st.mann_whitney(a, b).as_dict()
    if n_resamples:
        tests["bootstrap"] = st.bootstrap_difference(a, b, n_resamples=n_resamples, level=level, seed=seed).as_dict()
    cuped = None
    if x_a is not None and x_b is not None:
        res, _, _ = st.cuped(a, x_a, b, x_b, level)
        cuped = res.as_dict()
        tests["cuped"] = res.adjusted.as_dict()
        primary = "cuped"
    lift = st.relative_lift(sa, sb, level).as_dict()
    seq = sequential_monitor(a, b, t_a, t_b, n_looks=n_looks, alpha=alpha) if sequential else None
    return MetricReadout(metric, kind, {"n": sa.n, "mean": sa.mean, "var": sa.var}, {"n": sb.n, "mean": sb.mean, "var": sb.var},
                         tests, lift, bayes, cuped, primary, seq)


def guardrail_breached(m: MetricReadout, guard: Guardrail, alpha: float, tolerance: float) -> dict[str, Any]:
    """One-sided check that the guardrail did not move the bad way by more than ``tolerance`` (relative)."""
    lift = m.lift["lift"]
    z_dir = -1.0 if guard.worse == "lower" else 1.0
    p_two = m.p_value
    diff = m.difference
    harmful = diff * z_dir > 0
    p_one = p_two / 2 if harmful else 1 - p_two / 2
    allowed = guard.tolerance if guard.tolerance is not None else tolerance
    beyond = abs(lift) > allowed if lift == lift else True
    breached = bool(harmful and p_one < alpha and beyond)
    return {"metric": guard.metric, "worse": guard.worse, "tolerance": allowed, "lift": lift, "p_one_sided": p_one,
            "breached": breached}


def segment_effects(
    frame: pd.DataFrame, is_b: np.ndarray, metric: str, kind: str, segments: list[str], *, alpha: float,
    max_values: int = 10, min_units: int = 50, method: str = "holm",
) -> list[dict[str, Any]]:
    """Effect on ``metric`` within each segment value, p-values corrected across all segment tests."""
    rows: list[dict[str, Any]] = []
    y = frame[metric].to_numpy(np.float64)
    for seg in segments:
        values = frame[seg].astype("string").fillna("(missing)")
        for value in values.value_counts().index[:max_values]:
            mask = (values == value).to_numpy()
            a, b = y[mask & ~is_b], y[mask & is_b]
            if len(a) < min_units or len(b) < min_units:
                continue
            sa, sb = st.summarise(a), st.summarise(b)
            test = st.two_proportion_ztest(sa.total, sa.n, sb.total, sb.n, 1 - alpha) if kind == "binary" else st.welch_ttest(sa, sb, 1 - alpha)
            rows.append({"segment": seg, "value": str(value), "n_control": sa.n, "n_treatment": sb.n,
                         "difference": test.difference, "ci_low": test.ci_low, "ci_high": test.ci_high,
                         "lift": st.relative_lift(sa, sb).lift, "p_value": test.p_value})
    adjusted = st.adjust_pvalues([r["p_value"] for r in rows], method)
    for r, p in zip(rows, adjusted):
        r["p_adjusted"] = p
        r["significant"] = bool(p < alpha)
    return rows


def decide(primary: MetricReadout, guardrails: list[dict[str, Any]], alpha: float, direction: str,
           mde: float | None = None) -> tuple[str, list[str]]:
    """ship / dont-ship / inconclusive with the reasons, from the primary test and the guardrails."""
    reasons = []
    p_two, diff = primary.p_value, primary.difference
    p = directional_p(p_two, diff, direction)
    sided = "two-sided" if direction == "two-sided" else f"one-sided, H1: {direction}"
    test = primary.tests[primary.primary_test]
    good = diff > 0 if direction != "decrease" else diff < 0
    breached = [g["metric"] for g in guardrails if g["breached"]]
    ci = f"[{test['ci_low']:.4g}, {test['ci_high']:.4g}]"
    if breached:
        reasons.append(f"guardrail(s) {', '.join(breached)} got significantly worse")
    if p < alpha and (good or direction == "two-sided"):
        reasons.append(f"{primary.metric}: difference {diff:.4g} (CI {ci}), p = {p:.3g} < {alpha} "
                       f"({test.get('test', primary.primary_test)}, {sided})")
        decision = "dont-ship" if breached else "ship"
    elif p_two < alpha and not good:
        reasons.append(f"{primary.metric} moved the wrong way: difference {diff:.4g} (CI {ci}), two-sided p = {p_two:.3g}")
        decision = "dont-ship"
    else:
        reasons.append(f"{primary.metric}: no significant difference ({diff:.4g}, CI {ci}, p = {p:.3g} >= {alpha}, {sided})")
        if mde is not None:
            width = (test["ci_high"] - test["ci_low"]) / 2
            reasons.append(f"CI half-width {width:.4g} vs planned MDE {mde:.4g}: "
                           + ("the test could have detected the MDE" if width < abs(mde) else "underpowered for the MDE"))
        decision = "dont-ship" if breached else "inconclusive"
    if primary.sequential is not None and primary.sequential.first_crossing:
        reasons.append(f"always-valid (mSPRT) p crossed {alpha} at look {primary.sequential.first_crossing} of {len(primary.sequential.looks)}")
    return decision, reasons


def lift_figure(readouts: list[MetricReadout], segments: list[dict[str, Any]]) -> Any:
    """Relative lift with CI for every metric (and each segment of the primary metric)."""
    import matplotlib.pyplot as plt

    labels = [r.metric for r in readouts] + [f"{s['segment']}={s['value']}" for s in segments]
    lifts = [r.lift["lift"] for r in readouts] + [s["lift"] for s in segments]
    lows = [r.lift["ci_low"] for r in readouts] + [np.nan for _ in segments]
    highs = [r.lift["ci_high"] for r in readouts] + [np.nan for _ in segments]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(labels) + 1.5))
    y = np.arange(len(labels))[::-1]
    err = np.array([[l_ - lo if lo == lo else 0 for l_, lo in zip(lifts, lows)], [hi - l_ if hi == hi else 0 for l_, hi in zip(lifts, highs)]])
    ax.errorbar(lifts, y, xerr=err, fmt="o", capsize=3)
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("relative lift (treatment / control - 1)")
    ax.set_title("Lift with 95% CI (segments: point estimate)")
    fig.tight_layout()
    return fig
