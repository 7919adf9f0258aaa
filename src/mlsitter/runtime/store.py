"""The embedded store: one SQLite database (WAL) holding runs and their hash-chained journals.

The ``runs`` table is a projection for listing and locking; the truth is the ``events`` table, where
each event carries the hash of the one before it so any edit is detected by :meth:`Store.verify`.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from mlsitter.errors import JournalCorruptError, RunLockedError, RunNotFoundError
from mlsitter.runtime.artifacts import ArtifactStore
from mlsitter.runtime.canonical import GENESIS_HASH, canonical_json, event_hash, journal_json
from mlsitter.runtime.home import mlsitter_home

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs(
    run_id TEXT PRIMARY KEY,
    process TEXT NOT NULL,
    target TEXT NOT NULL,
    status TEXT NOT NULL,
    inputs TEXT NOT NULL,
    policy TEXT NOT NULL,
    executor TEXT NOT NULL,
    seed INTEGER NOT NULL,
    parent_run_id TEXT,
    parent_key TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    ended_at REAL,
    wake_at REAL,
    waiting TEXT,
    result TEXT,
    error TEXT,
    gates_passed INTEGER NOT NULL DEFAULT 0,
    gates_failed INTEGER NOT NULL DEFAULT 0,
    lock_owner TEXT,
    lock_pid INTEGER,
    lock_host TEXT,
    lock_at REAL
);
CREATE INDEX IF NOT EXISTS runs_by_created ON runs(created_at);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status, created_at);
CREATE INDEX IF NOT EXISTS runs_by_process ON runs(process, created_at);
CREATE INDEX IF NOT EXISTS runs_by_parent ON runs(parent_run_id);
CREATE INDEX IF NOT EXISTS runs_by_wake ON runs(wake_at) WHERE wake_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS events(
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    at REAL NOT NULL,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY(run_id, seq)
) WITHOUT ROWID;
"""

# Run statuses. ``ready`` = waiting run whose answer has arrived and that can be resumed.
RESUMABLE = {"running", "waiting", "ready", "interrupted"}
FINAL = {"completed", "failed", "cancelled"}


@dataclass
class Event:
    run_id: str
    seq: int
    type: str
    at: float
    data: dict[str, Any]
    prev_hash: str = ""
    hash: str = ""


@dataclass
class RunRecord:
    """One row of the ``runs`` table, decoded."""

    run_id: str
    process: str
    target: str
    status: str
    inputs: dict[str, Any]
    policy: str
    executor: str
    seed: int
    parent_run_id: str | None
    parent_key: str | None
    created_at: float
    updated_at: float
    ended_at: float | None
    wake_at: float | None
    waiting: dict[str, Any] | None
    result: Any
    error: str | None
    gates_passed: int
    gates_failed: int
    lock_owner: str | None = None
    lock_pid: int | None = None
    lock_host: str | None = None
    lock_at: float | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "RunRecord":
        d = dict(row)
        d["inputs"] = json.loads(d["inputs"])
        d["waiting"] = json.loads(d["waiting"]) if d["waiting"] else None
        d["result"] = json.loads(d["result"]) if d["result"] else None
        return cls(**d)


@dataclass
class VerifyReport:
    """Outcome of :meth:`Store.verify` for one run."""

    run_id: str
    ok: bool
    events: int
    artifacts: int
    problems: list[str] = field(default_factory=list)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30.0, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    return conn


