"""Read helpers the dashboard needs beyond :class:`Store`'s API: pages of runs, the inbox, change stamps.

They only read (plain SQL on ``store.conn``), so the runtime's behaviour is untouched.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from mlsitter.runtime.run_filters import RUN_STATUSES, RunFilters
from mlsitter.runtime.store import Event, RunRecord, Store
from mlsitter.runtime.views import GateCounts, GateView, RunView, StepView, build_view, count_gates, gate_counts

STATUSES = RUN_STATUSES
PAGE_SIZES = (25, 50, 100, 200)
_INBOX_EVENTS = ("gate.evaluated", "gate.overridden", "refine.attempt")


@dataclass
class RunsPage:
    """One page of the runs list and what the filter bar needs."""

    items: list[RunRecord]
    total: int
    page: int
    per_page: int
    processes: list[str]

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


@dataclass
class PendingItem:
    """A breakpoint or external effect some run waits on, with the gates and artifacts around it."""

    run: RunRecord
    kind: str
    key: str
    question: str
    context: Any
    options: list[str] | None
    artifacts: list[dict[str, Any]]
    gates: list[GateView] = field(default_factory=list)
    spec: Any = None
    schema: Any = None
    external_kind: str | None = None
    refine: dict[str, Any] | None = None
    waiting_parents: list[RunRecord] = field(default_factory=list)


def runs_page(store: Store, filters: RunFilters, *, page: int, per_page: int) -> RunsPage:
    """One page of the filtered runs in the filters' order; ``page`` is 1-based and clamped to the pages that exist."""
    where = filters.store_filters()
    total = store.count_runs(**where)
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    items = store.list_runs(**where, order=filters.order, limit=per_page, offset=(page - 1) * per_page)
    return RunsPage(items, total, page, per_page, store.processes())


# Every event type build_view reads except the step events, which run_view reads with SQL.
_VIEW_EVENTS = ("gate.evaluated", "gate.overridden", "breakpoint.requested", "breakpoint.answered",
                "breakpoint.approval", "refine.attempt",
                "artifact.recorded", "log", "child.started", "external.requested", "external.completed",
                "timer.started", "run.failed", "run.retried", "run.cancelled", "run.waiting", "run.resumed")


def run_view(store: Store, run_id: str) -> RunView:
    """The same :class:`RunView` as ``build_view``, built faster for long runs.

    Step events are the bulk of a long journal and carry task results; SQLite extracts the few step
    fields the page shows, so Python never decodes those results.
    """
    run = store.get_run(run_id)
    view = build_view(store, run.run_id, events=store.events(run.run_id, types=_VIEW_EVENTS))
    view.steps = step_views(store, run.run_id)
    view.events = store.count_events(run.run_id)
    return view


def step_views(store: Store, run_id: str) -> list[StepView]:
    """Steps in the order they started, with attempts, outcome and timing.

    Reads like ``build_view``, and also counts the retries journaled as ``step.retried``.
    """
    rows = store.conn.execute(
        "SELECT type, at, json_extract(data, '$.key'), json_extract(data, '$.name'), json_extract(data, '$.attempt'),"
        " json_extract(data, '$.executor'), json_extract(data, '$.duration_ms'), json_extract(data, '$.error'),"
        " json_extract(data, '$.will_retry') FROM events"
        " WHERE run_id=? AND type IN ('step.started', 'step.retried', 'step.completed', 'step.failed') ORDER BY seq",
        (run_id,),
    ).fetchall()
    steps: dict[str, StepView] = {}
    ordered: list[StepView] = []
    for type_, at, key, name, attempt, executor, duration_ms, error, will_retry in rows:
        key = str(key)
        step = steps.get(key)
        if type_ == "step.started":
            if step is None:
                step = StepView(key, name, "task", at, executor=executor or "")
                steps[key] = step
                ordered.append(step)
            step.attempts = attempt if attempt is not None else 1
            step.status = "running"
        elif step is None:
            continue
        elif type_ == "step.retried":
            step.attempts = attempt if attempt is not None else step.attempts + 1
            step.status, step.ended_at = "running", None
        elif type_ == "step.completed":
            step.ended_at, step.duration_ms, step.status = at, duration_ms, "completed"
        else:
            step.error, step.ended_at = error, at
            step.status = "retrying" if will_retry else "failed"
    return ordered


def runs_stamp(store: Store) -> str:
    """Changes whenever any run is created or changes status (for live updates of the runs list), including a
    running run whose runner died (nothing is written then: its lease shows it)."""
    count, last = store.conn.execute("SELECT COUNT(*), MAX(updated_at) FROM runs").fetchone()
    return f"{count}:{last or 0}:{store.count_runs(status='interrupted')}"


def run_stamp(store: Store, run_id: str) -> str:
    """Changes whenever the run journals an event or changes status."""
    row = store.conn.execute(
        "SELECT status, updated_at, (SELECT MAX(seq) FROM events WHERE run_id=?) FROM runs WHERE run_id=?",
        (run_id, run_id),
    ).fetchone()
    if row is None:
        return "missing"
    status = store.get_run(run_id).status if row[0] == "running" else row[0]  # a dead runner shows as interrupted
    return f"{status}:{row[2] or 0}:{row[1]}"


