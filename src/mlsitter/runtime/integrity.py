"""What ``mlsitter verify`` proves: each run's keyed chain, its head, its ``runs`` row and its files.

- Chain: every event's HMAC (under the journal key) covers its content and the event before it.
- Head: the ``runs`` row holds the event count and last hash under the key, so deleting the last
  events (an answer, a completion) is detected, not only edits.
- Projection: every derived field of the ``runs`` row (status, result, inputs, gates, ...) must be
  what the journal says.
- Files: every artifact and every recorded file or folder (dataset versions, models) hashes as journaled.
- Digests (:func:`make_digest`) are signed heads a user keeps elsewhere; :func:`check_digest` compares a
  store with one, which also catches a run rolled back to an older state or deleted whole.
"""

from __future__ import annotations

import datetime as _dt
import hmac
import json
import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from mlsitter.errors import InputError, JournalCorruptError
from mlsitter.hashing import file_sha256, tree_sha256
from mlsitter.runtime.canonical import GENESIS_HASH, EventHasher, canonical_json, legacy_event_hash
from mlsitter.runtime.keys import JournalKey
from mlsitter.runtime.store import _LEGACY_PROBLEMS, _V2_RUN_COLUMNS, CHAIN, FINAL, SCHEMA_VERSION, Store

DIGEST_FORMAT = "mlsitter-digest/1"
# The fields of the runs row that the journal determines (the rest: lock, lease, updated_at, are not derived).
_CREATED_FIELDS = ("process", "target", "inputs", "policy", "executor", "seed", "parent_run_id", "parent_key")
_PARSED = {"run.created", "run.waiting", "run.completed", "run.failed", "gate.evaluated", "file.recorded"}
_LEGACY_SLACK_S = 60.0


@dataclass
class VerifyReport:
    """Outcome of verifying one run: what was checked and every problem found."""

    run_id: str
    ok: bool
    events: int
    artifacts: int
    files: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass
class Projection:
    """The ``runs`` fields a journal determines, rebuilt event by event as the runner writes them."""

    status: str = "created"
    created: dict[str, Any] | None = None
    created_at: float | None = None
    ended_at: float | None = None
    waiting: dict[str, Any] | None = None
    result: Any = None
    error: str | None = None
    gates_passed: int = 0
    gates_failed: int = 0
    _before_resume: tuple[str, dict[str, Any] | None] = ("created", None)

    def apply(self, type_: str, at: float, data: dict[str, Any] | None) -> None:
        if type_ == "run.created":
            self.created, self.created_at = data, at
        elif type_ == "run.started":
            self.status, self.waiting = "running", None
        elif type_ == "run.resumed":
            self._before_resume = (self.status, self.waiting)
            self.status, self.waiting = "running", None
        elif type_ == "run.waiting":
            self.status, self.waiting = "waiting", data
        elif type_ in ("breakpoint.answered", "external.completed") and self.status == "waiting":
            self.status = "ready"
        elif type_ == "run.replay_failed":
            before, self.waiting = self._before_resume
            self.status = before if before not in ("created", "running") else "interrupted"
        elif type_ == "run.interrupted":
            self.status = "interrupted"
        elif type_ == "run.retried":
            self.status, self.error, self.ended_at = "ready", None, None
        elif type_ == "gate.evaluated" and data is not None:
            if data.get("passed"):
                self.gates_passed += 1
            else:
                self.gates_failed += 1
        elif type_ in ("run.completed", "run.failed", "run.cancelled"):
            self.status, self.ended_at = type_.split(".")[1], at
            if type_ == "run.completed" and data is not None:
                self.result = data.get("result")
            elif type_ == "run.failed" and data is not None:
                self.error = data.get("error")

    def mismatches(self, row: Any, *, legacy: bool) -> list[str]:
        """Each field of the stored row that disagrees with the journal, said plainly."""
        expected: dict[str, Any] = {"status": self.status, "result": self.result, "error": self.error,
                                    "waiting": self.waiting, "wake_at": (self.waiting or {}).get("wake_at"),
                                    "gates_passed": self.gates_passed, "gates_failed": self.gates_failed}
        if self.created is not None:
            expected.update({k: self.created.get(k) for k in _CREATED_FIELDS})
        stored = {k: row[k] for k in expected}
        for k in ("inputs", "waiting", "result"):
            stored[k] = json.loads(stored[k]) if stored[k] else ({} if k == "inputs" else None)
        out = [f"the runs table says {k} = {_short(stored[k])}, but the journal says {_short(v)}"
               for k, v in expected.items() if canonical_json(stored[k]) != canonical_json(v)]
        out += self._times(row, legacy)
        return out

    def _times(self, row: Any, legacy: bool) -> list[str]:
        out = []
        for name, at in (("created_at", self.created_at), ("ended_at", self.ended_at)):
            if legacy and name == "created_at":  # schema 1 journaled run.created when the run first started
                continue
            stored = row[name]
            if at is None:
                if name == "ended_at" and stored is not None:
                    out.append(f"the runs table gives an end time ({stored!r}) to a run whose journal has not ended")
                continue
            close = stored is not None and (abs(stored - at) <= _LEGACY_SLACK_S if legacy else stored == at)
            if not close:
                out.append(f"the runs table says {name} = {stored!r}, but the journal's event is at {at!r}")
        return out


