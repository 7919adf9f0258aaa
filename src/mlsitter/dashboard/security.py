"""Access token, session cookie, CSRF token, Host allow-list and response headers of the dashboard.

API clients send the access token as ``Authorization: Bearer``. Browsers log in with a one-time code
(or by pasting the token into ``/login``) and then carry a session cookie set on a random host name,
``mlsitter-<random>.localhost``, which no other local web server is visited under. A state-changing
request authenticated by the cookie must also carry its session's CSRF token, which only pages served
to that session contain. Requests naming a Host the server was not started for are refused.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

SESSION_COOKIE = "mlsitter_session"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
MAX_BODY_BYTES = 1024 * 1024
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
    """Cookies ignore ports, so each dashboard port gets its own cookie name (two dashboards do not clash)."""
    return f"{SESSION_COOKIE}_{port or 80}"


def new_host_name() -> str:
    """A random loopback name for the browser (Chromium and Firefox resolve ``*.localhost`` to loopback).

    Cookies ignore ports: a cookie set for 127.0.0.1 or localhost also goes to every other web server on
    that name. A host-only cookie on this name goes only to servers visited under this name.
    """
    return f"mlsitter-{secrets.token_hex(6)}.localhost"


def split_host(host: str) -> tuple[str, int | None]:
    """``"[::1]:8765"`` -> ``("::1", 8765)``; the name lowercased, without a trailing dot; port None if absent.

    Raises ValueError for a malformed Host header.
    """
    host = host.strip()
    if host.startswith("["):
        name, sep, rest = host[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"malformed Host {host!r}")
        port_text = rest[1:] if rest else ""
    else:
        name, _, port_text = host.rpartition(":") if ":" in host else (host, "", "")
    if not name or (port_text and not port_text.isdigit()):
        raise ValueError(f"malformed Host {host!r}")
    return name.lower().rstrip("."), int(port_text) if port_text else None


def host_allowed(host: str | None, names: frozenset[str], port: int | None) -> bool:
    """True when the Host header names one of ``names`` (and this server's ``port``, when both are known).

    Stops DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1 still sends
    ``Host: evil.example``.
    """
    if not host:
        return False
    try:
        name, given_port = split_host(host)
    except ValueError:
        return False
    return name in names and (port is None or given_port is None or given_port == port)


def new_token() -> str:
    """A random access token, printed by ``mlsitter ui`` when the user gives none."""
    return secrets.token_urlsafe(24)


def token_matches(given: str | None, token: str) -> bool:
    """Constant-time comparison of a presented secret (token or CSRF token) with the expected one."""
    if not given:
        return False
    return hmac.compare_digest(given.encode(), token.encode())


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
