"""Runtime overhead of mlsitter against a plain loop and DBOS Transact (issue 2, "Performance").

    .venv/bin/python benchmarks/runtime_overhead.py [--n 1000 10000 20000] [--skip-dbos]

For each N, on this machine, in this one script:

1. the floor: a plain Python loop calling the trivial task function N times;
2. mlsitter: a process of N journaled tasks (``ctx.task(step, i=i)`` in a loop) run with
   ``mlsitter.run`` in a fresh temporary ``MLSITTER_HOME`` at the default durability (SQLite WAL,
   synchronous=NORMAL: every commit reaches the OS before the call returns, so SIGKILL loses
   nothing). Per-step overhead = (total - floor) / N. Resume: a second run does the N tasks and then
   waits on a ``ctx.breakpoint``; it is approved and ``mlsitter.resume(run_id)`` is timed (it reads the
   journal once, replays the N completed steps without running them, and completes);
3. DBOS Transact on its SQLite system database (default settings): a ``@DBOS.workflow()`` calling a
   ``@DBOS.step()`` N times, in ``benchmarks/.venv-dbos`` (created on first use), run by
   ``benchmarks/_dbos_workload.py`` in subprocesses. Its resume is DBOS's own recovery of the
   workflow left PENDING after its N steps (the process ended with ``os._exit``, as after SIGKILL).

Optionally (``--full-n``) one extra mlsitter row at ``MLSITTER_DURABILITY=full`` (fsync per commit,
survives power loss too), which is the like-for-like durability of DBOS's SQLite defaults.

PostgreSQL (``--postgres-n``, issue 20): one throwaway PostgreSQL server (``initdb``/``pg_ctl`` on a free
127.0.0.1 port, default settings: fsync and ``synchronous_commit`` on) serves, each in a fresh database,
(a) mlsitter with ``MLSITTER_DB`` pointing at it, (b) DBOS Transact with its system database on it, and
(c) the floor of one commit per step: a psycopg loop doing one transaction with two inserts per step.
Targets: DBOS per-step / mlsitter per-step >= 3x, mlsitter per-step <= 2x the floor's per-step time.

SQLite at full durability (``--full-n``, issue 20): its floor is one SQLite transaction (two inserts,
WAL, ``synchronous=FULL``: one fsync) per step, in a database in the same temporary folder as mlsitter's
home (the same disk). Target: mlsitter's full-durability per-step overhead <= 1.5x that floor's per-step
time; DBOS on its SQLite defaults (which fsync each commit too) is shown beside it where it ran.

Ray (``--ray-n``, issue 20): one local Ray cluster on 127.0.0.1 (``--ray-cpus`` CPUs) serves, one after
the other, bare Ray (``ray.get([f.remote(i) for i in range(N)])``) and mlsitter's Ray executor (a process
whose one ``ctx.map`` runs the same trivial function N times as journaled Ray tasks). Target: mlsitter's
time per task <= 1.5x bare Ray's.

Targets (issue 2): DBOS per-step / mlsitter per-step >= 20x; resume of 10,000 steps < 1 s;
mlsitter total at 20k within 2.3x of 10k. This is a benchmark, not a test: it always exits 0 once
every measurement ran, and prints which targets were met.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
THIS = Path(__file__).resolve()
DBOS_VENV = HERE / ".venv-dbos"
DBOS_HELPER = HERE / "_dbos_workload.py"
# A ``file.py:function`` target, as the CLI would use: the process and its task keep the same step
# names on run and on resume (both are loaded from this file by mlsitter).
TARGET = f"{THIS}:bench_process"

CALLS = [0]  # how many times the task function really ran (replay must not add to it)


def step(i: int) -> int:
    """The trivial task: what the floor loop calls directly and the process journals."""
    CALLS[0] += 1
    return i + 1


def bench_map_process(ctx, n: int) -> int:
    """One ``ctx.map`` of N trivial tasks (on the Ray executor: N Ray tasks)."""
    return sum(ctx.map(step, range(n)))


def bench_process(ctx, n: int, wait: bool = False) -> int:
    """N journaled trivial tasks; with ``wait`` it then asks for approval (the run suspends)."""
    total = 0
    for i in range(n):
        total += ctx.task(step, i=i)
    if wait:
        ctx.breakpoint("Continue after the benchmark steps?")
    return total


def expected(n: int) -> int:
    return n * (n + 1) // 2


# -- measurements -----------------------------------------------------------------------------------
def measure_floor(n: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        total = 0
        for i in range(n):
            total += step(i=i)
        best = min(best, time.perf_counter() - t0)
    assert total == expected(n)
    return best


def measure_mlsitter(n: int, *, durability: str = "default", resume: bool = True, db: str | None = None) -> dict:
    import mlsitter
    from mlsitter.runtime.definitions import load_target

    calls = sys.modules[load_target(TARGET).__module__].CALLS  # the module mlsitter loaded
    home = tempfile.mkdtemp(prefix="mlsitter-bench-")
    saved = {k: os.environ.get(k) for k in ("MLSITTER_HOME", "MLSITTER_DURABILITY", "MLSITTER_EXECUTOR",
                                            "MLSITTER_DB")}
    os.environ["MLSITTER_HOME"] = home
    os.environ.pop("MLSITTER_EXECUTOR", None)
    if db:
        os.environ["MLSITTER_DB"] = db
    else:
        os.environ.pop("MLSITTER_DB", None)
    if durability == "full":
        os.environ["MLSITTER_DURABILITY"] = "full"
    else:
        os.environ.pop("MLSITTER_DURABILITY", None)
    try:
        warm = mlsitter.run(TARGET, n=20)  # creates the database, warms imports and statements
        assert warm.status == "completed", warm

        gc.collect()
        before = calls[0]
        c0, t0 = time.process_time(), time.perf_counter()
        handle = mlsitter.run(TARGET, n=n)
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert handle.status == "completed" and handle.result == expected(n), handle
        assert calls[0] - before == n, "each task should run exactly once"
        out = {"n": n, "total_s": total, "cpu_s": cpu, "durability": durability}

        if resume:
            waiting = mlsitter.run(TARGET, n=n, wait=True)
            assert waiting.status == "waiting", waiting
            mlsitter.approve(waiting.run_id)
            gc.collect()
            before = calls[0]
            t0 = time.perf_counter()
            done = mlsitter.resume(waiting.run_id)
            out["resume_s"] = time.perf_counter() - t0
            assert done.status == "completed" and done.result == expected(n), done
            assert calls[0] == before, f"replay ran {calls[0] - before} tasks again"
        return out
    finally:
        _restore_env(saved)
        shutil.rmtree(home, ignore_errors=True)


def _restore_env(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def combine(runs: list[dict]) -> dict:
    """Several measurements of one configuration: keep the lowest time of each kind."""
    best = dict(runs[0])
    for key in ("total_s", "cpu_s", "resume_s", "floor_s", "get_result_s", "recover_call_to_end_s"):
        if key in best:
            best[key] = min(r[key] for r in runs)
    best["repeats"] = len(runs)
    best["all_total_s"] = [round(r["total_s"], 4) for r in runs]
    return best


def dbos_python() -> Path:
    """``benchmarks/.venv-dbos/bin/python`` with DBOS installed (created on first use)."""
    python = DBOS_VENV / "bin" / "python"
    if not python.exists():
        base = shutil.which("python3.11") or sys.executable
        print(f"creating {DBOS_VENV} ...", flush=True)
        subprocess.run([base, "-m", "venv", str(DBOS_VENV)], check=True)
    probe = subprocess.run([str(python), "-c", "import dbos"], capture_output=True)
    if probe.returncode != 0:
        print("installing dbos into it ...", flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "dbos"], check=True)
    return python


def _helper(python: Path, phase: str, n: int, db: Path | str) -> dict:
    proc = subprocess.run([str(python), str(DBOS_HELPER), "--phase", phase, "--n", str(n), "--db", str(db)],
                          capture_output=True, text=True, timeout=1800)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"DBOS {phase} (N={n}) printed no result; rc={proc.returncode}\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def measure_dbos(python: Path, n: int, url: str | None = None) -> dict:
    """DBOS on its SQLite system database in a temporary folder, or on the PostgreSQL database ``url``."""
    tmp = Path(tempfile.mkdtemp(prefix="dbos-bench-"))
    try:
        db = url or tmp / "dbos_system.sqlite"
        run = _helper(python, "run", n, db)
        rec = _helper(python, "recover", n, db)
        assert run["result"] == expected(n) and rec["result"] == expected(n), (run, rec)
        assert rec["recovered"] == 1 and rec["step_calls"] == 0, rec
        return {"n": n, "total_s": run["total_s"], "cpu_s": run["cpu_s"], "floor_s": run["floor_s"],
                "resume_s": rec["resume_s"], "get_result_s": rec["get_result_s"],
                "recover_call_to_end_s": rec["recover_call_to_end_s"], "version": rec["dbos_version"]}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- SQLite full durability and Ray (issue 20) ---------------------------------------------------------
def measure_sqlite_full_floor(n: int, repeat: int = 3) -> dict:
    """The floor of a power-cut-safe step on SQLite: one transaction (two inserts, WAL, synchronous=FULL, so
    one fsync) per step, in a database in the temporary folder where mlsitter's homes are made."""
    import sqlite3

    folder = tempfile.mkdtemp(prefix="sqlite-floor-")
    try:
        conn = sqlite3.connect(Path(folder) / "floor.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE steps(id INTEGER, seq INTEGER, data TEXT, PRIMARY KEY(id, seq))")
        conn.execute("CREATE TABLE marks(id INTEGER, seq INTEGER, at REAL, PRIMARY KEY(id, seq))")
        best = float("inf")
        for rep in range(repeat + 1):  # the first round warms the statements up
            t0 = time.perf_counter()
            for i in range(n):
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT INTO steps VALUES(?, ?, ?)", (rep, i, f'{{"i": {i}}}'))
                conn.execute("INSERT INTO marks VALUES(?, ?, ?)", (rep, i, time.time()))
                conn.execute("COMMIT")
            if rep:
                best = min(best, time.perf_counter() - t0)
        conn.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"n": n, "total_s": best, "per_step_us": best / n * 1e6}