def _short(value: Any) -> str:
    text = canonical_json(value)
    return text if len(text) <= 80 else text[:77] + "..."


# -- verify -----------------------------------------------------------------------------------------
def verify_runs(store: Store, run_ids: list[str]) -> list[VerifyReport]:
    """Verify each run; artifacts shared by several runs are hashed once."""
    hasher = store.hasher
    legacy = _legacy_runs(store)
    checked: dict[tuple[str, ...], str | None] = {}
    return [_verify_one(store, hasher, run_id, legacy, checked) for run_id in run_ids]


def _verify_one(store: Store, hasher: EventHasher, run_id: str, legacy: dict[str, str],
                checked: dict[tuple[str, ...], str | None]) -> VerifyReport:
    row = store.raw_run(run_id)
    if row is None:
        return VerifyReport(run_id, False, 0, 0, 0, [f"run {run_id} is not in the runs table"])
    rows = store.conn.execute(
        "SELECT seq, type, at, data, prev_hash, hash FROM events WHERE run_id=? ORDER BY seq", (run_id,)
    ).fetchall()
    problems: list[str] = []
    if legacy.get(run_id):
        problems.append("before this store moved to the keyed chain (schema 2) its unkeyed chain did not verify: "
                        + legacy[run_id])
    projection = Projection()
    refs: list[tuple[tuple[str, ...], str]] = []
    prev = GENESIS_HASH
    for expected_seq, (seq, type_, at, data, prev_hash, digest) in enumerate(rows, start=1):
        if seq != expected_seq:
            problems.append(f"event #{expected_seq} is missing (next event found is #{seq})")
            break
        if prev_hash != prev:
            problems.append(f"event #{seq} ({type_}) does not link to the event before it")
        if hasher(prev_hash, run_id, seq, type_, at, data) != digest:
            problems.append(f"event #{seq} ({type_}) does not match its keyed hash: it was modified, or rewritten "
                            "without the journal key")
        prev = digest
        needs_refs = '"sha256"' in data
        if type_ not in _PARSED and not needs_refs:
            projection.apply(type_, at, None)
            continue
        try:
            payload = json.loads(data)
        except json.JSONDecodeError:
            problems.append(f"event #{seq} ({type_}) is not valid JSON")
            continue
        projection.apply(type_, at, payload)
        if needs_refs:
            refs.extend((ref, f"{label} (event #{seq})") for ref, label in _file_refs(type_, payload))
    problems += _head_problems(store, row, [r[5] for r in rows])
    problems += projection.mismatches(row, legacy=run_id in legacy)
    for ref, label in refs:
        if ref not in checked:
            checked[ref] = _check_ref(store, ref)
        if checked[ref]:
            problems.append(f"{label}: {checked[ref]}")
    distinct = {ref for ref, _ in refs}  # an artifact named by several events (record, question, result) is one
    artifacts = sum(ref[0] == "artifact" for ref in distinct)
    return VerifyReport(run_id, not problems, len(rows), artifacts, len(distinct) - artifacts, problems)


