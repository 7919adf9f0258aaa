"""How fast ``mlsitter verify --all`` proves a large store: 1,000,000 journal events over 1,000 runs.

The store is built through the store's own writer (keyed chain, heads, runs rows that match their journals),
then timed end to end as a user runs it (``mlsitter verify --all`` in a fresh process) and in-process
(:func:`mlsitter.runtime.integrity.verify_runs`). Baselines on the same database in the same run: SQLite's own
``PRAGMA integrity_check`` (page structure only, no content proof) and the bare floor of the work, one
HMAC-SHA256 per event over the rows as read (no checks), by the hasher verify uses and by the stdlib's
``hmac.digest``. Target: seconds, not minutes.

    .venv/bin/python benchmarks/verify_perf.py [--runs 1000] [--events 1000000]
"""

from __future__ import annotations

import argparse
import hmac
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlsitter.runtime.integrity import verify_runs
from mlsitter.runtime.store import Store


def build(home: Path, n_runs: int, n_events: int) -> Store:
    """``n_runs`` completed runs of equal length whose journals, heads and rows all verify."""
    store = Store(home)
    per_run = max(6, n_events // n_runs)
    steps = (per_run - 5) // 2
    for i in range(n_runs):
        run_id = store.create_run(process="bench", target="bench:bench", inputs={"i": i}, policy="auto",
                                  executor="inline", seed=i, run_id=f"20261201-000000-{i:08x}")
        writer = store.journal(run_id)
        items = [("run.started", {"pid": 1, "host": "bench"})]
        for k in range(steps):
            key = str(k + 1)
            items += [("step.started", {"key": key, "op": "task", "name": "bench.step", "args_hash": "0" * 16,
                                        "attempt": 1, "executor": "inline"}),
                      ("step.completed", {"key": key, "result": {"value": k * 0.5}, "duration_ms": 1.0})]
        end = [("gate.evaluated", {"key": str(steps + 1), "op": "gate", "name": "score", "value": 0.9,
                                   "operator": ">=", "threshold": 0.5, "passed": True, "on_fail": "fail"}),
               ("run.completed", {"result": {"score": 0.9}})]
        pad = per_run - 1 - len(items) - len(end)  # run.created is already journaled
        items += [("log", {"level": "info", "message": f"line {k}", "after": "0"}) for k in range(pad)] + end
        writer.append_many(items, run={"status": "completed", "result": {"score": 0.9}, "gates_passed": 1,
                                       "gates_failed": 0})
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlsitter-verify-") as tmp:
        home = Path(tmp) / "home"
        env = {**os.environ, "MLSITTER_HOME": str(home), "XDG_CONFIG_HOME": str(Path(tmp) / "config")}
        os.environ.update(env)
        t0 = time.perf_counter()
        store = build(home, args.runs, args.events)
        built = time.perf_counter() - t0
        events = store.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        ids = [r[0] for r in store.conn.execute("SELECT run_id FROM runs")]

        t0 = time.perf_counter()
        reports = verify_runs(store, ids)
        in_process = time.perf_counter() - t0
        assert all(r.ok for r in reports), next(r.problems for r in reports if not r.ok)

        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "mlsitter", "verify", "--all"], env=env, capture_output=True,
                              text=True)
        cli = time.perf_counter() - t0
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

        t0 = time.perf_counter()
        store.conn.execute("PRAGMA integrity_check").fetchall()
        sqlite_check = time.perf_counter() - t0

        hasher = store.hasher
        t0 = time.perf_counter()
        for run_id, seq, type_, at, data, prev, _ in store.conn.execute("SELECT * FROM events"):
            hasher(prev, run_id, seq, type_, at, data)
        floor = time.perf_counter() - t0

        key = store.key.secret
        t0 = time.perf_counter()
        for run_id, seq, type_, at, data, prev, _ in store.conn.execute("SELECT * FROM events"):
            hmac.digest(key, f"{prev}\n{run_id}\n{seq}\n{type_}\n{at!r}\n{data}".encode(), "sha256")
        stdlib = time.perf_counter() - t0

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}; python {platform.python_version()}")
    print(f"store: {len(ids):,} runs, {events:,} events (built in {built:.1f} s)")
    print(f"mlsitter verify --all (CLI, fresh process): {cli:6.2f} s  ({events / cli:,.0f} events/s)")
    print(f"verify_runs (in process)                  : {in_process:6.2f} s  ({events / in_process:,.0f} events/s)")
    print(f"floor: one HMAC per event, no checks       : {floor:6.2f} s  -> verify is {in_process / floor:.2f}x the floor")
    print(f"  the same with stdlib hmac.digest per event: {stdlib:6.2f} s  (the keyed pads hashed once: {stdlib / floor:.2f}x faster)")
    print(f"SQLite PRAGMA integrity_check (pages only) : {sqlite_check:6.2f} s  -> verify is {in_process / sqlite_check:.2f}x")


if __name__ == "__main__":
    main()
