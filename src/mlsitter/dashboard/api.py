"""The JSON API under ``/api``: runs, one run, its events, pending questions, answers (in the OpenAPI schema)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from mlsitter.dashboard import actions, queries
from mlsitter.dashboard.app import Dashboard, dashboard
from mlsitter.dashboard.guards import require_csrf, session_identity
from mlsitter.runtime.store import RunRecord

router = APIRouter(prefix="/api", tags=["api"])


class RunSummary(BaseModel):
    run_id: str
    process: str
    status: str
    created_at: float
    ended_at: float | None
    duration_s: float | None = Field(description="Seconds from creation to end (None while the run has not ended).")
    gates_passed: int
    gates_failed: int
    waiting_reason: str | None
    parent_run_id: str | None


class RunsOut(BaseModel):
    total: int = Field(description="Runs matching the filters (all pages).")
    limit: int
    offset: int
    items: list[RunSummary]


class RunOut(RunSummary):
    target: str
    policy: str
    executor: str
    seed: int
    inputs: Any
    result: Any
    error: str | None
    waiting: Any
    events: int
    steps: list[dict[str, Any]]
    gates: list[dict[str, Any]]
    breakpoints: list[dict[str, Any]]
    refine_attempts: list[dict[str, Any]]
    artifacts: list[dict[str, Any]]
    logs: list[dict[str, Any]]
    children: list[dict[str, Any]]
    externals: list[dict[str, Any]]


class EventOut(BaseModel):
    seq: int
    type: str
    at: float
    data: Any
    hash: str


class PendingOut(BaseModel):
    run_id: str
    process: str
    kind: str = Field(description="'breakpoint' (an approval) or 'external' (a result to post).")
    key: str
    question: str
    context: Any
    options: list[str] | None
    artifacts: list[dict[str, Any]]
    gates: list[dict[str, Any]]
    refine: dict[str, Any] | None
    external_kind: str | None
    spec: Any
    schema_: Any = Field(alias="schema", default=None)


class AnswerIn(BaseModel):
    approved: bool
    feedback: str | None = Field(None, description="Required when rejecting: what the next attempt should change.")
    option: str | None = None
    key: str | None = Field(None, description="The question answered; refused if the run has moved on to another.")


class ExternalIn(BaseModel):
    result: Any
    key: str | None = None


class ActionOut(BaseModel):
    run_id: str = Field(description="The run that was waiting (a child, when a parent waits on it).")
    status: str
    by: str | None = None
    resuming: bool = Field(description="True when the dashboard continues the run in the background.")


class VerifyOut(BaseModel):
    run_id: str
    ok: bool
    events: int
    artifacts: int = Field(description="Different artifacts the journal refers to, all checked (the listed ones).")
    files: int
    problems: list[str]


class StampOut(BaseModel):
    stamp: str = Field(description="Changes whenever what the page shows changes (for live updates).")


def summary(r: RunRecord) -> dict[str, Any]:
    return {
        "run_id": r.run_id, "process": r.process, "status": r.status, "created_at": r.created_at,
        "ended_at": r.ended_at, "duration_s": (r.ended_at - r.created_at) if r.ended_at else None,
        "gates_passed": r.gates_passed, "gates_failed": r.gates_failed,
        "waiting_reason": (r.waiting or {}).get("reason"), "parent_run_id": r.parent_run_id,
    }


@router.get("/runs", response_model=RunsOut, summary="List runs (newest first, or in the order asked), filtered")
def list_runs(
    filters: Annotated[queries.RunFilters, Depends()],
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    cfg: Dashboard = Depends(dashboard),
) -> dict[str, Any]:
    where = filters.store_filters()
    items = cfg.store.list_runs(**where, order=filters.order, limit=limit, offset=offset)
    return {"total": cfg.store.count_runs(**where), "limit": limit, "offset": offset,
            "items": [summary(r) for r in items]}


@router.get("/runs/{run_id}", response_model=RunOut, summary="One run: steps, gates, approvals, artifacts")
def get_run(run_id: str, cfg: Dashboard = Depends(dashboard)) -> dict[str, Any]:
    view = queries.run_view(cfg.store, run_id)
    r = view.run
    return {
        **summary(r), "target": r.target, "policy": r.policy, "executor": r.executor, "seed": r.seed,
        "inputs": r.inputs, "result": r.result, "error": r.error, "waiting": r.waiting, "events": view.events,
        "steps": [dict(vars(s)) for s in view.steps],  # flat dataclasses: vars() is 10x faster than asdict
        "gates": [{**asdict(g), "outcome": g.outcome} for g in view.gates],
        "breakpoints": [asdict(b) for b in view.breakpoints], "refine_attempts": view.refine_attempts,
        "artifacts": view.artifacts, "logs": view.logs, "children": view.children, "externals": view.externals,
    }


@router.get("/runs/{run_id}/events", response_model=list[EventOut], summary="A run's journal, in order")
def run_events(
    run_id: str,
    after: int = Query(0, ge=0, description="Only events after this sequence number."),
    limit: int = Query(1000, ge=1, le=10_000),
    cfg: Dashboard = Depends(dashboard),
) -> list[dict[str, Any]]:
    run = cfg.store.get_run(run_id)
    return [{"seq": e.seq, "type": e.type, "at": e.at, "data": e.data, "hash": e.hash}
            for e in queries.events_page(cfg.store, run.run_id, after=after, limit=limit)]


@router.get("/runs/{run_id}/verify", response_model=VerifyOut, summary="Check the keyed chain, the run's head and row, artifact and recorded-file hashes")
def verify_run(run_id: str, cfg: Dashboard = Depends(dashboard)) -> dict[str, Any]:
    return asdict(cfg.store.verify(run_id))


@router.get("/runs/{run_id}/stamp", response_model=StampOut, summary="Change stamp of one run (live updates)")
def run_stamp(run_id: str, cfg: Dashboard = Depends(dashboard)) -> dict[str, str]:
    return {"stamp": queries.run_stamp(cfg.store, run_id)}


@router.get("/stamps/runs", response_model=StampOut, summary="Change stamp of the runs list (live updates)")
def runs_stamp(cfg: Dashboard = Depends(dashboard)) -> dict[str, str]:
    return {"stamp": queries.runs_stamp(cfg.store)}


@router.get("/stamps/inbox", response_model=StampOut, summary="Change stamp of the inbox (live updates)")
def inbox_stamp(cfg: Dashboard = Depends(dashboard)) -> dict[str, str]:
    return {"stamp": queries.inbox_stamp(cfg.store)}


@router.get("/pending", response_model=list[PendingOut],
            summary="Every waiting approval and external effect, oldest run first")
def pending(
    limit: int = Query(1000, ge=1, le=10_000),
    offset: int = Query(0, ge=0),
    cfg: Dashboard = Depends(dashboard),
) -> list[dict[str, Any]]:
    out = []
    for it in queries.pending_items(cfg.store, limit=limit, offset=offset)[1]:
        out.append({
            "run_id": it.run.run_id, "process": it.run.process, "kind": it.kind, "key": it.key,
            "question": it.question, "context": it.context, "options": it.options, "artifacts": it.artifacts,
            "gates": [{**asdict(g), "outcome": g.outcome} for g in it.gates], "refine": it.refine,
            "external_kind": it.external_kind, "spec": it.spec, "schema": it.schema,
        })
    return out


@router.post("/runs/{run_id}/answer", response_model=ActionOut, dependencies=[Depends(require_csrf)],
             summary="Approve, or reject with feedback, the question a run waits on")
def answer(run_id: str, body: AnswerIn, request: Request, cfg: Dashboard = Depends(dashboard)) -> dict[str, Any]:
    identity = session_identity(request)
    leaf = actions.answer(cfg.store, run_id, approved=body.approved, feedback=body.feedback, by=cfg.by,
                          key=body.key, option=body.option, identity=identity)
    if cfg.resume_on_answer and leaf.status != "waiting":  # a partial approval: the run waits for more
        cfg.resumer.start(leaf.run_id)
    by = identity.user if identity else cfg.by
    resuming = cfg.resume_on_answer and leaf.status != "waiting"
    return {"run_id": leaf.run_id, "status": leaf.status, "by": by, "resuming": resuming}


@router.post("/runs/{run_id}/external", response_model=ActionOut, dependencies=[Depends(require_csrf)],
             summary="Post the result of the external effect a run waits on")
def external(run_id: str, body: ExternalIn, request: Request, cfg: Dashboard = Depends(dashboard)) -> dict[str, Any]:
    identity = session_identity(request)
    leaf = actions.post_external(cfg.store, run_id, result=body.result, by=cfg.by, key=body.key, identity=identity)
    if cfg.resume_on_answer:
        cfg.resumer.start(leaf.run_id)
    by = identity.user if identity else cfg.by
    return {"run_id": leaf.run_id, "status": leaf.status, "by": by, "resuming": cfg.resume_on_answer}


@router.post("/runs/{run_id}/resume", response_model=ActionOut, dependencies=[Depends(require_csrf)],
             summary="Continue a run in the background")
def resume(run_id: str, cfg: Dashboard = Depends(dashboard)) -> dict[str, Any]:
    run = actions.resumable(cfg.store, run_id)
    cfg.resumer.start(run.run_id)
    return {"run_id": run.run_id, "status": run.status, "resuming": True}


class ReasonIn(BaseModel):
    reason: str = Field("", description="Why (journaled), e.g. what was fixed before a retry.")


@router.post("/runs/{run_id}/retry", response_model=ActionOut, dependencies=[Depends(require_csrf)],
             summary="Run a failed run again from where it failed, in the background")
def retry(run_id: str, body: ReasonIn, request: Request, cfg: Dashboard = Depends(dashboard)) -> dict[str, Any]:
    identity = session_identity(request)
    run = actions.retry(cfg.store, run_id, by=cfg.by, reason=body.reason, identity=identity)
    cfg.resumer.start(run.run_id)
    return {"run_id": run.run_id, "status": run.status, "by": identity.user if identity else cfg.by,
            "resuming": True}


@router.post("/runs/{run_id}/cancel", response_model=ActionOut, dependencies=[Depends(require_csrf)],
             summary="Cancel a run that is not executing (its unfinished children too)")
def cancel(run_id: str, body: ReasonIn, request: Request, cfg: Dashboard = Depends(dashboard)) -> dict[str, Any]:
    identity = session_identity(request)
    run = actions.cancel(cfg.store, run_id, by=cfg.by, reason=body.reason, identity=identity)
    return {"run_id": run.run_id, "status": run.status, "by": identity.user if identity else cfg.by,
            "resuming": False}
