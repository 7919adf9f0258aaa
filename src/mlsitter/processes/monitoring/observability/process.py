"""The ``observability`` process: every tick scrapes the model servers' /metrics into the run's
time-series table and evaluates the SLOs' burn-rate rules; a firing page or ticket opens an incident
that goes through open, triage, mitigate (an approved rollback), resolve and postmortem as breakpoints,
each showing its alert's runbook. On a simulated source (recorded scrapes, a simulated deployment) the
ticks carry simulated timestamps and nothing waits; on a live one a durable timer spaces them."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from mlsitter import Context, Doc, Interval, process
from mlsitter.naming import stable_name
from mlsitter.processes.monitoring.observability import tasks as steps
from mlsitter.processes.monitoring.observability.report import write_observability_report, write_postmortem

# the server's latency histogram bounds in whole milliseconds: a latency threshold must be one of them
LatencyBucketMs = Literal[1, 5, 10, 25, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2500, 5000, 10000]
SEVERITY = {"page": 2, "ticket": 1}


@stable_name("observability.Incident")
@dataclass
class Incident:
    """One incident: what fired, when the impact began, what was done, and its timeline."""

    sli: str
    severity: str
    rule: str
    impact_started_at: float
    detected_at: float
    status: str = "open"  # open | mitigated | resolved | closed | dismissed
    mitigated_at: float | None = None
    resolved_at: float | None = None
    remediation: dict[str, Any] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    postmortem: str = ""

    @property
    def time_to_detect(self) -> float:
        return self.detected_at - self.impact_started_at

    @property
    def time_to_resolve(self) -> float | None:
        return None if self.resolved_at is None else self.resolved_at - self.detected_at

    def note(self, at: float, event: str, by: str = "", detail: str = "") -> None:
        self.timeline.append({"at": at, "event": event, "by": by, "detail": detail})

    def to_dict(self) -> dict[str, Any]:
        return {"sli": self.sli, "severity": self.severity, "rule": self.rule, "status": self.status,
                "impact_started_at": self.impact_started_at, "detected_at": self.detected_at,
                "mitigated_at": self.mitigated_at, "resolved_at": self.resolved_at,
                "time_to_detect_s": self.time_to_detect, "time_to_resolve_s": self.time_to_resolve,
                "remediation": self.remediation, "timeline": self.timeline, "postmortem": self.postmortem}


@stable_name("observability.ObservabilityResult")
@dataclass
class ObservabilityResult:
    """What was watched, what fired, the incidents with their times to detect and resolve, and the report."""

    source: str
    simulated: bool
    ticks: int
    started_at: float
    ended_at: float
    objectives: dict[str, float]
    alerts: list[dict[str, Any]]
    incidents: list[dict[str, Any]]
    gaps: list[dict[str, Any]]
    anomalies: list[dict[str, Any]]
    report: str
    table: str


def runbook(sli: str, severity: str) -> str:
    """The Markdown runbook of an alert kind (package data of this process)."""
    return resources.files(__package__).joinpath("runbooks", f"{sli}-{severity}.md").read_text(encoding="utf-8")


@process("observability", phase="monitoring",
         description="Scrape /metrics, SLOs with multi-window burn-rate alerts, anomalies, incidents with runbooks "
                     "and an approved rollback")
def observability(
    ctx: Context,
    deployment: Annotated[str, Doc("a deployment to watch: its servers' /metrics, its prediction log, its rollback")] = "",
    metrics_urls: Annotated[str, Doc("or comma-separated /metrics URLs of model servers")] = "",
    recording: Annotated[str, Doc("or recorded scrapes (JSON lines: at, target, text|error) on simulated time")] = "",
    scenario: Annotated[str, Doc("or a simulated deployment (JSON) on simulated time")] = "",
    log_dir: Annotated[str, Doc("prediction log folder for the quality SLI (default: the deployment's)")] = "",
    interval: Annotated[float, Interval(0.05, 86400), Doc("seconds between scrapes (simulated or real)")] = 60.0,
    duration: Annotated[float, Interval(0, None, closed="neither"), Doc("seconds to observe")] = 3600.0,
    availability_objective: Annotated[float, Interval(0, 1, closed="neither"),
                                      Doc("share of requests answered without a server error")] = 0.999,
    latency_objective: Annotated[float, Interval(0, 1, closed="neither"),
                                 Doc("share of requests faster than latency_threshold_ms (0.99: a p99 SLO)")] = 0.99,
    latency_threshold_ms: Annotated[LatencyBucketMs, Doc("latency bound, one of the server's histogram buckets")] = 300,
    quality_objective: Annotated[float, Interval(0, 1, closed="neither"),
                                 Doc("share of labelled predictions that were right")] = 0.9,
    anomaly_threshold: Annotated[float, Interval(1, 50), Doc("robust z beyond which a point is an anomaly")] = 3.5,
    time_scale: Annotated[float, Interval(1, 100_000),
                          Doc("a drill on accelerated time: simulated seconds per wall-clock second (interval and "
                              "duration are simulated)")] = 1.0,
) -> ObservabilityResult:
    """Watch a model deployment's SLOs and run its incidents."""
    workdir = str(ctx.workdir)
    table = str(Path(workdir) / "metrics.duckdb")
    objectives = {"availability": availability_objective, "latency": latency_objective, "quality": quality_objective}
    plan = ctx.task(steps.plan_source, deployment=deployment, metrics_urls=metrics_urls, recording=recording,
                    scenario=scenario, log_dir=log_dir, interval=interval, duration=duration, workdir=workdir)
    live_ticks = steps.intervals(duration, interval) + 1
    times: list[float | None] = list(plan.times) if plan.simulated else [None] * live_ticks
    # an accelerated clock starts now (only a run that asks for one journals its origin)
    clock = {} if plan.simulated or time_scale == 1 else {"scale": time_scale, "origin": ctx.now().timestamp()}
    watch = Watch(objectives, skip_echoes=ctx.patched("observability.echoes-of-handled-incidents"))
    since: float | None = None
    for number, at in enumerate(times):
        if number and not plan.simulated:
            ctx.sleep(interval / time_scale)
        tick = ctx.task(steps.observe_tick, plan=plan, table=table, at=at, since=since, objectives=objectives,
                        latency_threshold_ms=latency_threshold_ms, workdir=workdir, **clock)
        since = tick.at
        watch.record(ctx, tick)
        if watch.incident is None:
            open_incident(ctx, watch, tick, plan=plan, table=table, objectives=objectives,
                          threshold=anomaly_threshold, workdir=workdir)
        else:
            try_to_resolve(ctx, watch, tick, table=table, objectives=objectives, workdir=workdir)
    anomalies = ctx.task(steps.find_anomalies, table=table, threshold=anomaly_threshold)
    files = ctx.task(write_observability_report, out_dir=workdir, table=table, source=f"{plan.kind}: {plan.source}",
                     objectives=objectives, latency_threshold_ms=latency_threshold_ms, alerts=watch.alerts(),
                     incidents=[i.to_dict() for i in watch.incidents], gaps=watch.gaps, anomalies=anomalies)
    report = ctx.artifact("observability-report.html", Path(files["html"]))
    ctx.artifact("observability-report.md", Path(files["markdown"]))
    stored = ctx.artifact("metrics.duckdb", Path(files["table"]))
    return ObservabilityResult(f"{plan.kind}: {plan.source}", plan.simulated, len(times), watch.first_at,
                               watch.last_at, objectives, watch.alerts(), [i.to_dict() for i in watch.incidents],
                               watch.gaps, [a.__dict__ for a in anomalies], report.path, stored.path)


