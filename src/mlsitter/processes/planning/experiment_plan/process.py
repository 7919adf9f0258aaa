"""The ``experiment-plan`` process: hypothesis, power analysis with statsmodels, duration from daily
traffic, guardrails, stopping rules and analysis plan, written as a pre-registration that the
``ab-test`` process reads.

Gate ``sample-size-feasible``: days needed <= ``max_days``. When it fails, a breakpoint proposes
the two ways out: option ``larger-mde`` (the MDE reachable in ``max_days``; also what a plain
approval picks) or ``longer-duration`` (run for the days needed). A refusal fails the run. Then the
plan goes to review; rejection directives (``;``- or newline-separated): ``mde: 0.02``,
``alpha: 0.01``, ``power: 0.9``, ``max_days: 42``, ``min_days: 14``, ``ratio: 1``,
``traffic_fraction: 0.5``, ``daily_traffic: 5000``, ``direction: increase``,
``guardrails: latency_ms:higher:0.05, revenue:lower``.

Pre-registration (``preregistration.json``), top-level fields in this order::

    version             1
    experiment          experiment name
    primary_metric      metric name
    metric_type         "proportion" | "mean"
    randomization_unit  the unit assigned to a variant (one row per unit in the readout)
    control, treatment  variant labels as they appear in the assignment table
    hypothesis          {metric, direction ("increase"|"decrease"|"two-sided"), h0, h1, baseline, std,
                         mde (absolute, metric units), mde_relative, alpha, power}
    test                {name, power_function, effect_size, effect_size_kind ("cohen_h"|"cohen_d"),
                         statsmodels_alternative}
    sample_size         {n_control, n_treatment, total, n_control_exact}: statsmodels solve_power, rounded up
    ratio               treatment size / control size
    allocation          {control label: share, treatment label: share}
    duration            {daily_traffic, traffic_fraction, units_per_day, days_needed, min_days, planned_days,
                         max_days, feasible, mde_at_max_days, adjusted_by}
    guardrails          [{metric, worse ("higher"|"lower"), tolerance (relative)}]
    srm_check           {test, alpha (0.001), expected_shares}
    stopping_rules      [text]
    analysis_plan       [text]
    segments            [column]
    baseline_source     {data, column, rows} or {given: true}
    created_at          ISO time (journaled)
    power_analysis      the full solved PowerPlan
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from mlsitter import Context, Doc, Interval, process, task
from mlsitter.naming import stable_name
from mlsitter.processes.common.gates import gate_rows
from mlsitter.runtime.inputs import Check

#: what ``mde`` takes, as a refusal says it
MDE_EXPECTED = "a positive number (an absolute change, e.g. 0.02) or a percentage of the baseline in (0%, 100%] (e.g. '2%')"


def relative_share(text: str) -> float | None:
    """The share of the baseline a relative MDE such as ``'2%'`` names (0.02), or None when ``text`` names none
    in (0%, 100%]."""
    text = text.strip()
    if not text.endswith("%"):
        return None
    try:
        share = float(text[:-1]) / 100
    except ValueError:
        return None
    return share if 0 < share <= 1 else None


def valid_mde(value: float | str) -> bool:
    """Whether ``mde`` is a positive absolute change or a relative one in (0%, 100%]: checked before a run exists."""
    if isinstance(value, str):
        return relative_share(value) is not None
    return value > 0


@stable_name("experiment-plan.ExperimentPlanResult")
@dataclass
class ExperimentPlanResult:
    """The plan's key numbers and where the pre-registration is."""

    preregistration: str
    report: str
    metric: str
    metric_type: str
    baseline: float
    mde: float
    alpha: float
    power: float
    n_control: int
    n_treatment: int
    total: int
    days_needed: int
    planned_days: int
    max_days: int
    feasible: bool
    adjusted_by: str
    attempts: int
    feedback: list[str] = field(default_factory=list)


