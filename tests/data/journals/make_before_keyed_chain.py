"""Write ``tests/data/journals/before-keyed-chain/store.tar.xz``: a store written by commit 0cf1e60, the last
code whose journal chain was plain SHA-256 (schema 1), for ``tests/runtime/test_store_migration.py``.

RUN IT WITH THE OLD CODE, never with the code of the working tree::

    git worktree add /tmp/wt-0cf1e60 0cf1e60
    PYTHONPATH=/tmp/wt-0cf1e60/src .venv/bin/python tests/data/journals/make_before_keyed_chain.py
    git worktree remove --force /tmp/wt-0cf1e60

The store (ROOT/home) holds: a completed ``titanic-quality`` run (auto-approved), one that waits at its
approval, a completed ``data-validation`` run that registered a dataset version under
``home/datasets/titanic/``, and a run whose runner was killed (SIGKILL) mid-step. ROOT is fixed because a
store records absolute paths. ``expected.json`` lists each run's id, status and event count.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

COMMIT = "0cf1e60"
ROOT = Path(f"/tmp/mlsitter-before-keyed-chain-{COMMIT}")
HERE = Path(__file__).resolve().parent
OUT = HERE / "before-keyed-chain"
REPO = HERE.parents[2]
SLOW = '''
import time
from mlsitter import Context, process, task


@task(name="slow.nap")
def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@process("slow-fixture")
def slow(ctx: Context, seconds: float = 60.0) -> float:
    ctx.task(nap, seconds=0.0)
    return ctx.task(nap, seconds=seconds)
'''


def main() -> None:
    import mlsitter

    if Path(mlsitter.__file__).resolve().is_relative_to(REPO / "src"):
        sys.exit("run this with the old code on PYTHONPATH (see the docstring), not this checkout's src")
    shutil.rmtree(ROOT, ignore_errors=True)
    home = ROOT / "home"
    (ROOT / "data").mkdir(parents=True)
    shutil.copy(REPO / "examples" / "data" / "titanic.csv", ROOT / "data" / "titanic.csv")
    (ROOT / "slow_fixture.py").write_text(SLOW)
    env = {**os.environ, "MLSITTER_HOME": str(home), "MPLBACKEND": "Agg"}
    cli = [sys.executable, "-m", "mlsitter"]
    example = str(REPO / "examples" / "titanic_quality.py")

    def run(*args: str) -> None:
        subprocess.run([*cli, *args], cwd=ROOT, env=env, check=False)

    run("run", f"{example}:titanic-quality", "--input", "data=data/titanic.csv", "--approve", "auto")
    run("run", f"{example}:titanic-quality", "--input", "data=data/titanic.csv")
    run("run", "data-validation", "--input", "data=data/titanic.csv", "--input", "name=titanic",
        "--approve", "auto")
    proc = subprocess.Popen([*cli, "run", "slow_fixture.py:slow-fixture"], cwd=ROOT, env=env, start_new_session=True)
    time.sleep(8)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    listing = subprocess.run([*cli, "runs", "--json", "--limit", "100"], cwd=ROOT, env=env, check=True,
                             capture_output=True, text=True)
    runs = json.loads(listing.stdout)
    expected = []
    for r in sorted(runs, key=lambda r: r["created_at"]):
        events = subprocess.run([*cli, "events", r["run_id"], "--json"], cwd=ROOT, env=env, check=True,
                                capture_output=True, text=True)
        expected.append({"run_id": r["run_id"], "process": r["process"], "status": r["status"],
                         "events": len(json.loads(events.stdout))})
    OUT.mkdir(exist_ok=True)
    (OUT / "expected.json").write_text(json.dumps({"commit": COMMIT, "root": str(ROOT), "runs": expected}, indent=2))
    with tarfile.open(OUT / "store.tar.xz", "w:xz") as tar:
        tar.add(ROOT, arcname=".")
    print(json.dumps(expected, indent=2))


if __name__ == "__main__":
    main()