def measure_ray(n: int, repeat: int, cpus: int) -> dict:
    """Bare Ray against mlsitter's Ray executor, N trivial tasks each, on one local cluster (127.0.0.1)."""
    import ray

    import mlsitter
    from mlsitter.runtime.ray_executor import start_local_ray

    temp = tempfile.mkdtemp(prefix="r", dir="/tmp")  # short: Ray's socket paths must fit in 107 characters
    home = tempfile.mkdtemp(prefix="mlsitter-bench-")
    saved = {k: os.environ.get(k) for k in ("MLSITTER_HOME", "MLSITTER_DURABILITY", "MLSITTER_DB")}
    os.environ["MLSITTER_HOME"] = home
    os.environ.pop("MLSITTER_DURABILITY", None)
    os.environ.pop("MLSITTER_DB", None)
    t0 = time.perf_counter()
    start_local_ray(cpus, temp)
    started_s = time.perf_counter() - t0
    try:
        bare_step = ray.remote(step)
        target = f"{THIS}:bench_map_process"
        ray.get([bare_step.remote(i=i) for i in range(4 * cpus)])  # start the workers
        warm = mlsitter.run(target, n=4 * cpus, executor="ray")
        assert warm.status == "completed", warm
        bare, ours = [], []
        for _ in range(max(1, repeat)):  # in turn, so that load from other users hits both alike
            gc.collect()
            t0 = time.perf_counter()
            got = ray.get([bare_step.remote(i=i) for i in range(n)])
            bare.append(time.perf_counter() - t0)
            assert sum(got) == expected(n)
            gc.collect()
            t0 = time.perf_counter()
            handle = mlsitter.run(target, n=n, executor="ray")
            ours.append(time.perf_counter() - t0)
            assert handle.status == "completed" and handle.result == expected(n), handle
    finally:
        ray.shutdown()
        _restore_env(saved)
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(temp, ignore_errors=True)
    return {"n": n, "cpus": cpus, "start_s": started_s, "bare_s": min(bare), "mlsitter_s": min(ours),
            "all_bare_s": [round(x, 4) for x in bare], "all_mlsitter_s": [round(x, 4) for x in ours]}


