"""The store: one database holding runs and their keyed, hash-chained journals, and the artifact files.

The database is SQLite (WAL) in the home folder by default, or PostgreSQL when ``$MLSITTER_DB`` is a
``postgresql://`` URL (:mod:`mlsitter.runtime.dialects`); artifact files stay under the home folder.

The truth is the ``events`` table: each event carries an HMAC (under the journal key, kept outside the
store) of its content and of the event before it. The ``runs`` table is a projection for listing and
locking, written in the same transaction as the event that changes it, with the run's head (event count
and last hash) under the key, so :mod:`mlsitter.runtime.integrity` detects edits, truncation and rewrites.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from mlsitter.errors import InputError, JournalCorruptError, JournalKeyError, RunLockedError, RunNotFoundError
from mlsitter.runtime.artifacts import ArtifactStore
from mlsitter.runtime.canonical import GENESIS_HASH, EventHasher, canonical_json, journal_json
from mlsitter.runtime.dialects import DB_ENV, SQLITE, Connection, Dialect, check_db_url, redact
from mlsitter.runtime.home import mlsitter_home
from mlsitter.runtime.keys import JournalKey, load_key

if TYPE_CHECKING:
    from mlsitter.runtime.integrity import VerifyReport

SCHEMA_VERSION = 2
CHAIN = "hmac-sha256"
LEASE_ENV = "MLSITTER_LEASE_SECONDS"
DEFAULT_LEASE_SECONDS = 30.0

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
    lock_at REAL,
    head_seq INTEGER NOT NULL DEFAULT 0,
    head_mac TEXT,
    lock_started TEXT,
    lease_until REAL
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

# Columns that schema 1 lacked (added by the migration).
_V2_RUN_COLUMNS = (("head_seq", "INTEGER NOT NULL DEFAULT 0"), ("head_mac", "TEXT"), ("lock_started", "TEXT"),
                   ("lease_until", "REAL"))
_LEGACY_PROBLEMS = "CREATE TABLE IF NOT EXISTS legacy_runs(run_id TEXT PRIMARY KEY, problems TEXT NOT NULL)"
# What a store of this schema must have (a database with tables of these names but not these columns is foreign).
_RUN_COLUMNS = frozenset(re.findall(r"^    (\w+) ", _SCHEMA.split("CREATE TABLE IF NOT EXISTS runs(")[1].split(");")[0],
                                    re.M))
_EVENT_COLUMNS = frozenset({"run_id", "seq", "type", "at", "data", "prev_hash", "hash"})

# Run statuses. ``ready`` = waiting run whose answer has arrived and that can be resumed.
RESUMABLE = {"running", "waiting", "ready", "interrupted"}
_LIVENESS_STATUSES = ("running", "interrupted")
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
    head_seq: int = 0
    head_mac: str | None = None
    lock_started: str | None = None
    lease_until: float | None = None
    interrupted: str | None = None
    """Why a run recorded as ``running`` is shown as ``interrupted``: its runner is gone (not a column)."""

    @classmethod
    def from_row(cls, row: Any) -> "RunRecord":
        d = dict(row)
        d["inputs"] = json.loads(d["inputs"])
        d["waiting"] = json.loads(d["waiting"]) if d["waiting"] else None
        d["result"] = json.loads(d["result"]) if d["result"] else None
        return cls(**d)

    @property
    def resume_command(self) -> str:
        return f"mlsitter resume {self.run_id}"

    @property
    def clock_stopped_at(self) -> float | None:
        """Where the run's duration ends while nothing runs it: its end; the start of its wait (the row's last
        status change); its dead runner's last heartbeat. None while a runner works on it."""
        if self.ended_at:
            return self.ended_at
        if self.status in ("waiting", "ready"):
            return self.updated_at
        if self.interrupted:
            return max(self.lock_at or 0.0, self.updated_at)
        return None


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30.0, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    return conn


