"""Where the router's time goes: the same model server hit directly and through mlsitter's router, in one run.

The upstream is mlsitter's model server around the Titanic rule of thumb (``tests/rule_of_thumb_serving.py``:
the real server, schema validation, micro-batching and prediction log, a model that costs microseconds), so
the numbers are the HTTP path, not a pipeline. Measured:

1. one client, direct and routed requests alternating (keep-alive): routed minus direct at p50 and p99, which
   includes the second loopback hop;
2. the router's own time per proxied request (request in to answer ready, less the wait on the server, its
   ``GET /admin/overhead``) with 1 client and with ``--clients`` concurrent clients, each on a fresh router;
3. the pure-Python parts of one routed request, timed in-process (header lookup, unit id, split pick, ids).

    .venv/bin/python benchmarks/router_overhead.py [--pairs 1000] [--clients 8] [--requests 3000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import timeit
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from serving import router_overhead, spawn, stop, wait_ready  # noqa: E402


def micro_costs() -> dict[str, float]:
    """Microseconds per call of the router's own Python work on one request (no I/O)."""
    import uuid

    from mlsitter.ml.serving import TrafficConfig, Upstream, pick_side
    from mlsitter.ml.serving._router import RecentIds, unit_of

    body = json.dumps({"record": {"Pclass": 3, "Sex": "male", "Age": 22.0, "SibSp": 1, "Parch": 0, "Fare": 7.25,
                                  "Embarked": "S"}}).encode()
    headers = [(b"host", b"127.0.0.1:8080"), (b"accept", b"*/*"), (b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()), (b"x-unit-id", b"user-42")]
    config = TrafficConfig(Upstream("http://a", "m/1"), Upstream("http://b", "m/2"), 0.25)
    recent = RecentIds()
    n = 20_000
    timing = {
        "headers (dict of the ASGI list)": lambda: dict(headers),
        "request_id": lambda: uuid.uuid4().hex,
        "unit_of (header)": lambda: unit_of(body, "user-42", "r"),
        "unit_of (no unit)": lambda: unit_of(body, None, "r"),
        "pick_side": lambda: pick_side(config, "user-42"),
        "remember id": lambda: recent.add(uuid.uuid4().hex, "m/1"),
    }
    return {name: round(timeit.timeit(fn, number=n) / n * 1e6, 2) for name, fn in timing.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    import httpx

    import serving_models
    from mlsitter.ml.serving import LoadGenerator, free_port

    work = Path(tempfile.mkdtemp(prefix="mlsitter-router-bench-"))
    record = serving_models.records(1)[0][0]
    rows = serving_models.records(400, seed=1)[0]
    results: dict[str, object] = {"micro_us": micro_costs()}
    port = free_port()
    upstream = spawn([sys.executable, str(HERE.parent / "tests" / "rule_of_thumb_serving.py"), "--port", str(port),
                      "--version", "1", "--role", "champion", "--log-dir", str(work / "log")], work / "server.log")
    direct = f"http://127.0.0.1:{port}"
    procs = [upstream]
    try:
        wait_ready(direct + "/ready", upstream)

        def router() -> str:
            rport = free_port()
            proc = spawn([sys.executable, "-m", "mlsitter.ml.serving", "router", "--port", str(rport), "--log-dir",
                          str(work / "log"), "--champion", direct, "--champion-version", "titanic/1"],
                         work / f"router-{rport}.log")
            procs.append(proc)
            url = f"http://127.0.0.1:{rport}"
            wait_ready(url + "/ready", proc)
            return url

        one = router()
        results["one client: routed - direct"] = router_overhead(direct, one, record, args.pairs)
        results["router self time, 1 client"] = httpx.get(one + "/admin/overhead").json()
        many = router()
        for name, url in (("direct", direct), ("routed", many)):
            load = LoadGenerator(url, rows, concurrency=args.clients, max_requests=args.requests, max_seconds=60,
                                 units=1000)
            started = time.perf_counter()
            summary = load.run()
            wall = time.perf_counter() - started
            results[f"{args.clients} clients, {name}"] = {"ok": summary.ok, "requests": summary.requests,
                                                          "throughput": round(summary.ok / wall, 1),
                                                          "p50_ms": round(summary.p50_ms or 0, 2),
                                                          "p99_ms": round(summary.p99_ms or 0, 2)}
        results[f"router self time, {args.clients} clients"] = httpx.get(many + "/admin/overhead").json()
    finally:
        for proc in reversed(procs):
            stop(proc)
    print(json.dumps(results, indent=2))
    gap = results["one client: routed - direct"]
    print(f"one client: routed - direct p50 {gap['overhead_p50_ms']} ms, p99 {gap['overhead_p99_ms']} ms")  # type: ignore[index]
    for key in ("router self time, 1 client", f"router self time, {args.clients} clients"):
        own = results[key]
        print(f"{key}: p50 {own['p50_ms']:.3f} ms, p99 {own['p99_ms']:.3f} ms over {own['requests']}")  # type: ignore[index]
    d, r = results[f"{args.clients} clients, direct"], results[f"{args.clients} clients, routed"]
    print(f"{args.clients} clients: routed/direct throughput {r['throughput'] / d['throughput']:.2f}x, "  # type: ignore[index]
          f"p99 {r['p99_ms']} vs {d['p99_ms']} ms")  # type: ignore[index]


if __name__ == "__main__":
    main()
