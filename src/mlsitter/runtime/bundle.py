"""The signed compliance bundle of a run: a zip an auditor checks offline with ``mlsitter compliance verify``.

Members: ``journal/<run>.jsonl`` (the run's and its children's events, each with its keyed hash),
``compliance.json`` and ``compliance.html`` (the checkpoints, rebuilt from those journals), ``verify.json``
(what ``mlsitter verify`` said when the bundle was made), ``digest.json`` (the runs' signed heads, which
``mlsitter verify --against`` compares a store with) and ``manifest.json``: every member's SHA-256, signed
with the journal key (HMAC-SHA256). Checking needs the journal key, not the store.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import json
import os
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlsitter.errors import InputError, JournalCorruptError, RunStateError
from mlsitter.runtime.canonical import GENESIS_HASH, EventHasher, canonical_json
from mlsitter.runtime.compliance import build_record, journals
from mlsitter.runtime.compliance_html import render_html
from mlsitter.runtime.identity import os_identity
from mlsitter.runtime.integrity import _sign as sign_digest
from mlsitter.runtime.integrity import check_digest, make_digest, verify_runs
from mlsitter.runtime.keys import JournalKey, load_key
from mlsitter.runtime.store import Event, Store

BUNDLE_FORMAT = "mlsitter-compliance/1"
MANIFEST = "manifest.json"
_MAX_MEMBER_BYTES = 1 << 30  # refuse to read a member claiming more than 1 GiB (a zip bomb is no bundle)


@dataclass
class BundleInfo:
    """A bundle written by :func:`export_bundle`: where, of which runs, with which members."""

    path: str
    run_id: str
    runs: list[str]
    members: dict[str, str]


@dataclass
class BundleReport:
    """What :func:`verify_bundle` found: ``ok`` only when every member, signature and journal checks out."""

    path: str
    ok: bool
    run_id: str = ""
    runs: list[str] = field(default_factory=list)
    key_source: str = ""
    problems: list[str] = field(default_factory=list)


def export_bundle(store: Store, run_id: str, dest: str | Path) -> BundleInfo:
    """Write the signed bundle of ``run_id`` (and its children) to ``dest``; refuses a run still executing
    and a store whose journals do not verify."""
    runs = journals(store, run_id)
    root = next(iter(runs))
    for rid in runs:
        run = store.get_run(rid)
        if run.status == "running":
            raise RunStateError(f"run {rid} ({run.process}) is running; make its compliance bundle once it has "
                                "stopped (waiting, completed, failed or cancelled), so the record cannot change under it")
    reports = verify_runs(store, list(runs))
    digest = make_digest(store, list(runs))  # refuses a store that does not verify
    if any(e["events"] != len(runs[e["run_id"]]) for e in digest["runs"]):
        raise RunStateError(f"run {root} changed while its bundle was made; make it again")
    members: dict[str, bytes] = {}
    for rid, events in runs.items():
        members[f"journal/{rid}.jsonl"] = _journal_lines(store, rid, len(events))
    record = build_record(runs, root)
    members["compliance.json"] = _json(asdict(record))
    members["compliance.html"] = render_html(record).encode("utf-8")
    members["verify.json"] = _json([asdict(r) for r in reports])
    members["digest.json"] = _json(digest)
    hashes = {name: hashlib.sha256(data).hexdigest() for name, data in members.items()}
    body: dict[str, Any] = {"format": BUNDLE_FORMAT, "run_id": root, "store_id": store.store_id, "key_id": store.key.key_id,
            "made_at": _dt.datetime.now(_dt.timezone.utc).isoformat(), "made_by": os_identity().as_dict(),
            "members": hashes}
    manifest = {**body, "signature": _sign(store.key, body)}
    path = Path(dest)
    _write_zip(path, {MANIFEST: _json(manifest), **members})
    return BundleInfo(str(path), root, list(runs), hashes)


def _journal_lines(store: Store, run_id: str, count: int) -> bytes:
    """One JSON line per event with its payload text exactly as stored and chained, so the keyed hash can be
    checked from the bundle alone."""
    rows = store.conn.execute("SELECT seq, type, at, data, prev_hash, hash FROM events WHERE run_id=? ORDER BY seq",
                              (run_id,)).fetchall()
    if len(rows) != count:
        raise RunStateError(f"run {run_id} changed while its bundle was made; make it again")
    hasher, lines = store.hasher, []
    for seq, type_, at, text, prev_hash, digest in rows:
        if hasher(prev_hash, run_id, seq, type_, at, text) != digest:
            raise JournalCorruptError(f"event #{seq} ({type_}) of run {run_id} does not match its keyed hash; "
                                      "run `mlsitter verify` to see why")
        lines.append(json.dumps({"seq": seq, "type": type_, "at": at, "data": text, "prev_hash": prev_hash,
                                 "hash": digest}, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _sign(key: JournalKey, body: dict[str, Any]) -> str:
    return key.mac("compliance bundle", canonical_json({k: v for k, v in body.items() if k != "signature"}))


def _write_zip(path: Path, members: dict[str, bytes]) -> None:
    """Write the zip next to ``path`` and move it into place, so a reader never sees half a bundle."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".bundle-", suffix=".zip")
    except OSError as exc:
        raise InputError(f"cannot write the bundle at {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members.items():
                zf.writestr(name, data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# -- verification -------------------------------------------------------------------------------------------
def read_bundle(path: str | Path) -> dict[str, bytes]:
    """Every member of the bundle at ``path``; an :class:`InputError` when it is not a readable bundle."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            big = next((i.filename for i in infos if i.file_size > _MAX_MEMBER_BYTES), None)
            if big:
                raise InputError(f"{path}: member {big} is larger than {_MAX_MEMBER_BYTES:,} bytes; not a bundle")
            members = {i.filename: zf.read(i) for i in infos if not i.is_dir()}
    except FileNotFoundError:
        raise InputError(f"no bundle at {path}") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{path} is not a compliance bundle (expected a zip made by `mlsitter compliance RUN "
                         f"-o FILE`): {exc}") from None
    if MANIFEST not in members:
        raise InputError(f"{path} is not a compliance bundle: it has no {MANIFEST}")
    return members


def bundle_manifest(members: dict[str, bytes], path: str | Path) -> dict[str, Any]:
    try:
        manifest = json.loads(members[MANIFEST])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: {MANIFEST} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT or \
            not isinstance(manifest.get("members"), dict):
        raise InputError(f"{path}: {MANIFEST} is not a manifest of format {BUNDLE_FORMAT!r}")
    return manifest


def verify_bundle(path: str | Path, key: JournalKey | None = None) -> BundleReport:
    """Check a bundle offline: the manifest's signature under the journal key (``key``, or the one the
    environment or the key folder holds for the bundle's store), each member's hash, each journal's keyed
    chain, the digest's signature and heads, and that compliance.json/.html are what the journals say."""
    members = read_bundle(path)
    manifest = bundle_manifest(members, path)
    key = key or load_key(str(manifest.get("store_id", "")), create=False)
    report = BundleReport(str(path), False, str(manifest.get("run_id", "")), key_source=key.source)
    problems = report.problems
    if manifest.get("key_id") != key.key_id:
        problems.append(f"{MANIFEST}: the bundle was signed with key id {manifest.get('key_id')}, but the key from "
                        f"{key.source} has id {key.key_id}: give the key of store {manifest.get('store_id')}")
        return report
    if not hmac.compare_digest(str(manifest.get("signature", "")), _sign(key, manifest)):
        problems.append(f"{MANIFEST}: its signature does not match under the journal key: the manifest was edited")
    listed: dict[str, str] = manifest["members"]
    for name in sorted(set(members) - set(listed) - {MANIFEST}):
        problems.append(f"member {name} is not in the manifest (added after the bundle was signed)")
    for name, sha in listed.items():
        if name not in members:
            problems.append(f"member {name} is missing from the bundle")
        elif hashlib.sha256(members[name]).hexdigest() != sha:
            problems.append(f"member {name} was modified: its sha256 is not the one the signed manifest lists")
    runs = _check_journals(members, key, problems)
    report.runs = list(runs)
    if runs and report.run_id in runs:
        _check_derived(members, runs, report.run_id, key, problems)
    report.ok = not problems
    return report


def _check_journals(members: dict[str, bytes], key: JournalKey, problems: list[str]) -> dict[str, list[Event]]:
    hasher = EventHasher(key.secret)
    runs: dict[str, list[Event]] = {}
    for name in sorted(n for n in members if n.startswith("journal/") and n.endswith(".jsonl")):
        run_id = name.removeprefix("journal/").removesuffix(".jsonl")
        events, prev = [], GENESIS_HASH
        try:
            lines = [json.loads(line) for line in members[name].decode("utf-8").splitlines() if line.strip()]
            for expected, row in enumerate(lines, start=1):
                seq, type_, at, text = int(row["seq"]), str(row["type"]), float(row["at"]), str(row["data"])
                if seq != expected:
                    problems.append(f"member {name}: event #{expected} is missing (next is #{seq})")
                    break
                if row["prev_hash"] != prev:
                    problems.append(f"member {name}: event #{seq} ({type_}) does not link to the event before it")
                if hasher(row["prev_hash"], run_id, seq, type_, at, text) != row["hash"]:
                    problems.append(f"member {name}: event #{seq} ({type_}) does not match its keyed hash: the "
                                    "journal was modified")
                prev = row["hash"]
                events.append(Event(run_id, seq, type_, at, json.loads(text), row["prev_hash"], row["hash"]))
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            problems.append(f"member {name} is not a journal export ({type(exc).__name__}: {exc})")
            continue
        runs[run_id] = events
    return runs


def _check_derived(members: dict[str, bytes], runs: dict[str, list[Event]], root: str, key: JournalKey,
                   problems: list[str]) -> None:
    """The digest pins each journal's head; the record and its page are what these journals say."""
    reachable: list[str] = []
    todo = [root]
    while todo:
        current = todo.pop(0)
        if current in reachable:
            continue
        if current not in runs:
            problems.append(f"member journal/{current}.jsonl is missing: run {reachable[-1]} started it as a child")
            return
        reachable.append(current)
        todo += [e.data["child_run_id"] for e in runs[current] if e.type == "child.started"]
    try:
        digest = json.loads(members.get("digest.json", b"{}"))
        if not hmac.compare_digest(str(digest.get("signature", "")), sign_digest(key, digest)):
            problems.append("member digest.json: its signature does not match under the journal key")
        pinned = {e["run_id"]: (int(e["events"]), e["head"]) for e in digest.get("runs", [])}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        problems.append(f"member digest.json is not a digest ({exc})")
        pinned = {}
    for rid in reachable:
        events = runs[rid]
        head = (len(events), events[-1].hash if events else GENESIS_HASH)
        if pinned.get(rid) != head:
            problems.append(f"member journal/{rid}.jsonl ends at event #{head[0]}, not at the head digest.json pinned "
                            f"({pinned.get(rid, ('none',))[0]}): the journal was cut or extended")
    record = build_record({rid: runs[rid] for rid in reachable}, root)
    try:
        stated = json.loads(members.get("compliance.json", b"null"))
    except json.JSONDecodeError:
        stated = None
    if canonical_json(stated) != canonical_json(asdict(record)):
        problems.append("member compliance.json does not say what the journals say")
    if members.get("compliance.html", b"") != render_html(record).encode("utf-8"):
        problems.append("member compliance.html is not the rendering of the journals' record")


def check_store(store: Store, path: str | Path) -> list[str]:
    """How ``store`` now departs from the bundle: its runs no longer verify, or their journals are not the ones
    the bundle pinned (cut, rewritten, deleted). Empty: the store still holds what the bundle records."""
    members = read_bundle(path)
    try:
        digest = json.loads(members["digest.json"])
        run_ids = [str(e["run_id"]) for e in digest["runs"]]
    except (KeyError, TypeError, json.JSONDecodeError):
        return ["the bundle has no readable digest.json"]
    present = [r for r in run_ids if store.raw_run(r) is not None]
    out = [f"run {r.run_id} in the store: {p}" for r in verify_runs(store, present) for p in r.problems]
    for run_id, problems in check_digest(store, digest).items():
        out += [f"run {run_id} in the store: {p}" for p in problems]
    return out

