"""The experiment-plan report: hypothesis, power curve, MDE by duration, the plan and its gates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from statsmodels.stats.power import NormalIndPower, TTestIndPower  # noqa: E402

from mlsitter.ml.experiments._power import PowerPlan, mde_for_group_size  # noqa: E402
from mlsitter.report import Report, ReportFiles  # noqa: E402


def power_curve_figure(plan: PowerPlan):
    """Power against units per group at the planned effect size; the chosen size marked."""
    solver = NormalIndPower() if plan.metric_type == "proportion" else TTestIndPower()
    alternative = "two-sided" if plan.direction == "two-sided" else "larger"
    grid = np.unique(np.geomspace(max(2, plan.n_control / 20), plan.n_control * 3, 80).astype(int))
    power = [solver.power(effect_size=plan.effect_size, nobs1=n, alpha=plan.alpha, ratio=plan.ratio,
                          alternative=alternative) for n in grid]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(grid, power, color="#3e7cb1")
    ax.axhline(plan.power, color="#c5221f", ls=":", label=f"target power {plan.power}")
    ax.axvline(plan.n_control, color="#137333", ls="--", label=f"n per group (control) = {plan.n_control:,}")
    ax.set_xscale("log")
    ax.set_xlabel("units in control")
    ax.set_ylabel("power")
    ax.legend(fontsize=8)
    ax.set_title(f"Power at MDE {plan.mde:g} ({plan.effect_size_kind} {plan.effect_size:.4f})")
    return fig


def mde_by_duration_figure(plan: PowerPlan, horizon_days: int):
    """The smallest detectable effect for each experiment length."""
    days = np.arange(1, max(horizon_days, plan.days_needed, 2) + 1)
    mdes = [mde_for_group_size(plan.metric_type, plan.baseline, d * plan.units_per_day / (1 + plan.ratio), plan.alpha,
                               plan.power, plan.ratio, plan.direction, plan.std) for d in days]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(days, mdes, color="#3e7cb1")
    ax.axhline(plan.mde, color="#c5221f", ls=":", label=f"planned MDE {plan.mde:g}")
    ax.axvline(plan.max_days, color="#b06000", ls="--", label=f"max days {plan.max_days}")
    ax.set_xlabel("days")
    ax.set_ylabel("minimum detectable effect")
    ax.legend(fontsize=8)
    ax.set_title("MDE reachable by experiment length")
    return fig


def write_experiment_plan_report(plan: PowerPlan, prereg: dict[str, Any], gates: list[dict[str, Any]],
                                 notes: list[str], attempt: int, out_dir: str | Path) -> ReportFiles:
    report = Report(f"Experiment plan: {prereg['experiment']}", f"Attempt {attempt} · pre-registration v{prereg['version']}")
    if notes:
        report.note("Settings derived from the inputs or changed by review: " + "; ".join(notes))
    hyp = prereg["hypothesis"]
    report.section("Hypothesis")
    report.bullets([f"H0: {hyp['h0']}", f"H1: {hyp['h1']}",
                    f"baseline {hyp['baseline']:.6g}" + (f", std {hyp['std']:.6g}" if hyp["std"] else ""),
                    f"MDE {hyp['mde']:g} (absolute), alpha {hyp['alpha']}, power {hyp['power']}",
                    f"test: {prereg['test']['name']} ({prereg['test']['power_function']})",
                    f"randomization unit: {prereg['randomization_unit']}"])
    report.section("Sample size and duration")
    dur = prereg["duration"]
    report.metrics({"n control": plan.n_control, "n treatment": plan.n_treatment, "total": plan.total,
                    "days needed": plan.days_needed, "planned days": dur["planned_days"], "max days": plan.max_days,
                    "MDE at max days": plan.mde_at_max_days})
    if not plan.feasible:
        report.note(f"The sample needs {plan.days_needed} days, more than {plan.max_days}.", level="warn")
    if dur.get("adjusted_by"):
        report.note(f"Plan adjusted: {dur['adjusted_by']}", level="info")
    report.figure(power_curve_figure(plan), caption="Power curve")
    report.figure(mde_by_duration_figure(plan, plan.max_days), caption="MDE by duration")
    report.section("Guardrails, stopping and analysis")
    if prereg["guardrails"]:
        report.table(prereg["guardrails"], columns=["metric", "worse", "tolerance"])
    report.bullets(prereg["stopping_rules"])
    report.bullets(prereg["analysis_plan"])
    report.section("Gates")
    report.gates(gates)
    report.json_block("preregistration", prereg)
    return report.write(out_dir, stem="experiment_plan")


def write_proposal_report(plan: PowerPlan, settings: Any, out_dir: str | Path) -> ReportFiles:
    """The evidence of the infeasible-plan question: both ways out side by side and the MDE-by-duration curve."""
    report = Report(f"Sample size does not fit {settings.max_days} days: {settings.metric}",
                    f"{plan.total:,} units needed at {plan.units_per_day:,.0f} units/day")
    report.section("The two ways out").table([
        {"option": "longer-duration", "mde": settings.mde, "days": plan.days_needed, "units": plan.total},
        {"option": "larger-mde (a plain approval)", "mde": plan.mde_at_max_days, "days": settings.max_days,
         "units": int(settings.max_days * plan.units_per_day)},
    ])
    report.figure(mde_by_duration_figure(plan, settings.max_days), caption="MDE reachable by experiment length",
                  name="mde-by-duration.png")
    return report.write(out_dir, "sample-size-proposal")
