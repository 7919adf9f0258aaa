"""A schema-1 store (unkeyed SHA-256 chain, written by 0cf1e60) moves to the keyed chain on first open.

The store is ``tests/data/journals/before-keyed-chain/store.tar.xz`` (generator beside it). It holds completed
runs, a run waiting at its approval, a data-validation run with a dataset version, and a run whose runner
was SIGKILLed mid-step.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import sqlite3
import tarfile
from pathlib import Path

import pytest

import mlsitter
from mlsitter.runtime.store import SCHEMA_VERSION, Store

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "journals" / "before-keyed-chain"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text())
ROOT = Path(EXPECTED["root"])


@pytest.fixture
def old_home(monkeypatch):
    """The schema-1 store extracted where it was written (it records absolute paths); MLSITTER_HOME points there."""
    if Path("/tmp").resolve() != Path("/tmp"):
        pytest.skip(f"the store was written at {ROOT}; /tmp is a symlink here")
    with open(f"{ROOT}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test sessions on one machine share the place
        shutil.rmtree(ROOT, ignore_errors=True)
        ROOT.mkdir(parents=True)
        with tarfile.open(FIXTURE / "store.tar.xz") as tar:
            tar.extractall(ROOT, filter="data")
        monkeypatch.setenv("MLSITTER_HOME", str(ROOT / "home"))
        monkeypatch.chdir(ROOT)
        try:
            yield ROOT / "home"
        finally:
            shutil.rmtree(ROOT, ignore_errors=True)


def _schema(home: Path) -> str:
    with sqlite3.connect(home / "mlsitter.db") as conn:
        return conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]


def test_a_schema_1_store_is_rechained_under_the_key_and_every_run_verifies(old_home):
    assert _schema(old_home) == "1"
    store = Store()
    assert _schema(old_home) == str(SCHEMA_VERSION)
    for expected in EXPECTED["runs"]:
        report = store.verify(expected["run_id"])
        assert report.ok, (expected, report.problems)
        assert report.events == expected["events"]
    statuses = {r["run_id"]: store.get_run(r["run_id"]).status for r in EXPECTED["runs"]}
    killed = next(r for r in EXPECTED["runs"] if r["status"] == "running")
    assert statuses[killed["run_id"]] == "interrupted"  # its runner died long ago: the lease says so now
    # The migrated store takes new events under the key: answering the waiting run keeps it verifiable.
    waiting = next(r for r in EXPECTED["runs"] if r["status"] == "waiting")
    mlsitter.approve(waiting["run_id"], by="migration-test")
    assert store.get_run(waiting["run_id"]).status == "ready"
    assert Store().verify(waiting["run_id"]).ok
    # Opening again does nothing more.
    assert Store().verify(waiting["run_id"]).ok and _schema(old_home) == str(SCHEMA_VERSION)


def test_an_edit_made_before_the_migration_is_not_laundered(old_home):
    victim = next(r for r in EXPECTED["runs"] if r["process"] == "data-validation")["run_id"]
    with sqlite3.connect(old_home / "mlsitter.db") as conn:
        conn.execute("UPDATE events SET data=replace(data, 'titanic', 'forged') WHERE run_id=? AND seq=1", (victim,))
    store = Store()
    report = store.verify(victim)
    assert not report.ok
    assert any("before this store moved to the keyed chain" in p and "event #1" in p for p in report.problems)
    others = [r["run_id"] for r in EXPECTED["runs"] if r["run_id"] != victim]
    assert all(store.verify(r).ok for r in others)


def test_a_store_newer_than_this_code_is_refused(old_home):
    with sqlite3.connect(old_home / "mlsitter.db") as conn:
        conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(mlsitter.errors.JournalCorruptError, match="schema 99, newer than this mlsitter"):
        Store()
