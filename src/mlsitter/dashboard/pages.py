"""Server-rendered HTML pages: runs list, run page, artifacts, inbox and review, and the answer forms."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from mlsitter.dashboard import actions, queries
from mlsitter.dashboard.app import Dashboard, dashboard
from mlsitter.dashboard.guards import require_csrf, session_identity
from mlsitter.dashboard.links import file_url, is_sha, run_url
from mlsitter.dashboard.previews import build_preview, preview_kind
from mlsitter.dashboard.run_page import build_run_page, timeline_html
from mlsitter.dashboard.security import ARTIFACT_CSP, safe_next
from mlsitter.dashboard.sessions import Session
from mlsitter.errors import InputError
from mlsitter.runtime.artifacts import media_type_for
from mlsitter.runtime.store import RUN_ORDERS

router = APIRouter(include_in_schema=False)
INBOX_PAGE = 50


def _page(cfg: Dashboard, request: Request, template: str, **context: Any) -> Response:
    """Render a page with what every page shows: the inbox count, this session's CSRF token and notice."""
    session: Session | None = getattr(request.state, "session", None)
    context.setdefault("inbox_count", queries.inbox_count(cfg.store))
    context["csrf_token"] = session.csrf_token if session else ""
    context["answered"] = session.pop_flash() if session else None  # set by the server, never by the URL
    return cfg.templates.TemplateResponse(request, template, context)


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/runs", status_code=303)


@router.get("/runs")
def runs_list(
    request: Request,
    filters: Annotated[queries.RunFilters, Depends()],
    page: int = Query(1, ge=1),
    per: int = 50,
    cfg: Dashboard = Depends(dashboard),
) -> Response:
    if per not in queries.PAGE_SIZES:
        raise InputError(f"page size {per} is not offered; choose one of {', '.join(map(str, queries.PAGE_SIZES))}")
    data = queries.runs_page(cfg.store, filters, page=page, per_page=per)
    return _page(cfg, request, "runs.html", data=data, filters=filters, per=per, statuses=queries.STATUSES,
                 orders=list(RUN_ORDERS), gates=queries.gate_counts(cfg.store, data.items),
                 page_sizes=queries.PAGE_SIZES, stamp=queries.runs_stamp(cfg.store), stamp_url="/api/stamps/runs")


@router.get("/runs/{run_id}")
def run_detail(request: Request, run_id: str, cfg: Dashboard = Depends(dashboard)) -> Response:
    run = cfg.store.get_run(run_id)
    if run.run_id != run_id:  # a unique prefix: go to the full id
        return RedirectResponse(run_url(run.run_id), status_code=303)
    page = build_run_page(cfg.store, run.run_id)
    return _page(cfg, request, "run.html", p=page, run=page.view.run, view=page.view, timeline_html=timeline_html,
                 resume_on_answer=cfg.resume_on_answer, resume_error=cfg.resumer.errors.get(run.run_id),
                 stamp=queries.run_stamp(cfg.store, run.run_id) if page.is_live else "",
                 stamp_url=f"/api/runs/{run.run_id}/stamp" if page.is_live else "")