def _head_problems(store: Store, row: Any, hashes: list[str]) -> list[str]:
    """The keyed head pins the journal's length at the run's last status change. Only a run recorded as
    ``running`` (an execution in flight, or one whose runner died) may have events after it: its steps."""
    head_seq, head_mac, count = row["head_seq"], row["head_mac"], len(hashes)
    if head_seq > count:
        return [f"the journal ends at event #{count}, but the run's head records {head_seq} events: "
                f"events #{count + 1}..#{head_seq} were deleted"]
    if head_seq < count and row["status"] != "running":
        return [f"the journal holds {count} events, but the run's head, written at its last status change "
                f"({row['status']}), records {head_seq}: events were added or the head was rolled back"]
    at_head = hashes[head_seq - 1] if head_seq else GENESIS_HASH
    if not head_mac or not hmac.compare_digest(head_mac, store.head_mac(row["run_id"], head_seq, at_head)):
        return ["the run's head record does not match its journal under the key: the runs row or the "
                "journal's events were rewritten"]
    return []


def _file_refs(type_: str, payload: Any) -> Iterator[tuple[tuple[str, ...], str]]:
    """(kind, sha256, path, exclude...) of every artifact or recorded file an event refers to."""
    if type_ == "file.recorded":
        yield ("file" if payload["kind"] == "file" else "tree", payload["sha256"], payload["path"],
               *payload.get("exclude", ())), f"recorded {payload['kind']} {payload['name']!r}"
        return
    for sha, label in _artifact_refs(payload):
        yield ("artifact", sha), f"artifact {label} (sha256 {sha[:12]}…)"


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


def _check_ref(store: Store, ref: tuple[str, ...]) -> str | None:
    kind, sha = ref[0], ref[1]
    if kind == "artifact":
        return store.artifacts.check(sha)
    path = resolve_recorded(store.home, ref[2])
    if not path.exists():
        return f"{path} is missing"
    actual = file_sha256(path) if kind == "file" and path.is_file() else tree_sha256(path, ref[3:])
    return None if actual == sha else f"content of {path} was modified (sha256 {actual[:12]}…, journaled {sha[:12]}…)"


def resolve_recorded(home: Path, text: str) -> Path:
    path = Path(text)
    return path if path.is_absolute() else home / path


def _legacy_runs(store: Store) -> dict[str, str]:
    try:
        return dict(store.conn.execute("SELECT run_id, problems FROM legacy_runs").fetchall())
    except sqlite3.OperationalError:  # a SQLite store born with schema 2 has no legacy runs (PostgreSQL's has none)
        return {}


# -- digests ----------------------------------------------------------------------------------------
def make_digest(store: Store, run_ids: list[str]) -> dict[str, Any]:
    """A signed digest of the runs' heads (event count, last hash, status); refuses a store that does not verify."""
    reports = verify_runs(store, run_ids)
    bad = [r for r in reports if not r.ok]
    if bad:
        raise JournalCorruptError(
            f"{len(bad)} run(s) fail verification (first: {bad[0].run_id}: {bad[0].problems[0]}); "
            "a digest is only made of a store that verifies. Run `mlsitter verify --all` to see why."
        )
    runs = []
    for run_id in run_ids:
        row = store.raw_run(run_id)
        last = store.conn.execute("SELECT seq, hash FROM events WHERE run_id=? ORDER BY seq DESC LIMIT 1",
                                  (run_id,)).fetchone()
        runs.append({"run_id": run_id, "events": last[0] if last else 0, "head": last[1] if last else GENESIS_HASH,
                     "status": row["status"] if row else None})
    body = {"format": DIGEST_FORMAT, "store_id": store.store_id, "key_id": store.key.key_id,
            "made_at": _dt.datetime.now(_dt.timezone.utc).isoformat(), "runs": runs}
    return {**body, "signature": _sign(store.key, body)}


def _sign(key: JournalKey, body: dict[str, Any]) -> str:
    return key.mac("digest", canonical_json({k: v for k, v in body.items() if k != "signature"}))


def read_digest(path: str | Path) -> dict[str, Any]:
    try:
        digest = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read the digest {path}: {exc}") from None
    if not isinstance(digest, dict) or digest.get("format") != DIGEST_FORMAT or not isinstance(digest.get("runs"), list):
        raise InputError(f"{path} is not an mlsitter digest (expected JSON with format {DIGEST_FORMAT!r} and runs)")
    return digest


