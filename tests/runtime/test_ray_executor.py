"""The Ray executor on a local Ray cluster (127.0.0.1, 2 CPUs, one per module): same results and journal as
inline, a killed Ray worker retried under the task's own policy, resume after a SIGKILLed runner, and an
unreachable RAY_ADDRESS refused before a run exists."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'mlsitter[ray]')")

import mlsitter  # noqa: E402
from mlsitter import Store  # noqa: E402
from mlsitter.runtime.canonical import canonical_json  # noqa: E402
from mlsitter.runtime.ray_executor import start_local_ray  # noqa: E402

CASES = Path(__file__).parent / "ray_cases.py"


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A local Ray cluster on 127.0.0.1 with 2 CPUs, started by (and shut down with) this test process."""
    temp = tempfile.mkdtemp(prefix="r", dir="/tmp")  # short: Ray's socket paths must fit in 107 characters
    try:
        info = start_local_ray(2, temp)
    except Exception as exc:  # Ray's own bound: its agents must start within 30 s, which a loaded host can miss
        shutil.rmtree(temp, ignore_errors=True)
        if "timed out during startup" in str(exc):
            pytest.skip(f"the local Ray cluster did not start on this host within Ray's own limit: {exc}")
        raise
    try:
        yield str(info.address_info["gcs_address"])
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def on_ray(ray_cluster: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("RAY_ADDRESS", ray_cluster)
    return ray_cluster


def journal(run_id: str) -> list[tuple[str, str, str, str]]:
    """Each step as (key, name, args_hash, result hash), in key order: what must not depend on the executor."""
    store = Store()
    started = {e.data["key"]: e.data for e in store.events(run_id, types=("step.started",))}
    done = {e.data["key"]: e.data for e in store.events(run_id, types=("step.completed",))}
    return sorted((k, started[k]["name"], started[k]["args_hash"],
                   hashlib.sha256(canonical_json(done[k]["result"]).encode()).hexdigest()) for k in done)


def test_map_task_and_parallel_on_ray_match_inline(on_ray: str, monkeypatch: pytest.MonkeyPatch) -> None:
    inline = mlsitter.run(f"{CASES}:ray-map", executor="inline")
    puts: list[int] = []
    real_put = ray.put
    monkeypatch.setattr(ray, "put", lambda value, **kw: puts.append(len(value)) or real_put(value, **kw))
    on = mlsitter.run(f"{CASES}:ray-map", executor="ray")
    assert len(puts) == 1 and puts[0] > 800_000  # the map's big common argument went to the store once
    assert inline.status == on.status == "completed"
    assert on.result == inline.result
    assert len(on.result["values"]) == 200
    assert journal(on.run_id) == journal(inline.run_id)
    assert len(journal(on.run_id)) == 200 + 1 + 2
    started = Store().events(on.run_id, types=("step.started",))
    assert {e.data["executor"] for e in started} == {"ray"}


def test_killed_ray_worker_is_retried_and_every_task_completes_once(on_ray: str, tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    outcome: dict = {}
    runner = threading.Thread(target=lambda: outcome.update(
        handle=mlsitter.run(f"{CASES}:ray-crash", executor="ray", marker=str(marker))))
    runner.start()
    try:
        deadline = time.time() + 60
        while not marker.exists() and time.time() < deadline:
            time.sleep(0.05)
        worker = int(marker.read_text())
        assert worker != os.getpid()
        os.kill(worker, signal.SIGKILL)
    finally:
        runner.join(120)
    handle = outcome["handle"]
    assert handle.status == "completed", handle
    assert handle.result == [i * i for i in range(20)]
    store = Store()
    completed = Counter(e.data["key"] for e in store.events(handle.run_id, types=("step.completed",)))
    assert len(completed) == 20 and set(completed.values()) == {1}
    failed = store.events(handle.run_id, types=("step.failed",))
    assert len(failed) == 1 and failed[0].data["will_retry"]
    assert failed[0].data["error"].startswith("WorkerLostError: the Ray worker running the task died")
    retried = store.events(handle.run_id, types=("step.retried",))
    assert [e.data["key"] for e in retried] == [failed[0].data["key"]] and retried[0].data["attempt"] == 2
    assert store.verify(handle.run_id).ok


def test_resume_after_sigkilled_runner_on_ray_reruns_only_incomplete_steps(on_ray: str, tmp_path: Path) -> None:
    counter = tmp_path / "counter"
    proc = subprocess.Popen([sys.executable, "-m", "mlsitter", "run", f"{CASES}:ray-slow", "-i", f"counter={counter}",
                             "--executor", "ray"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        store = Store()
        deadline = time.time() + 90
        landed: set[str] = set()
        while time.time() < deadline and len(landed) < 4:
            runs = store.list_runs() if store.db_path.exists() else []
            if runs:
                landed = {e.data["key"] for e in store.events(runs[0].run_id, types=("step.completed",))}
            time.sleep(0.05)
        assert len(landed) >= 4, proc.stderr.read() if proc.poll() is not None else "no step landed in time"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    run = Store().list_runs()[0]
    landed = {e.data["key"] for e in Store().events(run.run_id, types=("step.completed",))}
    assert 4 <= len(landed) < 16
    done = mlsitter.resume(run.run_id)
    assert done.status == "completed" and done.result == [i * 10 for i in range(16)]
    store = Store()
    resumed_at = store.events(run.run_id, types=("run.resumed",))[0].seq
    started_after = {e.data["key"] for e in store.events(run.run_id, after=resumed_at, types=("step.started",))}
    assert started_after and not (landed & started_after)  # nothing that had landed was submitted again
    completed = Counter(e.data["key"] for e in store.events(run.run_id, types=("step.completed",)))
    assert len(completed) == 16 and set(completed.values()) == {1}
    runs_of = Counter(int(x) for x in counter.read_text().split())
    for key in landed:
        assert runs_of[int(key.rsplit(".", 1)[1])] == 1, key  # a landed step ran exactly once
    assert store.verify(run.run_id).ok


def test_unreachable_ray_address_is_one_line_and_creates_no_run(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a free port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "RAY_ADDRESS": f"127.0.0.1:{port}"}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "mlsitter", "run", f"{CASES}:ray-slow", "-i", "counter=x",
                           "--executor", "ray"], env=env, capture_output=True, text=True, timeout=60)
    assert time.monotonic() - started < 50  # a bounded wait, not Ray's own minute of reconnecting
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert f"RAY_ADDRESS=127.0.0.1:{port}" in lines[0] and "no Ray cluster answers" in lines[0]
    assert "Traceback" not in proc.stderr
    assert Store().list_runs() == []