def events_page(store: Store, run_id: str, *, after: int, limit: int) -> list[Event]:
    """Up to ``limit`` events of a run after sequence number ``after``."""
    rows = store.conn.execute(
        "SELECT run_id, seq, type, at, data, prev_hash, hash FROM events WHERE run_id=? AND seq>? ORDER BY seq LIMIT ?",
        (run_id, after, limit),
    ).fetchall()
    return [Event(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6]) for r in rows]


def waiting_runs(store: Store) -> list[RunRecord]:
    """Runs waiting on a person or an external effect (not parents that wait on a child)."""
    runs = store.list_runs(status="waiting", limit=100_000)
    return [r for r in runs if (r.waiting or {}).get("kind") in ("breakpoint", "external")]


def inbox_count(store: Store) -> int:
    """How many runs wait on a person or an external effect (the number beside "Inbox")."""
    kind = store.dialect.json_text.format(column="waiting", key="kind")
    row = store.conn.execute(
        f"SELECT COUNT(*) FROM runs WHERE status='waiting' AND {kind} IN ('breakpoint','external')"
    ).fetchone()
    return int(row[0])


def inbox_stamp(store: Store) -> str:
    """Changes whenever the set of pending questions changes or a run moves."""
    rows = store.conn.execute(
        "SELECT run_id, status, updated_at FROM runs WHERE status IN ('waiting','ready','running') ORDER BY run_id"
    ).fetchall()
    digest = hashlib.sha256("|".join(f"{r[0]}:{r[1]}:{r[2]}" for r in rows).encode()).hexdigest()[:16]
    return f"{len(rows)}:{digest}"


def pending_item(store: Store, run: RunRecord) -> PendingItem:
    """What a person needs to answer ``run``'s wait: the question, its context, gates and artifacts."""
    w = run.waiting or {}
    # Only the events the inbox shows: a long run's steps are not read.
    view = build_view(store, run.run_id, events=store.events(run.run_id, types=_INBOX_EVENTS))
    context = w.get("context")
    refine = None
    if isinstance(context, dict) and "refine" in context and "attempt" in context:
        refine = {k: context.get(k) for k in ("refine", "attempt", "max_attempts")}
        refine["feedbacks"] = [a.get("feedback") for a in view.refine_attempts
                               if a.get("name") == refine["refine"] and a.get("feedback")]
        context = context.get("context")
    artifacts = [a for a in (w.get("artifacts") or []) if isinstance(a, dict) and a.get("sha256")]
    question = w.get("question") or ""
    if w.get("kind") == "external":
        question = f"Result needed: external {w.get('external_kind') or 'task'} #{w.get('key')}"
    return PendingItem(
        run=run, kind=w.get("kind", ""), key=str(w.get("key", "")), question=question or w.get("reason", ""),
        context=context, options=w.get("options"), artifacts=artifacts, gates=view.gates, spec=w.get("spec"),
        schema=w.get("schema"), external_kind=w.get("external_kind"), refine=refine,
        waiting_parents=parents_of(store, run),
    )


def pending_items(store: Store, *, limit: int | None = None, offset: int = 0) -> tuple[int, list[PendingItem]]:
    """How many questions wait in all, and the details of those from ``offset`` on (oldest run first)."""
    runs = sorted(waiting_runs(store), key=lambda r: r.created_at)
    chosen = runs[offset:] if limit is None else runs[offset:offset + limit]
    return len(runs), [pending_item(store, r) for r in chosen]


def parents_of(store: Store, run: RunRecord) -> list[RunRecord]:
    """The chain of parent runs above ``run``, nearest first."""
    chain: list[RunRecord] = []
    seen = {run.run_id}
    current = run
    while current.parent_run_id and current.parent_run_id not in seen:
        current = store.get_run(current.parent_run_id)
        seen.add(current.run_id)
        chain.append(current)
    return chain


def children_of(store: Store, run_id: str) -> list[RunRecord]:
    return store.list_runs(parent=run_id, limit=10_000)


def artifact_record(store: Store, run_id: str, sha256: str) -> dict[str, Any] | None:
    """How the run's journal describes an artifact it records or refers to (name, media type), or None."""
    rows = store.conn.execute(
        "SELECT data FROM events WHERE run_id=? AND instr(data, ?) > 0 ORDER BY seq", (run_id, sha256)
    ).fetchall()
    for (data,) in rows:
        found = _find_ref(json.loads(data), sha256)
        if found is not None:
            return found
    return None


def _find_ref(value: Any, sha256: str) -> dict[str, Any] | None:
    if isinstance(value, dict):
        if value.get("sha256") == sha256 and "name" in value:
            return value
        items = list(value.values())
    elif isinstance(value, list):
        items = value
    else:
        return None
    for item in items:
        found = _find_ref(item, sha256)
        if found is not None:
            return found
    return None


def artifact_runs(store: Store, sha256: str, limit: int = 200) -> list[tuple[RunRecord, str]]:
    """Runs whose journal mentions the artifact, with the first event type that mentions it (lineage)."""
    rows = store.conn.execute(
        "SELECT run_id, type FROM events WHERE instr(data, ?) > 0 ORDER BY run_id, seq", (sha256,)
    ).fetchall()
    first: dict[str, str] = {}
    for run_id, type_ in rows:
        if len(first) == limit and run_id not in first:
            break
        first.setdefault(run_id, type_)
    found = [(store.get_run(run_id), type_) for run_id, type_ in first.items()]
    found.sort(key=lambda pair: pair[0].created_at)
    return found