class Store:
    """Runs, journals and artifacts under one home folder. Thread-safe for one process."""

    def __init__(self, home: str | Path | None = None) -> None:
        self.home = Path(home).resolve() if home else mlsitter_home()
        self.home.mkdir(parents=True, exist_ok=True)
        self.db_path = self.home / "mlsitter.db"
        self.artifacts = ArtifactStore(self.home / "artifacts")
        self._lock = threading.RLock()
        self.conn = self._open()

    # -- connection -----------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        try:
            conn = _connect(self.db_path)
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: every commit reaches the OS before the call returns, so a SIGKILL of
            # the process loses nothing; only a power cut may lose the last commits (never corrupts).
            sync = "FULL" if os.environ.get("MLSITTER_DURABILITY") == "full" else "NORMAL"
            conn.execute(f"PRAGMA synchronous={sync}")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.executescript(_SCHEMA)
            conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        except sqlite3.DatabaseError as exc:
            raise JournalCorruptError(
                f"cannot open the mlsitter database {self.db_path}: {exc}. "
                "It is not a valid SQLite file (was it overwritten?). Move it aside to start a new store, "
                "or point MLSITTER_HOME at another folder."
            ) from None
        return conn

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def run_dir(self, run_id: str) -> Path:
        return self.home / "runs" / run_id

    # -- runs -----------------------------------------------------------------------------------
    def create_run(
        self,
        *,
        process: str,
        target: str,
        inputs: dict[str, Any],
        policy: str,
        executor: str,
        seed: int,
        parent_run_id: str | None = None,
        parent_key: str | None = None,
        run_id: str | None = None,
    ) -> str:
        run_id = run_id or new_run_id()
        now = time.time()
        with self._lock:
            self.conn.execute(
                "INSERT INTO runs(run_id, process, target, status, inputs, policy, executor, seed,"
                " parent_run_id, parent_key, created_at, updated_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, process, target, "created", canonical_json(inputs), policy, executor, seed,
                 parent_run_id, parent_key, now, now),
            )
        return run_id

    def get_run(self, run_id: str) -> RunRecord:
        row = self.conn.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            row = self.conn.execute(
                "SELECT * FROM runs WHERE run_id LIKE ? ESCAPE '\\' ORDER BY created_at DESC LIMIT 2",
                (_like_prefix(run_id),),
            ).fetchall()
            if len(row) == 1:
                return RunRecord.from_row(row[0])
            hint = " (the prefix matches several runs; give more characters)" if row else ""
            raise RunNotFoundError(f"no run with id {run_id!r} in {self.db_path}{hint}; `mlsitter runs` lists them")
        return RunRecord.from_row(row)

    def update_run(self, run_id: str, **fields: Any) -> None:
        for key in ("waiting", "result"):
            if key in fields and fields[key] is not None:
                fields[key] = canonical_json(fields[key])
        fields["updated_at"] = time.time()
        cols = ", ".join(f"{k}=?" for k in fields)
        with self._lock:
            self.conn.execute(f"UPDATE runs SET {cols} WHERE run_id=?", (*fields.values(), run_id))

    def list_runs(
        self,
        *,
        status: str | None = None,
        process: str | None = None,
        search: str | None = None,
        parent: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[RunRecord]:
        where, args = self._run_filter(status=status, process=process, search=search, parent=parent)
        rows = self.conn.execute(
            f"SELECT * FROM runs {where} ORDER BY created_at DESC, run_id DESC LIMIT ? OFFSET ?",
            (*args, limit, offset),
        ).fetchall()
        return [RunRecord.from_row(r) for r in rows]

    def count_runs(self, **filters: Any) -> int:
        where, args = self._run_filter(**filters)
        return int(self.conn.execute(f"SELECT COUNT(*) FROM runs {where}", args).fetchone()[0])

    @staticmethod
    def _run_filter(*, status: str | None = None, process: str | None = None, search: str | None = None,
                    parent: str | None = None) -> tuple[str, tuple[Any, ...]]:
        clauses, args = [], []
        if status:
            clauses.append("status=?")
            args.append(status)
        if process:
            clauses.append("process=?")
            args.append(process)
        if search:
            clauses.append("run_id LIKE ? ESCAPE '\\'")
            args.append(_like_prefix(search))
        if parent:
            clauses.append("parent_run_id=?")
            args.append(parent)
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", tuple(args)

    def due_runs(self, now: float | None = None) -> list[str]:
        """Runs a worker should resume: timers that are due, and waiting runs whose answer arrived."""
        now = time.time() if now is None else now
        rows = self.conn.execute(
            "SELECT run_id FROM runs WHERE (status='waiting' AND wake_at IS NOT NULL AND wake_at<=?)"
            " OR status='ready' ORDER BY created_at",
            (now,),
        ).fetchall()
        return [r[0] for r in rows]

    def processes(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT process FROM runs ORDER BY process")]

    # -- one writer per run ---------------------------------------------------------------------
    def acquire(self, run_id: str) -> str:
        """Take the run's writer lock; a dead holder's lock (same host, pid gone) is taken over."""
        owner = uuid.uuid4().hex
        host, pid = socket.gethostname(), os.getpid()
        with self._lock:
            cur = self.conn.execute(
                "UPDATE runs SET lock_owner=?, lock_pid=?, lock_host=?, lock_at=? WHERE run_id=? AND lock_owner IS NULL",
                (owner, pid, host, time.time(), run_id),
            )
            if cur.rowcount == 1:
                return owner
            run = self.get_run(run_id)
            if run.lock_owner and run.lock_host == host and not _pid_alive(run.lock_pid):
                cur = self.conn.execute(
                    "UPDATE runs SET lock_owner=?, lock_pid=?, lock_host=?, lock_at=? WHERE run_id=? AND lock_owner=?",
                    (owner, pid, host, time.time(), run_id, run.lock_owner),
                )
                if cur.rowcount == 1:
                    return owner
                run = self.get_run(run_id)
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.lock_at or 0))
        raise RunLockedError(
            f"run {run_id} is already being executed by process {run.lock_pid} on {run.lock_host} "
            f"(since {since}); only one runner may write a run at a time. Wait for it to finish or stop "
            f"that process, then try again."
        )

    def release(self, run_id: str, owner: str) -> None:
        with self._lock:
            self.conn.execute(
                "UPDATE runs SET lock_owner=NULL, lock_pid=NULL, lock_host=NULL, lock_at=NULL WHERE run_id=? AND lock_owner=?",
                (run_id, owner),
            )

    def is_locked_by_live_process(self, run: RunRecord) -> bool:
        if not run.lock_owner:
            return False
        return run.lock_host != socket.gethostname() or _pid_alive(run.lock_pid)

    # -- events ---------------------------------------------------------------------------------
    def events(self, run_id: str, *, after: int = 0, types: tuple[str, ...] | None = None) -> list[Event]:
        sql = "SELECT run_id, seq, type, at, data, prev_hash, hash FROM events WHERE run_id=? AND seq>?"
        args: list[Any] = [run_id, after]
        if types:
            sql += f" AND type IN ({','.join('?' * len(types))})"
            args += list(types)
        rows = self.conn.execute(sql + " ORDER BY seq", args).fetchall()
        try:
            return [Event(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6]) for r in rows]
        except json.JSONDecodeError as exc:
            raise JournalCorruptError(f"journal of run {run_id} holds an event that is not valid JSON: {exc}") from None

    def count_events(self, run_id: str) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM events WHERE run_id=?", (run_id,)).fetchone()[0])

    def journal(self, run_id: str) -> "JournalWriter":
        """A writer positioned after the run's last event (hold the run's lock while writing)."""
        row = self.conn.execute(
            "SELECT seq, hash FROM events WHERE run_id=? ORDER BY seq DESC LIMIT 1", (run_id,)
        ).fetchone()
        seq, last = (row[0], row[1]) if row else (0, GENESIS_HASH)
        return JournalWriter(self, run_id, seq, last)

    # -- verification ---------------------------------------------------------------------------
    def verify(self, run_id: str) -> VerifyReport:
        """Recompute the hash chain and every recorded artifact's content hash."""
        self.get_run(run_id)
        rows = self.conn.execute(
            "SELECT seq, type, at, data, prev_hash, hash FROM events WHERE run_id=? ORDER BY seq", (run_id,)
        ).fetchall()
        problems: list[str] = []
        prev = GENESIS_HASH
        seen: set[str] = set()
        for expected_seq, (seq, type_, at, data, prev_hash, digest) in enumerate(rows, start=1):
            if seq != expected_seq:
                problems.append(f"event #{expected_seq} is missing (next event found is #{seq})")
                break
            if prev_hash != prev:
                problems.append(f"event #{seq} ({type_}) does not link to the event before it")
            if event_hash(prev_hash, run_id, seq, type_, at, data) != digest:
                problems.append(f"event #{seq} ({type_}) was modified: its content does not match its hash")
            prev = digest
            try:
                payload = json.loads(data)
            except json.JSONDecodeError:
                problems.append(f"event #{seq} ({type_}) is not valid JSON")
                continue
            for sha, label in _artifact_refs(payload):
                if sha in seen:
                    continue
                seen.add(sha)
                problem = self.artifacts.check(sha)
                if problem:
                    problems.append(f"artifact {label} (sha256 {sha[:12]}…, event #{seq}): {problem}")
        return VerifyReport(run_id, not problems, len(rows), len(seen), problems)