class Watch:
    """What the ticks so far showed: alert episodes, gaps, the open incident and the closed ones.

    With ``skip_echoes``, an alert on an SLI whose last incident was mitigated, with no interval over the error
    budget since, is an echo of that incident (its long window still holds the old errors) and opens none."""

    def __init__(self, objectives: dict[str, float] | None = None, skip_echoes: bool = False) -> None:
        self.objectives = objectives or {}
        self.skip_echoes = skip_echoes
        self.last_bad_at: dict[str, float] = {}  # per SLI: the last tick whose new events broke the error budget
        self.episodes: list[dict[str, Any]] = []
        self.firing: dict[tuple[str, str], dict[str, Any]] = {}
        self.gaps: list[dict[str, Any]] = []
        self.incident: Incident | None = None
        self.incidents: list[Incident] = []
        self.dismissed: set[tuple[str, str]] = set()  # alerts whose incident was dismissed, until they clear
        self.first_at = self.last_at = 0.0

    def record(self, ctx: Context, tick: Any) -> None:
        self.first_at = self.first_at or tick.at
        self.last_at = tick.at
        for target, error in tick.gaps.items():
            self.gaps.append({"at": tick.at, "target": target, "error": error})
            ctx.log("warning", f"scrape gap at {tick.at:.0f}: {target}: {error}")
        for sli, (good, total) in tick.events.items():
            if total > 0 and (total - good) / total > 1 - self.objectives.get(sli, 1.0):
                self.last_bad_at[sli] = tick.at
        now = {(s.sli, s.rule): s for s in tick.firing}
        for key, state in now.items():
            if key not in self.firing:
                episode = {"sli": state.sli, "rule": state.rule, "severity": state.severity, "started_at": tick.at,
                           "ended_at": None, "peak_long_burn": state.long_burn, "peak_short_burn": state.short_burn}
                self.firing[key] = episode
                self.episodes.append(episode)
                ctx.log("warning", f"{state.severity}: {state.sli} burning {state.long_burn:g}x/{state.short_burn:g}x "
                                   f"({state.rule})")
            episode = self.firing[key]
            episode["peak_long_burn"] = max(episode["peak_long_burn"], state.long_burn)
            episode["peak_short_burn"] = max(episode["peak_short_burn"], state.short_burn)
        for key in [k for k in self.firing if k not in now]:
            self.firing.pop(key)["ended_at"] = tick.at
            self.dismissed.discard(key)

    def alerts(self) -> list[dict[str, Any]]:
        return [dict(e) for e in self.episodes]

    def echo_of(self, alert: Any) -> int | None:
        """The number of the mitigated incident an alert only echoes (see the class), else None."""
        if not self.skip_echoes:
            return None
        mine = [(n, i) for n, i in enumerate(self.incidents, 1) if i.sli == alert.sli and i.status != "dismissed"]
        if not mine or mine[-1][1].mitigated_at is None:
            return None
        number, last = mine[-1]
        return number if self.last_bad_at.get(alert.sli, 0.0) <= last.mitigated_at else None


