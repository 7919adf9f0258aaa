"""Runs say when their runner died: a runner holds a lease it renews; a run whose runner is gone is ``interrupted``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlsitter
from mlsitter.runtime.store import Store

CASES = Path(__file__).parent / "runtime_cases.py"
LEASE = 2.0


def start(counter: Path, n: int, delay: float) -> subprocess.Popen[str]:
    env = {**os.environ, "MLSITTER_LEASE_SECONDS": str(LEASE)}
    return subprocess.Popen([sys.executable, "-m", "mlsitter", "run", f"{CASES}:steps", "-i", f"counter={counter}",
                             "-i", f"n={n}", "-i", f"delay={delay}"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def steps_done(counter: Path) -> int:
    return len(counter.read_text().split()) if counter.exists() else 0


def wait_until(predicate, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.05)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlsitter", *args], capture_output=True, text=True)


def test_a_killed_runner_shows_interrupted_with_the_resume_command_and_a_worker_recovers_it(tmp_path, monkeypatch,
                                                                                          journal_db):
    counter = tmp_path / "counter"
    proc = start(counter, n=8, delay=0.2)
    wait_until(lambda: steps_done(counter) >= 2)
    proc.kill()
    proc.wait()
    run = Store().list_runs()[0]
    assert run.status == "interrupted"  # same host: the dead pid shows at once, not only when the lease runs out
    shown = cli("status", run.run_id)
    assert "interrupted" in shown.stdout and f"mlsitter resume {run.run_id}" in shown.stdout, shown.stdout
    assert [r.run_id for r in Store().list_runs(status="interrupted")] == [run.run_id]
    # its duration stops at the dead runner's last heartbeat instead of growing while nothing runs it
    assert run.clock_stopped_at is not None and run.created_at < run.clock_stopped_at <= time.time()
    assert "duration" in shown.stdout and cli("status", run.run_id).stdout == shown.stdout

    worked = cli("worker", "--once")
    assert worked.returncode == 0 and f"{run.run_id} (steps): completed" in worked.stdout, worked.stderr
    done = mlsitter.get(run.run_id)
    assert done.status == "completed" and done.result == {"total": sum(i * i for i in range(8))}
    assert Store().verify(run.run_id).ok
    reasons = [e.data["reason"] for e in Store().events(run.run_id, types=("run.interrupted",))]
    assert len(reasons) == 1 and f"runner pid {proc.pid}" in reasons[0]


def test_a_runner_that_stops_heartbeating_loses_its_lease_and_cannot_write_after_a_takeover(tmp_path, monkeypatch,
                                                                                             journal_db):
    """A runner frozen (SIGSTOP: alive, but not renewing, as on a lost host) is interrupted once its lease
    ends; a second runner takes the run over and finishes it; the frozen one, thawed, writes nothing."""
    monkeypatch.setenv("MLSITTER_LEASE_SECONDS", str(LEASE))
    counter = tmp_path / "counter"
    proc = start(counter, n=6, delay=0.3)
    wait_until(lambda: steps_done(counter) >= 2)
    proc.send_signal(signal.SIGSTOP)
    try:
        frozen_at = time.time()
        store = Store()
        run_id = store.list_runs()[0].run_id
        time.sleep(max(0.0, frozen_at + LEASE + 0.5 - time.time()))  # one lease period after the last heartbeat
        run = store.get_run(run_id)
        assert run.status == "interrupted" and "stopped renewing its lease" in (run.interrupted or ""), run
        done = mlsitter.resume(run_id)
        assert done.status == "completed"
    finally:
        proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "lost its lease" in err, (out, err)
    assert Store().verify(run_id).ok
    events = Store().events(run_id)
    assert [e.type for e in events].count("run.completed") == 1 and events[-1].type == "run.completed"
