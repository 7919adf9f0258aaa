"""MLSITTER_DURABILITY=full on SQLite: a step's write-ahead marker is not fsynced on its own (its result's
commit flushes both), yet a SIGKILL loses nothing and resume re-runs no landed step."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import mlsitter
from mlsitter import Store

CASES = Path(__file__).parent / "runtime_cases.py"


@pytest.fixture
def full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLSITTER_DURABILITY", "full")


def test_an_unflushed_marker_leaves_the_connection_at_synchronous_full(full: None, tmp_path: Path) -> None:
    handle = mlsitter.run(f"{CASES}:steps", counter=str(tmp_path / "counter"), n=3)
    assert handle.status == "completed"
    store = Store()
    writer = store.journal(handle.run_id)
    writer.append_many([("note", {"what": "write-ahead"})], flush=False)
    assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL again for every other commit
    writer.append("note", {"what": "flushed"})
    assert [e.data["what"] for e in store.events(handle.run_id, types=("note",))] == ["write-ahead", "flushed"]


def test_sigkill_at_full_durability_loses_no_marker_and_resume_reruns_no_landed_step(full: None, tmp_path: Path) -> None:
    counter = tmp_path / "counter"
    proc = subprocess.Popen([sys.executable, "-m", "mlsitter", "run", f"{CASES}:steps", "-i", f"counter={counter}",
                             "-i", "n=10", "-i", "delay=0.15"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        # the 4th step's body has run only after the 3rd step's completion was on disk (steps run in order)
        while time.time() < deadline and (not counter.exists() or len(counter.read_text().split()) < 4):
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    store = Store()
    run = store.list_runs()[0]
    events = store.events(run.run_id)
    started = [e.data["key"] for e in events if e.type == "step.started"]
    landed = [e.data["key"] for e in events if e.type == "step.completed"]
    assert len(landed) >= 3 and set(landed) <= set(started)
    assert len(started) - len(landed) <= 1  # at most the step in flight at the kill
    ran = [int(x) for x in counter.read_text().split()]
    done = mlsitter.resume(run.run_id)
    assert done.status == "completed" and done.result == {"total": sum(i * i for i in range(10))}
    executions = [int(x) for x in counter.read_text().split()]
    for key in landed:
        assert executions.count(int(key) - 1) == 1, key  # a landed step never runs again
    assert len(executions) - len(ran) == 10 - len(landed)
    assert store.verify(run.run_id).ok
