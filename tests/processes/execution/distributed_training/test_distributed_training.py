"""The `distributed-training` process on a real local Ray cluster on this machine: a training worker SIGKILLed while it
trains and recovered by Ray Train from the last checkpoint, a SIGKILLed runner resumed from the last journaled
checkpoint, the spend approval over budget, and bad input (unreachable RAY_ADDRESS, workers=0)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="distributed-training needs torch (pip install 'mlsitter[distributed]')")
pytest.importorskip("ray.train", reason="distributed-training needs ray[train] (pip install 'mlsitter[distributed]')")
psutil = pytest.importorskip("psutil")

import mlsitter  # noqa: E402
from mlsitter import Store  # noqa: E402
from mlsitter.errors import InputError  # noqa: E402

DATA = str(Path(__file__).parents[3] / "data" / "bank_marketing" / "bank-additional.csv.gz")
SMALL = dict(data=DATA, target="y", drop=["duration"], sample_rows=400, hidden="16", batch_size=8, workers=2,
             cpus_per_worker=1, budget=1e9, seed=0)


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray cluster for the module (the runner in this process and a subprocess share it)."""
    from mlsitter.ml.distributed import connect

    import ray

    saved = os.environ.pop("RAY_ADDRESS", None)
    info = connect()
    yield info
    ray.shutdown()
    if saved is not None:
        os.environ["RAY_ADDRESS"] = saved


def _checkpoint_dirs(home: Path) -> list[Path]:
    """Every checkpoint Ray Train wrote for the runs of ``home`` (one per epoch trained, any attempt)."""
    return sorted(p for p in home.glob("runs/*/work/ray/*/checkpoint_*") if p.is_dir())  # not the manager's file


def _registered_checkpoints(home: Path) -> int:
    """How many checkpoints Ray Train's controller has registered for the runs of ``home`` (its snapshot file)."""
    import json

    count = 0
    for snapshot in home.glob("runs/*/work/ray/*/checkpoint_manager_snapshot.json"):
        try:
            count += len(json.loads(snapshot.read_text())["checkpoint_results"])
        except (OSError, ValueError, KeyError):  # being written
            pass
    return count


def _train_workers() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True)
            if "RayTrainWorker" in " ".join(p.cmdline() if p.is_running() else [])]


# Each Ray Train fit starts a controller, helper actors and the workers as fresh processes: on this shared 2-core
# machine under load that alone can pass the suite's 300 s per test; a stalled test still stops, at 1500 s.
SLOW_CLUSTER = pytest.mark.timeout(1500)


@SLOW_CLUSTER
def test_a_killed_worker_resumes_from_the_last_checkpoint(ray_cluster, mlsitter_home):
    killed: list[int] = []
    stop = threading.Event()

    def kill_one_worker_once_a_checkpoint_exists() -> None:
        while not stop.is_set() and not killed:
            # only a checkpoint Ray Train's controller has registered is one a restarted worker group resumes from
            workers = _train_workers() if _registered_checkpoints(mlsitter_home) >= 1 else []
            if workers:
                workers[-1].send_signal(signal.SIGKILL)
                killed.append(workers[-1].pid)
            time.sleep(0.01)

    killer = threading.Thread(target=kill_one_worker_once_a_checkpoint_exists, daemon=True)
    killer.start()
    try:
        run = mlsitter.run("distributed-training", approve="auto", epochs=8, epochs_per_step=8, patience=8,
                           max_failures=2, **SMALL)
    finally:
        stop.set()
        killer.join(5)
    assert killed, "no training worker was running after the second checkpoint"
    assert run.status == "completed", run.error
    result = run.result
    assert result.recoveries and result.recoveries[0]["from_epoch"] >= 1, result.recoveries
    assert result.last_epoch == 8 and result.epochs_trained == 8
    events = Store().events(run.run_id)
    warnings = [e.data["message"] for e in events if e.type == "log" and "restarted from the checkpoint" in
                e.data["message"]]
    assert warnings and f"epoch {result.recoveries[0]['from_epoch']}" in warnings[0]
    journaled = [e.data["name"] for e in events if e.type == "artifact.recorded"
                 and e.data["name"].startswith("checkpoint-epoch-")]
    assert journaled == [f"checkpoint-epoch-{e:03d}.pt" for e in range(1, 9)]  # every epoch once, in order
    # under budget: no spend question (a quality gate on the recovered model may ask, and auto answers it)
    assert not [e for e in events if e.type == "breakpoint.requested" and "spend" in e.data["tags"]]
    assert result.version >= 1 and result.alias == "challenger" and Path(result.report).is_file()
    assert 0 < result.scaling["efficiency"] and result.measured_cpu_seconds > 0


