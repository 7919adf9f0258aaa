"""The dashboard application: ``create_app(store, token)`` wires pages, the JSON API and the guards."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlsitter.dashboard.actions import Resumer
from mlsitter.dashboard.formatting import FILTERS
from mlsitter.dashboard.links import artifact_page_url, run_url
from mlsitter.dashboard.security import (
    PAGE_CSP,
    bearer_token,
    cookie_name,
    csrf_token_for,
    token_matches,
)
from mlsitter.errors import MlsitterError, RunLockedError, RunNotFoundError, RunStateError, UserError
from mlsitter.runtime.runner import current_user
from mlsitter.runtime.store import Store

HERE = Path(__file__).parent


@dataclass
class Dashboard:
    """Everything a request handler needs: the store, the token, who answers, the resumer."""

    store: Store
    token: str
    resume_on_answer: bool
    by: str
    resumer: Resumer
    templates: Jinja2Templates

    @property
    def csrf_token(self) -> str:
        return csrf_token_for(self.token)


def dashboard(request: Request) -> Dashboard:
    return request.app.state.dashboard


def create_app(store: Store, token: str, resume_on_answer: bool = True, user: str | None = None) -> FastAPI:
    """A FastAPI app over ``store``; every request needs ``token``; answers are journaled as ``dashboard:<user>``."""
    if not token or len(token) < 8:
        raise ValueError("the dashboard token must be at least 8 characters long")
    from mlsitter.dashboard import api, pages

    app = FastAPI(
        title="mlsitter dashboard API",
        version="1",
        description="Runs, journals and pending approvals of one mlsitter store. Every call needs the access "
        "token (`Authorization: Bearer TOKEN`). Calls authenticated by the browser cookie instead must send "
        "the CSRF token in `X-CSRF-Token` when they change state.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters.update(FILTERS)
    templates.env.globals.update(csrf_token=csrf_token_for(token), run_url=run_url,
                                 artifact_page_url=artifact_page_url)
    app.state.dashboard = Dashboard(
        store=store, token=token, resume_on_answer=resume_on_answer, by=f"dashboard:{user or current_user()}",
        resumer=Resumer(store.home), templates=templates,
    )
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)
    _install_guard(app)
    _install_error_pages(app)
    return app


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


def _install_guard(app: FastAPI) -> None:
    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        cfg: Dashboard = request.app.state.dashboard
        method = _authenticate(request, cfg.token)
        if method is None:
            response = _unauthorized(request)
        elif method == "query" and request.method == "GET" and not request.url.path.startswith("/api/"):
            # Trade the token in the URL for a cookie, and drop it from the address bar and history.
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            response = RedirectResponse(request.url.path + ("?" + urlencode(rest) if rest else ""), status_code=303)
        else:
            request.state.auth = method
            response = await call_next(request)
        if method == "query":
            response.set_cookie(cookie_name(request.url.port), cfg.token, httponly=True, samesite="strict", path="/")
        _secure_headers(request, response)
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response


def _authenticate(request: Request, token: str) -> str | None:
    """How the request proved it holds the token: bearer, query or cookie (None: it did not)."""
    header = request.headers.get("authorization")
    if header is not None:
        return "bearer" if token_matches(bearer_token(header), token) else None
    query = request.query_params.get("token")
    if query is not None:
        return "query" if token_matches(query, token) else None
    return "cookie" if token_matches(request.cookies.get(cookie_name(request.url.port)), token) else None


def _unauthorized(request: Request) -> Response:
    message = ("this mlsitter dashboard needs its access token: open the URL `mlsitter ui` printed "
               "(it ends in ?token=...), or send `Authorization: Bearer TOKEN`")
    headers = {"WWW-Authenticate": "Bearer"}
    if _wants_json(request):
        return JSONResponse({"detail": message}, status_code=401, headers=headers)
    body = ("<!doctype html><meta charset=utf-8><title>mlsitter: token needed</title>"
            f"<h1>Access token needed</h1><p>{message.replace('`', '')}.</p>")
    return HTMLResponse(body, status_code=401, headers=headers)


def _secure_headers(request: Request, response: Response) -> None:
    h = response.headers
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "same-origin")
    h.setdefault("Content-Security-Policy", PAGE_CSP)
    h.setdefault("X-Frame-Options", "DENY")
    if not request.url.path.startswith("/static/"):
        h.setdefault("Cache-Control", "no-store")


def _install_error_pages(app: FastAPI) -> None:
    def render(request: Request, status: int, message: str) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": message}, status_code=status)
        cfg: Dashboard = request.app.state.dashboard
        return cfg.templates.TemplateResponse(request, "error.html", {"status": status, "message": message},
                                              status_code=status)

    @app.exception_handler(RunNotFoundError)
    async def not_found(request: Request, exc: RunNotFoundError) -> Response:
        return render(request, 404, str(exc))

    @app.exception_handler(MlsitterError)
    async def mlsitter_error(request: Request, exc: MlsitterError) -> Response:
        if isinstance(exc, (RunStateError, RunLockedError)):
            return render(request, 409, str(exc))
        return render(request, 400 if isinstance(exc, UserError) else 500, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return render(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}" for e in exc.errors()
        )
        return render(request, 422, f"invalid request: {problems}")
