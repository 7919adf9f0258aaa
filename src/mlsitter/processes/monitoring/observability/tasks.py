"""Task functions of the ``observability`` process: where scrapes come from, one observation tick, the
impact start of an alert, anomalies, and the approved remediation (on a live deployment the process runs
the ``rollback`` process as a child run; these steps find its target or roll a simulated one back)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from mlsitter.errors import InputError, SpecError
from mlsitter.naming import stable_name
from mlsitter.runtime import task

DEPLOYMENT, URLS, RECORDING, SCENARIO = "deployment", "urls", "recording", "scenario"
SIMULATED = (RECORDING, SCENARIO)


@stable_name("observability.Plan")
@dataclass
class Plan:
    """Where the scrapes come from and the ticks' times (simulated sources fix them in advance)."""

    kind: str
    source: str
    log_dir: str
    times: list[float] = field(default_factory=list)  # simulated tick times; empty on the wall clock
    can_roll_back: bool = False

    @property
    def simulated(self) -> bool:
        return self.kind in SIMULATED


def intervals(duration: float, interval: float) -> int:
    """Whole intervals in ``duration`` (``0.3 // 0.1`` is 2 in floating point; this says 3)."""
    import math

    return int(math.floor(duration / interval + 1e-9))


def simulation_state(workdir: str) -> Path:
    return Path(workdir) / "simulated-deployment.json"


@task(name="observability.plan")
def plan_source(deployment: str, metrics_urls: str, recording: str, scenario: str, log_dir: str, interval: float,
                duration: float, workdir: str) -> Plan:
    """Check that exactly one source is named and that it exists; the tick times of a simulated one."""
    from mlsitter.ml.monitoring import SimulatedDeployment, read_recording

    named = {k: v for k, v in ((DEPLOYMENT, deployment), (URLS, metrics_urls), (RECORDING, recording),
                               (SCENARIO, scenario)) if v}
    if len(named) != 1:
        raise SpecError("observability needs exactly one source: deployment=NAME (its servers' /metrics), "
                        "metrics_urls=URL[,URL] , recording=FILE.jsonl (recorded scrapes) or scenario=FILE.json "
                        f"(a simulated deployment); got {', '.join(named) or 'none'}")
    kind, source = next(iter(named.items()))
    if kind == DEPLOYMENT:
        from mlsitter.ml.serving import load_state

        state = load_state(source)
        if state is None:
            raise InputError(f"no deployment named {source!r}; deploy it first (mlsitter run deploy ...) or give "
                             "metrics_urls=")
        return Plan(kind, source, log_dir or str(state.log_dir), [], True)
    if kind == URLS:
        urls = [u.strip() for u in source.split(",") if u.strip()]
        bad = [u for u in urls if not u.startswith(("http://", "https://"))]
        if bad:
            raise SpecError(f"metrics_urls: {', '.join(bad)} is not an http(s) URL of a /metrics endpoint")
        return Plan(kind, ",".join(urls), log_dir)
    steps = intervals(duration, interval)
    if kind == RECORDING:
        times = sorted({s.at for s in read_recording(source)})
        return Plan(kind, source, log_dir, [t for t in times if t <= times[0] + duration])
    sim = SimulatedDeployment.from_file(source, simulation_state(workdir))
    simulation_state(workdir).unlink(missing_ok=True)
    return Plan(kind, source, log_dir, [sim.start + i * interval for i in range(steps + 1)], True)


@lru_cache(maxsize=4)
def _recording(path: str, mtime: float) -> dict[float, list[Any]]:
    from mlsitter.ml.monitoring import read_recording

    by_time: dict[float, list[Any]] = {}
    for item in read_recording(path):
        by_time.setdefault(item.at, []).append(item)
    return by_time


def deployment_targets(deployment: str) -> list[str]:
    """The /metrics URLs of the deployment's running model servers (champion, candidate)."""
    from mlsitter.ml.serving import CANDIDATE, CHAMPION, live, load_state

    state = load_state(deployment)
    records = [live(state, role) for role in (CHAMPION, CANDIDATE)] if state else []
    return [r.url + "/metrics" for r in records if r is not None]


