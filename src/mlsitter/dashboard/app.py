"""The dashboard application: ``create_app(store, token)`` wires pages, the JSON API and the guards."""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlsitter.dashboard.actions import Resumer
from mlsitter.dashboard.formatting import FILTERS
from mlsitter.dashboard.links import artifact_page_url, run_url
from mlsitter.dashboard.security import (
    LOOPBACK_NAMES,
    MAX_BODY_BYTES,
    PAGE_CSP,
    bearer_token,
    cookie_name,
    host_allowed,
    new_host_name,
    token_matches,
)
from mlsitter.dashboard.sessions import Session, Sessions
from mlsitter.errors import MlsitterError, RunLockedError, RunNotFoundError, RunStateError, UserError
from mlsitter.runtime.runner import RecoveryPolicy, current_user
from mlsitter.runtime.store import Store

HERE = Path(__file__).parent
LOGIN_PATH = "/login"


@dataclass
class Dashboard:
    """Everything a request handler needs: the store, the token, logins, who answers, the resumer."""

    store: Store
    token: str
    resume_on_answer: bool
    by: str
    resumer: Resumer
    templates: Jinja2Templates
    sessions: Sessions
    host_name: str
    allowed_hosts: frozenset[str]

    def login_url(self, port: int, code: str | None = None) -> str:
        """Where a browser logs in: the random host name, with a one-time code when given."""
        return f"http://{self.host_name}:{port}{LOGIN_PATH}" + (f"?code={code}" if code else "")


def dashboard(request: Request) -> Dashboard:
    """The request's :class:`Dashboard` (a FastAPI dependency)."""
    cfg: Dashboard = request.app.state.dashboard
    return cfg


