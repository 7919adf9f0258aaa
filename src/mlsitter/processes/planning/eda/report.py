"""The EDA report: one self-contained HTML (figures embedded) plus Markdown and JSON, built with Report."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from mlsitter.processes.planning.eda import plots as eda_plots
from mlsitter.processes.planning.eda.analysis import EdaAnalysis, eda_frame
from mlsitter.processes.planning.eda.quality_score import deductions_table
from mlsitter.report import Report, ReportFiles


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def build_eda_report(analysis: EdaAnalysis, frame: Any, *, title: str = "Exploratory data analysis", source: str = "",
                     min_quality: float | None = None, attempt: int | None = None, seed: int = 0) -> Report:
    """Assemble every section of the EDA report from a computed analysis."""
    p, opts = analysis.profile, analysis.options
    subtitle = " · ".join(x for x in (source, f"review attempt {attempt}" if attempt else "") if x)
    rep = Report(title, subtitle)
    rep.section("Overview")
    rep.metrics({
        "rows": p.rows, "columns": p.n_columns, "missing cells": p.missing_cells, "missing %": round(p.missing_cells_pct, 2),
        "duplicate rows": p.duplicate_rows, "quality score": analysis.quality.score,
        "memory MB": round(p.memory_bytes / 1e6, 1),
    })
    kinds: dict[str, list[str]] = {}
    for name, kind in p.kinds.items():
        kinds.setdefault(kind, []).append(name)
    rep.table([{"kind": k, "columns": len(v), "names": ", ".join(v)[:160]} for k, v in kinds.items()], caption="Column kinds")
    applied = []
    if opts.exclude:
        applied.append("excluded columns: " + ", ".join(opts.exclude))
    if p.sampled_from:
        applied.append(f"profiled a seeded sample of {p.rows:,} of {p.sampled_from:,} rows")
    applied += [f"sampled: {line}" for line in analysis.sampled]
    for item in applied:
        rep.note(item)
    _missing_tokens_section(rep, analysis.source)
    for note in opts.notes:
        rep.note(f"reviewer note: {note}")
    for problem in analysis.problems:
        rep.note(problem, "warn")

    rep.section("Quality score")
    passed = None if min_quality is None else analysis.quality.score >= min_quality
    if min_quality is not None:
        rep.note(f"score {analysis.quality.score} vs required {min_quality}: {'pass' if passed else 'FAIL'}", "info" if passed else "fail")
    if analysis.quality.deductions:
        rep.table(deductions_table(analysis.quality), caption="Deductions from 100")
        rep.heading("Recommendations")
        rep.bullets(analysis.quality.recommendations)
    else:
        rep.text("No deductions: no missing cells, duplicates, constant columns, strong correlations, outlier-heavy columns or leaks found.")

    rep.section("Columns")
    rep.table([
        {"column": c.name, "kind": c.kind, "dtype": c.dtype, "missing": c.missing, "missing %": _r(c.missing_pct, 2),
         "distinct": c.distinct, "mean": _r(c.mean), "std": _r(c.std), "min": _r(c.min) if c.min is not None else c.first,
         "median": _r(c.quantiles.get("p50")), "max": _r(c.max) if c.max is not None else c.last,
         "top": ", ".join(f"{v} ({n})" for v, n in c.top_values[:3])[:60]}
        for c in p.columns
    ])
    numeric = [c for c in p.columns if c.mean is not None and c.kind in ("numeric", "id")]
    if numeric:
        rep.heading("Numeric columns")
        rep.table([
            {"column": c.name, **{k: _r(v) for k, v in c.quantiles.items()}, "skew": _r(c.skew, 3), "kurtosis": _r(c.kurtosis, 3),
             "zeros": c.zeros, "negatives": c.negatives}
            for c in numeric
        ])
    cats = [c for c in p.columns if c.kind in ("categorical", "boolean") and c.top_values]
    if cats:
        rep.heading("Categorical columns: top values")
        rep.table([{"column": c.name, "distinct": c.distinct, "top values": "; ".join(f"{v}: {n:,}" for v, n in c.top_values[:6])} for c in cats])
    dates = [c for c in p.columns if c.kind == "datetime"]
    if dates or p.time_gaps:
        rep.heading("Time")
        # the timestamp's own row (its gap analysis) stands for it: a column is listed once
        rows = [{"column": c.name, "first": c.first, "last": c.last, **_gap_cells(c.gaps)} for c in dates
                if not (p.time_gaps and c.name == p.time_gaps.column)]
        if p.time_gaps:
            g = p.time_gaps
            rows.append({"column": g.column, "first": g.start, "last": g.end, **_gap_cells(g)})
            if g.largest_gaps:
                rep.table(rows)
                rows = []
                rep.table(g.largest_gaps, caption=f"Largest gaps in {g.column}")
        if rows:
            rep.table(rows)
    texts = [c for c in p.columns if c.kind in ("text", "id") and c.length_mean is not None]
    if texts:
        rep.heading("Text and id-like columns")
        rep.table([{"column": c.name, "kind": c.kind, "distinct": c.distinct, "len min": c.length_min,
                    "len mean": _r(c.length_mean, 1), "len max": c.length_max} for c in texts])

    figure_source = eda_frame(frame, opts, seed)
    rep.section("Distributions")
    target = analysis.target.target if analysis.target else None
    fig = eda_plots.distributions_figure(p, first=target)
    if fig is not None:
        rep.figure(eda_plots.to_png(fig), "Histograms (numeric) and top values (categorical)", name="distributions.png")
    plotted = eda_plots.plotted_columns(p, target)
    if len(plotted) > eda_plots.MAX_HISTOGRAMS:
        rep.note(f"capped: histograms of {eda_plots.MAX_HISTOGRAMS} of {len(plotted)} columns"
                 + (f", the target {target!r} first" if target else "") + f"; not drawn: "
                 + ", ".join(c.name for c in plotted[eda_plots.MAX_HISTOGRAMS:])[:300]
                 + " (every column's statistics are in the Columns table)")
    fig = eda_plots.missingness_figure(figure_source, seed=seed)
    if fig is not None:
        rep.figure(eda_plots.to_png(fig), "Missingness matrix", name="missingness.png")

    a = analysis.associations
    rep.section("Correlations")
    rep.text(f"Pairwise statistics on {a.rows_used:,} rows. Pearson/Spearman for numeric pairs, Cramér's V for categorical pairs, "
             "correlation ratio (eta) for categorical-numeric pairs; VIF from the numeric correlation matrix.")
    for i, (caption, fig) in enumerate(eda_plots.correlation_figures(a)):
        rep.figure(eda_plots.to_png(fig), caption, name=f"correlation-{i + 1}.png")
    rep.text(f"Cramér's V is bias-corrected (Bergsma 2013); a pair is flagged only when at least {a.min_support:,} rows have both "
             "values, and its support (those rows) is shown.")
    if a.high_pairs:
        rep.table([{"a": h["a"], "b": h["b"], "method": h["method"], "value": round(h["value"], 3), "support": h.get("support")}
                   for h in a.high_pairs], caption="Strongly associated pairs")
    else:
        rep.text("No strongly associated pairs.")
    if a.vif:
        rep.table([{"column": c, "VIF": round(v, 2) if v != float("inf") else "inf (exact collinearity)", "flag": "high" if c in a.high_vif else ""}
                   for c, v in sorted(a.vif.items(), key=lambda kv: -kv[1])], caption="Variance inflation factors")
    if a.correlation_ratio:
        rep.table([{**r, "eta": round(r["eta"], 3)} for r in a.correlation_ratio[:10]], caption="Strongest correlation ratios")

    o = analysis.outliers
    rep.section("Outliers")
    if o.columns:
        rep.table([{"column": c.column, "IQR low": _r(c.iqr_low), "IQR high": _r(c.iqr_high), "IQR outliers": c.iqr_count,
                    "IQR %": _r(c.pct, 2), "robust z > 3.5": c.robust_z_count, "examples": ", ".join(f"{v:g}" for v in c.examples)}
                   for c in o.columns])
    if o.rows is not None:
        rep.text(f"Isolation Forest (contamination {o.rows.contamination}) flagged {o.rows.flagged:,} of {o.rows.rows_scored:,} scored rows "
                 f"({o.rows.pct:.2f}%). The most anomalous rows:")
        rep.table([{k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()} for row in o.rows.top_rows])

    t = analysis.target
    if t is not None:
        rep.section(f"Target: {t.target}")
        if t.task == "classification":
            rep.metrics({"classes": len(t.classes), "minority %": round(t.minority_pct or 0.0, 2), "imbalance ratio": round(t.imbalance_ratio or 0.0, 2)})
            rep.table([{"class": k, "rows": v} for k, v in t.classes.items()], max_rows=30, caption="Class balance")
        else:
            rep.metrics({k: round(v, 4) for k, v in t.distribution.items()})
        for f in t.features:
            if f.leak:
                rep.note(f"possible leak: {f.feature}: {f.leak}", "fail")
        if t.suspects:
            rep.table([{"feature": x["feature"], f"alone ({t.score_name})": x["score"], "threshold": x["threshold"],
                        "flagged": "yes" if x["flagged"] else "no", "why": x["reason"]} for x in t.suspects],
                      caption="Leak suspects: the strongest features, flagged or not (a near miss is worth a look)")
        rep.table([{"feature": f.feature, f"alone ({t.score_name})": round(f.single_feature_score, 4),
                    "association": round(f.association, 4), "method": f.association_method,
                    "drop-column loss": None if f.drop_column_loss is None else round(f.drop_column_loss, 4),
                    "leak?": "yes" if f.leak else ""} for f in t.features], caption="Feature vs target, strongest first")
        fig = eda_plots.target_figure(figure_source, t, p.kinds, seed=seed)
        if fig is not None:
            rep.figure(eda_plots.to_png(fig), "Target against the strongest features", name="target.png")

    rep.json_block("analysis", dataclasses.asdict(analysis))
    return rep


def _gap_cells(gaps: Any) -> dict[str, Any]:
    """The Time table's cells for one series: its step, whether it is regular, expected and missing points."""
    if gaps is None:
        return {"step": None, "regular": None, "expected": None, "missing points": None, "duplicates": None}
    return {"step": gaps.step or f"{gaps.step_seconds:g} s", "regular": "yes" if gaps.regular else f"no ({gaps.step_share:.0%} of gaps = step)",
            "expected": gaps.expected if gaps.regular else None, "missing points": gaps.missing if gaps.regular else None,
            "duplicates": gaps.duplicates}


def _missing_tokens_section(rep: Report, source: dict[str, Any]) -> None:
    """Which text was read as missing, and how much of each per column (so a real category such as 'None' is seen)."""
    tokens = source.get("na_values")
    if not tokens:
        return
    rep.note("text read as missing: " + ", ".join(repr(t) for t in tokens) + " (input na_values changes it)")
    counts = source.get("missing_tokens") or {}
    if counts:
        seen = list(dict.fromkeys(token for found in counts.values() for token in found))
        rep.table([{"column": column, **{f"{token!r}": found.get(token, 0) for token in seen}} for column, found in counts.items()],
                  caption="Missing values by the text that marked them")


def write_eda_report(analysis: EdaAnalysis, frame: Any, out_dir: str | Path, *, stem: str = "eda-report", **kwargs: Any) -> ReportFiles:
    """Build and write the report (HTML, Markdown, JSON, PNGs) into ``out_dir``."""
    return build_eda_report(analysis, frame, **kwargs).write(out_dir, stem=stem)
