"""Dashboard server-side render times on a large store: 10,000 runs, 1,000,000 journal events.

Builds the store with direct ``executemany`` inserts that keep every run's hash chain valid, then
times requests through the ASGI app (no network) and reads the server's own ``Server-Timing``
figure. Target: runs list and a 5,000-step run page each under 300 ms.

Then, end to end through a real client: a uvicorn server on 127.0.0.1 and httpx on one kept-alive
connection, once on a listening socket made the way ``mlsitter ui`` made it before (no
``IPPROTO_TCP``, so asyncio never sets TCP_NODELAY) and once on ``mlsitter.dashboard.serve.listen``,
same app, same store, same run. ``--keepalive-only`` skips the large store and measures that alone.

    .venv/bin/python benchmarks/dashboard_perf.py [--runs 10000] [--events 1000000] [--steps 5000]
    .venv/bin/python benchmarks/dashboard_perf.py --keepalive-only [--keepalive-requests 200]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import socket
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from mlsitter.runtime.canonical import GENESIS_HASH, canonical_json
from mlsitter.runtime.store import Store

PROCESSES = [
    "eda", "feature-engineering", "model-selection", "experiment-plan", "data-validation", "training",
    "feature-store", "deploy", "automl", "distributed-training", "retraining", "evaluation", "ab-test",
    "explain", "integration-test", "drift", "observability", "scoping",
]
STATUS_MIX = [("completed", 0.72), ("failed", 0.10), ("waiting", 0.08), ("running", 0.03),
              ("cancelled", 0.04), ("ready", 0.03)]
TOKEN = "benchmark-token-0123456789"


def _status(rng: random.Random) -> str:
    x, acc = rng.random(), 0.0
    for status, share in STATUS_MIX:
        acc += share
        if x < acc:
            return status
    return "completed"


def _journal(run_id: str, process: str, n_steps: int, status: str, start: float, rng: random.Random,
             n_gates: int = 2) -> tuple[list[tuple[str, dict]], float, dict | None, int, int]:
    """Events of one synthetic run: created, started, steps, gates, a breakpoint, its end."""
    items: list[tuple[str, dict]] = [
        ("run.created", {"process": process, "target": f"mlsitter.processes:{process}", "inputs": {"data": "d.csv"},
                         "policy": "manual", "executor": "inline", "seed": 1, "parent_run_id": None,
                         "parent_key": None}),
        ("run.started", {"pid": 1, "host": "bench"}),
    ]
    key = 0
    for i in range(n_steps):
        key += 1
        name = f"mlsitter.ml.step_{i % 40}"
        items.append(("step.started", {"key": str(key), "op": "task", "name": name, "args_hash": f"{i:016x}",
                                       "attempt": 1, "executor": "inline"}))
        items.append(("step.completed", {"key": str(key), "duration_ms": rng.uniform(1, 900),
                                         "result": {"rows": i, "score": 0.5}}))
    passed = failed = 0
    for g in range(n_gates):
        key += 1
        value = rng.uniform(0.5, 1.0)
        ok = value >= 0.6
        passed, failed = passed + ok, failed + (not ok)
        items.append(("gate.evaluated", {"key": str(key), "op": "gate", "name": f"metric-{g}", "value": value,
                                         "operator": ">=", "threshold": 0.6, "passed": ok, "on_fail": "warn"}))
    waiting = None
    if status in ("waiting", "ready", "completed"):
        key += 1
        question = f"Approve the {process} report?"
        items.append(("breakpoint.requested", {"key": str(key), "op": "breakpoint", "name": question,
                                               "question": question, "context": {"attempt": 1}, "artifacts": [],
                                               "options": None, "tags": []}))
        if status == "waiting":
            waiting = {"kind": "breakpoint", "reason": f"approval: {question}", "key": str(key), "question": question}
            items.append(("run.waiting", waiting))
        else:
            items.append(("breakpoint.answered", {"key": str(key), "approved": True, "feedback": "", "by": "bench",
                                                  "at": "2026-01-01T00:00:00+00:00", "option": None}))
    if status == "completed":
        items.append(("run.completed", {"result": {"ok": True}}))
    elif status == "failed":
        items.append(("run.failed", {"error": "gate 'metric-0' failed", "type": "GateFailedError"}))
    elif status == "cancelled":
        items.append(("run.cancelled", {"by": "bench", "reason": ""}))
    end = start + len(items) * 0.01
    return items, end, waiting, passed, failed


def build_store(home: Path, n_runs: int, n_events: int, big_steps: int, seed: int = 0) -> tuple[Store, str]:
    """Fill a fresh store; returns it and the id of the run with ``big_steps`` steps."""
    rng = random.Random(seed)
    store = Store(home)
    conn = store.conn
    conn.execute("PRAGMA synchronous=OFF")
    per_run = max(4, (n_events - 2 * big_steps) // max(1, n_runs - 1))
    steps_per_run = max(0, (per_run - 8) // 2)
    now = time.time()
    run_rows, event_rows = [], []
    big_id = ""
    total_events = 0
    # The big run first (its size is known), the last one padded with log lines to hit n_events exactly.
    for i in [n_runs - 1, *range(n_runs - 1)]:
        start = now - (n_runs - i) * 60.0
        run_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime(start)) + f"-{i:08x}"
        process = PROCESSES[i % len(PROCESSES)]
        if i == n_runs - 1:
            status, steps, big_id = "completed", big_steps, run_id
        else:
            status, steps = _status(rng), steps_per_run
            left = n_events - total_events - 8 * (n_runs - 1 - i)
            steps = max(0, min(steps, (left - 8) // 2))
        items, end, waiting, passed, failed = _journal(run_id, process, steps, status, start, rng,
                                                       n_gates=50 if i == n_runs - 1 else 2)
        if i == n_runs - 2:
            pad = n_events - total_events - len(items)
            items[2:2] = [("log", {"level": "info", "message": f"line {k}", "after": "0"}) for k in range(max(0, pad))]
        prev = GENESIS_HASH
        for seq, (type_, data) in enumerate(items, start=1):
            at = start + seq * 0.01
            text = canonical_json(data)
            digest = store.hasher(prev, run_id, seq, type_, at, text)
            event_rows.append((run_id, seq, type_, at, text, prev, digest))
            prev = digest
        total_events += len(items)
        final = status in ("completed", "failed", "cancelled")
        run_rows.append((run_id, process, f"mlsitter.processes:{process}", status, '{"data":"d.csv"}', "manual",
                         "inline", i, None, None, start, end, end if final else None, None,
                         canonical_json(waiting) if waiting else None, '{"ok":true}' if status == "completed" else None,
                         "gate 'metric-0' failed" if status == "failed" else None, passed, failed,
                         len(items), store.head_mac(run_id, len(items), prev)))
        if len(event_rows) >= 200_000:
            _flush(conn, [], event_rows)
    _flush(conn, run_rows, event_rows)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("ANALYZE")
    return store, big_id


def _flush(conn, run_rows: list[tuple], event_rows: list[tuple]) -> None:
    conn.execute("BEGIN")
    if run_rows:
        conn.executemany(
            "INSERT INTO runs(run_id, process, target, status, inputs, policy, executor, seed, parent_run_id,"
            " parent_key, created_at, updated_at, ended_at, wake_at, waiting, result, error, gates_passed,"
            " gates_failed, head_seq, head_mac) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", run_rows)
    conn.executemany("INSERT INTO events VALUES(?,?,?,?,?,?,?)", event_rows)
    conn.execute("COMMIT")
    run_rows.clear()
    event_rows.clear()


def time_requests(client, url: str, repeat: int) -> dict[str, float]:
    """Median and max of the server's own timing (Server-Timing) and of the client-side wall time."""
    server, wall = [], []
    client.get(url, headers={"Authorization": f"Bearer {TOKEN}"})  # warm the template cache
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = client.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
        wall.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            raise SystemExit(f"{url} answered {r.status_code}: {r.text[:300]}")
        server.append(float(r.headers["server-timing"].split("dur=")[1]))
    return {"server_median_ms": statistics.median(server), "server_max_ms": max(server),
            "wall_median_ms": statistics.median(wall), "bytes": len(r.content)}