@router.get("/inbox")
def inbox(request: Request, page: int = Query(1, ge=1), cfg: Dashboard = Depends(dashboard)) -> Response:
    total, items = queries.pending_items(cfg.store, limit=INBOX_PAGE, offset=(page - 1) * INBOX_PAGE)
    pages = max(1, -(-total // INBOX_PAGE))
    return _page(cfg, request, "inbox.html", items=items, total=total, page=page, pages=pages,
                 links=_item_links(cfg, items), resume_on_answer=cfg.resume_on_answer,
                 stamp=queries.inbox_stamp(cfg.store), stamp_url="/api/stamps/inbox", inbox_count=total)


def _item_links(cfg: Dashboard, items: list[queries.PendingItem]) -> dict[str, str | None]:
    return {a["sha256"]: file_url(cfg.store, a["sha256"], a.get("name", "")) for it in items for a in it.artifacts}


@router.get("/runs/{run_id}/review")
def review(request: Request, run_id: str, cfg: Dashboard = Depends(dashboard)) -> Response:
    """One waiting question with its artifacts shown inline and the answer form."""
    return _review_page(cfg, request, run_id)


#: what a rejection without feedback is told, on the review page with the form still there (not a dead end)
NEEDS_FEEDBACK = "A rejection needs feedback saying what to change: write it in the Feedback box and reject again."


def _review_page(cfg: Dashboard, request: Request, run_id: str, error: str = "") -> Response:
    """The review page of ``run_id``; ``error`` is shown above the answer form."""
    from mlsitter.runtime.runner import Runner

    leaf = Runner(cfg.store).waiting_leaf(run_id)
    item = None
    if leaf.status == "waiting" and (leaf.waiting or {}).get("kind") in ("breakpoint", "external"):
        item = queries.pending_item(cfg.store, leaf)
    previews = {}
    if item:
        for a in item.artifacts:
            path = cfg.store.artifacts.find(a["sha256"])
            previews[a["sha256"]] = build_preview(path, a.get("media_type", "")) if path else None
    links = _item_links(cfg, [item]) if item else {}
    return _page(cfg, request, "review.html", item=item, run=leaf, previews=previews, links=links,
                 resume_on_answer=cfg.resume_on_answer, error=error)


@router.get("/runs/{run_id}/artifacts/{sha256}")
def artifact_page(request: Request, run_id: str, sha256: str, cfg: Dashboard = Depends(dashboard)) -> Response:
    run = cfg.store.get_run(run_id)
    record = queries.artifact_record(cfg.store, run.run_id, sha256)
    if record is None:
        raise HTTPException(404, f"run {run.run_id} recorded no artifact with sha256 {sha256}")
    path = cfg.store.artifacts.find(sha256)
    preview = build_preview(path, record.get("media_type", "")) if path else None
    return _page(cfg, request, "artifact.html", run=run, artifact=record, preview=preview,
                 url=file_url(cfg.store, sha256, record["name"]),
                 download=file_url(cfg.store, sha256, record["name"], download=True))


@router.get("/artifacts/{sha256}/lineage")
def lineage(request: Request, sha256: str, cfg: Dashboard = Depends(dashboard)) -> Response:
    """Every run whose journal records or refers to this artifact, oldest first, with their parents."""
    if not is_sha(sha256):
        raise InputError(f"{sha256!r} is not an artifact id (a 64-character lowercase SHA-256)")
    runs = queries.artifact_runs(cfg.store, sha256)
    return _page(cfg, request, "lineage.html", sha256=sha256, runs=runs,
                 problem=cfg.store.artifacts.check(sha256))


@router.get("/lineage/{kind}/{value:path}")
def version_lineage(request: Request, kind: str, value: str, cfg: Dashboard = Depends(dashboard)) -> Response:
    """Which run made a dataset or model version and which runs used it."""
    from mlsitter.dashboard.lineage import build_lineage

    if kind not in ("dataset", "model"):
        raise HTTPException(404, f"no lineage of kind {kind!r}; expected 'dataset' or 'model'")
    if not value.strip():
        raise InputError(f"give the {kind} version to trace")
    return _page(cfg, request, "version_lineage.html", lin=build_lineage(cfg.store, kind, value))


@router.get("/files/{rel:path}")
def artifact_file(rel: str, name: str = "", download: bool = False, cfg: Dashboard = Depends(dashboard)) -> Response:
    """An artifact's bytes; paths are resolved inside the artifact store and nothing outside it is served."""
    if "\x00" in rel or "\x00" in name:
        raise HTTPException(400, "an artifact path or name cannot contain a NUL byte")
    try:
        path = cfg.store.artifacts.resolve_inside(rel)
    except PermissionError as exc:
        raise HTTPException(403, str(exc)) from None
    except (ValueError, OSError):  # a name the file system cannot hold
        raise HTTPException(404, f"no artifact file {rel!r} in the store") from None
    if not path.is_file() or path.name.startswith("."):
        raise HTTPException(404, f"no artifact file {rel!r} in the store")
    shown = name or path.name
    media = media_type_for(shown if "." in shown else path.name)
    if preview_kind(media) == "html" or media.startswith("text/"):
        media += "; charset=utf-8"
    disposition = "attachment" if download else "inline"
    return FileResponse(path, media_type=media, content_disposition_type=disposition,
                        filename=_header_safe(shown) if download else None,
                        headers={"Content-Security-Policy": ARTIFACT_CSP, "X-Frame-Options": "SAMEORIGIN"})


def _header_safe(name: str) -> str:
    return "".join(c for c in name if c.isprintable() and c not in '"\\/;') or "artifact"


# -- state-changing forms -------------------------------------------------------------------------------
@router.post("/runs/{run_id}/answer", dependencies=[Depends(require_csrf)])
def answer_form(
    request: Request,
    run_id: str,
    decision: str = Form(...),
    feedback: str = Form(""),
    option: str = Form(""),
    key: str = Form(""),
    next: str = Form(""),
    cfg: Dashboard = Depends(dashboard),
) -> Response:
    if decision not in ("approve", "reject"):
        raise InputError(f"decision must be 'approve' or 'reject', got {decision!r}")
    if decision == "reject" and not feedback.strip():  # asked again where the question is, the form still there
        page = _review_page(cfg, request, run_id, error=NEEDS_FEEDBACK)
        page.status_code = 400
        return page
    leaf = actions.answer(cfg.store, run_id, approved=decision == "approve", feedback=feedback, by=cfg.by,
                          key=key or None, option=option or None, identity=session_identity(request))
    if cfg.resume_on_answer and leaf.status != "waiting":  # a partial approval: the run waits for more
        cfg.resumer.start(leaf.run_id)
    return _back(request, next, run_id, leaf.run_id)


@router.post("/runs/{run_id}/external", dependencies=[Depends(require_csrf)])
def external_form(
    request: Request,
    run_id: str,
    result: str = Form(...),
    key: str = Form(""),
    next: str = Form(""),
    cfg: Dashboard = Depends(dashboard),
) -> Response:
    leaf = actions.post_external(cfg.store, run_id, result=actions.parse_json_result(result), by=cfg.by,
                                 key=key or None, identity=session_identity(request))
    if cfg.resume_on_answer:
        cfg.resumer.start(leaf.run_id)
    return _back(request, next, run_id, leaf.run_id)


@router.post("/runs/{run_id}/resume", dependencies=[Depends(require_csrf)])
def resume_form(run_id: str, next: str = Form(""), cfg: Dashboard = Depends(dashboard)) -> Response:
    run = actions.resumable(cfg.store, run_id)
    cfg.resumer.start(run.run_id)
    return RedirectResponse(safe_next(next, run_url(run.run_id)), status_code=303)


@router.post("/runs/{run_id}/retry", dependencies=[Depends(require_csrf)])
def retry_form(request: Request, run_id: str, reason: str = Form(""), next: str = Form(""),
               cfg: Dashboard = Depends(dashboard)) -> Response:
    run = actions.retry(cfg.store, run_id, by=cfg.by, reason=reason, identity=session_identity(request))
    cfg.resumer.start(run.run_id)
    return RedirectResponse(safe_next(next, run_url(run.run_id)), status_code=303)


@router.post("/runs/{run_id}/cancel", dependencies=[Depends(require_csrf)])
def cancel_form(request: Request, run_id: str, reason: str = Form(""), next: str = Form(""),
                cfg: Dashboard = Depends(dashboard)) -> Response:
    run = actions.cancel(cfg.store, run_id, by=cfg.by, reason=reason, identity=session_identity(request))
    return RedirectResponse(safe_next(next, run_url(run.run_id)), status_code=303)


def _back(request: Request, next_url: str, run_id: str, answered: str) -> RedirectResponse:
    """Back to the page the form was on; its next render says the answer was journaled (a session notice)."""
    session: Session | None = getattr(request.state, "session", None)
    if session is not None:
        session.flash = answered
    return RedirectResponse(safe_next(next_url, run_url(run_id)), status_code=303)

