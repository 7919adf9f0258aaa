"""Compliance checkpoints: a run's gates and approvals gathered per checkpoint and CRISP-DM phase.

Processes tag a gate or a breakpoint with the checkpoint it serves (``ctx.gate(..., checkpoint="fairness")``);
a breakpoint's governed tags also name one (``production`` -> ``deployment``). :func:`build_record` reads
only journals (a run's and its children's), so the same record is rebuilt offline from an exported bundle.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from mlsitter.runtime.checkpoints import CHECKPOINTS, PHASES, TAG_CHECKPOINTS, checkpoint_names
from mlsitter.runtime.integrity import Projection
from mlsitter.runtime.store import Event, Store

_ORDER = ("failed", "rejected", "pending", "warned", "overridden", "passed")


@dataclass
class GateEvidence:
    """A gate on a measured number, as the journal recorded it."""

    run_id: str
    process: str
    key: str
    name: str
    value: Any
    operator: str
    threshold: Any
    outcome: str
    on_fail: str
    at: str
    overridden_by: str | None = None


@dataclass
class Signature:
    """One person's (or policy's) answer: who was authenticated, how, any claimed name, and when."""

    user: str
    auth: str
    host: str
    at: str
    claimed_by: str | None = None
    by_starter: bool = False
    """True when this user also started the run (separation of duties not kept)."""
    partial: bool = False
    """True for an approval short of the quorum (``breakpoint.approval``)."""


@dataclass
class ApprovalEvidence:
    """A question put to a person: what was asked, on which measured numbers, what was decided and by whom."""

    run_id: str
    process: str
    key: str
    question: str
    tags: list[str]
    outcome: str
    asked_at: str
    option: str | None = None
    feedback: str = ""
    signatures: list[Signature] = field(default_factory=list)
    needed: int | None = None
    policy: dict[str, Any] | None = None
    numbers: list[dict[str, Any]] = field(default_factory=list)
    """The gates of the same run recorded before the question was asked: the numbers it was answered on."""
    artifacts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CheckpointRecord:
    """One checkpoint of the record: its worst outcome and the gates and questions that serve it."""

    name: str
    title: str
    asks: str
    outcome: str
    gates: list[GateEvidence] = field(default_factory=list)
    approvals: list[ApprovalEvidence] = field(default_factory=list)


@dataclass
class PhaseRecord:
    """A CRISP-DM phase with its checkpoints, in catalogue order."""

    name: str
    title: str
    checkpoints: list[CheckpointRecord]


@dataclass
class RunSummary:
    """One run of the record (the root and each child): status, journal length and head, starter, rules."""

    run_id: str
    process: str
    status: str
    parent_run_id: str | None
    events: int
    head: str
    created_at: str
    ended_at: str | None
    starter: dict[str, Any] | None
    policy: dict[str, Any] | None


@dataclass
class ComplianceRecord:
    """Every checkpoint of a run and its children, grouped by CRISP-DM phase, with the evidence and who approved."""

    run_id: str
    process: str
    status: str
    runs: list[RunSummary]
    phases: list[PhaseRecord]
    untagged_gates: list[GateEvidence]
    untagged_approvals: list[ApprovalEvidence]
    artifacts: list[dict[str, Any]]

    def checkpoint(self, name: str) -> CheckpointRecord:
        return next(c for p in self.phases for c in p.checkpoints if c.name == name)


def journals(store: Store, run_id: str) -> dict[str, list[Event]]:
    """The journals of ``run_id`` and of its children (``child.started``), recursively, root first."""
    root = store.get_run(run_id).run_id
    out: dict[str, list[Event]] = {}
    todo = [root]
    while todo:
        current = todo.pop(0)
        if current in out:
            continue
        out[current] = store.events(current)
        todo += [e.data["child_run_id"] for e in out[current] if e.type == "child.started"]
    return out


def build_record(runs: dict[str, list[Event]], root: str) -> ComplianceRecord:
    """The compliance record of ``root`` from journals alone (``runs``: run id -> its events)."""
    summaries: list[RunSummary] = []
    gates: list[tuple[list[str], GateEvidence]] = []
    questions: list[tuple[list[str], ApprovalEvidence]] = []
    artifacts: list[dict[str, Any]] = []
    for run_id, events in runs.items():
        summary, run_gates, run_questions, run_artifacts = _read_run(run_id, events)
        summaries.append(summary)
        gates += run_gates
        questions += run_questions
        artifacts += run_artifacts
    phases = []
    for phase, title in PHASES:
        checkpoints = []
        for cp in (c for c in CHECKPOINTS.values() if c.phase == phase):
            cp_gates = [g for names, g in gates if cp.name in names]
            cp_questions = [q for names, q in questions if cp.name in names]
            checkpoints.append(CheckpointRecord(cp.name, cp.title, cp.asks, _outcome(cp_gates, cp_questions),
                                                cp_gates, cp_questions))
        phases.append(PhaseRecord(phase, title, checkpoints))
    top = summaries[0]
    return ComplianceRecord(root, top.process, top.status, summaries, phases,
                            [g for names, g in gates if not names], [q for names, q in questions if not names],
                            artifacts)


def _read_run(run_id: str, events: list[Event]) -> tuple[
        RunSummary, list[tuple[list[str], GateEvidence]], list[tuple[list[str], ApprovalEvidence]], list[dict[str, Any]]]:
    """One journal read once: the run's summary, its gates and questions (with the checkpoints they serve), its files."""
    projection = Projection()
    created: dict[str, Any] = {}
    bound: dict[str, Any] = {}
    gates: dict[str, tuple[list[str], GateEvidence]] = {}
    questions: dict[str, tuple[list[str], ApprovalEvidence]] = {}
    artifacts: list[dict[str, Any]] = []
    process = ""
    for ev in events:
        d = ev.data
        projection.apply(ev.type, ev.at, d)
        if ev.type == "run.created":
            created, process = d, str(d.get("process", ""))
        elif ev.type == "approvals.bound":
            bound = d
        elif ev.type == "gate.evaluated":
            gate = GateEvidence(run_id, process, str(d["key"]), d["name"], d.get("value"), d.get("operator", ""),
                                d.get("threshold"), "passed" if d.get("passed") else
                                ("warned" if d.get("on_fail") == "warn" else "failed"), d.get("on_fail", "fail"),
                                _iso(ev.at))
            gates[gate.key] = (checkpoint_names(d.get("checkpoint")), gate)
        elif ev.type == "gate.overridden" and d.get("key") in gates:
            gate = gates[d["key"]][1]
            gate.outcome, gate.overridden_by = "overridden", d.get("by")
        elif ev.type == "breakpoint.requested":
            tags = list(d.get("tags") or [])
            names = checkpoint_names(d.get("checkpoint")) or [cp for t, cp in TAG_CHECKPOINTS.items() if t in tags][:1]
            numbers = [{"name": g.name, "value": g.value, "operator": g.operator, "threshold": g.threshold,
                        "outcome": g.outcome} for _, g in gates.values()]
            question = ApprovalEvidence(run_id, process, str(d["key"]), d.get("question", ""), tags, "pending",
                                        _iso(ev.at), numbers=numbers,
                                        artifacts=[a for a in d.get("artifacts") or [] if isinstance(a, dict)])
            questions[question.key] = (names, question)
        elif ev.type in ("breakpoint.approval", "breakpoint.answered") and d.get("key") in questions:
            _sign(questions[d["key"]][1], ev, (bound.get("starter") or {}).get("user"))
        elif ev.type == "artifact.recorded":
            artifacts.append({"run_id": run_id, "name": d.get("name"), "sha256": d.get("sha256"),
                              "media_type": d.get("media_type"), "size": d.get("size")})
    rules = bound.get("rules") or None
    summary = RunSummary(run_id, process, projection.status, created.get("parent_run_id"), len(events),
                         events[-1].hash if events else "", _iso(projection.created_at) if projection.created_at else "",
                         _iso(projection.ended_at) if projection.ended_at else None, bound.get("starter"),
                         {k: rules[k] for k in ("version", "sha256", "source")} if rules else None)
    return summary, list(gates.values()), list(questions.values()), artifacts