class Store:
    """Runs, journals and artifacts: the database (SQLite in the home, or ``db``/``$MLSITTER_DB``) and the
    home folder's artifact files. Thread-safe for one process."""

    def __init__(self, home: str | Path | None = None, *, db: str | None = None) -> None:
        self.home = Path(home).resolve() if home else mlsitter_home()
        self.home.mkdir(parents=True, exist_ok=True)
        self.db_path = self.home / "mlsitter.db"
        self.db_url = db if db is not None else (os.environ.get(DB_ENV) or None)
        self.location = redact(self.db_url) if self.db_url else str(self.db_path)
        """Where the journal is, for messages: the SQLite file, or the PostgreSQL URL without its password."""
        self.artifacts = ArtifactStore(self.home / "artifacts")
        self._lock = threading.RLock()
        self._full_sync = False
        """SQLite at ``MLSITTER_DURABILITY=full``: every commit fsynced (PRAGMA synchronous=FULL) unless relaxed."""
        self._key: JournalKey | None = None
        self._hasher: EventHasher
        self.dialect: Dialect = SQLITE
        self.conn: Connection = self._open_postgres(self.db_url) if self.db_url else self._open()
        self.store_id = self._meta("store_id") or ""

    # -- connection -----------------------------------------------------------------------------
    def _open_postgres(self, url: str) -> Connection:
        from mlsitter.runtime.dialects import POSTGRES_FUNCTIONS, connect_postgres, postgres_dialect

        check_db_url(url)
        conn = connect_postgres(url)
        self.dialect = postgres_dialect()
        try:
            with _transaction_on(conn):
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('mlsitter schema'))")  # one creator at a time
                version = self._schema_version(conn)
                if version is None:
                    conn.executescript(_SCHEMA + ";" + _LEGACY_PROBLEMS)
                    for statement in POSTGRES_FUNCTIONS:
                        conn.execute(statement)
                    _init_meta(conn)
        except self.dialect.errors as exc:
            conn.close()
            raise JournalCorruptError(f"cannot set up the PostgreSQL journal {self.location}: "
                                      f"{str(exc).splitlines()[0]}") from None
        except BaseException:
            conn.close()
            raise
        if int(version or SCHEMA_VERSION) < SCHEMA_VERSION:
            conn.close()
            raise self._foreign(f"it records schema {version}, older than any PostgreSQL journal")
        return conn

    def _schema_version(self, conn: Connection) -> str | None:
        """The store's schema version; None for an empty database; refuses a database that holds tables of the
        same names that are not an mlsitter store's (a foreign schema)."""
        tables = {r[0] for r in conn.execute(self.dialect.tables).fetchall()}
        if not tables:
            return None
        if "meta" not in tables:
            raise self._foreign(f"it has tables named {', '.join(sorted(tables))} but no mlsitter schema version")
        try:
            version = _meta(conn, "schema_version")
        except self.dialect.errors as exc:
            raise self._foreign(f"its meta table is not mlsitter's ({str(exc).splitlines()[0]})") from None
        if version is None or not version.isdigit():
            raise self._foreign(f"it has tables named {', '.join(sorted(tables))} but no mlsitter schema version")
        if int(version) > SCHEMA_VERSION:
            raise JournalCorruptError(
                f"the store {self.location} has schema {version}, newer than this mlsitter understands "
                f"({SCHEMA_VERSION}); upgrade mlsitter to use it"
            )
        if int(version) == SCHEMA_VERSION:
            for table, needed in (("runs", _RUN_COLUMNS), ("events", _EVENT_COLUMNS)):
                try:
                    have = {d[0] for d in conn.execute(f"SELECT * FROM {table} WHERE 1=0").description}
                except self.dialect.errors:
                    have = set()
                if not needed <= have:
                    raise self._foreign(f"its {table} table lacks {', '.join(sorted(needed - have))}")
        return version

    def _foreign(self, why: str) -> JournalCorruptError:
        return JournalCorruptError(
            f"the database {self.location} is not an mlsitter journal: {why}. Point {DB_ENV} at an empty database "
            "(or one mlsitter made) for the PostgreSQL journal."
        )

    def _open(self) -> Connection:
        try:
            conn = _connect(self.db_path)
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: every commit reaches the OS before the call returns, so a SIGKILL of
            # the process loses nothing; only a power cut may lose the last commits (never corrupts).
            self._full_sync = os.environ.get("MLSITTER_DURABILITY") == "full"
            conn.execute(f"PRAGMA synchronous={'FULL' if self._full_sync else 'NORMAL'}")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            version = _meta(conn, "schema_version")
            if version is None:
                conn.executescript(_SCHEMA)
                _init_meta(conn)
            elif int(version) > SCHEMA_VERSION:
                conn.close()
                raise JournalCorruptError(
                    f"the store {self.db_path} has schema {version}, newer than this mlsitter understands "
                    f"({SCHEMA_VERSION}); upgrade mlsitter to use it"
                )
        except sqlite3.DatabaseError as exc:
            raise JournalCorruptError(
                f"cannot open the mlsitter database {self.db_path}: {exc}. "
                "It is not a valid SQLite file (was it overwritten?). Move it aside to start a new store, "
                "or point MLSITTER_HOME at another folder."
            ) from None
        if int(version or SCHEMA_VERSION) < SCHEMA_VERSION:
            from mlsitter.runtime.integrity import migrate_to_keyed_chain

            migrate_to_keyed_chain(conn, lambda store_id: self._load_key(conn, store_id))
        return conn

    def _meta(self, key: str) -> str | None:
        return _meta(self.conn, key)

    @property
    def key(self) -> JournalKey:
        """The journal key; found (or, for a store that has none yet, created) on first use."""
        if self._key is None:
            self._key = self._load_key(self.conn, self.store_id)
            self._hasher = EventHasher(self._key.secret)
        return self._key

    @property
    def hasher(self) -> EventHasher:
        """Hashes events into the keyed chain (HMAC-SHA256 under :attr:`key`)."""
        self.key  # noqa: B018 (loads the key and its hasher)
        return self._hasher

    def _load_key(self, conn: Connection, store_id: str) -> JournalKey:
        bound = _meta(conn, "key_id")
        key = load_key(store_id, create=bound is None)
        if bound is None:
            conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES('key_id', ?)", (key.key_id,))
            bound = _meta(conn, "key_id")
        if key.key_id != bound:
            raise JournalKeyError(
                f"the journal key at {key.source} (id {key.key_id}) is not the key this store was chained with "
                f"(id {bound}); point MLSITTER_JOURNAL_KEY_FILE at the store's key"
            )
        return key

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
        """Insert the run and journal its ``run.created`` event in one transaction."""
        run_id = run_id or new_run_id()
        created = {"process": process, "target": target, "inputs": inputs, "policy": policy, "executor": executor,
                   "seed": seed, "parent_run_id": parent_run_id, "parent_key": parent_key}
        rows, events = JournalWriter(self, run_id, 0, GENESIS_HASH).prepare([("run.created", created)])
        event = events[0]
        with self._transaction():
            self.conn.execute(
                "INSERT INTO runs(run_id, process, target, status, inputs, policy, executor, seed, parent_run_id,"
                " parent_key, created_at, updated_at, head_seq, head_mac) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, process, target, "created", canonical_json(inputs), policy, executor, seed,
                 parent_run_id, parent_key, event.at, event.at, 1, self.head_mac(run_id, 1, event.hash)),
            )
            self.conn.execute("INSERT INTO events VALUES(?,?,?,?,?,?,?)", rows[0])
        return run_id

    def head_mac(self, run_id: str, seq: int, last_hash: str) -> str:
        """The keyed proof that ``seq`` events ending in ``last_hash`` are the whole journal of the run."""
        return self.key.mac("head", run_id, seq, last_hash)

    @contextlib.contextmanager
    def _unflushed(self, relax: bool) -> Iterator[None]:
        """With ``relax`` at full durability on SQLite: the commits inside are not fsynced on their own
        (synchronous=NORMAL: written to the WAL, flushed by the next FULL commit or checkpoint)."""
        if not (relax and self._full_sync):
            yield
            return
        with self._lock:
            self.conn.execute("PRAGMA synchronous=NORMAL")
            try:
                yield
            finally:
                self.conn.execute("PRAGMA synchronous=FULL")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock, _transaction_on(self.conn):
            yield

    def get_run(self, run_id: str) -> RunRecord:
        row = self.conn.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            row = self.conn.execute(
                "SELECT * FROM runs WHERE run_id LIKE ? ESCAPE '\\' ORDER BY created_at DESC LIMIT 2",
                (_like_prefix(run_id),),
            ).fetchall()
            if len(row) == 1:
                return self._live(RunRecord.from_row(row[0]))
            hint = " (the prefix matches several runs; give more characters)" if row else ""
            raise RunNotFoundError(f"no run with id {run_id!r} in {self.location}{hint}; `mlsitter runs` lists them")
        return self._live(RunRecord.from_row(row))

    def raw_run(self, run_id: str) -> Any:
        """The ``runs`` row exactly as stored, readable by column name (for verification); None if absent."""
        return self.conn.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()

    def _live(self, run: RunRecord) -> RunRecord:
        """A ``running`` run whose runner is gone is shown as ``interrupted``, saying why."""
        if run.status == "running":
            gone = runner_gone(run)
            if gone:
                run.status, run.interrupted = "interrupted", gone
        return run

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Write runs-row fields without an event: for fixtures and benchmarks only. The runtime writes every
        journal-derived field with its event (:meth:`JournalWriter.append`); ``verify`` reports any other edit."""
        for key in ("waiting", "result"):
            if key in fields and fields[key] is not None:
                fields[key] = canonical_json(fields[key])
        fields["updated_at"] = time.time()
        cols = ", ".join(f"{k}=?" for k in fields)
        with self._lock:
            self.conn.execute(f"UPDATE runs SET {cols} WHERE run_id=?", (*fields.values(), run_id))

    def list_runs(self, *, limit: int = 50, offset: int = 0, order: str = "newest", **filters: Any) -> list[RunRecord]:
        """Runs matching ``filters`` (see :meth:`_run_filter`), in ``order`` (a key of ``RUN_ORDERS``)."""
        if order not in RUN_ORDERS:
            raise InputError(f"unknown order {order!r}; expected one of {', '.join(RUN_ORDERS)}")
        if filters.get("status") in _LIVENESS_STATUSES:  # decided by the lease, which SQL cannot see (a dead pid)
            return self._by_liveness(order=order, **filters)[offset:offset + limit]
        where, args = self._run_filter(**filters)
        rows = self.conn.execute(
            f"SELECT * FROM runs {where} ORDER BY {RUN_ORDERS[order]} LIMIT ? OFFSET ?",
            (*args, limit, offset),
        ).fetchall()
        return [self._live(RunRecord.from_row(r)) for r in rows]

    def count_runs(self, **filters: Any) -> int:
        if filters.get("status") in _LIVENESS_STATUSES:
            return len(self._by_liveness(**filters))
        where, args = self._run_filter(**filters)
        return int(self.conn.execute(f"SELECT COUNT(*) FROM runs {where}", args).fetchone()[0])

    def _by_liveness(self, status: str, order: str = "newest", **filters: Any) -> list[RunRecord]:
        where, args = self._run_filter(**filters)
        where = (where + " AND " if where else "WHERE ") + "status IN ('running', 'interrupted')"
        rows = self.conn.execute(f"SELECT * FROM runs {where} ORDER BY {RUN_ORDERS[order]}", args).fetchall()
        return [r for r in (self._live(RunRecord.from_row(row)) for row in rows) if r.status == status]

    @staticmethod
    def _run_filter(*, status: str | None = None, process: str | None = None, search: str | None = None,
                    parent: str | None = None, since: float | None = None, until: float | None = None,
                    input_value: str | None = None, tag: str | None = None) -> tuple[str, tuple[Any, ...]]:
        """SQL for the runs filters: status, process, run-id prefix, parent, created in [since, until), an input
        ``key=value`` (the value as JSON, or as text), and a question tag the run asked (``production``)."""
        clauses: list[str] = []
        args: list[Any] = []
        if since is not None:
            clauses.append("created_at>=?")
            args.append(since)
        if until is not None:
            clauses.append("created_at<?")
            args.append(until)
        if input_value:
            patterns = _input_patterns(input_value)
            clauses.append("(" + " OR ".join(["inputs LIKE ? ESCAPE '\\'"] * len(patterns)) + ")")
            args.extend(patterns)
        if tag:
            clauses.append("EXISTS (SELECT 1 FROM events e WHERE e.run_id=runs.run_id AND e.type='breakpoint.requested'"
                           " AND e.data LIKE ? ESCAPE '\\')")
            args.append('%"tags":[%' + _like_literal(journal_json(tag)) + "%")
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

    # -- one writer per run: a lease renewed by a heartbeat ----------------------------------------
    def acquire(self, run_id: str) -> str:
        """Take the run's writer lease; one whose holder is gone (lease ran out, or pid dead here) is taken over."""
        owner = uuid.uuid4().hex
        host, pid = socket.gethostname(), os.getpid()
        lease = (owner, pid, host, _pid_started(pid), time.time(), time.time() + lease_seconds())
        with self._lock:
            cur = self.conn.execute(
                "UPDATE runs SET lock_owner=?, lock_pid=?, lock_host=?, lock_started=?, lock_at=?, lease_until=?"
                " WHERE run_id=? AND lock_owner IS NULL", (*lease, run_id))
            if cur.rowcount == 1:
                return owner
            run = self.get_run(run_id)
            if run.lock_owner and holder_gone(run):
                cur = self.conn.execute(
                    "UPDATE runs SET lock_owner=?, lock_pid=?, lock_host=?, lock_started=?, lock_at=?, lease_until=?"
                    " WHERE run_id=? AND lock_owner=?", (*lease, run_id, run.lock_owner))
                if cur.rowcount == 1:
                    return owner
                run = self.get_run(run_id)
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.lock_at or 0))
        raise RunLockedError(
            f"run {run_id} is already being executed by process {run.lock_pid} on {run.lock_host} "
            f"(last heartbeat {since}); only one runner may write a run at a time. Wait for it to finish or stop "
            f"that process, then try again."
        )

    def renew(self, run_id: str, owner: str) -> bool:
        """Extend the lease (the runner's heartbeat); False when another runner has taken it over."""
        now = time.time()
        with self._lock:
            cur = self.conn.execute("UPDATE runs SET lock_at=?, lease_until=? WHERE run_id=? AND lock_owner=?",
                                    (now, now + lease_seconds(), run_id, owner))
        return cur.rowcount == 1

    def release(self, run_id: str, owner: str) -> None:
        with self._lock:
            self.conn.execute(
                "UPDATE runs SET lock_owner=NULL, lock_pid=NULL, lock_host=NULL, lock_started=NULL, lock_at=NULL,"
                " lease_until=NULL WHERE run_id=? AND lock_owner=?",
                (run_id, owner),
            )

    def is_locked_by_live_process(self, run: RunRecord) -> bool:
        return bool(run.lock_owner) and not holder_gone(run)

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

    def journal(self, run_id: str, owner: str | None = None) -> "JournalWriter":
        """A writer positioned after the run's last event; ``owner`` is the lease it writes under."""
        row = self.conn.execute(
            "SELECT seq, hash FROM events WHERE run_id=? ORDER BY seq DESC LIMIT 1", (run_id,)
        ).fetchone()
        seq, last = (row[0], row[1]) if row else (0, GENESIS_HASH)
        return JournalWriter(self, run_id, seq, last, owner)

    # -- verification (mlsitter.runtime.integrity) ----------------------------------------------------
    def verify(self, run_id: str) -> "VerifyReport":
        """Check the run's keyed chain, its head, its ``runs`` row and every file it refers to."""
        from mlsitter.runtime.integrity import verify_runs

        return verify_runs(self, [self.get_run(run_id).run_id])[0]


