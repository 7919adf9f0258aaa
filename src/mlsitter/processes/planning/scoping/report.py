"""The scope document: requirements, data availability, feasibility (with the learning curve), risks
and the charter, as one HTML file with plots plus Markdown and JSON."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mlsitter.processes.planning.scoping.brief import ProjectBrief  # noqa: E402
from mlsitter.ml.handoffs._charter import Charter  # noqa: E402
from mlsitter.processes.planning.scoping.data_availability import DataAvailability  # noqa: E402
from mlsitter.processes.planning.scoping.feasibility import Feasibility, _power_law  # noqa: E402
from mlsitter.processes.planning.scoping.risks import nothing_to_audit  # noqa: E402
from mlsitter.report import Report, ReportFiles  # noqa: E402


def target_figure(availability: DataAvailability, target_values: Any):
    """Class balance bars (classification) or a histogram of the target (regression)."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    if availability.class_counts:
        labels = list(availability.class_counts)
        ax.bar(labels, [availability.class_counts[k] for k in labels], color="#3e7cb1")
        ax.axhline(availability.rows_per_class_needed, color="#c5221f", ls="--", lw=1,
                   label=f"rows per class needed ({availability.rows_per_class_needed})")
        ax.set_ylabel("rows")
        ax.legend(fontsize=8)
        ax.set_title(f"Class balance of {availability.target}")
    else:
        ax.hist(np.asarray(target_values, dtype=float), bins=40, color="#3e7cb1")
        ax.set_title(f"Distribution of {availability.target}")
    return fig


def learning_curve_figure(feasibility: Feasibility):
    """Observed learning curve, the fitted power law to the full size, and the success threshold."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    curve = feasibility.curve
    ax.plot(curve.sizes, curve.scores, "o-", color="#3e7cb1", label="validation score (CV)")
    grid = np.linspace(min(curve.sizes), max(curve.extrapolated_at, max(curve.sizes)), 100)
    a, b, c = curve.fit_params
    if b != 0:
        sign = 1 if feasibility.greater_is_better else -1
        ax.plot(grid, sign * _power_law(grid, a, b, c), "--", color="#7b8794", label="power-law fit")
    ax.plot([curve.extrapolated_at], [curve.extrapolated_score], "s", color="#137333",
            label=f"extrapolated ({curve.extrapolated_score:.3f})")
    ax.axhline(feasibility.threshold, color="#c5221f", ls=":", label=f"threshold {feasibility.threshold}")
    ax.axhline(feasibility.dummy_score, color="#b06000", ls="-.", lw=1, label=f"dummy {feasibility.dummy_score:.3f}")
    ax.set_xscale("log")
    ax.set_xlabel("training rows")
    ax.set_ylabel(feasibility.metric)
    ax.legend(fontsize=7)
    ax.set_title(f"Learning curve ({feasibility.simple_model})")
    return fig


def write_scope_document(brief: ProjectBrief, availability: DataAvailability, feasibility: Feasibility,
                         charter: Charter, target_values: Any, gates: list[dict[str, Any]], notes: list[str],
                         out_dir: str | Path, attempt: int) -> ReportFiles:
    """Render the scope document for one attempt."""
    report = Report(f"Scope: {brief.name}", f"Attempt {attempt}. {brief.objective}")
    report.section("Requirements")
    report.table([{"field": "objective", "value": brief.objective}, {"field": "decision", "value": brief.decision},
                  {"field": "target", "value": brief.target}, {"field": "task", "value": charter.task},
                  {"field": "success metric", "value": f"{charter.metric.name} "
                   f"{'>=' if charter.metric.greater_is_better else '<='} {charter.metric.threshold}"},
                  {"field": "positive class", "value": str(charter.positive_class)}])
    report.table([{"constraint": k, "value": str(v)} for k, v in asdict(brief.constraints).items()])
    if notes:
        report.note("Changed by review feedback: " + "; ".join(notes))
    report.section("Data availability")
    report.metrics({"availability score": availability.score, "rows": availability.rows,
                    "columns": availability.columns, "minority rows": availability.minority_rows,
                    "missing cells": availability.missing_cell_share})
    report.bullets(availability.reasons)
    report.figure(target_figure(availability, target_values), caption="Target distribution")
    if availability.time_column:
        report.text(f"Time span of {availability.time_column}: {availability.time_start} to "
                    f"{availability.time_end} ({availability.time_span_days:.0f} days)")
    if availability.pii:
        report.table([asdict(p) for p in availability.pii], caption="Columns that look like personal data")
    report.section("Feasibility")
    report.metrics({"feasibility score": feasibility.score, "estimate": feasibility.estimate,
                    "threshold": feasibility.threshold, "dummy": feasibility.dummy_score})
    report.bullets(feasibility.reasons)
    report.figure(learning_curve_figure(feasibility), caption="Learning curve and its extrapolation")
    report.section("Risks and ethics")
    if charter.risks:
        report.table(charter.risks, columns=["kind", "severity", "detail"])
    else:
        report.text("No risks flagged.")
    report.table([{"column": k, "reason": v} for k, v in charter.excluded_columns.items()],
                 columns=["column", "reason"], caption="Columns excluded from features")
    report.text("Sensitive attributes to audit: " + (", ".join(charter.sensitive_attributes) or "none"))
    unaudited = nothing_to_audit(charter.sensitive_attributes, availability)
    if unaudited:
        report.note(unaudited[0].upper() + unaudited[1:] + ".", "warn")
    report.section("Gates")
    report.gates(gates)
    report.json_block("charter", charter.to_dict())
    return report.write(out_dir, stem="scope")
