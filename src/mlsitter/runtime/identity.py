"""Who answered and how they were authenticated: the identity journaled with every answer.

An identity is *authenticated* (the OS account running the command, a dashboard login); a name typed with
``--by`` (or ``MLSITTER_USER``) is only *claimed* and is journaled apart as ``claimed_by``. Approval rules
look at the authenticated user only.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

AUTH_OS = "os"
AUTH_DASHBOARD_TOKEN = "dashboard-token"
AUTH_DASHBOARD_PASSWORD = "dashboard-password"
AUTH_POLICY = "policy"


@dataclass(frozen=True)
class Identity:
    """An authenticated user: ``user`` (an account name), ``auth`` (how it was proven) and the host."""

    user: str
    auth: str
    host: str = ""

    @property
    def label(self) -> str:
        """The name shown when no other is given: ``user@host`` (or the user alone)."""
        return f"{self.user}@{self.host}" if self.host else self.user

    def as_dict(self) -> dict[str, Any]:
        return {"user": self.user, "auth": self.auth, "host": self.host}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Identity":
        return cls(str(data.get("user", "")), str(data.get("auth", "")), str(data.get("host", "")))


def os_identity() -> Identity:
    """The OS account this process runs as, from the process's user id (never from ``$USER`` or ``$LOGNAME``)."""
    try:
        import pwd

        user = pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):  # no passwd entry (a bare container) or no pwd module (Windows)
        user = f"uid-{os.getuid()}" if hasattr(os, "getuid") else os.environ.get("USERNAME", "unknown")
    return Identity(user, AUTH_OS, socket.gethostname())


def answered_by(identity: Identity, claimed: str | None) -> dict[str, Any]:
    """The fields an answer journals about who gave it: ``by`` (the name shown: the claim when there is one),
    ``identity`` (authenticated) and ``claimed_by`` (only when a name was claimed)."""
    fields: dict[str, Any] = {"by": claimed or identity.label, "identity": identity.as_dict()}
    if claimed:
        fields["claimed_by"] = claimed
    return fields