class JournalWriter:
    """Appends events to one run's journal, chaining hashes. One per runner; not shared.

    ``run`` fields given with an append (status, result, ...) are written to the ``runs`` row in the
    same transaction as the events, with the new head, and only while ``owner`` still holds the lease.
    """

    def __init__(self, store: Store, run_id: str, seq: int, last_hash: str, owner: str | None = None) -> None:
        self.store = store
        self.run_id = run_id
        self.seq = seq
        self.last_hash = last_hash
        self.owner = owner
        self.listeners: list[Any] = []

    def append(self, type_: str, data: dict[str, Any], *, run: dict[str, Any] | None = None) -> Event:
        return self.append_many([(type_, data)], run=run)[-1]

    def prepare(self, items: list[tuple[str, dict[str, Any]]]) -> tuple[list[tuple[Any, ...]], list[Event]]:
        """The rows and events that follow the current head, chained under the store's key."""
        hasher = self.store.hasher
        rows, events = [], []
        seq, prev = self.seq, self.last_hash
        for type_, data in items:
            seq += 1
            at = time.time()
            text = journal_json(data)
            digest = hasher(prev, self.run_id, seq, type_, at, text)
            rows.append((self.run_id, seq, type_, at, text, prev, digest))
            events.append(Event(self.run_id, seq, type_, at, data, prev, digest))
            prev = digest
        return rows, events

    def append_many(self, items: list[tuple[str, dict[str, Any]]], *, run: dict[str, Any] | None = None,
                    flush: bool = True) -> list[Event]:
        """Write events in one commit, before this returns, only while ``owner`` holds the lease.

        With ``run`` fields (a status change) the runs row and its keyed head are written in the same
        transaction; the events of an execution in flight (steps) are appended alone, one statement each.
        ``flush=False`` (write-ahead markers such as ``step.started``): at ``MLSITTER_DURABILITY=full`` the
        commit reaches the OS (a SIGKILL loses nothing) but is not fsynced on its own; the next flushed
        commit (the step's result) makes it survive a power cut too, as SQLite's WAL is flushed in order."""
        rows, events = self.prepare(items)
        last = events[-1]
        conn = self.store.conn
        if run is None and len(rows) == 1:
            fenced = self.owner is not None
            sql = self.store.dialect.fenced_insert if fenced else "INSERT INTO events VALUES(?,?,?,?,?,?,?)"
            with self.store._lock, self.store._unflushed(not flush):
                if conn.execute(sql, (*rows[0], self.run_id, self.owner) if fenced else rows[0]).rowcount != 1:
                    raise self._lost_lease()
        else:
            fields = _encode_fields(dict(run or {}))
            if fields.get("status") in FINAL:
                fields["ended_at"] = last.at
            if run is not None:
                fields.update(head_seq=last.seq, head_mac=self.store.head_mac(self.run_id, last.seq, last.hash),
                              updated_at=last.at)
            where, args = ("run_id=? AND lock_owner=?", (self.run_id, self.owner)) if self.owner else \
                ("run_id=?", (self.run_id,))
            with self.store._unflushed(not flush and run is None), self.store._transaction():
                sql = f"UPDATE runs SET {', '.join(f'{k}=?' for k in fields) or 'run_id=run_id'} WHERE {where}"
                if conn.execute(sql, (*fields.values(), *args)).rowcount != 1:
                    raise self._lost_lease()
                conn.executemany("INSERT INTO events VALUES(?,?,?,?,?,?,?)", rows)
        self.seq, self.last_hash = last.seq, last.hash
        for listener in self.listeners:
            for event in events:
                listener(event)
        return events

    def _lost_lease(self) -> RunLockedError:
        return RunLockedError(
            f"run {self.run_id}: this runner lost its lease (another runner took the run over after its "
            "heartbeat stopped); it stops writing so that only one runner writes the run"
        )


