"""The dashboard's background resumer continues runs whose runner died, under a recovery policy (opt-in)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import mlsitter
from mlsitter.dashboard.actions import Resumer
from mlsitter.dashboard.queries import run_stamp, runs_stamp
from mlsitter.runtime.runner import RecoveryPolicy
from mlsitter.runtime.store import Store

CASES = Path(__file__).parents[1] / "runtime" / "runtime_cases.py"


def killed_run(counter: Path) -> str:
    proc = subprocess.Popen([sys.executable, "-m", "mlsitter", "run", f"{CASES}:steps", "-i", f"counter={counter}",
                             "-i", "n=6", "-i", "delay=0.2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 60
    while not (counter.exists() and len(counter.read_text().split()) >= 2):
        assert time.monotonic() < end and proc.poll() is None
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    return Store().list_runs()[0].run_id


def test_resumer_recovers_an_interrupted_run_only_under_a_policy_and_only_so_many_times(tmp_path):
    run_id = killed_run(tmp_path / "counter")
    home = Store().home
    assert Resumer(home).resume_due() == []  # no policy: the run waits for a person
    assert Store().get_run(run_id).status == "interrupted"
    # live updates notice it although nothing was written: the page stamps follow the lease
    assert run_stamp(Store(), run_id).startswith("interrupted:") and runs_stamp(Store()).endswith(":1")
    assert Resumer(home, RecoveryPolicy(max_recoveries=1)).resume_due() == [run_id]
    done = mlsitter.get(run_id)
    assert done.status == "completed" and done.result == {"total": sum(i * i for i in range(6))}

    # The recovered run's journal says its runner died once; a policy allowing one recovery stops there.
    assert len(Store().events(run_id, types=("run.interrupted",))) == 1
    again = killed_run(tmp_path / "counter2")
    assert Resumer(home, RecoveryPolicy(max_recoveries=0)).resume_due() == []
    assert Store().get_run(again).status == "interrupted"