def open_incident(ctx: Context, watch: Watch, tick: Any, *, plan: steps.Plan, table: str,
                  objectives: dict[str, float], threshold: float, workdir: str) -> None:
    """The worst firing alert (pages first) opens an incident: open, triage, mitigate."""
    firing = [s for s in tick.firing if (s.sli, s.rule) not in watch.dismissed]
    for alert in list(firing):
        echoed = watch.echo_of(alert)
        if echoed is None:
            continue
        firing.remove(alert)
        episode = watch.firing[(alert.sli, alert.rule)]
        if "echo_of_incident" not in episode:
            episode["echo_of_incident"] = echoed
            ctx.log("info", f"{alert.severity} {alert.sli} ({alert.rule}) only echoes incident {echoed}: no "
                            "interval broke the error budget since its mitigation")
    if not firing:
        return
    alert = max(firing, key=lambda s: (SEVERITY[s.severity], s.short_burn))
    impact = ctx.task(steps.find_impact_start, table=table, sli=alert.sli, objective=objectives[alert.sli], at=tick.at)
    incident = Incident(alert.sli, alert.severity, alert.rule, impact, tick.at)
    incident.note(impact, "impact started", detail=f"{alert.sli} below its objective from here")
    incident.note(tick.at, "detected", detail=f"{alert.severity} {alert.rule}: burn {alert.long_burn:g}x long, "
                                              f"{alert.short_burn:g}x short")
    book = runbook(alert.sli, alert.severity)
    context = {"alert": alert.__dict__, "firing": [s.__dict__ for s in tick.firing], "gaps": tick.gaps,
               "runbook": book, "time_to_detect_s": incident.time_to_detect}
    answer = ctx.breakpoint(f"{alert.severity.upper()}: the {alert.sli} SLO burns {alert.short_burn:g}x its budget "
                            f"({alert.rule}). Open an incident?", context=context, tags=("incident", alert.severity),
                            checkpoint="monitoring")
    if not answer.approved:
        incident.status = "dismissed"
        incident.note(tick.at, "dismissed", answer.by, answer.feedback)
        watch.incidents.append(incident)
        watch.dismissed |= {(s.sli, s.rule) for s in tick.firing}
        return
    incident.note(tick.at, "opened", answer.by, answer.feedback)
    watch.incident = incident
    watch.incidents.append(incident)
    anomalies = ctx.task(steps.find_anomalies, table=table, threshold=threshold)
    answer = ctx.breakpoint(f"Triage the {alert.sli} incident: what is the cause? (the runbook and the anomalies "
                            "so far are in the context)", context={**context, "anomalies": [a.__dict__ for a in
                                                                                          anomalies[-20:]]},
                            tags=("incident", "triage"), checkpoint="monitoring")
    incident.note(tick.at, "triaged", answer.by, answer.feedback)
    mitigate(ctx, incident, tick, plan=plan, book=book, workdir=workdir)