def _encode_fields(fields: dict[str, Any]) -> dict[str, Any]:
    for key in ("waiting", "result"):
        if key in fields and fields[key] is not None:
            fields[key] = canonical_json(fields[key])
    return fields


@contextlib.contextmanager
def _transaction_on(conn: Connection) -> Iterator[None]:
    """One write transaction (SQLite takes its write lock at once; PostgreSQL locks rows as it writes)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _meta(conn: Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    return None if row is None else str(row[0])


def _init_meta(conn: Connection) -> None:
    """A new store's identity: schema version, store id (names its key) and chain kind."""
    for key, value in (("schema_version", str(SCHEMA_VERSION)), ("store_id", uuid.uuid4().hex), ("chain", CHAIN)):
        conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES(?, ?)", (key, value))


def lease_seconds() -> float:
    """How long a runner's lease lasts without a heartbeat (``$MLSITTER_LEASE_SECONDS``, default 30)."""
    try:
        return max(0.5, float(os.environ.get(LEASE_ENV) or DEFAULT_LEASE_SECONDS))
    except ValueError:
        return DEFAULT_LEASE_SECONDS


def holder_gone(run: RunRecord) -> str | None:
    """Why the run's lease holder is gone (lease ran out, or its process ended on this host), else None."""
    now = time.time()
    until = run.lease_until if run.lease_until is not None else (run.lock_at or 0.0) + lease_seconds()
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.lock_at or 0))
    who = f"runner pid {run.lock_pid} on {run.lock_host}"
    if run.lock_host == socket.gethostname():
        if not _pid_alive(run.lock_pid):
            return f"{who} is no longer running (last heartbeat {since})"
        if run.lock_started and run.lock_pid and _pid_started(run.lock_pid) != run.lock_started:
            return f"{who} ended; another process now has its pid (last heartbeat {since})"
    if until < now:
        return f"{who} stopped renewing its lease (last heartbeat {since})"
    return None