@task(name="experiment-plan.initial_settings")
def initial_settings(metric: str, metric_type: str, baseline: float | None, std: float | None, mde: float | str,
                     alpha: float, power: float, direction: str, ratio: float, daily_traffic: float,
                     traffic_fraction: float, max_days: int, min_days: int, guardrails: str, data: str, sep: str,
                     metric_column: str, positive_value: str, charter: str) -> dict[str, Any]:
    """Inputs (+ charter, + historical data for the baseline) -> validated settings."""
    from mlsitter.errors import InputError
    from mlsitter.ml.handoffs._charter import load_charter
    from mlsitter.processes.planning.experiment_plan.design import (ExperimentSettings, baseline_settings, metric_history,
                                               parse_guardrails, parse_mde)
    from mlsitter.ml.io._table_reader import read_table

    loaded = load_charter(charter) if charter else None
    if loaded is not None:
        metric_column = metric_column or loaded.target
        positive_value = positive_value or (loaded.positive_class or "")
    history = None
    source: dict[str, Any] = {"given": True}
    if data:
        if not metric_column:
            raise InputError("data= needs metric_column= (or a charter whose target is the metric)")
        frame = read_table(data, sep=sep)
        history = metric_history(frame, metric_column, metric_type, positive_value)
        source = {"data": data, "column": metric_column, "positive_value": positive_value or None,
                  "rows": int(len(history))}
    base, sd, _ = baseline_settings(history, metric_type, baseline, std)
    name = metric or (f"{metric_column}={positive_value}" if positive_value else metric_column) or "metric"
    absolute, note = parse_mde(mde, float(base))
    settings = ExperimentSettings(name, metric_type, float(base), None if sd is None else float(sd), absolute, alpha,
                                  power, direction, ratio, daily_traffic, traffic_fraction, max_days, min_days,
                                  parse_guardrails(guardrails), [note] if note else [])
    return {"settings": settings, "source": source, "experiment": loaded.name if loaded else name}


@task(name="experiment-plan.revise_experiment")
def revise_experiment(settings: Any, feedbacks: list[str]) -> Any:
    from mlsitter.processes.planning.experiment_plan.design import revise_settings

    return revise_settings(settings, feedbacks)


@task(name="experiment-plan.solve_power")
def solve_power(settings: Any) -> Any:
    """statsmodels power analysis for the settings (see :mod:`mlsitter.ml.experiments._power`)."""
    from mlsitter.ml.experiments._power import plan_power

    return plan_power(settings.metric_type, settings.baseline, settings.mde, alpha=settings.alpha,
                      power=settings.power, ratio=settings.ratio, std=settings.std, direction=settings.direction,
                      daily_traffic=settings.daily_traffic, traffic_fraction=settings.traffic_fraction,
                      max_days=settings.max_days)


@task(name="experiment-plan.adopt_proposal")
def adopt_proposal(settings: Any, plan: Any, option: str) -> Any:
    """Apply the chosen way out of an infeasible plan: the larger MDE or the longer duration."""
    import math
    from dataclasses import replace

    from mlsitter.ml.experiments._power import plan_power

    if option == "longer-duration":
        return replace(settings, max_days=plan.days_needed,
                       notes=[*settings.notes, f"max_days -> {plan.days_needed} (longer duration)"])
    mde = plan.mde_at_max_days
    digits = 3 - int(math.floor(math.log10(abs(mde))))
    mde = math.ceil(mde * 10 ** digits) / 10 ** digits  # round up: the rounded MDE still fits the duration
    revised = replace(settings, mde=mde, notes=[*settings.notes, f"mde -> {mde:g} (reachable in {settings.max_days} days)"])
    while not plan_power(revised.metric_type, revised.baseline, revised.mde, revised.alpha, revised.power,
                         revised.ratio, revised.std, revised.direction, revised.daily_traffic,
                         revised.traffic_fraction, revised.max_days).feasible:
        revised = replace(revised, mde=revised.mde + 10 ** -digits)
    return revised


@task(name="experiment-plan.write_proposal")
def write_proposal(plan: Any, settings: Any, out_dir: str) -> str:
    """The report the infeasible-plan question carries: both options and the MDE by duration."""
    from mlsitter.processes.planning.experiment_plan.report import write_proposal_report

    return str(write_proposal_report(plan, settings, out_dir).html)


@task(name="experiment-plan.write_plan")
def write_plan(plan: Any, settings: Any, experiment: str, unit: str, control: str, treatment: str,
               created_at: str, source: dict[str, Any], segments: list[str], adjusted_by: str,
               gates: list[dict[str, Any]], attempt: int, out_dir: str) -> dict[str, str]:
    """Write the pre-registration JSON and the report of one attempt."""
    import json
    from pathlib import Path

    from mlsitter.processes.planning.experiment_plan.design import preregistration
    from mlsitter.processes.planning.experiment_plan.report import write_experiment_plan_report

    doc = preregistration(plan, settings, experiment=experiment, unit=unit, control=control, treatment=treatment,
                          created_at=created_at, baseline_source=source, segments=segments, adjusted_by=adjusted_by)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "preregistration.json"
    path.write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
    files = write_experiment_plan_report(plan, doc, gates, settings.notes, attempt, folder)
    return {"preregistration": str(path), "html": str(files.html), "markdown": str(files.markdown),
            "json": str(files.json)}


@process("experiment-plan", phase="planning",
         description="Hypothesis, statsmodels power analysis, duration from traffic, guardrails -> pre-registration")
