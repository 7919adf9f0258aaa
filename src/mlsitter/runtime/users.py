"""Local accounts: user names, their roles and (for the dashboard) a password hash, in a file outside the store.

The file is ``$MLSITTER_USERS_FILE`` or ``$XDG_CONFIG_HOME/mlsitter/users.json`` (``~/.config`` by default),
beside the journal keys and under the same discipline: created with mode 0600, refused when group or others
may read or write it. Passwords are kept as scrypt hashes (salted, memory-hard), never as text. An OS account
gets the roles of the entry with its name; approval rules read roles from here only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlsitter.errors import InputError, UsersFileError

USERS_FILE_ENV = "MLSITTER_USERS_FILE"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
"""User and role names: letters, digits, ``.``, ``_`` and ``-`` (no ``@`` or ``:``, which labels use)."""
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_MIN_PASSWORD = 8


@dataclass(frozen=True)
class User:
    """One account: its roles and, when it may log in to the dashboard, its password hash."""

    name: str
    roles: tuple[str, ...]
    password_hash: str | None = None


@dataclass
class Users:
    """The accounts of a users file (``path``), loaded with its permissions checked."""

    path: Path
    accounts: dict[str, User] = field(default_factory=dict)

    def roles_of(self, name: str) -> tuple[str, ...]:
        user = self.accounts.get(name)
        return user.roles if user else ()

    def add(self, name: str, roles: list[str], password: str | None = None) -> User:
        """Add or replace an account; a password (at least 8 characters) is stored as its scrypt hash."""
        check_name(name, "user name")
        for role in roles:
            check_name(role, "role")
        if password is not None and len(password) < _MIN_PASSWORD:
            raise InputError(f"the password of {name!r} is {len(password)} characters; at least {_MIN_PASSWORD} "
                             "are needed")
        user = User(name, tuple(dict.fromkeys(roles)), hash_password(password) if password is not None else None)
        self.accounts[name] = user
        return user

    def remove(self, name: str) -> None:
        if name not in self.accounts:
            raise InputError(f"no user {name!r} in {self.path}; `mlsitter users list` shows them")
        del self.accounts[name]

    def check_password(self, name: str, password: str) -> bool:
        """True when ``name`` has a password and ``password`` is it (constant-time comparison)."""
        user = self.accounts.get(name)
        return bool(user and user.password_hash and verify_password(password, user.password_hash))

    def save(self) -> None:
        """Write the file atomically, mode 0600, in a 0700 folder."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = {"users": {u.name: {"roles": list(u.roles), **({"password": u.password_hash} if u.password_hash else {})}
                          for u in sorted(self.accounts.values(), key=lambda u: u.name)}}
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, self.path)


def users_path() -> Path:
    named = os.environ.get(USERS_FILE_ENV)
    if named:
        return Path(named).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "mlsitter" / "users.json"


def load_users(path: Path | None = None) -> Users:
    """The users file (none yet: no accounts); one that others may read or that is malformed is an error."""
    path = path or users_path()
    if not path.exists():
        return Users(path)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UsersFileError(f"users file {path} can be read or written by other users (mode "
                             f"{stat.filemode(mode)}); run `chmod 600 {path}`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsersFileError(f"users file {path} is not readable JSON: {exc}") from None
    entries = data.get("users") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise UsersFileError(f"users file {path}: expected an object with a 'users' mapping of name to account")
    users = Users(path)
    for name, entry in entries.items():
        where = f"users file {path}, user {name!r}"
        if not isinstance(name, str) or not NAME.match(name):
            raise UsersFileError(f"{where}: not a valid user name (letters, digits, '.', '_', '-')")
        if not isinstance(entry, dict) or not isinstance(entry.get("roles", []), list):
            raise UsersFileError(f"{where}: expected {{\"roles\": [...], \"password\": \"scrypt$...\"}}")
        roles = entry.get("roles", [])
        if not all(isinstance(r, str) and NAME.match(r) for r in roles):
            raise UsersFileError(f"{where}: roles must be names (letters, digits, '.', '_', '-'), got {roles!r}")
        secret = entry.get("password")
        if secret is not None and not (isinstance(secret, str) and secret.startswith("scrypt$")):
            raise UsersFileError(f"{where}: 'password' must be an scrypt hash written by `mlsitter users add`")
        users.accounts[name] = User(name, tuple(roles), secret)
    return users


def check_name(name: str, what: str) -> None:
    if not NAME.match(name or ""):
        raise InputError(f"{what} {name!r} is not valid: use 1-64 letters, digits, '.', '_' or '-', starting "
                         "with a letter or digit")


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64) of ``password`` under a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def describe(user: User) -> dict[str, Any]:
    """What ``users list`` shows: never the hash."""
    return {"name": user.name, "roles": list(user.roles), "password": user.password_hash is not None}
