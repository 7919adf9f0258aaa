"""Browser login: a named user's own password (``mlsitter users add --password``) opens a session journaled
under that user; the one-time code from ``mlsitter ui`` or the access token opens an admin (token) session.

Logins happen only under the dashboard's random host name: a login attempted at 127.0.0.1 or localhost
is sent there first, so the session cookie is never set for a name that other local servers share.
"""

from __future__ import annotations

import socket

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from mlsitter.dashboard.app import LOGIN_PATH, Dashboard, dashboard
from mlsitter.dashboard.guards import require_csrf
from mlsitter.dashboard.security import LOOPBACK_NAMES, cookie_name, same_origin, split_host, token_matches
from mlsitter.dashboard.sessions import LOGIN_CODE_TTL
from mlsitter.runtime.identity import AUTH_DASHBOARD_PASSWORD, Identity

router = APIRouter(include_in_schema=False)


def _elsewhere(request: Request, cfg: Dashboard) -> Response | None:
    """A redirect to the random host name when the browser came by a shared loopback name, else None."""
    name, _ = split_host(request.headers.get("host", ""))
    if name == cfg.host_name or name not in LOOPBACK_NAMES:
        return None
    target = cfg.login_url(request.url.port or 80) + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(target, status_code=307 if request.method == "POST" else 303)


def _logged_in(request: Request, cfg: Dashboard, identity: Identity | None = None) -> Response:
    response = RedirectResponse("/runs", status_code=303)
    response.set_cookie(cookie_name(request.url.port), cfg.sessions.open(identity), httponly=True,
                        samesite="strict", path="/")
    return response


def _form(request: Request, cfg: Dashboard, problem: str = "", status: int = 200) -> Response:
    return cfg.templates.TemplateResponse(request, "login.html", {"problem": problem, "ttl": int(LOGIN_CODE_TTL)},
                                          status_code=status)


@router.get(LOGIN_PATH)
def login_page(request: Request, code: str = "", cfg: Dashboard = Depends(dashboard)) -> Response:
    """Trade a one-time login code for a session cookie, then go to a clean URL; without a code, the form."""
    moved = _elsewhere(request, cfg)
    if moved is not None:
        return moved
    if code:
        if cfg.sessions.redeem(code):
            return _logged_in(request, cfg)
        return _form(request, cfg, "This login code was already used or has expired (a code works once, within "
                     f"{int(LOGIN_CODE_TTL)} seconds). Paste the access token below, or restart `mlsitter ui` "
                     "for a new login URL.", status=401)
    if getattr(request.state, "session", None) is not None:
        return RedirectResponse("/runs", status_code=303)
    return _form(request, cfg)


@router.post(LOGIN_PATH)
def login_with_token(request: Request, token: str = Form(""), user: str = Form(""), password: str = Form(""),
                     cfg: Dashboard = Depends(dashboard)) -> Response:
    """A user's name and password, or the access token, from the login form (a POST body never lands in the
    browser's history)."""
    moved = _elsewhere(request, cfg)
    if moved is not None:
        return moved
    if not same_origin(request.headers.get("origin"), request.headers.get("host")):
        return _form(request, cfg, "Cross-origin login refused: the Origin header names another site.", 403)
    if user.strip():
        from mlsitter.runtime.users import load_users

        name = user.strip()
        if not load_users().check_password(name, password):
            return _form(request, cfg, "Unknown user or wrong password.", status=401)
        return _logged_in(request, cfg, Identity(name, AUTH_DASHBOARD_PASSWORD, socket.gethostname()))
    if not token_matches(token.strip(), cfg.token):
        return _form(request, cfg, "That is not this dashboard's access token.", status=401)
    return _logged_in(request, cfg)


@router.post("/logout", dependencies=[Depends(require_csrf)])
def logout(request: Request, cfg: Dashboard = Depends(dashboard)) -> Response:
    """End this browser's session."""
    name = cookie_name(request.url.port)
    cfg.sessions.close(request.cookies.get(name))
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    response.delete_cookie(name, path="/", httponly=True, samesite="strict")
    return response
