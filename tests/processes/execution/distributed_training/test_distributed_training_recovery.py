"""A distributed-training worker SIGKILLed while it trains is recovered by Ray Train from the last checkpoint its
controller registered, on a real local Ray cluster (its own file, so it runs beside the other Ray Train tests)."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="distributed-training needs torch (pip install 'mlsitter[distributed]')")
pytest.importorskip("ray.train", reason="distributed-training needs ray[train] (pip install 'mlsitter[distributed]')")

import mlsitter  # noqa: E402
from mlsitter import Store  # noqa: E402
from ray_fixtures import SLOW_CLUSTER, SMALL, registered_checkpoints, train_workers  # noqa: E402


@SLOW_CLUSTER
def test_a_killed_worker_resumes_from_the_last_checkpoint(ray_cluster, mlsitter_home):
    killed: list[int] = []
    stop = threading.Event()

    def kill_one_worker_once_a_checkpoint_exists() -> None:
        while not stop.is_set() and not killed:
            # only a checkpoint Ray Train's controller has registered is one a restarted worker group resumes from
            workers = train_workers() if registered_checkpoints(mlsitter_home) >= 1 else []
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