# -- end to end through a real client: kept-alive connections and TCP_NODELAY ----------------------------
KEEPALIVE_SERVERS = [  # (label, uvicorn loop, uvicorn http)
    ("asyncio + h11 (plain pip install mlsitter[ui])", "asyncio", "h11"),
    ("asyncio + httptools", "asyncio", "httptools"),
    ("uvloop + httptools (uvicorn[standard])", "uvloop", "httptools"),
]


def _old_socket(host: str, port: int) -> socket.socket:
    """The listening socket as ``mlsitter ui`` made it before the fix: protocol 0, not IPPROTO_TCP."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


@contextlib.contextmanager
def _served(app, sock, loop: str, http: str):
    """uvicorn on ``sock`` in a thread, and an httpx client held to one kept-alive connection to it."""
    import httpx

    from mlsitter.dashboard.serve import running

    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    with running(app, sock, loop=loop, http=http), httpx.Client(
            base_url=f"http://127.0.0.1:{sock.getsockname()[1]}", limits=limits, timeout=30,
            headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


def _timed_get(client, url: str) -> float:
    t0 = time.perf_counter()
    r = client.get(url)
    ms = (time.perf_counter() - t0) * 1000
    if r.status_code != 200:
        raise SystemExit(f"{url} answered {r.status_code}: {r.text[:300]}")
    return ms


def keepalive_comparison(store: Store, urls: dict[str, str], n: int) -> dict[str, dict[str, float]]:
    """Per server flavour and url: median client wall time on the old socket and on ``serve.listen``.

    Both servers run at once and the requests alternate between them (ABBA), so a change in the
    machine's load hits both sides alike.
    """
    import importlib.util

    from mlsitter.dashboard import create_app
    from mlsitter.dashboard.serve import listen

    app = create_app(store, TOKEN, resume_on_answer=False)
    results: dict[str, dict[str, float]] = {}
    print(f"\nkeep-alive, end to end: uvicorn on 127.0.0.1, httpx on one kept-alive connection per server, "
          f"{n} requests per url alternating between the two servers")
    print(f"{'server':<48} {'request':<31} {'old socket':>11} {'serve.listen':>13} {'ratio':>7}")
    for label, loop, http in KEEPALIVE_SERVERS:
        if importlib.util.find_spec(loop) is None or importlib.util.find_spec(http) is None:
            print(f"{label:<48} (skipped: {loop} or {http} is not installed)")
            continue
        with _served(app, _old_socket("127.0.0.1", 0), loop, http) as old, \
                _served(app, listen("127.0.0.1", 0), loop, http) as new:
            for name, url in urls.items():
                _timed_get(old, url), _timed_get(new, url)  # open the connections, warm the templates
                before, after = [], []
                for i in range(n):  # ABBA order: neither side is always the one that goes second
                    if i % 2:
                        after.append(_timed_get(new, url))
                        before.append(_timed_get(old, url))
                    else:
                        before.append(_timed_get(old, url))
                        after.append(_timed_get(new, url))
                b, a = statistics.median(before), statistics.median(after)
                results[f"{label} | {name}"] = {"old_median_ms": b, "new_median_ms": a, "ratio": b / a}
                print(f"{label:<48} {name:<31} {b:>8.1f} ms {a:>10.1f} ms {b / a:>6.1f}x")
    return results


def _small_store(home: Path, n_runs: int = 200) -> Store:
    """A few hundred runs through the store's own API, for --keepalive-only."""
    store = Store(home)
    for i in range(n_runs):
        run_id = store.create_run(process=PROCESSES[i % len(PROCESSES)], target="x:y", inputs={}, policy="manual",
                                  executor="inline", seed=i)
        store.update_run(run_id, status=STATUS_MIX[i % len(STATUS_MIX)][0], created_at=1000.0 + i)
    return store


