"""The model-selection report: CV scores with corrected CIs, significance against the best and the
baselines, latency and size per candidate, and the recommendation with its reasons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from mlsitter.ml.modeling._model_comparison import Comparison  # noqa: E402
from mlsitter.report import Report, ReportFiles  # noqa: E402


def scores_figure(comparison: Comparison):
    """Fold scores per candidate (box) with the corrected 95% CI of the mean (bar)."""
    order = sorted(comparison.results, key=lambda r: r.mean, reverse=comparison.greater_is_better)
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(order) + 1.2))
    ax.boxplot([r.scores for r in order], orientation="horizontal", tick_labels=[r.name for r in order], widths=0.5)
    for i, r in enumerate(order, start=1):
        colour = "#137333" if r.name == comparison.recommended else "#3e7cb1"
        ax.plot([r.ci_low, r.ci_high], [i + 0.3, i + 0.3], color=colour, lw=3)
        ax.plot([r.mean], [i + 0.3], "o", color=colour)
    ax.set_xlabel(f"{comparison.metric} ({comparison.folds}-fold x {comparison.repeats} CV; bars: corrected 95% CI)")
    ax.set_title("Cross-validated scores")
    return fig


def tradeoff_figure(comparison: Comparison):
    """Score against single-row latency; marker size ~ model size."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for r in comparison.results:
        colour = "#137333" if r.name == comparison.recommended else ("#9aa5b1" if not r.admissible else "#3e7cb1")
        ax.scatter(r.single_row_latency_ms, r.mean, s=30 + 40 * min(r.model_size_mb, 10), color=colour)
        ax.annotate(r.name, (r.single_row_latency_ms, r.mean), fontsize=8, xytext=(4, 3), textcoords="offset points")
    ax.set_xlabel("single-row predict latency (ms)")
    ax.set_ylabel(comparison.metric)
    ax.set_title("Score vs latency (size = model size)")
    return fig


def write_model_selection_report(comparison: Comparison, gates: list[dict[str, Any]], notes: list[str],
                                 constraints: dict[str, Any], attempt: int, rows: int,
                                 out_dir: str | Path, skipped: dict[str, str] | None = None) -> ReportFiles:
    report = Report("Model selection", f"Attempt {attempt} · {rows:,} rows · metric {comparison.metric}")
    if notes:
        report.note("Changed by review feedback: " + "; ".join(notes))
    for name, why in (skipped or {}).items():
        report.note(f"Not compared: {name} {why}.", "warn")
    rec = comparison.result(comparison.recommended)
    report.section("Recommendation")
    report.metrics({"recommended": comparison.recommended, comparison.metric: rec.mean,
                    "CI low": rec.ci_low, "CI high": rec.ci_high, "latency ms": rec.single_row_latency_ms,
                    "size MB": rec.model_size_mb})
    report.bullets(comparison.recommendation_reasons)
    report.table([{"baseline": k, "mean difference": v.mean_difference, "t": v.t, "p (one-sided)": v.p_value}
                  for k, v in comparison.vs_baselines.items()],
                 caption="Recommended model vs baselines (Nadeau-Bengio corrected resampled t-test)")
    report.text("Constraints: " + ", ".join(f"{k}={v}" for k, v in constraints.items() if v not in (None, "")))
    report.section("Candidates")
    report.figure(scores_figure(comparison), caption="CV scores per candidate")
    report.figure(tradeoff_figure(comparison), caption="Score vs latency and size")
    report.table([{"candidate": r.name, "mean": r.mean, "CI low": r.ci_low, "CI high": r.ci_high,
                   "p vs best": r.vs_best.p_value if r.vs_best else float("nan"),
                   "fit s": r.fit_seconds, "latency ms": r.single_row_latency_ms, "size MB": r.model_size_mb,
                   "admissible": "yes" if r.admissible else "; ".join(r.excluded_because)}
                  for r in sorted(comparison.results, key=lambda r: r.mean, reverse=comparison.greater_is_better)])
    report.section("Gates")
    report.gates(gates)
    report.json_block("fold_scores", {r.name: r.scores for r in comparison.results})
    return report.write(out_dir, stem="model_selection")