def check_digest(store: Store, digest: dict[str, Any]) -> dict[str, list[str]]:
    """Per run named in the digest, how the store departs from it (empty lists when it holds).

    A run may have grown since (more events, the digested head still in place) unless the digest saw it
    end; it may never be shorter, rewritten or missing.
    """
    if digest.get("store_id") != store.store_id:
        return {"(digest)": [f"the digest is of store {digest.get('store_id')}, not this store ({store.store_id})"]}
    if not hmac.compare_digest(str(digest.get("signature", "")), _sign(store.key, digest)):
        return {"(digest)": ["the digest's signature does not match under this store's key: the digest file was "
                             "edited, or it was signed with another key"]}
    out: dict[str, list[str]] = {}
    for entry in digest["runs"]:
        run_id, count, head = entry["run_id"], int(entry["events"]), entry["head"]
        problems = out.setdefault(run_id, [])
        row = store.raw_run(run_id)
        if row is None:
            problems.append("the run is missing from the store (deleted whole)")
            continue
        now = store.conn.execute("SELECT COUNT(*) FROM events WHERE run_id=?", (run_id,)).fetchone()[0]
        at = store.conn.execute("SELECT hash FROM events WHERE run_id=? AND seq=?", (run_id, count)).fetchone()
        if now < count:
            problems.append(f"the journal has {now} events, fewer than the {count} the digest pinned (truncated)")
        elif count and (at is None or at[0] != head):
            problems.append(f"event #{count} is not the one the digest pinned: the journal was rewritten")
        elif entry.get("status") in FINAL and now != count:
            problems.append(f"the digest saw the run {entry['status']} with {count} events; it now has {now}")
    return out


# -- migration from schema 1 (unkeyed SHA-256 chain) ---------------------------------------------------
def migrate_to_keyed_chain(conn: sqlite3.Connection, load_key: Callable[[str], JournalKey]) -> None:
    """Re-chain a schema-1 store under the journal key, in one transaction (a crash leaves schema 1).

    Each run's unkeyed chain is checked first: a run that does not verify keeps its events as they are and
    is listed in ``legacy_runs`` with its problems, so the migration never launders an earlier edit.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if version is not None and int(version[0]) >= 2:  # another process migrated it first
            conn.execute("ROLLBACK")
            return
        columns = {r[1] for r in conn.execute("PRAGMA table_info(runs)")}
        for name, decl in _V2_RUN_COLUMNS:
            if name not in columns:
                conn.execute(f"ALTER TABLE runs ADD COLUMN {name} {decl}")
        conn.execute(_LEGACY_PROBLEMS)
        conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES('store_id', ?)", (uuid.uuid4().hex,))
        store_id = conn.execute("SELECT value FROM meta WHERE key='store_id'").fetchone()[0]
        key = load_key(store_id)
        for (run_id,) in conn.execute("SELECT run_id FROM runs").fetchall():
            problems = _rechain(conn, key, run_id)
            conn.execute("INSERT OR REPLACE INTO legacy_runs(run_id, problems) VALUES(?, ?)", (run_id, "; ".join(problems)))
        conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('chain', ?)", (CHAIN,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _rechain(conn: sqlite3.Connection, key: JournalKey, run_id: str) -> list[str]:
    """Check one run's unkeyed chain; if it holds, rewrite its hashes under the key and set its head."""
    rows = conn.execute("SELECT seq, type, at, data, prev_hash, hash FROM events WHERE run_id=? ORDER BY seq",
                        (run_id,)).fetchall()
    problems, prev = [], GENESIS_HASH
    for expected_seq, (seq, type_, at, data, prev_hash, digest) in enumerate(rows, start=1):
        if seq != expected_seq:
            problems.append(f"event #{expected_seq} is missing")
            break
        if prev_hash != prev or legacy_event_hash(prev_hash, run_id, seq, type_, at, data) != digest:
            problems.append(f"event #{seq} ({type_}) was modified")
        prev = digest
    if problems:
        return problems
    updates, prev, hasher = [], GENESIS_HASH, EventHasher(key.secret)
    for seq, type_, at, data, _, _ in rows:
        digest = hasher(prev, run_id, seq, type_, at, data)
        updates.append((prev, digest, run_id, seq))
        prev = digest
    conn.executemany("UPDATE events SET prev_hash=?, hash=? WHERE run_id=? AND seq=?", updates)
    conn.execute("UPDATE runs SET head_seq=?, head_mac=? WHERE run_id=?",
                 (len(rows), key.mac("head", run_id, len(rows), prev), run_id))
    return []
