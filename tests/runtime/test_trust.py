"""The journal as an attacker with write access to the store sees it: every edit, deletion and rewrite is caught.

Each attack here passed ``verify`` before the chain was keyed (issue 16): deleting a run's last events,
editing the runs table, corrupting a dataset version, rewriting events and recomputing the whole chain.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import realdata

import mlsitter
from mlsitter.errors import JournalKeyError
from mlsitter.runtime.keys import default_key_path
from mlsitter.runtime.store import Store

CASES = Path(__file__).parent / "runtime_cases.py"


def cli(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "mlsitter", *args], capture_output=True, text=True, env=os.environ.copy())
    assert not check or done.returncode == 0, done.stderr
    return done


def approved_run(tmp_path: Path) -> str:
    """A completed run that waited for an approval: created, started, waiting, answered, resumed, ..., completed."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    handle = mlsitter.run(f"{CASES}:wait-then-steps", counter=str(tmp_path / "counter"), n=2)
    mlsitter.approve(handle.run_id, by="alice")
    assert mlsitter.resume(handle.run_id).status == "completed"
    return handle.run_id


def db(store: Store) -> Any:
    """The store's database as an attacker with write access opens it: the SQLite file, or the PostgreSQL journal."""
    if store.db_url:
        return contextlib.closing(Store(store.home).conn)
    return sqlite3.connect(store.db_path, isolation_level=None)


def problems(run_id: str) -> list[str]:
    report = Store().verify(run_id)
    assert not report.ok
    return report.problems


def test_a_clean_run_verifies(tmp_path, journal_db):
    run_id = approved_run(tmp_path)
    report = Store().verify(run_id)
    assert report.ok, report.problems
    done = cli("verify", run_id, check=True)
    assert "events chained under the journal key" in done.stdout


def test_deleting_the_answer_resume_and_completion_is_detected(tmp_path, journal_db):
    run_id = approved_run(tmp_path)
    store = Store()
    answered = store.events(run_id, types=("breakpoint.answered",))[0].seq
    with db(store) as conn:
        conn.execute("DELETE FROM events WHERE run_id=? AND seq>=?", (run_id, answered))
    found = problems(run_id)
    assert any("were deleted" in p for p in found), found
    assert any("status = \"completed\", but the journal says \"waiting\"" in p for p in found), found
    # The attacker also makes the runs row agree with the shortened journal: the keyed head still tells.
    with db(store) as conn:
        conn.execute("UPDATE runs SET status='waiting', result=NULL, ended_at=NULL, head_seq=? WHERE run_id=?",
                     (answered - 1, run_id))
    found = problems(run_id)
    assert any("head record does not match" in p for p in found), found
    assert cli("verify", run_id).returncode == 4


@pytest.mark.parametrize("column, value, named", [
    ("result", json.dumps({"results": [0, 99]}), "result"),
    ("status", "failed", "status"),
    ("inputs", json.dumps({"counter": "x", "n": 5}), "inputs"),
    ("gates_failed", 3, "gates_failed"),
    ("process", "other", "process"),
    ("ended_at", 1.0, "ended_at"),
])
def test_editing_a_field_of_the_runs_table_is_detected(tmp_path, column, value, named, journal_db):
    run_id = approved_run(tmp_path)
    store = Store()
    with db(store) as conn:
        conn.execute(f"UPDATE runs SET {column}=? WHERE run_id=?", (value, run_id))
    found = problems(run_id)
    assert any(f"says {named} =" in p for p in found), found


def _rechain_without_key(conn: sqlite3.Connection, run_id: str, secret: bytes | None) -> None:
    """The attacker's best effort: recompute every hash of the run (plain SHA-256, or HMAC under a guessed key)."""
    import hmac

    prev = "0" * 64
    rows = conn.execute("SELECT seq, type, at, data FROM events WHERE run_id=? ORDER BY seq", (run_id,)).fetchall()
    for seq, type_, at, data in rows:
        message = f"{prev}\n{run_id}\n{seq}\n{type_}\n{at!r}\n{data}".encode()
        digest = hmac.digest(secret, message, "sha256").hex() if secret else hashlib.sha256(message).hexdigest()
        conn.execute("UPDATE events SET prev_hash=?, hash=? WHERE run_id=? AND seq=?", (prev, digest, run_id, seq))
        prev = digest