def mitigate(ctx: Context, incident: Incident, tick: Any, *, plan: steps.Plan, book: str, workdir: str) -> None:
    """Roll the deployment back only after a ``production`` approval; without one to roll back, a person
    confirms a mitigation done by hand."""
    if plan.can_roll_back:
        answer = ctx.breakpoint(f"Mitigate: roll back the candidate of {plan.source} now?",
                                context={"incident": incident.to_dict(), "runbook": book},
                                tags=("production", "remediation"), checkpoint="monitoring")
        if not answer.approved:
            incident.note(tick.at, "rollback refused", answer.by, answer.feedback)
            return
        reason = f"{incident.severity} on {incident.sli} ({incident.rule})"
        if plan.kind == steps.DEPLOYMENT and ctx.patched("observability.rollback-process"):
            done = roll_back_deployment(ctx, plan, reason)
        else:  # a simulated deployment, or a run journaled before the rollback became its own process
            done = ctx.task(steps.roll_back, plan=plan, at=tick.at, workdir=workdir, reason=reason)
        incident.remediation = done
        detail = f"rolled back {done['stopped']}" if done["stopped"] else done.get("note", "nothing to roll back")
        incident.note(tick.at, "mitigated", answer.by, detail)
    else:
        answer = ctx.breakpoint(f"Mitigate the {incident.sli} incident by hand (no deployment to roll back); "
                                "approve once done", context={"incident": incident.to_dict(), "runbook": book},
                                tags=("incident", "mitigation"), checkpoint="monitoring")
        incident.note(tick.at, "mitigated" if answer.approved else "mitigation refused", answer.by, answer.feedback)
        if not answer.approved:
            return
    incident.status, incident.mitigated_at = "mitigated", tick.at


def roll_back_deployment(ctx: Context, plan: steps.Plan, reason: str) -> dict[str, Any]:
    """The live remediation: a child ``rollback`` run takes the serving candidate out, so the traffic change
    is journaled where the serving history and ``mlsitter verify`` read it; without a candidate, nothing."""
    target = ctx.task(steps.rollback_target, deployment=plan.source)
    if target["candidate"] is None:
        return steps.nothing_to_roll_back(plan.source, reason)
    back = ctx.call("rollback", model=target["model"], deployment=plan.source, reason=reason)
    return {"stopped": back.version, "at": ctx.now().timestamp(), "shares": back.shares, "reason": reason,
            "simulated": False, "process": "rollback", "action": back.action}


def try_to_resolve(ctx: Context, watch: Watch, tick: Any, *, table: str, objectives: dict[str, float],
                   workdir: str) -> None:
    """Once the incident's SLI meets its objective again and no alert of its severity fires on it: resolve
    (approval), write the postmortem and close it (approval)."""
    incident = watch.incident
    assert incident is not None
    still = [s for s in tick.firing if s.sli == incident.sli and SEVERITY[s.severity] >= SEVERITY[incident.severity]]
    if still or not tick.restored.get(incident.sli, False):
        return
    answer = ctx.breakpoint(f"The {incident.sli} SLI meets its objective again. Resolve the incident?",
                            context={"incident": incident.to_dict()}, tags=("incident", "resolve"),
                            checkpoint="monitoring")
    if not answer.approved:
        incident.note(tick.at, "resolve refused", answer.by, answer.feedback)
        return
    incident.status, incident.resolved_at = "resolved", tick.at
    incident.note(tick.at, "resolved", answer.by, f"time to detect {incident.time_to_detect:g} s, time to resolve "
                                                  f"{incident.time_to_resolve:g} s")
    files = ctx.task(write_postmortem, out_dir=workdir, number=len(watch.incidents), incident=incident.to_dict(),
                     objective=objectives[incident.sli])
    document = ctx.artifact(f"postmortem-{len(watch.incidents)}.md", Path(files["markdown"]))
    incident.postmortem = document.path
    answer = ctx.breakpoint("Approve the postmortem and close the incident?", artifacts=[document],
                            context={"incident": incident.to_dict()}, tags=("incident", "postmortem"),
                            checkpoint="monitoring")
    incident.note(tick.at, "closed" if answer.approved else "postmortem to revise", answer.by, answer.feedback)
    incident.status = "closed" if answer.approved else "resolved"
    watch.incident = None