KEEPALIVE_URLS = {"live stamp (polled each 1.5 s)": "/api/stamps/runs", "runs list page": "/runs",
                  "API /api/runs": "/api/runs?limit=50"}


def _machine_line() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return (f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the end")


def keepalive_main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="mlsitter-dash-keepalive-") as tmp:
        store = _small_store(Path(tmp))
        results = keepalive_comparison(store, KEEPALIVE_URLS, args.keepalive_requests)
        print(_machine_line())
        if args.json:
            print(json.dumps(results, indent=2))
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON too.")
    parser.add_argument("--keepalive-requests", type=int, default=200,
                        help="Requests per url and server in the keep-alive comparison.")
    parser.add_argument("--keepalive-only", action="store_true",
                        help="Only the end-to-end keep-alive comparison, on a small store.")
    args = parser.parse_args()
    if args.keepalive_only:
        keepalive_main(args)
        return

    from fastapi.testclient import TestClient

    from mlsitter.dashboard import create_app

    with tempfile.TemporaryDirectory(prefix="mlsitter-dash-bench-") as tmp:
        t0 = time.perf_counter()
        store, big_id = build_store(Path(tmp), args.runs, args.events, args.steps)
        build_s = time.perf_counter() - t0
        n_runs = store.count_runs()
        n_events = store.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        db_mb = os.path.getsize(store.db_path) / 1e6
        print(f"store: {n_runs:,} runs, {n_events:,} events, {db_mb:.0f} MB, built in {build_s:.1f} s")
        t0 = time.perf_counter()
        report = store.verify(big_id)
        print(f"big run {big_id}: {report.events:,} events, chain ok={report.ok} "
              f"(verify {1000 * (time.perf_counter() - t0):.0f} ms)")
        client = TestClient(create_app(store, TOKEN, resume_on_answer=False), base_url="http://127.0.0.1:8765")
        n_waiting = store.count_runs(status="waiting")
        pages = {
            "runs list, page 1": "/runs",
            "runs list, page 150 (deep offset)": "/runs?page=150",
            "runs list, status=waiting": "/runs?status=waiting",
            "runs list, process=training, 200/page": "/runs?process=training&per=200",
            "runs list, run id search": f"/runs?q={big_id[:13]}",
            f"run page, {args.steps:,} steps": f"/runs/{big_id}",
            f"inbox, first 50 of {n_waiting} waiting": "/inbox",
            "API /api/runs": "/api/runs?limit=50",
            f"API /api/runs/{{id}}, {args.steps:,} steps": f"/api/runs/{big_id}",
            f"API /api/pending (all {n_waiting})": "/api/pending",
            f"API verify (hash chain), {args.steps:,} steps": f"/api/runs/{big_id}/verify",
            "live stamp of the runs list": "/api/stamps/runs",
        }
        results = {}
        print(f"{'request':<44} {'server median':>14} {'server max':>11} {'wall median':>12} {'size':>10}")
        for label, url in pages.items():
            res = time_requests(client, url, args.repeat)
            results[label] = res
            print(f"{label:<44} {res['server_median_ms']:>11.1f} ms {res['server_max_ms']:>8.1f} ms "
                  f"{res['wall_median_ms']:>9.1f} ms {res['bytes'] / 1024:>7.0f} KB")
        keepalive = keepalive_comparison(store, {"live stamp (polled each 1.5 s)": "/api/stamps/runs",
                                                  "runs list page": "/runs"}, args.keepalive_requests)
        print(_machine_line())
        target = [results["runs list, page 1"]["server_median_ms"],
                  results[f"run page, {args.steps:,} steps"]["server_median_ms"]]
        print("target < 300 ms (runs list, run page):", "met" if max(target) < 300 else "NOT met")
        if args.json:
            print(json.dumps({**results, "keepalive": keepalive}, indent=2))
        store.close()


if __name__ == "__main__":
    main()
