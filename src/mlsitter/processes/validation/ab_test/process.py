"""The ``ab-test`` process: explicit cleaning (labels mapped with ``variants``), a sample-ratio-mismatch check with
a warning band whose alarm holds the decision (the readout still written, under a banner) until a person overrides,
z / Welch / Mann-Whitney / bootstrap / Bayesian / CUPED / lift statistics (p one-sided for a directional hypothesis),
optional winsorizing, secondary metrics, always-valid sequential monitoring with guardrails and an early-stop
breakpoint, segments, and a decision approval."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from mlsitter import Context, Doc, Interval, process, task
from mlsitter.errors import GateFailedError, SpecError
from mlsitter.processes.validation.ab_test import tasks as steps
from mlsitter.naming import stable_name
DECISIONS = ["ship", "dont-ship", "inconclusive"]


@stable_name("ab-test.AbTestResult")
@dataclass
class AbTestResult:
    """The readout's numbers, the decision and who approved it."""

    control: str
    treatment: str
    n_control: int
    n_treatment: int
    metric: str
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    lift: float
    lift_ci: list[float]
    prob_treatment_better: float
    tests: dict[str, dict[str, Any]]
    cuped: dict[str, Any] | None
    srm_p_value: float
    cleaning: dict[str, int]
    guardrails: list[dict[str, Any]]
    segments: list[dict[str, Any]]
    sequential_first_crossing: int | None
    recommended: str
    decision: str
    reasons: list[str]
    approved: bool
    decided_by: str
    report: str
    plan_fields: list[str] = field(default_factory=list)
    p_value_two_sided: float | None = None
    srm_status: str = "ok"
    units_per_variant: dict[str, int] = field(default_factory=dict)
    secondary: list[dict[str, Any]] = field(default_factory=list)
    winsorized: dict[str, dict[str, float]] = field(default_factory=dict)


@task(name="ab-test.read_plan")
def read_plan(path: str) -> Any:
    """The experiment-plan pre-registration (see ``mlsitter.ml.experiments._ab_plan`` for the fields read)."""
    from mlsitter.ml.experiments._ab_plan import read_preregistration

    return read_preregistration(path)


def guardrail_list(names: list[str], plan: Any) -> list[Any]:
    """Guardrails from the input (``name`` or ``name:higher`` when higher is worse), else from the plan."""
    from mlsitter.ml.experiments._ab_plan import parse_guardrail

    if names:
        return [g for g in (parse_guardrail(n) for n in names) if g is not None]
    return list(plan.guardrails) if plan is not None else []


@process("ab-test", phase="validation",
         description="A/B readout: cleaning, SRM gate, z/Welch/MWU/bootstrap/Bayes/CUPED/lift, mSPRT monitoring, segments, decision")