def _artifact_refs(payload: Any) -> Iterator[tuple[str, str]]:
    """Every artifact digest referenced by an event payload, with a readable label."""
    if isinstance(payload, dict):
        sha = payload.get("sha256")
        if isinstance(sha, str) and len(sha) == 64 and ("media_type" in payload or payload.get("$t")):
            yield sha, str(payload.get("name") or payload.get("$t") or "value")
        for v in payload.values():
            yield from _artifact_refs(v)
    elif isinstance(payload, list):
        for v in payload:
            yield from _artifact_refs(v)


class JournalWriter:
    """Appends events to one run's journal, chaining hashes. One per runner; not shared."""

    def __init__(self, store: Store, run_id: str, seq: int, last_hash: str) -> None:
        self.store = store
        self.run_id = run_id
        self.seq = seq
        self.last_hash = last_hash
        self.listeners: list[Any] = []

    def append(self, type_: str, data: dict[str, Any]) -> Event:
        return self.append_many([(type_, data)])[-1]

    def append_many(self, items: list[tuple[str, dict[str, Any]]]) -> list[Event]:
        """Write events in one transaction (committed before this returns)."""
        rows, events = [], []
        seq, prev = self.seq, self.last_hash
        for type_, data in items:
            seq += 1
            at = time.time()
            text = journal_json(data)
            digest = event_hash(prev, self.run_id, seq, type_, at, text)
            rows.append((self.run_id, seq, type_, at, text, prev, digest))
            events.append(Event(self.run_id, seq, type_, at, data, prev, digest))
            prev = digest
        conn = self.store.conn
        with self.store._lock:
            if len(rows) == 1:
                conn.execute("INSERT INTO events VALUES(?,?,?,?,?,?,?)", rows[0])
            else:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.executemany("INSERT INTO events VALUES(?,?,?,?,?,?,?)", rows)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        self.seq, self.last_hash = seq, prev
        for listener in self.listeners:
            for event in events:
                listener(event)
        return events


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern matching ``prefix`` literally at the start: ``%`` and ``_`` are not wildcards."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def new_run_id() -> str:
    """Sortable, unique run id: time prefix + random suffix."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed child not yet reaped) is not alive
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().split(b") ", 1)[1][:1] != b"Z"
    except (OSError, IndexError):
        return True