@pytest.mark.parametrize("guess", [None, b"x" * 32], ids=["plain-sha256", "wrong-key"])
def test_an_edit_followed_by_a_full_recompute_of_the_chain_is_detected(tmp_path, guess, journal_db):
    run_id = approved_run(tmp_path)
    store = Store()
    answer = store.events(run_id, types=("breakpoint.answered",))[0]
    forged = {**answer.data, "by": "mallory"}
    with db(store) as conn:
        conn.execute("UPDATE events SET data=? WHERE run_id=? AND seq=?", (json.dumps(forged), run_id, answer.seq))
        _rechain_without_key(conn, run_id, guess)
    found = problems(run_id)
    assert any("does not match its keyed hash" in p for p in found), found
    assert any("head record does not match" in p for p in found), found


def test_a_corrupted_dataset_version_is_detected():
    data = realdata.path("titanic/titanic_kaggle_train.csv")
    handle = mlsitter.run("data-validation", data=str(data), name="titanic", approve="auto")
    assert handle.status == "completed", handle.error
    store = Store()
    report = store.verify(handle.run_id)
    assert report.ok and report.files == 2, report  # the input file read in place, and the dataset version
    recorded = next(e.data for e in store.events(handle.run_id, types=("file.recorded",)) if e.data["kind"] == "tree")
    assert recorded["path"].startswith("datasets/titanic/dv-") and recorded["kind"] == "tree"
    parquet = store.home / recorded["path"] / "data.parquet"
    parquet.chmod(0o644)
    raw = bytearray(parquet.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    parquet.write_bytes(bytes(raw))
    found = problems(handle.run_id)
    assert any("dataset version titanic/" in p and "was modified" in p for p in found), found


def test_digest_pins_heads_and_verify_against_catches_truncation_deletion_and_forgery(tmp_path):
    first = approved_run(tmp_path / "a")
    second = approved_run(tmp_path / "b")
    digest = tmp_path / "digest.json"
    cli("digest", "--all", "-o", str(digest), check=True)
    kept = json.loads(digest.read_text())
    assert {r["run_id"] for r in kept["runs"]} == {first, second} and kept["signature"]
    done = cli("verify", "--against", str(digest), check=True)
    assert done.stdout.count("matches the digest") == 2

    store = Store()
    last = store.count_events(first)
    with db(store) as conn:  # delete the run's last event and re-point the row as if it never existed
        conn.execute("DELETE FROM events WHERE run_id=? AND seq=?", (first, last))
        conn.execute("DELETE FROM events WHERE run_id=?", (second,))
        conn.execute("DELETE FROM runs WHERE run_id=?", (second,))
    done = cli("verify", "--against", str(digest))
    assert done.returncode == 4
    assert f"fewer than the {last} the digest pinned" in done.stdout
    assert "missing from the store (deleted whole)" in done.stdout

    forged = {**kept, "runs": kept["runs"][:1]}
    digest.write_text(json.dumps(forged))
    done = cli("verify", "--against", str(digest))
    assert done.returncode == 4 and "signature does not match" in done.stdout


def test_digest_is_refused_for_a_store_that_does_not_verify(tmp_path):
    run_id = approved_run(tmp_path)
    with db(Store()) as conn:
        conn.execute("UPDATE runs SET gates_passed=7 WHERE run_id=?", (run_id,))
    done = cli("digest", run_id)
    assert done.returncode == 4 and "fail verification" in done.stderr and not done.stdout


def test_the_key_lives_outside_the_store_with_mode_0600(tmp_path):
    approved_run(tmp_path)
    store = Store()
    key = default_key_path(store.store_id)
    assert not key.is_relative_to(store.home)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    dump = "\n".join(db(store).iterdump())
    assert store.key.key_id in dump  # the store keeps the key's fingerprint, never the key
    assert key.read_text().strip() not in dump and store.key.secret.hex() not in dump


def test_a_missing_wrong_or_readable_key_is_refused_clearly(tmp_path, monkeypatch):
    run_id = approved_run(tmp_path)
    key = default_key_path(Store().store_id)
    key.chmod(0o644)
    with pytest.raises(JournalKeyError, match="chmod 600"):
        Store().verify(run_id)
    key.chmod(0o600)
    monkeypatch.setenv("MLSITTER_JOURNAL_KEY", "ab" * 32)
    with pytest.raises(JournalKeyError, match="not the key this store was chained with"):
        Store().verify(run_id)
    monkeypatch.setenv("MLSITTER_JOURNAL_KEY", key.read_text().strip())
    assert Store().verify(run_id).ok  # the same key, given by the environment (a CI secret)
    monkeypatch.delenv("MLSITTER_JOURNAL_KEY")
    key.rename(tmp_path / "elsewhere.key")
    done = cli("verify", run_id)
    assert done.returncode == 4 and "MLSITTER_JOURNAL_KEY_FILE" in done.stderr and "Traceback" not in done.stderr
    monkeypatch.setenv("MLSITTER_JOURNAL_KEY_FILE", str(tmp_path / "elsewhere.key"))
    assert cli("verify", run_id).returncode == 0


def test_the_chain_is_standard_hmac_sha256_that_any_verifier_can_recompute(tmp_path):
    """The format is documented (docs/security.md): HMAC-SHA256(key, prev \\n run \\n seq \\n type \\n repr(at) \\n data)."""
    import hmac

    run_id = approved_run(tmp_path)
    store = Store()
    prev = "0" * 64
    for seq, type_, at, data, prev_hash, digest in store.conn.execute(
            "SELECT seq, type, at, data, prev_hash, hash FROM events WHERE run_id=? ORDER BY seq", (run_id,)):
        assert prev_hash == prev
        assert hmac.new(store.key.secret, f"{prev}\n{run_id}\n{seq}\n{type_}\n{at!r}\n{data}".encode(),
                        hashlib.sha256).hexdigest() == digest
        prev = digest


def test_processes_racing_to_create_a_stores_key_all_get_the_same_whole_key(tmp_path):
    """The key is written whole and then linked into place: a loser of the race never reads a half-written file."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(4) as pool:
        ids = set(pool.map(_key_id_of_new_store, [str(tmp_path / "config")] * 16))
    assert len(ids) == 1
    assert [p.name for p in (tmp_path / "config" / "mlsitter" / "keys").iterdir()] == ["race.key"]


def _key_id_of_new_store(config: str) -> str:
    os.environ["XDG_CONFIG_HOME"] = config
    from mlsitter.runtime.keys import load_key

    return load_key("race", create=True).key_id


def test_only_a_running_run_may_hold_step_events_after_its_head(tmp_path, journal_db):
    """Step events of an execution in flight follow the head written at its last status change; once the run
    is recorded as anything else, events past the head mean the journal or the head was tampered with."""
    store = Store()
    run_id = store.create_run(process="p", target="t", inputs={}, policy="manual", executor="inline", seed=1)
    owner = store.acquire(run_id)
    writer = store.journal(run_id, owner)
    writer.append("run.started", {"pid": 1, "host": "h"}, run={"status": "running", "waiting": None, "wake_at": None})
    for key in ("1", "2"):
        writer.append("step.started", {"key": key, "op": "task", "name": "s", "args_hash": "0" * 16, "attempt": 1})
    assert store.verify(run_id).ok  # in flight (or its runner died): fine
    with db(store) as conn:
        conn.execute("UPDATE runs SET status='waiting' WHERE run_id=?", (run_id,))
    found = problems(run_id)
    assert any("events were added or the head was rolled back" in p for p in found), found
