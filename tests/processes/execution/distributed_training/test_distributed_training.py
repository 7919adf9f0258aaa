"""The `distributed-training` process on a real local Ray cluster on this machine: a SIGKILLed runner resumed from the
last journaled checkpoint, the spend approval over budget, and bad input (unreachable RAY_ADDRESS, workers=0)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("torch", reason="distributed-training needs torch (pip install 'mlsitter[distributed]')")
pytest.importorskip("ray.train", reason="distributed-training needs ray[train] (pip install 'mlsitter[distributed]')")

import mlsitter  # noqa: E402
from mlsitter import Store  # noqa: E402
from mlsitter.errors import InputError  # noqa: E402
from ray_fixtures import DATA, SLOW_CLUSTER, SMALL, checkpoint_dirs  # noqa: E402


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
                checkpoint_dirs(mlsitter_home)[2:])

        _wait_for(second_step_training, 600, "the second step to train an epoch")
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait(30)
        log.close()
    before = len(checkpoint_dirs(mlsitter_home))  # epochs trained by the killed runner, the unjournaled too
    assert before >= 3
    resumed = mlsitter.resume(run_id)
    assert resumed.status == "completed", resumed.error
    assert resumed.result.last_epoch == 4 and resumed.result.epochs_trained == 4
    starts = [e.data for e in Store().events(run_id) if e.type == "step.started"
              and e.data.get("name") == "distributed-training.train_epochs"]
    total = len(checkpoint_dirs(mlsitter_home))
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
