"""A throwaway PostgreSQL server on 127.0.0.1, for tests, benchmarks and trying the PostgreSQL journal.

``initdb`` into a temporary folder and ``pg_ctl start`` on a free port, with password (SCRAM) login over
TCP; :meth:`ThrowawayPostgres.stop` (or leaving the ``with`` block, even on an error) stops it and deletes
the folder. Run as root, the server runs as the ``postgres`` account, since PostgreSQL refuses root.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Callable

from mlsitter.runtime.store import _pid_alive

USER = "mlsitter"


def postgres_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (on PATH, or the newest /usr/lib/postgresql/N/bin)."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ThrowawayPostgres:
    """One temporary server; :attr:`url` connects as :data:`USER` with :attr:`password` to ``postgres``."""

    settings: dict[str, str] = field(default_factory=dict)
    """Server settings (``-c name=value``), e.g. ``{"fsync": "off"}`` for tests that never lose power."""
    port: int = 0
    parent: str | None = None
    """The folder to make the server's temporary folder in (the system's temporary folder by default)."""
    password: str = field(default_factory=lambda: secrets.token_hex(12))
    root: Path | None = None
    _bin: Path | None = None

    def start(self) -> "ThrowawayPostgres":
        self._bin = postgres_bin()
        if self._bin is None:
            raise RuntimeError("PostgreSQL's initdb and pg_ctl are not installed (apt-get install postgresql-15)")
        self.root = Path(tempfile.mkdtemp(prefix="mlsitter-pg-", dir=self.parent))
        try:
            pwfile = self.root / "pw"
            pwfile.write_text(self.password + "\n")
            self._own(self.root)
            self._tool("initdb", "-D", str(self.root / "data"), "-U", USER, f"--pwfile={pwfile}", "-E", "UTF8",
                       "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync")
            pwfile.unlink()
            self.port = self.port or free_port()
            options = [f"-p {self.port}", f"-k {self.root}", "-c listen_addresses=127.0.0.1"]
            options += [f"-c {k}={v}" for k, v in self.settings.items()]
            self._tool("pg_ctl", "-D", str(self.root / "data"), "-l", str(self.root / "log"), "-w", "-t", "60",
                       "-o", " ".join(options), "start")
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def database_url(self, database: str, *, password: str | None = None) -> str:
        return f"postgresql://{USER}:{password or self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        self._admin(f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def create_schema(self, name: str) -> str:
        """A new empty schema in the ``postgres`` database, and a URL whose tables go there (cheaper than a
        database: one per test)."""
        self._admin(f'CREATE SCHEMA "{name}"')
        return f"{self.url}?options=-csearch_path%3D{name}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.encode())

    def stop(self) -> None:
        """Stop the server at once (no checkpoint: its data is thrown away) and delete its folder."""
        if self.root is None:
            return
        pidfile = self.root / "data" / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pid = 0
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGQUIT)  # what ``pg_ctl stop -m immediate`` sends, without its 1 s polls
            deadline = time.monotonic() + 30
            while pidfile.exists() and _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def log(self) -> str:
        path = self.root / "log" if self.root else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    def __enter__(self) -> "ThrowawayPostgres":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # -- running the server's tools as a user PostgreSQL accepts ---------------------------------------
    def _tool(self, name: str, *args: str, check: bool = True) -> None:
        assert self._bin is not None
        proc = subprocess.run([str(self._bin / name), *args], capture_output=True, text=True, timeout=120,
                              preexec_fn=_drop_root(), env={**os.environ, "LC_ALL": "C"})
        if check and proc.returncode != 0:
            raise RuntimeError(f"{name} failed ({proc.returncode}): {(proc.stderr or proc.stdout).strip()[-2000:]}"
                               f"\n{self.log()[-2000:]}")

    def _own(self, path: Path) -> None:
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(path, account.pw_uid, account.pw_gid)
            for child in path.iterdir():
                os.chown(child, account.pw_uid, account.pw_gid)


def _drop_root() -> Callable[[], Any] | None:
    """Run as root, the child becomes ``postgres`` (initdb and the server refuse to run as root)."""
    if os.geteuid() != 0:
        return None
    account = pwd.getpwnam("postgres")

    def demote() -> None:
        os.setgid(account.pw_gid)
        os.setuid(account.pw_uid)

    return demote
