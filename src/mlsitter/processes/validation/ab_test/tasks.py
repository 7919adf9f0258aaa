"""Task functions of the ``ab-test`` process: load and clean the table, SRM, the readout, the report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlsitter.errors import DataError, SpecError
from mlsitter.naming import stable_name
from mlsitter.runtime import task


@stable_name("ab-test.CleanTable")
@dataclass
class CleanTable:
    """The cleaned table on disk and what the cleaning did."""

    path: str
    report: Any
    control: str
    treatment: str
    metric_types: dict[str, str]
    optional_present: list[str]


@task(name="ab-test.load_and_clean")
def load_and_clean(data: str, unit: str, variant: str, metrics: list[str], exposure: str, extra: list[str],
                   metric_types: dict[str, str], control: str, treatment: str, out_dir: str,
                   optional: list[str] | None = None, label_map: dict[str, str] | None = None) -> CleanTable:
    """Read the table, apply the cleaning rules, choose control/treatment, save the clean rows.

    ``extra`` columns must exist; ``optional`` ones (e.g. segments named only by the plan) are kept when present.
    """
    import pandas as pd

    from mlsitter.ml.experiments._ab_cleaning import clean_assignments
    from mlsitter.ml.io._table_reader import read_table

    frame = pd.read_parquet(data) if str(data).endswith((".parquet", ".pq")) and Path(data).exists() else read_table(data)
    missing = [c for c in extra if c not in frame.columns]
    if missing:
        raise DataError(f"A/B table lacks column(s) {missing}; its columns are {list(frame.columns)}")
    clean, report = clean_assignments(frame, unit=unit, variant=variant, metrics=metrics, exposure=exposure,
                                      metric_types=metric_types, label_map=label_map)
    variants = list(report.units_per_variant)
    control, treatment = choose_variants(variants, control, treatment)
    if len(variants) > 2:
        clean = clean[clean[variant].isin([control, treatment])]
    present = [c for c in (optional or []) if c in clean.columns]
    keep = list(dict.fromkeys([c for c in [unit, variant, *metrics, *extra, *present] if c]))
    path = Path(out_dir) / "ab-clean.parquet"
    clean[keep].to_parquet(path, index=False)
    return CleanTable(str(path), report, control, treatment, report.metric_types, present)


def choose_variants(variants: list[str], control: str, treatment: str) -> tuple[str, str]:
    """Control/treatment from the inputs or plan; else 'control'/'A' style names; else the only two."""
    for name, label in ((control, "control"), (treatment, "treatment")):
        if name and name not in variants:
            raise SpecError(f"{label} variant {name!r} is not in the data; variants found: {variants}")
    if not control:
        control = next((v for v in variants if v.lower() in ("control", "a", "ctrl", "baseline", "0")), "")
    if not control:
        if len(variants) != 2:
            raise SpecError(f"name the control variant (input 'control'); variants found: {variants}")
        control = sorted(variants)[0]
    if not treatment:
        others = [v for v in variants if v != control]
        if len(others) != 1:
            raise SpecError(f"name the treatment variant (input 'treatment'); variants besides {control!r}: {others}")
        treatment = others[0]
    return control, treatment


@task(name="ab-test.check_srm")
def check_srm(table: CleanTable, split: dict[str, float] | None, ratio: float | None, threshold: float,
              warning: float | None = None) -> Any:
    """SRM chi-square of units per variant against the planned split (equal when not planned), with its band."""
    from mlsitter.ml.experiments._ab_stats import sample_ratio_mismatch

    observed = {table.control: table.report.units_per_variant[table.control],
                table.treatment: table.report.units_per_variant[table.treatment]}
    expected = None
    if split and table.control in split and table.treatment in split:
        expected = {k: split[k] for k in observed}
    elif ratio:
        expected = {table.control: 1.0, table.treatment: float(ratio)}
    return sample_ratio_mismatch(observed, expected, threshold, warning)


@task(name="ab-test.compute_readout")
def compute_readout(table: CleanTable, variant: str, metric: str, guardrails: list[Any], covariate: str, timestamp: str,
                    segments: list[str], alpha: float, direction: str, n_resamples: int, n_looks: int, tolerance: float,
                    mde: float | None, seed: int, secondary: list[str] | None = None, winsorize: float = 0.0) -> Any:
    """Every statistic for the primary, secondary and guardrail metrics (heavy tails capped when ``winsorize``
    > 0), segments, and the decision."""
    import pandas as pd

    from mlsitter.ml.experiments._ab_readout import (Readout, decide, directional_p, guardrail_breached, metric_readout,
                                                     secondary_effects, segment_effects, winsorize_upper)

    f = pd.read_parquet(table.path)
    is_b = (f[variant] == table.treatment).to_numpy()
    x = f[covariate].to_numpy(np.float64) if covariate else None
    if x is not None and np.isnan(x).any():
        raise DataError(f"pre-period covariate {covariate!r} has {int(np.isnan(x).sum())} missing values; CUPED needs it for every unit")
    t = None
    if timestamp:
        col = f[timestamp]
        t = (pd.to_datetime(col).astype("int64").to_numpy() / 1e9) if not pd.api.types.is_numeric_dtype(col) else col.to_numpy(np.float64)

    capped: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys([metric, *(secondary or []), *(g.metric for g in guardrails)]):
        if winsorize and table.metric_types[name] != "binary":
            values, capped[name] = winsorize_upper(f[name].to_numpy(np.float64), winsorize)
            f[name] = values

    def one(name: str, sequential: bool) -> Any:
        y = f[name].to_numpy(np.float64)
        return metric_readout(
            name, table.metric_types[name], y[~is_b], y[is_b],
            x_a=None if x is None else x[~is_b], x_b=None if x is None else x[is_b],
            t_a=None if t is None else t[~is_b], t_b=None if t is None else t[is_b],
            alpha=alpha, n_resamples=n_resamples, n_looks=n_looks, seed=seed, sequential=sequential,
        )

    primary = one(metric, True)
    guards = [one(g.metric, True) for g in guardrails]
    status = [guardrail_breached(m, g, alpha, tolerance) for m, g in zip(guards, guardrails)]
    segs = segment_effects(f, is_b, metric, table.metric_types[metric], segments, alpha=alpha) if segments else []
    decision, reasons = decide(primary, status, alpha, direction, mde)
    extra = secondary_effects([one(m, False) for m in secondary or []], alpha, direction)
    return Readout(table.control, table.treatment, int((~is_b).sum()), int(is_b.sum()), alpha, direction, primary, guards,
                   status, segs, decision, reasons, directional_p(primary.p_value, primary.difference, direction), extra,
                   capped)


@task(name="ab-test.write_ab_report")
def write_ab_report(*, out_dir: str, data: str, table: CleanTable, plan: Any, srm: Any, readout: Any) -> dict[str, str]:
    """The A/B report: cleaning, SRM, every test, Bayesian view, CUPED, sequential looks, segments, decision."""
    from mlsitter.ml.experiments._ab_readout import lift_figure
    from mlsitter.report import Report
    from mlsitter.ml.experiments._sequential import sequential_figure

    rep = Report(f"A/B test: {readout.treatment} vs {readout.control}",
                 f"{Path(data).name} · primary metric {readout.primary.metric} · alpha {readout.alpha} · direction {readout.direction}")
    if srm.banner():
        rep.section("Sample ratio mismatch: " + srm.status).note(srm.banner(), "fail" if srm.alarm else "warn")
        rep.table(srm_rows(srm), caption="Units per variant")
    sided = "two-sided" if readout.direction == "two-sided" else "one-sided"
    rep.section("Decision").metrics({"decision": readout.decision, f"{readout.primary.metric} lift": readout.primary.lift["lift"],
                                     f"p-value ({sided})": readout.p_value if readout.p_value is not None
                                     else readout.primary.p_value, "P(B > A)": readout.primary.bayes["prob_b_better"]})
    rep.bullets(readout.reasons)
    if readout.winsorized:
        rep.text("Winsorized before every statistic (top share capped at the pooled quantile): " + "; ".join(
            f"{k} at {v['cap']:.4g} ({v['units_capped']:,} units capped, top {v['share']:.2%})"
            for k, v in readout.winsorized.items()))
    if plan is not None:
        rep.section("Pre-registration").text(f"Read from {plan.source}; fields found: {', '.join(plan.found) or 'none'}.")
    rep.section("Cleaning")
    rep.table([{"rule": k, "what": table.report.rules.get(k, ""), "rows removed": v} for k, v in table.report.removed.items()])
    rep.text(f"{table.report.rows_in:,} rows in, {table.report.rows_out:,} rows out; units per variant: "
             + ", ".join(f"{k}: {v:,}" for k, v in table.report.units_per_variant.items()))
    rep.section("Sample ratio mismatch")
    rep.metrics({"chi-square": srm.chi2, "p-value": srm.p_value, "status": srm.status,
                 "alarm below / warning below": f"{srm.threshold:g} / {srm.warning_threshold:g}"})
    rep.table(srm_rows(srm))
    for m in [readout.primary, *readout.guardrails]:
        role = "Primary metric" if m is readout.primary else "Guardrail"
        rep.section(f"{role}: {m.metric} ({m.kind})")
        rep.table([{"variant": readout.control, **m.control}, {"variant": readout.treatment, **m.treatment}])
        rep.table([{"test": v.get("test", k), "difference": v["difference"], "statistic": v["statistic"], "p-value": v["p_value"],
                    "CI low": v["ci_low"], "CI high": v["ci_high"]} for k, v in m.tests.items()])
        rep.bullets([f"Relative lift {m.lift['lift']:.4%} (95% CI {m.lift['ci_low']:.4%} to {m.lift['ci_high']:.4%}, delta method)",
                     f"Bayesian ({m.bayes['model']}): P(B > A) = {m.bayes['prob_b_better']:.4f}, expected loss of shipping B "
                     f"{m.bayes['expected_loss_b']:.4g}, of keeping A {m.bayes['expected_loss_a']:.4g}"]
                    + ([f"CUPED: theta {m.cuped['theta']:.4g}, variance reduction {m.cuped['variance_reduction']:.1%}, "
                        f"covariate correlation {m.cuped['correlation']:.3f}"] if m.cuped else []))
        if m.sequential is not None:
            rep.figure(sequential_figure(m.sequential, m.metric), caption=f"Sequential monitoring of {m.metric} (mSPRT)",
                       name=f"sequential-{m.metric}.png")
            rep.table(m.sequential.table(), caption="Interim looks")
    if readout.secondary:
        rep.section(f"Secondary metrics (Holm-corrected, {sided}; they inform, the primary metric decides)")
        rep.table(readout.secondary)
    if readout.guardrail_status:
        rep.section("Guardrails").table(readout.guardrail_status)
    if readout.segments:
        rep.section("Segments (Holm-corrected)").table(readout.segments)
    rep.section("Lift overview").figure(lift_figure([readout.primary, *readout.guardrails], readout.segments),
                                        caption="Relative lift with CI", name="lift.png")
    files = rep.write(out_dir, "ab-test-report")
    return {"html": str(files.html), "markdown": str(files.markdown), "json": str(files.json)}


def srm_rows(srm: Any) -> list[dict[str, Any]]:
    """Units per variant beside the planned and observed shares."""
    total = max(sum(srm.observed.values()), 1)
    return [{"variant": k, "units": v, "observed share": v / total, "planned share": srm.expected_share[k]}
            for k, v in srm.observed.items()]