def ab_test(
    ctx: Context,
    data: Annotated[str, Doc("unit-level table: one row per unit with its variant and metric columns")],
    metric: Annotated[str, Doc("primary metric column (default: the plan's primary metric)")] = "",
    plan: Annotated[str, Doc("pre-registration JSON written by experiment-plan")] = "",
    unit: Annotated[str, Doc("column of the unit id (empty: the plan's)")] = "unit",
    variant: Annotated[str, Doc("column of the assigned variant")] = "variant",
    exposure: Annotated[str, Doc("column of the variant actually served; rows that disagree with the assignment "
                                 "are removed")] = "",
    variants: Annotated[list[str] | None, Doc("data labels mapped to variants, e.g. 'new_page=treatment,"
                                              "old_page=control'")] = None,
    secondary: Annotated[list[str] | None, Doc("secondary metric columns: read out and Holm-corrected, never "
                                               "deciding")] = None,
    winsorize: Annotated[float, Interval(0, 0.5, closed="left"), Doc("cap this top share of every non-binary "
                                                                     "metric at its pooled quantile (0: none; "
                                                                     "e.g. 0.01)")] = 0.0,
    covariate: Annotated[str, Doc("pre-period covariate column for CUPED variance reduction")] = "",
    timestamp: Annotated[str, Doc("time column: orders the units for the sequential (mSPRT) looks")] = "",
    guardrails: Annotated[list[str] | None, Doc("guardrail metric columns, 'name' or 'name:higher' when higher is "
                                                "worse (default: the plan's)")] = None,
    segments: Annotated[list[str] | None, Doc("columns the readout breaks results down by (default: the "
                                              "plan's)")] = None,
    control: Annotated[str, Doc("label of the control variant (default: the plan's, else detected)")] = "",
    treatment: Annotated[str, Doc("label of the treatment variant (default: the plan's, else detected)")] = "",
    metric_types: Annotated[dict[str, Literal["auto", "binary", "count", "continuous"]] | None,
                            Doc("metric column -> its type (default: inferred from the values)")] = None,
    alpha: Annotated[float | None, Interval(0, 0.5, closed="neither"), Doc("significance level (default: the "
                                                                            "plan's, else 0.05)")] = None,
    direction: Annotated[Literal["", "increase", "decrease", "two-sided"], Doc("the hypothesis (empty: the "
                                                                              "plan's, else increase)")] = "",
    n_resamples: Annotated[int, Interval(0, None), Doc("bootstrap resamples of the confidence intervals (0: no "
                                                       "bootstrap)")] = 1000,
    n_looks: Annotated[int, Interval(1, None), Doc("interim looks of the sequential (mSPRT) monitoring")] = 20,
    srm_threshold: Annotated[float, Interval(0, 1), Doc("gate: below this sample-ratio-mismatch p-value the readout is "
                                                        "produced under an alarm and a person must override")] = 0.001,
    srm_warning: Annotated[float, Interval(0, 1), Doc("below this SRM p-value (and above srm_threshold) the readout "
                                                      "carries a warning")] = 0.01,
    guardrail_tolerance: Annotated[float, Interval(0, None), Doc("relative worsening a guardrail may show before "
                                                                 "it counts as breached")] = 0.0,
    seed: Annotated[int, Doc("seed of the bootstrap resamples")] = 0,
) -> AbTestResult:
    """Read out an A/B test from a unit-level table, optionally against its pre-registration ``plan``."""
    pre = ctx.task(read_plan, path=plan) if plan else None
    settings = readout_settings(metric=metric, alpha=alpha, direction=direction, guardrails=guardrails,
                                metric_types=metric_types, pre=pre)
    metric, alpha = settings.metric, settings.alpha
    extra_metrics = [m for m in dict.fromkeys(secondary or []) if m not in settings.metrics]
    table = ctx.task(steps.load_and_clean, data=data, unit=unit or _planned(pre, "unit"), variant=variant,
                     metrics=settings.metrics + extra_metrics, exposure=exposure,
                     **({"label_map": variant_map(variants)} if variants else {}),
                     extra=[c for c in [covariate, timestamp, *(segments or [])] if c], metric_types=settings.types,
                     control=control or _planned(pre, "control"), treatment=treatment or _planned(pre, "treatment"),
                     out_dir=str(ctx.workdir), optional=[] if segments or not pre else list(pre.segments))
    log_cleaning(ctx, table)
    band = {"warning": srm_warning} if ctx.patched("ab-test.srm-warning-band") else {}  # runs begun before: no band
    srm = ctx.task(steps.check_srm, table=table, split=pre.split if pre else None, ratio=pre.ratio if pre else None,
                   threshold=srm_threshold, **band)
    ctx.gate("sample-ratio-mismatch", srm.p_value, ">=", srm.warning_threshold, on_fail="warn",
             checkpoint="data-quality")

    readout = ctx.task(steps.compute_readout, table=table, variant=variant, metric=metric, guardrails=settings.guards,
                       covariate=covariate, timestamp=timestamp, segments=list(segments or table.optional_present),
                       alpha=alpha, direction=settings.direction, n_resamples=n_resamples, n_looks=n_looks,
                       tolerance=guardrail_tolerance, mde=pre.mde if pre else None, seed=seed,
                       **({"secondary": extra_metrics} if extra_metrics else {}),
                       **({"winsorize": winsorize} if winsorize else {}))
    for status in readout.guardrail_status:
        ctx.gate(f"guardrail-{status['metric']}", round(status["p_one_sided"], 8), ">=", alpha, on_fail="warn",
                 checkpoint="deployment")

    files = ctx.task(steps.write_ab_report, out_dir=str(ctx.workdir), data=data, table=table, plan=pre, srm=srm, readout=readout)
    refs = [ctx.artifact("ab-test-report.html", Path(files["html"])), ctx.artifact("ab-test-report.md", Path(files["markdown"])),
            ctx.artifact("ab-test-report.json", Path(files["json"]))]
    hold_for_srm(ctx, srm, refs)
    decision = ask_early_stop(ctx, readout, pre=pre, alpha=alpha, refs=refs)
    test = readout.primary.tests[readout.primary.primary_test]
    approved, by, final = approve_decision(ctx, readout, decision, refs)
    return ab_test_result(readout=readout, test=test, metric=metric, srm=srm, table=table, final=final,
                          approved=approved, by=by, files=files, pre=pre)