def experiment_plan(
    ctx: Context,
    mde: Annotated[float | str, Interval(0, None, closed="neither"), Check(valid_mde, MDE_EXPECTED), Doc("minimum detectable effect: in the metric's "
                                                                          "units, or relative as '2%'")],
    metric_type: Annotated[Literal["proportion", "mean"], Doc("'proportion' (a rate such as conversion) or "
                                                             "'mean'")] = "proportion",
    metric: Annotated[str, Doc("name of the primary metric (default: from metric_column)")] = "",
    baseline: Annotated[float | None, Doc("the metric's current value (default: estimated from data; a "
                                          "proportion's lies in (0, 1))")] = None,
    std: Annotated[float | None, Interval(0, None, closed="neither"), Doc("standard deviation of a mean metric "
                                                                          "(default: estimated from data)")] = None,
    data: Annotated[str, Doc("historical data to estimate the baseline (and std) from")] = "",
    metric_column: Annotated[str, Doc("column of data that holds the metric")] = "",
    positive_value: Annotated[str, Doc("value of metric_column that counts as a conversion (proportion)")] = "",
    sep: Annotated[str, Doc("CSV field delimiter of data (empty: detected)")] = "",
    charter: Annotated[str, Doc("scoping charter: its target and positive class stand in for metric_column and "
                                "positive_value")] = "",
    alpha: Annotated[float, Interval(0, 0.5, closed="neither"), Doc("significance level: the false-positive rate "
                                                                     "the test allows")] = 0.05,
    power: Annotated[float, Interval(0.5, 1, closed="left"), Doc("probability of detecting a true effect of size "
                                                                  "mde")] = 0.8,
    direction: Annotated[Literal["increase", "decrease", "two-sided"], Doc("the alternative hypothesis: the "
                                                                          "metric increases, decreases, or "
                                                                          "changes either way")] = "two-sided",
    ratio: Annotated[float, Interval(0, None, closed="neither"), Doc("treatment group size / control group "
                                                                      "size")] = 1.0,
    daily_traffic: Annotated[float, Interval(0, None, closed="neither"), Doc("units that arrive per day")] = 1000.0,
    traffic_fraction: Annotated[float, Interval(0, 1, closed="right"), Doc("share of the daily traffic that "
                                                                            "enters the experiment")] = 1.0,
    max_days: Annotated[int, Interval(1, None), Doc("gate: the longest the experiment may run, in days")] = 28,
    min_days: Annotated[int, Interval(0, None), Doc("the shortest it runs, in days, even if the sample fills "
                                                    "sooner")] = 7,
    randomization_unit: Annotated[str, Doc("the unit assigned to a variant (one row per unit in the "
                                           "readout)")] = "user",
    control: Annotated[str, Doc("label of the control variant")] = "control",
    treatment: Annotated[str, Doc("label of the treatment variant")] = "treatment",
    guardrails: Annotated[str, Doc("guardrail metrics 'metric:higher|lower[:tolerance]', comma-separated "
                                   "(the direction that is worse)")] = "",
    segments: Annotated[str, Doc("columns the readout breaks results down by, comma-separated")] = "",
    max_attempts: Annotated[int, Interval(1, None), Doc("review rounds of the plan before the run gives "
                                                        "up")] = 3,
) -> ExperimentPlanResult:
    """Plan an A/B test of ``metric`` (a ``proportion`` or a ``mean``) to detect an absolute change of
    ``mde`` (or ``'2%'`` of the baseline). The baseline (and std) come from ``baseline``/``std`` or from historical ``data``'s
    ``metric_column`` (``positive_value`` marks a conversion)."""
    start = ctx.task(initial_settings, metric=metric, metric_type=metric_type, baseline=baseline, std=std, mde=mde,
                     alpha=alpha, power=power, direction=direction, ratio=ratio, daily_traffic=daily_traffic,
                     traffic_fraction=traffic_fraction, max_days=max_days, min_days=min_days, guardrails=guardrails,
                     data=data, sep=sep, metric_column=metric_column, positive_value=positive_value, charter=charter)
    created_at = ctx.now().isoformat()
    workdir = ctx.workdir / "experiment-plan"
    for attempt in ctx.refine("experiment-plan", max_attempts=max_attempts):
        feedbacks = [f for f in attempt.feedbacks if f]
        settings = ctx.task(revise_experiment, settings=start["settings"], feedbacks=feedbacks)
        settings, plan, adjusted_by, gates = size_the_sample(ctx, settings)
        files = ctx.task(write_plan, plan=plan, settings=settings, experiment=start["experiment"],
                         unit=randomization_unit, control=control, treatment=treatment, created_at=created_at,
                         source=start["source"], segments=[s.strip() for s in segments.split(",") if s.strip()],
                         adjusted_by=adjusted_by, gates=gate_rows(gates), attempt=attempt.number,
                         out_dir=str(workdir / f"attempt-{attempt.number}"))
        html = record_plan(ctx, attempt.number, files)
        attempt.review(
            f"Approve the plan: {plan.n_control:,} + {plan.n_treatment:,} units over {max(plan.days_needed, settings.min_days)} "
            f"days to detect {settings.mde:g} on {settings.metric}? Reject with e.g. 'mde: 0.02' or 'power: 0.9'.",
            context={"n_control": plan.n_control, "n_treatment": plan.n_treatment, "days": plan.days_needed,
                     "mde": settings.mde, "alpha": settings.alpha, "power": settings.power},
            artifacts=[html], checkpoint="scope",
        )
    return experiment_plan_result(settings, plan, files=files, adjusted_by=adjusted_by, attempts=attempt.number,
                                  feedbacks=feedbacks)


