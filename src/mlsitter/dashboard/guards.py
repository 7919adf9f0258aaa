"""Request dependencies shared by pages and API: the CSRF check on every state-changing request."""

from __future__ import annotations

from fastapi import HTTPException, Request

from mlsitter.dashboard.security import CSRF_FIELD, CSRF_HEADER, same_origin, token_matches
from mlsitter.runtime.identity import Identity


async def require_csrf(request: Request) -> None:
    """Refuse a cross-origin POST, and a session-authenticated one that lacks its session's CSRF token.

    A request with an ``Authorization: Bearer`` header needs no CSRF token: a browser never adds that
    header to a forged cross-site request.
    """
    if not same_origin(request.headers.get("origin"), request.headers.get("host")):
        raise HTTPException(403, "cross-origin request refused: the Origin header names another site")
    if getattr(request.state, "auth", None) == "bearer":
        return
    given = request.headers.get(CSRF_HEADER)
    content_type = request.headers.get("content-type", "")
    if given is None and content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    session = getattr(request.state, "session", None)
    if session is None or not token_matches(given, session.csrf_token):
        raise HTTPException(403, "missing or wrong CSRF token: reload the dashboard page and submit again")


def session_identity(request: Request) -> Identity | None:
    """The named user whose browser session made the request (None: the shared token, or an admin session)."""
    session = getattr(request.state, "session", None)
    return session.identity if session is not None else None