# -- PostgreSQL (issue 20) ----------------------------------------------------------------------------
def measure_pg_floor(url: str, n: int, repeat: int = 3) -> dict:
    """The floor of a durable step on PostgreSQL: one transaction (one commit) with two inserts per step."""
    import psycopg

    best = float("inf")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE floor_steps(id BIGINT, seq BIGINT, data TEXT, PRIMARY KEY(id, seq))")
        conn.execute("CREATE TABLE floor_marks(id BIGINT, seq BIGINT, at DOUBLE PRECISION, PRIMARY KEY(id, seq))")
        for rep in range(repeat + 1):  # the first round warms the statements up
            t0 = time.perf_counter()
            for i in range(n):
                with conn.transaction():
                    conn.execute("INSERT INTO floor_steps VALUES(%s, %s, %s)", (rep, i, f'{{"i": {i}}}'))
                    conn.execute("INSERT INTO floor_marks VALUES(%s, %s, %s)", (rep, i, time.time()))
            if rep:
                best = min(best, time.perf_counter() - t0)
    return {"n": n, "total_s": best, "per_step_us": best / n * 1e6}


def measure_postgres(n: int, repeat: int, dbos: Path | None, parent: str | None = None) -> dict:
    """mlsitter, DBOS and the one-commit floor on one throwaway PostgreSQL server (default durability), whose
    data lives in a temporary folder under ``parent``."""
    from mlsitter.runtime.pgserver import ThrowawayPostgres

    with ThrowawayPostgres(parent=parent) as server:
        settings = {}
        import psycopg

        with psycopg.connect(server.url) as conn:
            for name in ("fsync", "synchronous_commit", "wal_sync_method", "server_version"):
                settings[name] = conn.execute(f"SHOW {name}").fetchone()[0]
        floor = measure_pg_floor(server.create_database("floor"), n, repeat)
        ours = combine([measure_mlsitter(n, db=server.create_database(f"mlsitter_{i}"))
                        for i in range(max(1, repeat))])
        ours["per_step_us"] = per_step_us(ours["total_s"], measure_floor(n), n)
        theirs = None
        if dbos is not None:
            theirs = combine([measure_dbos(dbos, n, server.create_database(f"dbos_{i}")) for i in range(max(1, repeat))])
            theirs["per_step_us"] = per_step_us(theirs["total_s"], theirs["floor_s"], n)
    return {"n": n, "settings": settings, "floor": floor, "mlsitter": ours, "dbos": theirs}


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


