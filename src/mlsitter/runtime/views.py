"""Read models of a run built from its journal in one pass: steps, gates, approvals, artifacts, logs.

The CLI's ``status`` and the dashboard's run page both render a :class:`RunView`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mlsitter.runtime.store import Event, RunRecord, Store


@dataclass
class StepView:
    key: str
    name: str
    kind: str
    started_at: float
    ended_at: float | None = None
    duration_ms: float | None = None
    attempts: int = 1
    executor: str = ""
    status: str = "running"
    error: str | None = None


@dataclass
class GateView:
    key: str
    name: str
    value: Any
    operator: str
    threshold: Any
    passed: bool
    on_fail: str
    overridden_by: str | None = None

    @property
    def outcome(self) -> str:
        if self.passed:
            return "pass"
        if self.overridden_by:
            return "overridden"
        return "warn" if self.on_fail == "warn" else "fail"


@dataclass
class BreakpointView:
    key: str
    question: str
    context: Any
    artifacts: list[Any]
    options: list[str] | None
    tags: list[str]
    requested_at: float
    approved: bool | None = None
    feedback: str = ""
    by: str = ""
    answered_at: str = ""
    option: str | None = None
    identity: dict[str, Any] | None = None
    """Who was authenticated for the answer (``user``, ``auth``, ``host``); ``by`` may be a claimed name."""
    approvals: list[dict[str, Any]] = field(default_factory=list)
    """Approvals journaled short of the quorum (``breakpoint.approval``): user, auth, claimed_by, at, option."""
    needed: int | None = None
    """Distinct approvers the approval rules ask for (None: ungoverned)."""


@dataclass
class RunView:
    run: RunRecord
    steps: list[StepView] = field(default_factory=list)
    gates: list[GateView] = field(default_factory=list)
    breakpoints: list[BreakpointView] = field(default_factory=list)
    refine_attempts: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    children: list[dict[str, Any]] = field(default_factory=list)
    externals: list[dict[str, Any]] = field(default_factory=list)
    timers: list[dict[str, Any]] = field(default_factory=list)
    events: int = 0
    error_detail: str | None = None
    interventions: list[dict[str, Any]] = field(default_factory=list)  # retried / cancelled: who, why, when
    waits: list[dict[str, Any]] = field(default_factory=list)  # {"start", "end" (None: still waiting), "reason"}


def build_view(store: Store, run_id: str, events: list[Event] | None = None) -> RunView:
    run = store.get_run(run_id)
    events = store.events(run.run_id) if events is None else events
    view = RunView(run=run, events=len(events))
    steps: dict[str, StepView] = {}
    gates: dict[str, GateView] = {}
    bps: dict[str, BreakpointView] = {}
    seen_artifacts: set[str] = set()
    for ev in events:
        d = ev.data
        t = ev.type
        if t == "step.started":
            step = steps.get(d["key"])
            if step is None:
                step = StepView(d["key"], d["name"], "task", ev.at, executor=d.get("executor", ""))
                steps[d["key"]] = step
                view.steps.append(step)
            step.attempts = d.get("attempt", 1)
            step.status = "running"
        elif t == "step.retried" and d["key"] in steps:
            steps[d["key"]].attempts = d.get("attempt", steps[d["key"]].attempts + 1)
            steps[d["key"]].status = "running"
        elif t == "step.completed" and d["key"] in steps:
            step = steps[d["key"]]
            step.ended_at, step.duration_ms, step.status = ev.at, d.get("duration_ms"), "completed"
        elif t == "step.failed" and d["key"] in steps:
            step = steps[d["key"]]
            step.error = d.get("error")
            step.status = "retrying" if d.get("will_retry") else "failed"
            step.ended_at = ev.at
        elif t == "gate.evaluated":
            g = GateView(d["key"], d["name"], d.get("value"), d.get("operator", ""), d.get("threshold"),
                         bool(d.get("passed")), d.get("on_fail", "fail"))
            gates[d["key"]] = g
            view.gates.append(g)
        elif t == "gate.overridden" and d["key"] in gates:
            gates[d["key"]].overridden_by = d.get("by")
        elif t == "breakpoint.requested":
            bp = BreakpointView(d["key"], d.get("question", ""), d.get("context"), d.get("artifacts") or [],
                                d.get("options"), d.get("tags") or [], ev.at)
            bps[d["key"]] = bp
            view.breakpoints.append(bp)
        elif t == "breakpoint.answered" and d["key"] in bps:
            bp = bps[d["key"]]
            bp.approved, bp.feedback, bp.by = d.get("approved"), d.get("feedback", ""), d.get("by", "")
            bp.answered_at, bp.option = d.get("at", ""), d.get("option")
            bp.identity, bp.needed = d.get("identity"), d.get("needed", bp.needed)
        elif t == "breakpoint.approval" and d["key"] in bps:
            who = d.get("identity") or {}
            bps[d["key"]].approvals.append({"user": who.get("user", ""), "auth": who.get("auth", ""),
                                            "claimed_by": d.get("claimed_by"), "at": d.get("at", ""),
                                            "option": d.get("option")})
            bps[d["key"]].needed = d.get("needed")
        elif t == "refine.attempt":
            view.refine_attempts.append({**d, "at": ev.at})
        elif t == "artifact.recorded":
            view.artifacts.append({**d, "seq": ev.seq})
            seen_artifacts.add(d["sha256"])
        elif t == "log":
            view.logs.append({**d, "at": ev.at})
        elif t == "child.started":
            view.children.append({**d, "at": ev.at})
        elif t == "external.requested":
            view.externals.append({**d, "at": ev.at})
        elif t == "external.completed":
            for x in view.externals:
                if x["key"] == d["key"]:
                    x["result"], x["by"] = d.get("result"), d.get("by")
        elif t == "timer.started":
            view.timers.append({**d, "at": ev.at})
        elif t == "run.failed":
            view.error_detail = d.get("traceback")
        elif t == "run.waiting":
            view.waits.append({"start": ev.at, "end": None, "reason": d.get("reason", "")})
        elif t in ("run.resumed", "run.cancelled") and view.waits and view.waits[-1]["end"] is None:
            view.waits[-1]["end"] = ev.at
        if t in ("run.retried", "run.cancelled"):
            view.interventions.append({"action": t.split(".")[1], "at": ev.at, "by": d.get("by"),
                                       "reason": d.get("reason", ""), "error": d.get("error")})
            view.error_detail = None if t == "run.retried" else view.error_detail
    return view


@dataclass
class GateCounts:
    """A run's gates by outcome, as its gates table shows them: a ``warn`` gate that missed its threshold and a
    gate a person overrode are not failures (the runs row counts every missed threshold as failed)."""

    passed: int = 0
    failed: int = 0
    warned: int = 0
    overridden: int = 0

    def add(self, outcome: str) -> None:
        name = {"pass": "passed", "fail": "failed", "warn": "warned"}.get(outcome, "overridden")
        setattr(self, name, getattr(self, name) + 1)


def count_gates(gates: list[GateView]) -> GateCounts:
    """The outcomes of ``gates`` counted (pass, fail, warn, overridden)."""
    counts = GateCounts()
    for g in gates:
        counts.add(g.outcome)
    return counts


def gate_counts(store: Store, runs: list[RunRecord]) -> dict[str, GateCounts]:
    """Gate outcomes of each run (the runs list's ✓/⚠/✗ column). The runs row counts every missed threshold as
    failed; a run that completed was blocked by none of them (a blocking gate fails the run or holds it), so its
    missed gates are warned or overridden (``warned`` holds both). Only other runs with a missed gate have their
    gate events read, in one query."""
    counts = {r.run_id: GateCounts(passed=r.gates_passed, warned=r.gates_failed) for r in runs
              if not r.gates_failed or r.status == "completed"}
    missed = [r.run_id for r in runs if r.run_id not in counts]
    if not missed:
        return counts
    marks = ",".join("?" * len(missed))
    rows = store.conn.execute(
        f"SELECT run_id, type, data FROM events WHERE run_id IN ({marks}) AND type IN ('gate.evaluated', "
        "'gate.overridden') ORDER BY run_id, seq", missed).fetchall()
    gates: dict[str, dict[str, GateView]] = {r: {} for r in missed}
    for run_id, type_, data in rows:
        d = json.loads(data)
        if type_ == "gate.evaluated":
            gates[run_id][d["key"]] = GateView(d["key"], d.get("name", ""), d.get("value"), d.get("operator", ""),
                                               d.get("threshold"), bool(d.get("passed")), d.get("on_fail", "fail"))
        elif d.get("key") in gates[run_id]:
            gates[run_id][d["key"]].overridden_by = d.get("by") or "?"
    return {**counts, **{r: count_gates(list(g.values())) for r, g in gates.items()}}