# -- the chapters of the story -----------------------------------------------------------------------------
@stable_name("ab-test.ReadoutSettings")
@dataclass
class ReadoutSettings:
    """What the readout tests, the inputs reconciled with the pre-registration (never journaled)."""

    metric: str
    alpha: float
    direction: str
    guards: list[Any]
    types: dict[str, str]
    metrics: list[str]  # the primary metric, then the guardrails' metrics


def readout_settings(*, metric: str, alpha: float | None, direction: str, guardrails: list[str] | None,
                     metric_types: dict[str, str] | None, pre: Any) -> ReadoutSettings:
    """The primary metric, alpha, direction, guardrails and metric types: the inputs where given, else the
    plan's, else the defaults; SpecError for a missing metric, an alpha or a direction out of range."""
    metric = metric or (pre.primary_metric if pre else "") or ""
    if not metric:
        raise SpecError("no primary metric: pass 'metric' (a column of the table) or a plan that names its primary metric")
    alpha = alpha if alpha is not None else (pre.alpha if pre and pre.alpha else 0.05)
    if not 0 < alpha < 0.5:
        raise SpecError(f"alpha must be between 0 and 0.5; got {alpha}")
    direction = direction or (pre.direction if pre and pre.direction else "increase")
    if direction not in ("increase", "decrease", "two-sided"):
        raise SpecError(f"direction must be 'increase', 'decrease' or 'two-sided'; got {direction!r}")
    guards = guardrail_list(list(guardrails or []), pre)
    types = dict(metric_types or {})
    if pre and pre.metric_type and metric not in types and pre.metric_type in ("binary", "continuous", "count") \
            and metric == pre.primary_metric:
        types[metric] = pre.metric_type
    metrics = list(dict.fromkeys([metric, *[g.metric for g in guards]]))
    return ReadoutSettings(metric, alpha, direction, guards, types, metrics)


def _planned(pre: Any, field_name: str) -> str:
    """The plan's value of ``field_name`` ('' without a plan or when the plan leaves it empty)."""
    return getattr(pre, field_name) if pre and getattr(pre, field_name) else ""


def variant_map(items: list[str] | None) -> dict[str, str]:
    """The ``variants`` input as {label in the data: variant}; SpecError for an item without '='."""
    from mlsitter.ml.experiments._ab_cleaning import parse_variant_map

    return parse_variant_map(items)


def hold_for_srm(ctx: Context, srm: Any, refs: list[Any]) -> None:
    """Under an SRM alarm the readout exists (the report, under its banner) but no decision is taken until a
    person overrides; a policy's approval does not count, and a refusal fails the run."""
    if srm.status == "warning":
        ctx.log("warning", srm.banner())
    if not srm.alarm:
        return
    answer = ctx.breakpoint(
        srm.banner() + " Override the SRM alarm and go on to the decision?",
        context={"p_value": srm.p_value, "threshold": srm.threshold, "units_per_variant": srm.observed,
                 "planned_share": srm.expected_share}, artifacts=refs, options=["override", "stop"],
        tags=("srm-override",), checkpoint="data-quality")
    overridden = answer.option == "override" if answer.option in ("override", "stop") else answer.approved
    if answer.by.startswith("policy:") or not overridden:
        who = (f"approval policy {answer.by[7:]!r} may not override it; a person must" if answer.by.startswith("policy:")
               else f"override refused by {answer.by}" + (f": {answer.feedback}" if answer.feedback else ""))
        raise GateFailedError(f"gate 'sample-ratio-mismatch' failed: p = {srm.p_value:.3g} < {srm.threshold:g} "
                              f"(units per variant {srm.observed}); the readout is in ab-test-report.html; {who}")
    ctx.log("warning", f"SRM alarm overridden by {answer.by}: {answer.feedback or 'no reason given'}")


