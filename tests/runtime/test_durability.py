"""Crash recovery and one-writer-per-run, with real OS processes (SIGKILL, concurrent resumes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import mlsitter
from mlsitter import Store

CASES = Path(__file__).parent / "runtime_cases.py"


def cli(*args: str, env: dict | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mlsitter", *args], env=env or os.environ.copy(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def wait_for(predicate, timeout: float = 30.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_bytes().split(b") ", 1)[1].split()
                parents[int(entry.name)] = int(stat[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [c for c, p in parents.items() if p == parent]
        found += children
        frontier += children
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().split(b") ", 1)[1][:1]
    except (OSError, IndexError):
        return False
    return state != b"Z"


def lines(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def test_sigkill_mid_run_then_resume_runs_no_completed_step_again(tmp_path, journal_db):
    counter = tmp_path / "counter"
    proc = cli("run", f"{CASES}:steps", "-i", f"counter={counter}", "-i", "n=12", "-i", "delay=0.15")
    wait_for(lambda: len(lines(counter)) >= 5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = Store()
    run = store.list_runs()[0]
    # The killed runner never recorded an ending; its lease shows the run interrupted, saying why and how to go on.
    assert run.status == "interrupted"
    assert f"runner pid {proc.pid}" in run.interrupted and "no longer running" in run.interrupted
    completed_before = {e.data["key"] for e in store.events(run.run_id, types=("step.completed",))}
    ran_before = lines(counter)
    assert len(completed_before) >= 4

    done = mlsitter.resume(run.run_id)
    assert done.status == "completed"
    assert done.result == {"total": sum(i * i for i in range(12))}
    executions = lines(counter)
    for i in range(12):
        expected = 1
        if str(i + 1) not in completed_before and i in ran_before:
            expected = 2  # the step in flight at the kill ran, but its result was never journaled
        assert executions.count(i) == expected, (i, executions)
    assert sum(executions.count(i) == 2 for i in range(12)) <= 1  # at most the one in-flight step re-ran
    assert store.verify(run.run_id).ok
    interrupted = store.events(run.run_id, types=("run.interrupted",))
    assert len(interrupted) == 1 and f"pid {proc.pid}" in interrupted[0].data["reason"]


def test_second_concurrent_resume_is_refused(tmp_path):
    counter = tmp_path / "counter"
    handle = mlsitter.run(f"{CASES}:wait-then-steps", counter=str(counter), n=3, delay=3.0)  # outlasts a loaded start
    mlsitter.approve(handle.run_id)
    first = cli("resume", handle.run_id)
    wait_for(lambda: len(lines(counter)) >= 1)
    second = cli("resume", handle.run_id)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 5
    assert "already being executed by process" in err and "one runner" in err
    assert "Traceback" not in err
    first.communicate(timeout=60)
    assert first.returncode == 0
    assert lines(counter) == [0, 1, 2]
    assert Store().verify(handle.run_id).ok


@pytest.mark.parametrize("executor", ["process"])
def test_sigkill_during_process_pool_map_keeps_landed_results(tmp_path, executor):
    """Results of a map land one by one; a crash loses only unfinished items."""
    proc_file = tmp_path / "mapproc.py"
    proc_file.write_text(
        "import time\n"
        "from mlsitter import process\n"
        "def slow(i: int, counter: str) -> int:\n"
        "    time.sleep(0.3 * (i % 3))\n"
        "    with open(counter, 'a') as fh: fh.write(f'{i}\\n')\n"
        "    return i\n"
        "@process('slowmap')\n"
        "def slowmap(ctx, counter: str, n: int = 12):\n"
        "    return ctx.map(slow, range(n), counter=counter)\n"
    )
    counter = tmp_path / "counter"
    proc = cli("run", f"{proc_file}:slowmap", "-i", f"counter={counter}", "--executor", executor)
    wait_for(lambda: len(lines(counter)) >= 4)
    helpers = _descendants(proc.pid)
    assert helpers  # the pool's processes
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    wait_for(lambda: not [p for p in helpers if _alive(p)], timeout=15)  # none outlives its runner
    store = Store()
    run = store.list_runs()[0]
    landed = {e.data["key"] for e in store.events(run.run_id, types=("step.completed",))}
    assert landed
    done = mlsitter.resume(run.run_id)
    assert done.status == "completed" and done.result == list(range(12))
    resumed_at = store.events(run.run_id, types=("run.resumed",))[0].seq
    started_after = {e.data["key"] for e in store.events(run.run_id, after=resumed_at, types=("step.started",))}
    assert started_after and not (landed & started_after)  # nothing that had landed was started again