def runner_gone(run: RunRecord) -> str | None:
    """Why a ``running`` run has no live runner, else None."""
    if not run.lock_owner:
        return "no runner holds the run (its runner stopped without recording why)"
    return holder_gone(run)


def _like_literal(text: str) -> str:
    """``text`` for a LIKE pattern with ``ESCAPE '\\'``: ``%`` and ``_`` are not wildcards."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern matching ``prefix`` literally at the start."""
    return _like_literal(prefix) + "%"


def _input_patterns(key_value: str) -> list[str]:
    """LIKE patterns of a run's inputs (canonical JSON: sorted keys, no spaces) holding ``key`` = ``value``: the
    value as JSON (``trials=4``, ``shadow=true``) or as a string (``model=bank@champion``)."""
    key, sep, value = key_value.partition("=")
    if not sep or not key.strip():
        raise InputError(f"an input filter looks like KEY=VALUE (e.g. model=bank@champion); got {key_value!r}")
    key, value = key.strip(), value.strip()
    forms = {canonical_json(value)}
    try:
        forms.add(canonical_json(json.loads(value)))
    except ValueError:
        pass
    return [f"%{_like_literal(canonical_json(key) + ':' + form)}{end}%" for form in sorted(forms) for end in (",", "}")]


# How the runs list can be sorted: name -> SQL ORDER BY (ties broken by run id, so pages never overlap).
RUN_ORDERS: dict[str, str] = {
    "newest": "created_at DESC, run_id DESC",
    "oldest": "created_at ASC, run_id ASC",
    "longest": "(COALESCE(ended_at, updated_at) - created_at) DESC, run_id DESC",
    "process": "process ASC, created_at DESC, run_id DESC",
    "status": "status ASC, created_at DESC, run_id DESC",
}


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


def _pid_started(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (tells a reused pid apart), where /proc has it."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().split(b") ", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None