def _sign(question: ApprovalEvidence, ev: Event, starter: str | None) -> None:
    d = ev.data
    who = d.get("identity") or {"user": d.get("by", ""), "auth": "unrecorded", "host": ""}
    partial = ev.type == "breakpoint.approval"
    question.signatures.append(Signature(str(who.get("user", "")), str(who.get("auth", "")), str(who.get("host", "")),
                                         str(d.get("at") or _iso(ev.at)), d.get("claimed_by"),
                                         starter is not None and who.get("user") == starter, partial))
    question.needed = d.get("needed", question.needed)
    question.policy = d.get("policy", question.policy)
    question.option = d.get("option")
    if partial:
        question.outcome = "partial"
    else:
        question.outcome = "approved" if d.get("approved") else "rejected"
        question.feedback = d.get("feedback") or ""


def _outcome(gates: list[GateEvidence], questions: list[ApprovalEvidence]) -> str:
    """The checkpoint's worst outcome, or ``no evidence``."""
    seen = {g.outcome for g in gates} | {("pending" if q.outcome == "partial" else
                                          "passed" if q.outcome == "approved" else q.outcome) for q in questions}
    return next((o for o in _ORDER if o in seen), "no evidence")


def _iso(at: float) -> str:
    return _dt.datetime.fromtimestamp(at, _dt.timezone.utc).isoformat(timespec="seconds")
