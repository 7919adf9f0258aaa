"""What the distributed-training tests share: a local Ray cluster per test module, the bank sample they train on,
and what they read of Ray Train's checkpoints and workers."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

DATA = str(Path(__file__).parent / "data" / "bank_marketing" / "bank-additional.csv.gz")
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


def checkpoint_dirs(home: Path) -> list[Path]:
    """Every checkpoint Ray Train wrote for the runs of ``home`` (one per epoch trained, any attempt)."""
    return sorted(p for p in home.glob("runs/*/work/ray/*/checkpoint_*") if p.is_dir())  # not the manager's file


def registered_checkpoints(home: Path) -> int:
    """How many checkpoints Ray Train's controller has registered for the runs of ``home`` (its snapshot file)."""
    count = 0
    for snapshot in home.glob("runs/*/work/ray/*/checkpoint_manager_snapshot.json"):
        try:
            count += len(json.loads(snapshot.read_text())["checkpoint_results"])
        except (OSError, ValueError, KeyError):  # being written
            pass
    return count


def train_workers() -> list[Any]:
    """The Ray Train worker processes below this test process (psutil comes with ray)."""
    import psutil

    return [p for p in psutil.Process().children(recursive=True)
            if "RayTrainWorker" in " ".join(p.cmdline() if p.is_running() else [])]


# Each Ray Train fit starts a controller, helper actors and the workers as fresh processes: on this shared 2-core
# machine under load that alone can pass the suite's 300 s per test; a stalled test still stops, at 1500 s.
SLOW_CLUSTER = pytest.mark.timeout(1500)