def create_app(store: Store, token: str, resume_on_answer: bool = True, user: str | None = None, *,
               host_name: str | None = None, allowed_hosts: Iterable[str] = (),
               clock: Callable[[], float] = time.monotonic, recover: RecoveryPolicy | None = None) -> FastAPI:
    """A FastAPI app over ``store``; every request needs ``token`` or a browser session; answers are
    journaled as ``dashboard:<user>``.

    ``host_name`` is the name browsers log in under (default: a random ``mlsitter-<hex>.localhost``);
    requests whose Host is neither it, a loopback name nor one of ``allowed_hosts`` are refused.
    ``clock`` times login codes and sessions (tests inject one). ``recover``: the background resumer also
    resumes runs whose runner died, under that policy.
    """
    if not token or len(token) < 8:
        raise ValueError("the dashboard token must be at least 8 characters long")
    from mlsitter.dashboard import api, attempts, compliance, login, pages, trends

    app = FastAPI(
        title="mlsitter dashboard API",
        version="1",
        description="Runs, journals and pending approvals of one mlsitter store. Every call needs the access "
        "token (`Authorization: Bearer TOKEN`). Calls authenticated by the browser's session cookie instead "
        "must send the session's CSRF token in `X-CSRF-Token` when they change state.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters.update(FILTERS)
    templates.env.globals.update(run_url=run_url, artifact_page_url=artifact_page_url)
    host_name = (host_name or new_host_name()).lower()
    names = {host_name, *LOOPBACK_NAMES, *(h.strip().strip("[]").lower().rstrip(".") for h in allowed_hosts)}
    app.state.dashboard = Dashboard(
        store=store, token=token, resume_on_answer=resume_on_answer, by=f"dashboard:{user or current_user()}",
        resumer=Resumer(store.home, recover), templates=templates, sessions=Sessions(clock=clock), host_name=host_name,
        allowed_hosts=frozenset(n for n in names if n),
    )
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(api.router)
    app.include_router(login.router)
    app.include_router(pages.router)
    app.include_router(compliance.router)
    app.include_router(trends.router)
    app.include_router(attempts.router)
    _install_guard(app)
    _install_error_pages(app)
    return app


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


def _plain_error(request: Request, status: int, title: str, message: str,
                headers: dict[str, str] | None = None) -> Response:
    """An error answered before any page logic ran: JSON for API clients, a minimal escaped page otherwise."""
    if _wants_json(request):
        return JSONResponse({"detail": message}, status_code=status, headers=headers)
    body = (f"<!doctype html><meta charset=utf-8><title>mlsitter: {html.escape(title)}</title>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(message.replace('`', ''))}.</p>")
    return HTMLResponse(body, status_code=status, headers=headers)


def _install_guard(app: FastAPI) -> None:
    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        cfg: Dashboard = request.app.state.dashboard
        response = _refuse_host(request, cfg) or _refuse_body(request)
        if response is None:
            auth, session = _authenticate(request, cfg)
            if auth is None and request.url.path != LOGIN_PATH:
                response = _unauthorized(request)
            else:
                request.state.auth, request.state.session = auth, session
                response = await call_next(request)
        _secure_headers(request, response)
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response


def _server_port(request: Request) -> int | None:
    server = request.scope.get("server")
    return int(server[1]) if server and server[1] is not None else None


def _refuse_host(request: Request, cfg: Dashboard) -> Response | None:
    """421 for a Host this server was not started for (DNS rebinding: evil.example resolving to 127.0.0.1)."""
    host = request.headers.get("host")
    if host_allowed(host, cfg.allowed_hosts, _server_port(request)):
        return None
    names = ", ".join(f"[{n}]" if ":" in n else n for n in sorted(cfg.allowed_hosts))
    return _plain_error(request, 421, "Wrong host name",
                       f"this mlsitter dashboard answers only to the host names it was started for ({names}, "
                       f"with its own port); the request named Host {host!r}. Open the URL `mlsitter ui` printed, "
                       "or start it with `--allow-host NAME` to add a name")


def _refuse_body(request: Request) -> Response | None:
    """413 for a request body over :data:`MAX_BODY_BYTES`; 411 for a body of unannounced length."""
    length = request.headers.get("content-length")
    if length is None:
        if "transfer-encoding" in request.headers:
            return _plain_error(request, 411, "Length required",
                               "send the request body with a Content-Length header (chunked bodies are refused)")
        return None
    if not length.strip().isdigit():
        return _plain_error(request, 400, "Bad request", f"Content-Length {length!r} is not a number of bytes")
    if int(length) > MAX_BODY_BYTES:
        return _plain_error(request, 413, "Request too large",
                           f"the request body is {int(length):,} bytes; at most {MAX_BODY_BYTES:,} are accepted")
    return None


def _authenticate(request: Request, cfg: Dashboard) -> tuple[str | None, Session | None]:
    """How the request proved who it is: ``bearer`` (the token) or ``session`` (the browser cookie)."""
    header = request.headers.get("authorization")
    if header is not None:
        return ("bearer" if token_matches(bearer_token(header), cfg.token) else None), None
    session = cfg.sessions.find(request.cookies.get(cookie_name(request.url.port)))
    return ("session" if session else None), session


def _unauthorized(request: Request) -> Response:
    message = ("this mlsitter dashboard needs you to log in: open the login URL `mlsitter ui` printed (it works "
               f"once, within a minute), paste the access token at {LOGIN_PATH}, or send `Authorization: Bearer TOKEN`")
    return _plain_error(request, 401, "Login needed", message, headers={"WWW-Authenticate": "Bearer"})


def redact(message: str, store: Store) -> str:
    """Error messages name the store as ``$MLSITTER_HOME``, never by its absolute path."""
    for path in sorted({str(store.home), str(Path(store.home).resolve())}, key=len, reverse=True):
        message = message.replace(path, "$MLSITTER_HOME")
    return message


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
        cfg: Dashboard = request.app.state.dashboard
        message = redact(message, cfg.store)
        if _wants_json(request):
            return JSONResponse({"detail": message}, status_code=status)
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