@task(name="observability.tick")
def observe_tick(plan: Plan, table: str, at: float | None, since: float | None, objectives: dict[str, float],
                 latency_threshold_ms: float, workdir: str, scale: float = 1.0, origin: float = 0.0) -> Any:
    """Scrape every target (at ``at`` on simulated time, now on the wall clock, or on a clock running ``scale``
    times as fast from ``origin``), add the scrapes and the quality events since ``since`` to the table and
    evaluate every burn-rate rule."""
    import time

    from mlsitter.ml.monitoring import Objective, Scrape, SimulatedDeployment, logged_quality, observe, scrape

    now = time.time()
    when = (origin + (now - origin) * scale) if at is None else at
    quality = None
    if plan.kind == SCENARIO:
        sim = SimulatedDeployment.from_file(plan.source, simulation_state(workdir))
        scrapes = [sim.scrape(t, when) for t in sim.targets(when)]
        quality = sim.quality(since, when) if since is not None else None
    elif plan.kind == RECORDING:
        found = _recording(plan.source, Path(plan.source).stat().st_mtime).get(when, [])
        scrapes = [Scrape(when, s.target, s.text, s.error) for s in found]
    else:
        targets = deployment_targets(plan.source) if plan.kind == DEPLOYMENT else plan.source.split(",")
        scrapes = [scrape(url, at=when) for url in targets]
        if not targets:
            scrapes = [Scrape(when, plan.source, error="the deployment has no running model server")]
    if quality is None and plan.log_dir and since is not None:  # the prediction log is on the wall clock
        quality = logged_quality(plan.log_dir, since if at is not None else origin + (since - origin) / scale,
                                 when if at is not None else now)
    wanted = [Objective(sli, target) for sli, target in objectives.items()]
    return observe(table, when, scrapes, wanted, latency_threshold_ms / 1000, quality)


@task(name="observability.impact_start")
def find_impact_start(table: str, sli: str, objective: float, at: float) -> float:
    """When the bad stretch behind an alert at ``at`` began (the time to detect is measured from it)."""
    from mlsitter.ml.monitoring import MetricsTable, Objective, impact_start

    with MetricsTable(table) as t:
        series = t.series_of(sli, until=at)
    return impact_start(series, at, Objective(sli, objective))


@task(name="observability.anomalies")
def find_anomalies(table: str, threshold: float) -> list[Any]:
    """Anomalies of the request rate, error ratio, p99 latency and each SLI per tick (robust z against a
    rolling median)."""
    from mlsitter.ml.monitoring import detect_anomalies, interval_frame

    frame = interval_frame(table)
    found = []
    for column in ("requests", "error_ratio", "p99_ms", "availability_sli", "latency_sli", "quality_sli"):
        if column in frame:
            found += detect_anomalies(column, frame["at"], frame[column], threshold=threshold)
    return sorted(found, key=lambda a: a.at)


def nothing_to_roll_back(deployment: str, reason: str) -> dict[str, Any]:
    """The remediation of a deployment with no candidate serving: none, and the command that would restore
    the previous champion."""
    import time

    return {"stopped": None, "at": time.time(), "shares": {}, "reason": reason, "simulated": False,
            "note": f"deployment {deployment!r} has no candidate serving; restoring the previous champion is "
                    f"`mlsitter rollback {deployment}`"}


@task(name="observability.rollback_target")
def rollback_target(deployment: str) -> dict[str, Any]:
    """The deployment's model and its serving candidate (None when none runs): what a rollback would take out."""
    from mlsitter.ml.serving import CANDIDATE, live, load_state

    state = load_state(deployment)
    candidate = live(state, CANDIDATE) if state is not None else None
    return {"model": state.model if state else "", "candidate": candidate.label if candidate is not None else None}


@task(name="observability.rollback")
def roll_back(plan: Plan, at: float, workdir: str, reason: str) -> dict[str, Any]:
    """The approved remediation on a simulated deployment, from simulated time ``at`` on; on a live one (runs
    journaled before the ``rollback`` process took that over) the candidate out as ``mlsitter rollback`` does."""
    if plan.kind == SCENARIO:
        from mlsitter.ml.monitoring import SimulatedDeployment

        done = SimulatedDeployment.from_file(plan.source, simulation_state(workdir)).rollback(at)
        return {**done, "reason": reason, "simulated": True}
    from mlsitter.ml.serving import CANDIDATE, live, load_state, rollback

    state = load_state(plan.source)
    if state is None or live(state, CANDIDATE) is None:
        return nothing_to_roll_back(plan.source, reason)
    done = rollback(state)
    return {"stopped": done["stopped"], "at": done["changed_at"], "shares": done["shares"], "reason": reason,
            "simulated": False}
