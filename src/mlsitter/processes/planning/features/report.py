"""The feature-design report: roles, leakage findings, serving skew, selection rounds and importance
plots, as one HTML file with Markdown and JSON beside it."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from mlsitter.ml.features._selection import SelectionResult  # noqa: E402
from mlsitter.ml.data._leakage import LeakageReport  # noqa: E402
from mlsitter.report import Report, ReportFiles  # noqa: E402
from mlsitter.ml.features._serving_skew import SkewReport  # noqa: E402


def bar_figure(values: dict[str, float], title: str, xlabel: str, highlight: list[str] | None = None, top: int = 25):
    """Horizontal bars, largest first; highlighted bars in red."""
    items = sorted(values.items(), key=lambda kv: kv[1], reverse=True)[:top][::-1]
    fig, ax = plt.subplots(figsize=(6.5, max(2.5, 0.26 * len(items) + 0.8)))
    colours = ["#c5221f" if k in (highlight or []) else "#3e7cb1" for k, _ in items]
    ax.barh([k for k, _ in items], [v for _, v in items], color=colours)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    return fig


def quality_figure(selection: SelectionResult, scoring: str):
    fig, ax = plt.subplots(figsize=(5.5, 3))
    ax.plot([r.iteration for r in selection.rounds], [r.quality for r in selection.rounds], "o-", color="#3e7cb1")
    for r in selection.rounds:
        ax.annotate(f"{len(r.columns)} cols", (r.iteration, r.quality), fontsize=8, xytext=(4, 4),
                    textcoords="offset points")
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"CV {scoring}")
    ax.set_title("Feature quality by selection round")
    return fig


def write_features_report(*, attempt: int, split_kind: str, train_rows: int, test_rows: int, roles: dict[str, Any],
                          leakage: LeakageReport, suspects_excluded: list[str], overlap: int, time_leak_rows: int,
                          encoding_gap: dict[str, dict[str, float]], selection: SelectionResult, scoring: str,
                          skew: SkewReport, feature_count: int, gates: list[dict[str, Any]], notes: list[str],
                          out_dir: str | Path) -> ReportFiles:
    """Render one attempt's report."""
    report = Report("Feature design", f"Attempt {attempt} · {split_kind} split: {train_rows:,} train / "
                                      f"{test_rows:,} test rows")
    if notes:
        report.note("Changed by review feedback: " + "; ".join(notes))
    report.section("Pipeline")
    report.metrics({"selected columns": len(selection.selected), "output features": feature_count,
                    f"CV {scoring}": selection.quality, "selection rounds": len(selection.rounds)})
    report.table([{"role": k, "columns": ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)}
                  for k, v in roles.items() if v], columns=["role", "columns"])
    report.section("Leakage")
    if leakage.findings:
        report.table([asdict(f) for f in leakage.findings], columns=["check", "column", "value", "threshold",
                                                                     "blocking", "detail"])
    else:
        report.text("No feature predicts the target suspiciously well.")
    if suspects_excluded:
        report.note(f"Excluded as leakage suspects: {', '.join(suspects_excluded)}", level="warn")
    report.bullets([f"train/test row overlap: {overlap} test rows also appear in train",
                    f"time leakage: {time_leak_rows} training rows are dated at or after the first test row"
                    if split_kind == "time" else "time leakage: not applicable (no time column)"])
    if encoding_gap:
        report.table([{"column": c, "in-sample encoding": v["in_sample"], "cross-fitted encoding": v["cross_fitted"]}
                      for c, v in encoding_gap.items()],
                     caption="Target encoding: score when fitted outside folds (leaky) vs cross-fitted (used)")
    report.figure(bar_figure(leakage.single_feature_scores, f"Single-feature power ({leakage.score_name})",
                             leakage.score_name, highlight=leakage.suspect_columns()),
                  caption="Each column alone, cross-validated; red = leakage suspect")
    report.section("Training-serving skew")
    if skew.skewed:
        report.note("Features differ between the offline pipeline and the serving path: "
                    + ", ".join(skew.names()), level="fail")
        report.table([asdict(s) for s in skew.skewed])
    else:
        report.text(f"{skew.rows} rows through the offline pipeline and, one JSON record at a time, through the "
                    f"pipeline reloaded from its artifact: all {skew.features} features identical.")
    report.section("Selection")
    report.figure(quality_figure(selection, scoring), caption="Quality per round")
    report.figure(bar_figure(selection.mutual_information, "Mutual information with the target", "nats"),
                  caption="Mutual information")
    last = selection.rounds[-1]
    report.figure(bar_figure(last.permutation, "Permutation importance (holdout)", f"drop in {scoring}"),
                  caption="Permutation importance")
    report.table([{"round": r.iteration, "columns": len(r.columns), "quality": r.quality,
                   "removed": "; ".join(f"{k} ({v})" for k, v in r.removed.items())} for r in selection.rounds])
    if selection.correlated:
        report.table([{"a": a, "b": b, "spearman": rho} for a, b, rho in selection.correlated],
                     caption="Highly correlated pairs")
    report.section("Gates")
    report.gates(gates)
    return report.write(out_dir, stem="features")
