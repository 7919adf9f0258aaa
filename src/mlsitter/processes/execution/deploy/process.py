"""The ``deploy`` process: validate a registered model, serve it beside the champion, compare in shadow,
roll traffic over in stages with a durable timer per window and an analysis against the champion on the
same window, roll back by itself on a failed (or never conclusive) stage, ask for a ``production``
approval before 100 %, then promote. The servers are their own processes: the run holds nothing while a
window's traffic flows, and a resumed run reattaches to them through the deployment's state file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from mlsitter import Context, Doc, Interval, process
from mlsitter.errors import SpecError
from mlsitter.naming import stable_name
from mlsitter.processes.execution.deploy import tasks as steps
from mlsitter.processes.execution.deploy.report import write_deploy_report

PROMOTED, ROLLED_BACK, REJECTED = "promoted", "rolled-back", "rejected"


@stable_name("deploy.DeployResult")
@dataclass
class DeployResult:
    """How the deploy ended, on which numbers, and where its report is."""

    model: str
    candidate: int
    champion: int | None
    status: str  # promoted | rolled-back | rejected
    reason: str
    stage: str  # the stage it ended in
    windows: list[dict[str, Any]]
    traffic: list[dict[str, Any]]
    router: str
    report: str
    approved_by: str = ""
    gates: list[dict[str, Any]] = field(default_factory=list)


def parse_stages(text: str) -> list[float]:
    """``"5,25,50,100"`` -> [5.0, 25.0, 50.0, 100.0]: increasing percentages that end at 100."""
    try:
        stages = [float(p) for p in str(text).replace(";", ",").split(",") if p.strip()]
    except ValueError:
        raise SpecError(f"stages {text!r} must be comma-separated percentages such as '5,25,50,100'") from None
    if not stages or stages[-1] != 100 or any(not 0 < s <= 100 for s in stages) or stages != sorted(set(stages)):
        raise SpecError(f"stages {text!r} must be increasing percentages above 0 that end at 100, e.g. '5,25,50,100'")
    return stages


@stable_name("deploy.Watch")
@dataclass
class Watch:
    """What one canary (or shadow) stage came to."""

    verdict: str
    analysis: Any
    windows: list[dict[str, Any]]


@process("deploy", phase="execution",
         description="Validate, shadow, staged canary with analysis and automatic rollback, approval, promotion")
def deploy(
    ctx: Context,
    model: Annotated[str, Doc("the registered model to deploy: NAME@ALIAS or NAME/VERSION")],
    fixtures: Annotated[str, Doc("a table of fixture rows with the model's input columns (smoke predictions)")],
    deployment: Annotated[str, Doc("deployment name (state file, logs); default: the model name")] = "",
    stages: Annotated[str, Doc("canary stages in percent of units, ending at 100")] = "5,25,50,100",
    shadow_seconds: Annotated[float, Interval(0, None), Doc("shadow phase length (0: no shadow phase)")] = 60.0,
    stage_seconds: Annotated[float, Interval(0.1, None), Doc("analysis window of each stage")] = 300.0,
    max_extensions: Annotated[int, Interval(0, 100), Doc("windows a stage may wait longer when it is "
                                                         "inconclusive (too few requests) before rolling back")] = 3,
    min_requests: Annotated[int, Interval(1, None), Doc("requests each version needs in a window")] = 50,
    max_error_rate_increase: Annotated[float, Interval(0, 1), Doc("candidate error rate minus the champion's")] = 0.01,
    max_p99_increase_ms: Annotated[float, Interval(0, None), Doc("candidate p99 latency minus the champion's")] = 50.0,
    min_agreement: Annotated[float, Interval(0, 1), Doc("shadow: share of records answered as the champion did")] = 0.9,
    max_score_shift: Annotated[float, Interval(0, 1), Doc("canary: KS distance of the score distributions")] = 0.25,
    max_accuracy_drop: Annotated[float, Interval(0, 1), Doc("accuracy on labelled feedback below the champion's")] = 0.05,
    min_labelled: Annotated[int, Interval(1, None), Doc("labels per version before accuracy is compared")] = 30,
    latency_budget_ms: Annotated[float, Interval(0, None), Doc("validation: p99 of single-record predictions")] = 200.0,
    router_port: Annotated[int, Interval(0, 65535), Doc("port of the router on a first start (0: a free one)")] = 0,
    sample: Annotated[float, Interval(0, 1), Doc("share of requests written to the prediction log")] = 1.0,
) -> DeployResult:
    """Deploy ``model`` through shadow and canary stages against the current champion."""
    plan = parse_stages(stages)
    thresholds = {"min_requests": min_requests, "max_error_rate_increase": max_error_rate_increase,
                  "max_p99_increase_ms": max_p99_increase_ms, "min_agreement": min_agreement,
                  "max_score_shift": max_score_shift, "max_accuracy_drop": max_accuracy_drop,
                  "min_labelled": min_labelled}
    versions = ctx.task(steps.resolve_versions, model=model, deployment=deployment)
    name = deployment or versions.model
    validation = ctx.task(steps.validate_candidate, model=versions.model, version=versions.candidate,
                          fixtures=fixtures)
    gates = [ctx.gate("artifact-hash-matches", validation.artifact_sha256 == versions.candidate_sha256, "==", True,
                      checkpoint="deployment"),
             ctx.gate("smoke-predictions-ok", validation.smoke_ok, "==", validation.fixture_rows,
                      checkpoint="deployment"),
             ctx.gate("latency-p99-ms", round(validation.p99_ms, 3), "<=", latency_budget_ms, checkpoint="deployment")]
    started = ctx.task(steps.start_servers, deployment=name, model=versions.model, champion=versions.champion,
                       candidate=versions.candidate, router_port=router_port, sample=sample, run_id=ctx.run_id)
    ctx.log("info", f"serving on {started['router']}; started now: {', '.join(started['started']) or 'nothing'}")
    traffic = [started]
    label = f"{versions.model}/{versions.candidate}"
    champion = f"{versions.model}/{versions.champion}" if versions.champion is not None else ""
    windows: list[dict[str, Any]] = []
    outcome = (PROMOTED, "", "100")
    if versions.champion is not None:
        outcome = run_canary(ctx, name=name, plan=plan, shadow_seconds=shadow_seconds, stage_seconds=stage_seconds,
                             max_extensions=max_extensions, thresholds=thresholds, champion=champion, candidate=label,
                             traffic=traffic, windows=windows)
    approved_by = ""
    if outcome[0] == PROMOTED:
        answer = ctx.breakpoint(
            f"Promote {label} to 100 % of {name}'s traffic and make it the champion?",
            context={"candidate": label, "champion": champion or None,
                     "windows": [{"stage": w["stage"], "verdict": w["analysis"].verdict, "reason": w["analysis"].reason}
                                 for w in windows]},
            tags=("production", "deploy"))
        approved_by = answer.by
        if answer.approved:
            if versions.champion is not None:
                traffic.append(ctx.task(steps.change_traffic, deployment=name, weight=1.0, shadow=False, phase="100"))
            traffic.append(ctx.task(steps.promote, deployment=name, model=versions.model, candidate=versions.candidate,
                                    champion=versions.champion))
            outcome = (PROMOTED, f"{label} passed every stage and was promoted by {answer.by}", "100")
        else:
            traffic.append(ctx.task(steps.roll_back, deployment=name, reason=f"promotion rejected by {answer.by}: "
                                                                             f"{answer.feedback}"))
            outcome = (REJECTED, f"promotion rejected by {answer.by}" + (f": {answer.feedback}" if answer.feedback
                                                                          else ""), outcome[2])
    status, reason, stage = outcome
    rows = [g.as_dict() for g in gates]
    files = ctx.task(write_deploy_report, out_dir=str(ctx.workdir), model=versions.model, candidate=versions.candidate,
                     champion=versions.champion, status=status, reason=reason, validation=validation, gates=rows,
                     windows=windows, changes=traffic, end=traffic[-1]["at"] + max(1.0, stage_seconds))
    report = ctx.artifact("deploy-report.html", Path(files["html"]))
    ctx.artifact("deploy-report.md", Path(files["markdown"]))
    ctx.artifact("deploy-report.json", Path(files["json"]))
    return DeployResult(versions.model, versions.candidate, versions.champion, status, reason, stage,
                        [{"stage": w["stage"], **w["analysis"].to_dict()} for w in windows], traffic,
                        started["router"], report.path, approved_by, rows)


def run_canary(ctx: Context, *, name: str, plan: list[float], shadow_seconds: float, stage_seconds: float,
               max_extensions: int, thresholds: dict[str, Any], champion: str, candidate: str,
               traffic: list[dict[str, Any]], windows: list[dict[str, Any]]) -> tuple[str, str, str]:
    """Shadow, then every stage below 100 %; (status, reason, stage). A failed or never-conclusive stage rolls
    back at once (journaled with its numbers)."""
    phases: list[tuple[str, float, bool, float]] = []
    if shadow_seconds > 0:
        phases.append(("shadow", 0.0, True, shadow_seconds))
    phases += [(f"{p:g}", p / 100, False, stage_seconds) for p in plan[:-1]]
    for stage, weight, shadow, seconds in phases:
        change = ctx.task(steps.change_traffic, deployment=name, weight=weight, shadow=shadow, phase=stage)
        traffic.append(change)
        watch = watch_stage(ctx, name=name, stage=stage, start=change["at"], seconds=seconds,
                            max_extensions=max_extensions, thresholds=thresholds, champion=champion,
                            candidate=candidate, shadow=shadow)
        windows += watch.windows
        if watch.verdict == "pass":
            continue
        a = watch.analysis
        reason = {"fail": f"stage {stage} failed: {a.reason}",
                  "aborted": f"stage {stage}: {a.reason}",
                  "inconclusive": f"stage {stage} stayed inconclusive for {max_extensions + 1} window(s) ({a.reason}); "
                                  "a stage never promotes on no data"}[watch.verdict]
        ctx.log("warning", f"rolling back {candidate}: {reason}")
        traffic.append(ctx.task(steps.roll_back, deployment=name, reason=reason))
        return ROLLED_BACK, reason, stage
    return PROMOTED, "", "100"


def watch_stage(ctx: Context, *, name: str, stage: str, start: float, seconds: float, max_extensions: int,
                thresholds: dict[str, Any], champion: str, candidate: str, shadow: bool) -> Watch:
    """Wait one window (durable timer) and analyse it; while it is inconclusive wait again, the window growing
    from the stage's start. Each check is recorded as a gate with its measured value."""
    windows = []
    analysis = None
    for extension in range(max_extensions + 1):
        ctx.sleep(seconds)
        analysis = ctx.task(steps.analyze, deployment=name, phase="shadow" if shadow else "canary", start=start,
                            champion=champion, candidate=candidate, thresholds=thresholds)
        windows.append({"stage": stage, "extension": extension, "analysis": analysis})
        for check in analysis.checks:
            ctx.gate(f"{stage}-{check.name}", check.value, check.op, check.threshold, on_fail="warn",
                     checkpoint="deployment")
        ctx.log("info", f"stage {stage} window {extension + 1}: {analysis.verdict} ({analysis.reason})")
        if analysis.verdict != "inconclusive":
            break
    assert analysis is not None
    return Watch(analysis.verdict, analysis, windows)


