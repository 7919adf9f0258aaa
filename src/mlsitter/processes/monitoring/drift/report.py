"""The drift report (HTML + Markdown + JSON): the corrected decision of every feature, drift over the windows,
per-feature distributions against the reference, and performance over the windows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlsitter.report import Report
from mlsitter.runtime import task

MAX_PLOTTED = 12


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    """The figure as PNG at its own margins (set with ``subplots_adjust``): one draw, where a tight bounding box
    draws it twice to measure it first."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    _pyplot().close(fig)
    return buffer.getvalue()


def decision_rows(drift: Any) -> list[dict[str, Any]]:
    """One row per feature of a window: the test, its statistic and p-values, the effect against its threshold."""
    rows = []
    for f in drift.features + ([drift.prediction] if drift.prediction else []):
        rows.append({"feature": f.name + (" (prediction)" if f is drift.prediction else ""), "kind": f.kind,
                     "test": f.test, "statistic": f.statistic, "p-value": f.p_value, "p corrected": f.p_adjusted,
                     "effect": f.effect, "effect size": f.effect_value, "threshold": f.effect_threshold,
                     "PSI": f.psi, "decision": f.decision()})
    return rows


def window_rows(results: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        d, p = r.drift, r.performance
        rows.append({"window": d.label, "rows": d.rows, "drifted features": len(d.drifted),
                     "which": ", ".join(d.drifted[:8]) + (" ..." if len(d.drifted) > 8 else ""),
                     "prediction drift": bool(d.prediction and d.prediction.drifted),
                     "accuracy": p.accuracy, "95% CI": _ci(p.low, p.high), "estimated accuracy": p.estimated,
                     "estimate CI": _ci(p.estimated_low, p.estimated_high), "accuracy degraded": p.degraded})
    return rows


def _ci(low: float | None, high: float | None) -> str:
    return "" if low is None or high is None else f"{low:.3f} - {high:.3f}"


def drift_over_windows(results: list[Any]) -> Any:
    """Heat map: each feature's effect size over its threshold in each window (1 and above: large enough)."""
    import numpy as np

    plt = _pyplot()
    names = [f.name for f in results[0].drift.features][:40]
    values = np.array([[f.effect_value / f.effect_threshold if f.effect_threshold else 0.0
                        for f in r.drift.features][:40] for r in results]).T
    fig, ax = plt.subplots(figsize=(min(12, 2 + 0.6 * len(results)), 1.2 + 0.3 * len(names)))
    image = ax.imshow(np.minimum(values, 3.0), aspect="auto", cmap="Reds", vmin=0, vmax=3)
    for i, _ in enumerate(names):
        for j, r in enumerate(results):
            if r.drift.features[i].drifted:
                ax.text(j, i, "x", ha="center", va="center", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xticks(range(len(results)), [r.drift.label for r in results], rotation=60, ha="right", fontsize=7)
    fig.colorbar(image, ax=ax, label="effect / threshold (capped at 3)")
    ax.set_title("x: drift (significant after correction and effect at or above its threshold)", fontsize=9)
    fig.subplots_adjust(left=0.18, right=0.98, bottom=0.25, top=0.9)
    return fig


def _bars(ax: Any, heights: list[float], offset: float, **style: Any) -> None:
    """Bars 0.4 wide at ``x + offset`` for x = 0, 1, ...: drawn as one filled step outline with empty steps
    between the bars (the same picture as ``ax.bar``, one artist instead of one per bar, which is what made the
    figure slow to build and draw)."""
    if not heights:
        return
    edges = [e for x in range(len(heights)) for e in (x + offset, x + offset + 0.4)]
    values = [v for h in heights for v in (h, 0.0)][:-1]
    ax.stairs(values, edges, fill=True, linewidth=0, **style)


def distributions(drift: Any) -> Any:
    """Reference and current share per bin (numeric: the reference's quantile bins) or category, for the drifted
    features first and then the largest effects (few labels: text is what makes a figure slow to draw)."""
    plt = _pyplot()
    features = sorted(drift.features, key=lambda f: (not f.drifted, -f.effect_value))[:MAX_PLOTTED]
    cols = min(4, len(features))
    rows = (len(features) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2 * rows), squeeze=False)
    for ax, f in zip(axes.flat, features):
        xs = list(range(len(f.bins)))
        _bars(ax, f.reference_share, -0.4, label="reference", color="#9fb3c8")
        _bars(ax, f.current_share, 0.0, label="current", color="#e12d39" if f.drifted else "#486581")
        ax.set_title(f"{f.name}: {f.effect} {f.effect_value:.2f}{' drift' if f.drifted else ''}", fontsize=8)
        if f.kind == "categorical" and len(xs) <= 8:
            ax.set_xticks(xs, [b[:6] for b in f.bins], fontsize=6)
        else:
            ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[len(features):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6, loc="upper right")
    fig.subplots_adjust(left=0.02, right=0.98, top=0.92, bottom=0.08, hspace=0.5, wspace=0.1)
    return fig


def performance_figure(results: list[Any], reference: float | None) -> Any:
    """Accuracy per window with its interval (labels) and the estimate from scores (no labels)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3))
    xs = list(range(len(results)))
    for key, low, high, label, color in (("accuracy", "low", "high", "on labels", "#486581"),
                                         ("estimated", "estimated_low", "estimated_high", "estimated from scores",
                                          "#f0b429")):
        pts = [(x, getattr(r.performance, key), getattr(r.performance, low), getattr(r.performance, high))
               for x, r in zip(xs, results) if getattr(r.performance, key) is not None]
        if pts:
            ax.errorbar([p[0] for p in pts], [p[1] for p in pts],
                        yerr=[[p[1] - p[2] for p in pts], [p[3] - p[1] for p in pts]], fmt="o-", label=label,
                        color=color, capsize=3)
    if reference is not None:
        ax.axhline(reference, color="#137333", linestyle="--", label="reference accuracy")
    ax.set_xticks(xs, [r.drift.label for r in results], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=8)
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.3, top=0.95)
    return fig


@task(name="drift.write_report")
def write_drift_report(out_dir: str, results: list[Any], profile: Any, alerts: list[str], notes: list[str],
                       thresholds: Any, reference: str) -> dict[str, str]:
    """Write ``drift-report.{html,md,json}`` with its plots."""
    drifting = [r for r in results if r.drift.drifted]
    worst = max(results, key=lambda r: (len(r.drift.drifted), r.drift.label)) if results else None
    rep = Report("Drift report", f"reference: {reference} ({profile.rows:,} rows); {len(results)} window(s)")
    rep.section("Summary")
    rep.metrics({"windows": len(results), "windows with drift": len(drifting), "features": len(profile.kinds),
                 "alerts": len(alerts), "correction": thresholds.correction, "alpha": thresholds.alpha})
    for alert in alerts:
        rep.note(alert, "fail")
    if not alerts:
        rep.note("No feature, prediction or accuracy drift passed its thresholds.", "info")
    for note in notes:
        rep.note(note, "warn")
    rep.text(f"A feature drifts when its test (KS for numeric, chi-square for categorical) is significant at "
             f"{thresholds.alpha} after {thresholds.correction} correction across the window's features, and its "
             f"effect size passes its threshold (numeric: {thresholds.numeric_effect} >= "
             f"{thresholds.effect_of('numeric')[1]}; categorical: {thresholds.categorical_effect} >= "
             f"{thresholds.effect_of('categorical')[1]}).")
    rep.section("Windows")
    rep.table(window_rows(results), caption="each window against the reference")
    if len(results) > 1:
        rep.figure(drift_over_windows(results), caption="effect size over threshold, per feature and window",
                   name="drift-over-windows.png")
    if any(r.performance.accuracy is not None or r.performance.estimated is not None for r in results):
        rep.figure(performance_figure(results, profile.accuracy.get("accuracy")),
                   caption="accuracy per window with 95 % intervals", name="performance.png")
    if worst is not None:
        rep.section(f"Decisions in window {worst.drift.label}")
        rep.table(decision_rows(worst.drift), caption="every feature, corrected together")
        rep.figure(_png(distributions(worst.drift)), caption=f"reference against window {worst.drift.label} (shares per "
                                                      "reference decile or category; drifted features first)",
                   name="distributions.png")
    rep.json_block("windows", [{"label": r.drift.label, "decisions": decision_rows(r.drift)} for r in results])
    files = rep.write(Path(out_dir), "drift-report")
    return {"html": str(files.html), "markdown": str(files.markdown), "json": str(files.json)}
