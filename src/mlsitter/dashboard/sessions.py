"""Browser logins kept in this server's memory: one-time login codes and the sessions they open.

A login code works once and for :data:`LOGIN_CODE_TTL` seconds, so the URL ``mlsitter ui`` prints is
useless once it sits in the browser's history. The session cookie it is exchanged for is a random value,
neither equal to nor derived from the access token, known only to this server process: a restart, or
another dashboard, does not accept it.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from mlsitter.runtime.identity import Identity

LOGIN_CODE_TTL = 60.0
SESSION_TTL = 12 * 3600.0
MAX_SESSIONS = 64
MAX_CODES = 16


@dataclass
class Session:
    """One logged-in browser: its CSRF token, the notice to show on its next page, and the named user who
    logged in with their own password (None: logged in with the shared token or a login code, as admin)."""

    csrf_token: str
    expires_at: float
    flash: str | None = None
    identity: Identity | None = None

    def pop_flash(self) -> str | None:
        """The pending notice (a run id whose answer was journaled), shown once."""
        flash, self.flash = self.flash, None
        return flash


def _key(secret: str) -> str:
    """Codes and sessions are stored by their hash: a lookup's timing says nothing about the value."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass
class Sessions:
    """Login codes and sessions of one dashboard process, bounded in number, with an injectable clock."""

    clock: Callable[[], float] = time.monotonic
    code_ttl: float = LOGIN_CODE_TTL
    session_ttl: float = SESSION_TTL
    _codes: OrderedDict[str, float] = field(default_factory=OrderedDict)
    _sessions: OrderedDict[str, Session] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def new_login_code(self) -> str:
        """A code that logs one browser in, once, within ``code_ttl`` seconds."""
        code = secrets.token_urlsafe(18)
        with self._lock:
            self._codes[_key(code)] = self.clock() + self.code_ttl
            while len(self._codes) > MAX_CODES:
                self._codes.popitem(last=False)
        return code

    def redeem(self, code: str | None) -> bool:
        """Spend a login code: True the first time, within its lifetime; False ever after."""
        if not code:
            return False
        with self._lock:
            expires = self._codes.pop(_key(code), None)
        return expires is not None and self.clock() <= expires

    def open(self, identity: Identity | None = None) -> str:
        """Start a session (of ``identity`` when a named user logged in); the returned id goes into the cookie
        and nowhere else."""
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[_key(session_id)] = Session(csrf_token=secrets.token_urlsafe(32),
                                                       expires_at=self.clock() + self.session_ttl, identity=identity)
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        return session_id

    def find(self, session_id: str | None) -> Session | None:
        """The live session with this id, else None (unknown, expired, or from another server process)."""
        if not session_id:
            return None
        key = _key(session_id)
        with self._lock:
            session = self._sessions.get(key)
            if session is not None and self.clock() > session.expires_at:
                del self._sessions[key]
                session = None
        return session

    def close(self, session_id: str | None) -> None:
        """Log a browser out."""
        if session_id:
            with self._lock:
                self._sessions.pop(_key(session_id), None)