# -- the chapters of the story -----------------------------------------------------------------------------
def size_the_sample(ctx: Context, settings: Any) -> tuple[Any, Any, str, list[Any]]:
    """(settings, power plan, how they were adjusted, gates): the sample for the settings; when it needs more
    than ``max_days``, a person approves the larger MDE reachable in time or picks a longer duration."""
    plan = ctx.task(solve_power, settings=settings)
    gates = [ctx.gate("sample-size-feasible", plan.days_needed, "<=", settings.max_days, on_fail="warn",
                      checkpoint="scope")]
    if plan.feasible:
        return settings, plan, "", gates
    proposal = (ctx.task(write_proposal, plan=plan, settings=settings, out_dir=str(ctx.workdir / "proposal"))
                if ctx.patched("experiment-plan.proposal-report") else None)  # a run begun before asks without it
    answer = ctx.breakpoint(
        f"The sample ({plan.total:,} units) needs {plan.days_needed} days at {plan.units_per_day:g} units/day, "
        f"more than max_days={settings.max_days}. Approve to plan for MDE {plan.mde_at_max_days:.4g} (reachable "
        f"in {settings.max_days} days), or choose option 'longer-duration' to run {plan.days_needed} days.",
        context={"days_needed": plan.days_needed, "max_days": settings.max_days, "mde": settings.mde,
                 "mde_at_max_days": plan.mde_at_max_days},
        artifacts=[ctx.artifact("sample-size-proposal.html", proposal, media_type="text/html")] if proposal else [],
        options=["larger-mde", "longer-duration"], checkpoint="scope")
    if not answer.approved:
        ctx.gate("sample-size-feasible (proposal refused)", plan.days_needed, "<=", settings.max_days, on_fail="fail",
                 checkpoint="scope")
    option = answer.option or "larger-mde"
    settings = ctx.task(adopt_proposal, settings=settings, plan=plan, option=option)
    plan = ctx.task(solve_power, settings=settings)
    gates.append(ctx.gate("sample-size-feasible (adjusted)", plan.days_needed, "<=", settings.max_days, on_fail="fail",
                          checkpoint="scope"))
    return settings, plan, option, gates


def record_plan(ctx: Context, number: int, files: dict[str, str]) -> Any:
    """The pre-registration and the report of one attempt as artifacts; the HTML report's reference."""
    ctx.artifact(f"preregistration-{number}.json", files["preregistration"], media_type="application/json")
    html = ctx.artifact(f"experiment-plan-{number}.html", files["html"], media_type="text/html")
    ctx.artifact(f"experiment-plan-{number}.md", files["markdown"], media_type="text/markdown")
    ctx.artifact(f"experiment-plan-{number}.json", files["json"], media_type="application/json")
    return html


def experiment_plan_result(settings: Any, plan: Any, *, files: dict[str, str], adjusted_by: str, attempts: int,
                           feedbacks: list[str]) -> ExperimentPlanResult:
    """The result: the approved plan's numbers and where its pre-registration is."""
    return ExperimentPlanResult(
        preregistration=files["preregistration"], report=files["html"], metric=settings.metric,
        metric_type=settings.metric_type, baseline=settings.baseline, mde=settings.mde, alpha=settings.alpha,
        power=settings.power, n_control=plan.n_control, n_treatment=plan.n_treatment, total=plan.total,
        days_needed=plan.days_needed, planned_days=max(plan.days_needed, settings.min_days), max_days=settings.max_days,
        feasible=plan.feasible, adjusted_by=adjusted_by, attempts=attempts, feedback=feedbacks,
    )
