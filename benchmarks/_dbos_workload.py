"""DBOS Transact side of ``runtime_overhead.py``; runs inside ``benchmarks/.venv-dbos``.

One ``@DBOS.workflow()`` calls one trivial ``@DBOS.step()`` N times, on DBOS's SQLite system
database with DBOS's default settings, or on a PostgreSQL system database (``--db postgresql://...``).
Two phases, each a fresh process, each printing one JSON line:

``--phase run``      launch, warm up on a small workflow, then time a workflow of N steps. The
                     workflow then ends the process with ``os._exit`` right after its last step, so it
                     stays PENDING in the journal (a crash after N completed steps). ``total_s`` is the
                     time from calling the workflow to the end of its last step.
``--phase recover``  launch as another executor (so startup recovery does not pick the workflow up),
                     then recover that workflow with DBOS's own recovery: it is re-enqueued, dequeued
                     by the queue thread, and replays the N recorded steps (none runs again:
                     ``step_calls`` is 0). ``resume_s`` is the replay itself, from the start of the
                     workflow body to its end; ``recover_call_to_end_s`` adds the wait for the queue
                     thread (polled about once a second) and ``get_result_s`` the result polling.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from dbos import DBOS, DBOSConfig

CRASH_AFTER_STEPS = False
STEP_CALLS = 0
T0 = 0.0
C0 = 0.0
FLOOR_S = 0.0
T_START = 0.0
T_END = 0.0


def trivial(i: int) -> int:
    return i + 1


@DBOS.step()
def trivial_step(i: int) -> int:
    global STEP_CALLS
    STEP_CALLS += 1
    return trivial(i=i)


@DBOS.workflow()
def bench_workflow(n: int) -> int:
    global T_START, T_END
    T_START = time.perf_counter()
    total = 0
    for i in range(n):
        total += trivial_step(i)
    if CRASH_AFTER_STEPS:
        elapsed, cpu = time.perf_counter() - T0, time.process_time() - C0
        _emit({"phase": "run", "n": n, "total_s": elapsed, "cpu_s": cpu, "workflow_id": DBOS.workflow_id,
               "step_calls": STEP_CALLS, "result": total, "floor_s": FLOOR_S})
        os._exit(0)  # leave the workflow PENDING, as a SIGKILL would
    T_END = time.perf_counter()
    return total


def _emit(payload: dict) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def _floor(n: int) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        total = 0
        for i in range(n):
            total += trivial(i=i)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    global CRASH_AFTER_STEPS, T0, C0, FLOOR_S
    parser = argparse.ArgumentParser()
    parser.add_argument("--phase", choices=("run", "recover"), required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--db", required=True,
                        help="path of the SQLite system database file, or a postgresql:// URL")
    args = parser.parse_args()

    url = args.db if args.db.startswith("postgresql://") else f"sqlite:///{args.db}"
    config: DBOSConfig = {"name": "mlsitter-bench", "system_database_url": url, "log_level": "WARNING"}
    if args.phase == "recover":
        config["executor_id"] = "bench-recover"
    DBOS(config=config)
    DBOS.launch()

    if args.phase == "run":
        FLOOR_S = _floor(args.n)
        bench_workflow(50)  # warm-up: imports, statements, connection pool
        CRASH_AFTER_STEPS = True
        C0, T0 = time.process_time(), time.perf_counter()
        bench_workflow(args.n)  # ends the process
        raise SystemExit("workflow did not stop after its steps")

    before = STEP_CALLS
    t0 = time.perf_counter()
    handles = DBOS._recover_pending_workflows(["local"])
    results = [h.get_result() for h in handles]
    waited = time.perf_counter() - t0
    from importlib.metadata import version

    _emit({"phase": "recover", "n": args.n, "resume_s": T_END - T_START, "recover_call_to_end_s": T_END - t0,
           "get_result_s": waited, "recovered": len(handles),
           "step_calls": STEP_CALLS - before, "result": results[0] if results else None,
           "dbos_version": version("dbos"), "python": sys.version.split()[0]})
    DBOS.destroy()


if __name__ == "__main__":
    main()