def log_cleaning(ctx: Context, table: Any) -> None:
    """Say in the journal how many rows cleaning removed, and why."""
    removed = sum(table.report.removed.values())
    if removed:
        ctx.log("info", f"cleaning removed {removed:,} rows: " + ", ".join(f"{k} {v:,}" for k, v in table.report.removed.items() if v))


def can_stop_early(planned: int | None, seen: int, crossing: int | None, breached: list[str]) -> bool:
    """Whether the test may stop before its planned sample: a plan says how many units, fewer were seen, and the
    sequential boundary was crossed or a guardrail breached."""
    return bool(planned and seen < planned and (crossing or breached))


def ask_early_stop(ctx: Context, readout: Any, *, pre: Any, alpha: float, refs: list[Any]) -> str:
    """The decision to take now: the readout's, unless the test may stop early and the reviewer chooses to
    go on collecting data (``continue``)."""
    planned = pre.planned_units if pre else None
    seen = readout.n_control + readout.n_treatment
    crossing = readout.primary.sequential.first_crossing if readout.primary.sequential else None
    breached = [g["metric"] for g in readout.guardrail_status if g["breached"]]
    decision = readout.decision
    if not can_stop_early(planned, seen, crossing, breached):
        return decision
    why = (f"the always-valid p-value crossed {alpha} at look {crossing}" if crossing else "") + \
          (f"{' and ' if crossing else ''}guardrail(s) {', '.join(breached)} breached" if breached else "")
    answer = ctx.breakpoint(
        f"Early stop? {seen:,} of {planned:,} planned units so far and {why}. Stop now and decide "
        f"('{decision}'), or continue collecting data?",
        context={"seen": seen, "planned": planned, "crossing": crossing, "breached": breached}, artifacts=refs,
        options=["stop", "continue"], tags=("early-stop",), checkpoint="deployment",
    )
    stop = answer.option == "stop" if answer.option in ("stop", "continue") else answer.approved
    return decision if stop else "continue"


def approve_decision(ctx: Context, readout: Any, decision: str, refs: list[Any]) -> tuple[bool, str, str]:
    """(approved, by whom, final decision): a decision other than ``continue`` is put to a person, who may pick
    another one; a plain rejection makes it ``inconclusive``."""
    if decision == "continue":
        return True, "", decision
    primary = readout.primary
    answer = ctx.breakpoint(
        f"A/B decision for {readout.treatment} vs {readout.control}: {decision.upper()} — " + "; ".join(readout.reasons)
        + ". Approve, or pick another decision.",
        context={"decision": decision, "reasons": readout.reasons, "p_value": readout.p_value, "lift": primary.lift},
        artifacts=refs, options=DECISIONS, tags=("decision",), checkpoint="deployment",
    )
    final = decision
    if answer.option in DECISIONS:
        final = answer.option
    elif not answer.approved:
        final = "inconclusive"
    return answer.approved, answer.by, final


def ab_test_result(*, readout: Any, test: dict[str, Any], metric: str, srm: Any, table: Any, final: str,
                   approved: bool, by: str, files: dict[str, str], pre: Any) -> AbTestResult:
    """The result: the readout's numbers, the decision and who approved it."""
    primary = readout.primary
    crossing = primary.sequential.first_crossing if primary.sequential else None
    return AbTestResult(
        control=readout.control, treatment=readout.treatment, n_control=readout.n_control, n_treatment=readout.n_treatment,
        metric=metric, difference=float(test["difference"]), ci_low=float(test["ci_low"]), ci_high=float(test["ci_high"]),
        p_value=readout.p_value if readout.p_value is not None else primary.p_value, lift=primary.lift["lift"], lift_ci=[primary.lift["ci_low"], primary.lift["ci_high"]],
        prob_treatment_better=primary.bayes["prob_b_better"], tests=primary.tests, cuped=primary.cuped,
        srm_p_value=srm.p_value, cleaning=dict(table.report.removed), guardrails=readout.guardrail_status,
        segments=readout.segments, sequential_first_crossing=crossing, recommended=readout.decision, decision=final,
        reasons=readout.reasons, approved=approved, decided_by=by, report=files["html"],
        plan_fields=list(pre.found) if pre else [], p_value_two_sided=primary.p_value, srm_status=srm.status,
        units_per_variant=dict(srm.observed), secondary=readout.secondary, winsorized=readout.winsorized,
    )