# -- report -----------------------------------------------------------------------------------------
def per_step_us(total: float, floor: float, n: int) -> float:
    return (total - floor) / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 10000, 20000], help="step counts")
    parser.add_argument("--skip-dbos", action="store_true", help="measure only the floor and mlsitter")
    parser.add_argument("--full-n", type=int, default=1000,
                        help="N for the extra MLSITTER_DURABILITY=full row (0: leave it out)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="mlsitter measurements per N (fresh home each); the lowest time is reported")
    parser.add_argument("--dbos-repeat", type=int, default=1,
                        help="DBOS measurements per N (a 20,000-step DBOS run takes about a minute)")
    parser.add_argument("--postgres-n", type=int, default=1000,
                        help="N for the PostgreSQL rows (mlsitter, DBOS, one-commit floor; 0: leave them out)")
    parser.add_argument("--postgres-only", action="store_true", help="measure only the PostgreSQL rows")
    parser.add_argument("--issue20-only", action="store_true",
                        help="measure only the full-durability rows (with DBOS at --full-n) and the Ray rows")
    parser.add_argument("--postgres-dir", help="where the throwaway server keeps its data (default: the temporary "
                                               "folder; /dev/shm: memory, where a flush costs nothing)")
    parser.add_argument("--ray-n", type=int, default=0,
                        help="N for the Ray rows (bare ray.get against mlsitter's Ray executor; 0: leave them out)")
    parser.add_argument("--ray-cpus", type=int, default=2, help="CPUs of the local Ray cluster")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args()
    if args.postgres_only:
        args.n, args.full_n = [], 0
    if args.issue20_only:
        args.n, args.postgres_n = [], 0

    import mlsitter

    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
          f"mlsitter {mlsitter.__version__}; load average {_load()}", flush=True)
    rows: list[dict] = []
    floors: dict[int, float] = {}
    ours: dict[int, dict] = {}
    theirs: dict[int, dict] = {}
    for n in args.n:
        floors[n] = measure_floor(n)
        rows.append({"system": "plain loop (floor)", "n": n, "total_s": floors[n], "per_step_us": None})
    # Repeats go round all N in turn, so that load from other users hits every N alike.
    samples: dict[int, list[dict]] = {n: [] for n in args.n}
    for _ in range(max(1, args.repeat)):
        for n in args.n:
            samples[n].append(measure_mlsitter(n))
    for n in args.n:
        ours[n] = combine(samples[n])
        ours[n]["per_step_us"] = per_step_us(ours[n]["total_s"], floors[n], n)
        rows.append({"system": "mlsitter (WAL, sync=NORMAL)", **ours[n]})
        print(f"  N={n}: mlsitter {ours[n]['total_s']:.3f} s (runs: {ours[n]['all_total_s']}), "
              f"resume {ours[n]['resume_s']:.3f} s", flush=True)
    if args.full_n:
        n = args.full_n
        floor = floors.get(n) or measure_floor(n)
        # In turn (floor, mlsitter, floor, ...): a flush's cost on this shared disk drifts within minutes.
        fulls, sqlite_floors = [], []
        for _ in range(max(1, args.repeat)):
            sqlite_floors.append(measure_sqlite_full_floor(n, 1))
            fulls.append(measure_mlsitter(n, durability="full", resume=False))
        full = combine(fulls)
        full["per_step_us"] = per_step_us(full["total_s"], floor, n)
        rows.append({"system": "mlsitter (WAL, sync=FULL)", **full})
        sqlite_floor = min(sqlite_floors, key=lambda r: r["total_s"])
        sqlite_floor["all_total_s"] = [round(r["total_s"], 4) for r in sqlite_floors]
        rows.append({"system": "sqlite3 1 txn/step (FULL floor)", "n": n, "total_s": sqlite_floor["total_s"],
                     "per_step_us": sqlite_floor["per_step_us"]})
        print(f"  N={n}: mlsitter durability=full {full['total_s']:.3f} s (runs: {full['all_total_s']}), "
              f"one FULL transaction per step {sqlite_floor['total_s']:.3f} s (runs: {sqlite_floor['all_total_s']})", flush=True)
    ray_row = None
    if args.ray_n:
        ray_row = measure_ray(args.ray_n, max(1, args.repeat), args.ray_cpus)
        for system, key in (("bare Ray (ray.get of N .remote)", "bare_s"), ("mlsitter (Ray executor, map)", "mlsitter_s")):
            rows.append({"system": system, "n": ray_row["n"], "total_s": ray_row[key],
                         "per_step_us": ray_row[key] / ray_row["n"] * 1e6})
        print(f"  Ray ({ray_row['cpus']} CPUs, started in {ray_row['start_s']:.1f} s): N={ray_row['n']}: bare "
              f"{ray_row['all_bare_s']} s, mlsitter {ray_row['all_mlsitter_s']} s", flush=True)
    version = ""
    python = None if args.skip_dbos else dbos_python()
    pg = None
    if args.postgres_n:
        pg = measure_postgres(args.postgres_n, max(1, args.repeat), python, args.postgres_dir)
        n = pg["n"]
        rows.append({"system": "psycopg 1 txn/step (PG floor)", "n": n, "total_s": pg["floor"]["total_s"],
                     "per_step_us": pg["floor"]["per_step_us"]})
        rows.append({"system": "mlsitter (PostgreSQL)", **pg["mlsitter"]})
        if pg["dbos"]:
            rows.append({"system": f"DBOS {pg['dbos']['version']} (PostgreSQL)", **pg["dbos"]})
        print(f"  PostgreSQL {pg['settings']}, data in {args.postgres_dir or tempfile.gettempdir()}: N={n}: floor {pg['floor']['total_s']:.3f} s, "
              f"mlsitter {pg['mlsitter']['total_s']:.3f} s (runs: {pg['mlsitter']['all_total_s']})", flush=True)
    if python is not None:
        for n in sorted(set(args.n) | ({args.full_n} if args.full_n else set())):  # DBOS also beside the full row
            theirs[n] = combine([measure_dbos(python, n) for _ in range(max(1, args.dbos_repeat))])
            theirs[n]["per_step_us"] = per_step_us(theirs[n]["total_s"], theirs[n]["floor_s"], n)
            version = theirs[n]["version"]
            rows.append({"system": f"DBOS {version} (SQLite)", **theirs[n]})
            print(f"  N={n}: DBOS {theirs[n]['total_s']:.3f} s, resume {theirs[n]['resume_s']:.3f} s", flush=True)

    print()
    head = f"{'system':<30} {'N':>7} {'total s':>9} {'cpu s':>7} {'per-step µs':>12} {'resume s':>9} {'resume µs/step':>15}"
    print(head)
    print("-" * len(head))
    for r in sorted(rows, key=lambda r: (r["n"], r["system"] != "plain loop (floor)", r["system"].startswith("DBOS"))):
        step_us = f"{r['per_step_us']:.1f}" if r.get("per_step_us") is not None else f"{r['total_s'] / r['n'] * 1e6:.2f}"
        resume = f"{r['resume_s']:.3f}" if "resume_s" in r else "-"
        resume_us = f"{r['resume_s'] / r['n'] * 1e6:.1f}" if "resume_s" in r else "-"
        cpu = f"{r['cpu_s']:.3f}" if "cpu_s" in r else "-"
        print(f"{r['system']:<30} {r['n']:>7} {r['total_s']:>9.3f} {cpu:>7} {step_us:>12} {resume:>9} {resume_us:>15}")
    print("(floor row: µs per plain call; other rows: per-step overhead = (total - floor) / N;")
    print(" total = wall clock; cpu = CPU time of the process that ran the steps)")

    print()
    verdicts = []
    for n in args.n:
        if n in theirs and n in ours:
            ratio = theirs[n]["per_step_us"] / ours[n]["per_step_us"]
            verdicts.append((f"DBOS / mlsitter per-step overhead, N={n}", f"{ratio:.1f}x", ">= 20x", ratio >= 20))
    if pg is not None:
        mine, floor_us = pg["mlsitter"]["per_step_us"], pg["floor"]["per_step_us"]
        if pg["dbos"]:
            ratio = pg["dbos"]["per_step_us"] / mine
            verdicts.append((f"PG: DBOS / mlsitter per-step, N={pg['n']}", f"{ratio:.1f}x", ">= 3x", ratio >= 3))
        verdicts.append((f"PG: mlsitter per-step / one-commit floor", f"{mine / floor_us:.2f}x", "<= 2x",
                         mine / floor_us <= 2))
    if args.full_n:
        ratio = full["per_step_us"] / sqlite_floor["per_step_us"]
        verdicts.append((f"SQLite full: mlsitter per-step / FULL floor", f"{ratio:.2f}x", "<= 1.5x", ratio <= 1.5))
        if full["n"] in theirs:
            ratio = theirs[full["n"]]["per_step_us"] / full["per_step_us"]
            verdicts.append((f"DBOS (SQLite) / mlsitter full, N={full['n']}", f"{ratio:.1f}x", "(info)", None))
    if ray_row is not None:
        ratio = ray_row["mlsitter_s"] / ray_row["bare_s"]
        verdicts.append((f"Ray: mlsitter / bare per task, N={ray_row['n']}", f"{ratio:.2f}x", "<= 1.5x", ratio <= 1.5))
    if 10000 in ours:
        r = ours[10000]["resume_s"]
        verdicts.append(("mlsitter resume of a 10,000-step journal", f"{r:.3f} s", "< 1 s", r < 1.0))
    if 10000 in ours and 20000 in ours:
        lin = ours[20000]["total_s"] / ours[10000]["total_s"]
        verdicts.append(("mlsitter total 20k / 10k", f"{lin:.2f}x", "<= 2.3x", lin <= 2.3))
        lin_c = ours[20000]["cpu_s"] / ours[10000]["cpu_s"]
        verdicts.append(("mlsitter CPU time 20k / 10k", f"{lin_c:.2f}x", "(info)", None))
        lin_r = ours[20000]["resume_s"] / ours[10000]["resume_s"]
        verdicts.append(("mlsitter resume 20k / 10k", f"{lin_r:.2f}x", "(info)", None))
    for what, value, target, ok in verdicts:
        mark = "" if ok is None else ("met" if ok else "MISSED")
        print(f"{what:<45} {value:>10}   target {target:<8} {mark}")

    print(f"load average at the end: {_load()} (the lowest of {max(1, args.repeat)} mlsitter and "
          f"{max(1, args.dbos_repeat)} DBOS measurement(s) per N is shown)")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "verdicts": verdicts, "python": platform.python_version(),
                                         "cpus": os.cpu_count(), "dbos": version, "postgres": pg,
                                         "ray": ray_row}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