def _wait_for(predicate, limit: float, what: str):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@SLOW_CLUSTER
def test_a_killed_runner_resumes_from_the_last_journaled_checkpoint(ray_cluster, mlsitter_home, tmp_path):
    inputs = {**SMALL, "epochs": 4, "epochs_per_step": 2, "patience": 10, "drop": "duration"}
    args = [a for k, v in inputs.items() for a in ("-i", f"{k}={v}")]
    env = {**os.environ, "RAY_ADDRESS": ray_cluster.address, "MLSITTER_HOME": str(mlsitter_home)}
    log = (tmp_path / "runner.log").open("w")
    runner = subprocess.Popen([sys.executable, "-m", "mlsitter", "run", "distributed-training", "--approve", "auto",
                               *args], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        store = Store()
        run_id = _wait_for(lambda: [r.run_id for r in store.list_runs(process="distributed-training")], 300,
                           "the run").pop()

        def second_step_training() -> bool:
            events = store.events(run_id)
            names = [e.data.get("name") for e in events if e.type == "artifact.recorded"]
            steps = [e for e in events if e.type == "step.started"
                     and e.data.get("name") == "distributed-training.train_epochs"]
            return "checkpoint-epoch-002.pt" in names and len(steps) == 2 and bool(
                _checkpoint_dirs(mlsitter_home)[2:])

        _wait_for(second_step_training, 600, "the second step to train an epoch")
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait(30)
        log.close()
    before = len(_checkpoint_dirs(mlsitter_home))  # epochs trained by the killed runner, the unjournaled too
    assert before >= 3
    resumed = mlsitter.resume(run_id)
    assert resumed.status == "completed", resumed.error
    assert resumed.result.last_epoch == 4 and resumed.result.epochs_trained == 4
    starts = [e.data for e in Store().events(run_id) if e.type == "step.started"
              and e.data.get("name") == "distributed-training.train_epochs"]
    total = len(_checkpoint_dirs(mlsitter_home))
    assert total - before == 2  # epochs 3-4: from the last journaled checkpoint (epoch 2), none of 1-2 again
    assert total < before + 4  # a restart would train all 4 again
    assert len(starts) == 3  # step 1, step 2 (killed), step 2 again
    fits = sorted(p.name.rsplit("-", 1)[0] for p in mlsitter_home.glob("runs/*/work/ray/epochs-*"))
    assert fits == ["epochs-001-002", "epochs-003-004", "epochs-003-004"]  # step 1 ran once


def test_the_spend_approval_is_asked_when_the_estimate_exceeds_the_budget(ray_cluster):
    run = mlsitter.run("distributed-training", **{**SMALL, "budget": 0.0, "epochs": 3})
    assert run.status == "waiting" and "spend" in run.waiting["tags"], run.error
    plan = run.waiting["context"]
    assert plan["estimated_cpu_seconds"] > plan["budget_cpu_seconds"] == 0.0
    assert "over the budget" in run.waiting["question"]
    events = Store().events(run.run_id)
    assert not [e for e in events if e.type == "step.started"
                and e.data.get("name") == "distributed-training.train_epochs"]  # nothing launched yet
    refused = mlsitter.reject(run.run_id, "too expensive", by="lead", resume=True)
    assert refused.status == "failed" and "launch not approved by lead" in refused.error


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_bad_input_is_refused_clearly(mlsitter_home):
    with pytest.raises(InputError, match="workers"):
        mlsitter.run("distributed-training", **{**SMALL, "workers": 0})
    assert Store().list_runs() == []  # refused before a run was created
    address = f"127.0.0.1:{_free_port()}"
    env = {**os.environ, "RAY_ADDRESS": address, "MLSITTER_HOME": str(mlsitter_home)}
    done = subprocess.run([sys.executable, "-m", "mlsitter", "run", "distributed-training", "-i", f"data={DATA}",
                           "-i", "target=y"], env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode != 0
    lines = [line for line in (done.stdout + done.stderr).splitlines() if address in line]
    assert len(lines) == 1 and "no Ray cluster answers there" in lines[0], done.stdout + done.stderr
    assert "Traceback" not in done.stderr
