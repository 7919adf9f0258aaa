"""Access token, CSRF token and response headers of the dashboard.

Every request must carry the access token (``?token=`` once, then an HttpOnly cookie, or an
``Authorization: Bearer`` header). A state-changing request authenticated by the cookie must also
carry the CSRF token, which only pages served to a token holder contain.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

TOKEN_COOKIE = "mlsitter_token"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

# The dashboard's own pages: scripts and styles from the dashboard only; nothing may frame it.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src-elem 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; frame-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)
# Artifacts (reports): a unique opaque origin with no scripts, no forms, no network, no navigation.
ARTIFACT_CSP = (
    "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
    "frame-ancestors 'self'"
)


def cookie_name(port: int | None) -> str:
    """Cookies ignore ports, so each dashboard port gets its own cookie (two dashboards do not clash)."""
    return f"{TOKEN_COOKIE}_{port or 80}"


def new_token() -> str:
    """A random access token, printed by ``mlsitter ui`` when the user gives none."""
    return secrets.token_urlsafe(24)


def token_matches(given: str | None, token: str) -> bool:
    """Constant-time comparison of a presented token with the dashboard's token."""
    return bool(given) and hmac.compare_digest(given.encode(), token.encode())


def csrf_token_for(token: str) -> str:
    """The CSRF token is derived from the access token, so it needs no server-side session."""
    return hmac.new(token.encode(), b"mlsitter-dashboard-csrf", hashlib.sha256).hexdigest()


def csrf_matches(given: str | None, token: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), csrf_token_for(token).encode())


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, else None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def same_origin(origin: str | None, host: str | None) -> bool:
    """False when the request's ``Origin`` names another site than this server's host:port.

    No Origin, or the opaque ``null`` (privacy settings), proves nothing either way: the CSRF token decides.
    """
    if not origin or origin == "null":
        return True
    if not host:
        return False
    return urlsplit(origin).netloc.lower() == host.lower()


def safe_next(target: str | None, default: str) -> str:
    """A redirect target restricted to a path on this server (no scheme, no ``//host``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
