"""Serving throughput and latency: the same Titanic logistic-regression pipeline served four ways.

1. mlsitter's model server alone (``python -m mlsitter.ml.serving server``, micro-batching, prediction log on);
2. the same server behind mlsitter's router (all traffic to it);
3. a plain FastAPI app of a few lines (one-row DataFrame -> predict / predict_proba), uvicorn, one worker;
4. BentoML 1.4 (``@bentoml.service``, one worker), in ``benchmarks/.venv-bentoml`` (created on first use).

Each server runs alone as its own process on 127.0.0.1; a bounded load (``--requests`` per measurement, at
most ``--seconds``) from ``--clients`` concurrent clients sends single records, then batches of
``--batch`` records, after a warm-up. Throughput is answered requests per second; p50/p99 are client-side
latencies. The router's own cost is measured two ways: one client alternating direct and routed requests
(the difference includes the extra loopback hop), and the router's own time per proxied request under
the 8-client load (request in to answer ready, less the wait on the server; ``GET /admin/overhead``).

    .venv/bin/python benchmarks/serving.py [--clients 8] [--requests 2000] [--skip-bentoml]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
BENTO_VENV = HERE / ".venv-bentoml"

PLAIN_APP = '''
import joblib, pandas as pd
from fastapi import FastAPI
model = joblib.load({path!r})
app = FastAPI()

@app.post("/predict")
def predict(body: dict):
    frame = pd.DataFrame([body["record"]])
    return {{"prediction": int(model.predict(frame)[0]), "score": float(model.predict_proba(frame)[0, 1])}}

@app.post("/predict_batch")
def predict_batch(body: dict):
    frame = pd.DataFrame(body["records"])
    scores = model.predict_proba(frame)[:, 1]
    return {{"predictions": [{{"prediction": int(p), "score": float(s)}} for p, s in zip(model.predict(frame), scores)]}}
'''

BENTO_SERVICE = '''
import bentoml, joblib, pandas as pd

@bentoml.service(workers=1)
class Titanic:
    def __init__(self) -> None:
        self.model = joblib.load({path!r})

    @bentoml.api
    def predict(self, record: dict) -> dict:
        frame = pd.DataFrame([record])
        return {{"prediction": int(self.model.predict(frame)[0]), "score": float(self.model.predict_proba(frame)[0, 1])}}

    @bentoml.api
    def predict_batch(self, records: list[dict]) -> dict:
        frame = pd.DataFrame(records)
        scores = self.model.predict_proba(frame)[:, 1]
        return {{"predictions": [{{"prediction": int(p), "score": float(s)}} for p, s in zip(self.model.predict(frame), scores)]}}
'''


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 300.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with code {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} was not ready within {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    import signal

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def spawn(args: list[str], log: Path, env: dict[str, str] | None = None, cwd: str | None = None) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env, cwd=cwd)


def measure(url: str, records, *, clients: int, requests: int, seconds: float, batch: int, path: str) -> dict:
    from mlsitter.ml.serving import LoadGenerator

    LoadGenerator(url, records, concurrency=clients, max_requests=max(50, requests // 10), max_seconds=seconds,
                  units=0, batch=batch, path=path).run()  # warm-up
    load = LoadGenerator(url, records, concurrency=clients, max_requests=requests, max_seconds=seconds, units=0,
                         batch=batch, path=path)
    started = time.perf_counter()
    summary = load.run()
    wall = time.perf_counter() - started
    return {"requests": summary.requests, "ok": summary.ok, "throughput": round(summary.ok / wall, 1),
            "p50_ms": round(summary.p50_ms or 0, 2), "p99_ms": round(summary.p99_ms or 0, 2),
            "errors": summary.requests - summary.ok}


def router_overhead(direct: str, routed: str, record: dict, n: int) -> dict:
    """One client, direct and routed requests alternating: the router's added latency (p50 and p99)."""
    import httpx
    import numpy as np

    gaps: dict[str, list[float]] = {"direct": [], "routed": []}
    with httpx.Client(timeout=10) as client:
        for i in range(n + 50):
            for name, url in (("direct", direct), ("routed", routed)):
                t = time.perf_counter()
                client.post(url + "/predict", json={"record": record})
                if i >= 50:
                    gaps[name].append((time.perf_counter() - t) * 1000)
    d, r = np.asarray(gaps["direct"]), np.asarray(gaps["routed"])
    return {"direct_p50_ms": round(float(np.percentile(d, 50)), 3), "routed_p50_ms": round(float(np.percentile(r, 50)), 3),
            "direct_p99_ms": round(float(np.percentile(d, 99)), 3), "routed_p99_ms": round(float(np.percentile(r, 99)), 3),
            "overhead_p50_ms": round(float(np.percentile(r, 50) - np.percentile(d, 50)), 3),
            "overhead_p99_ms": round(float(np.percentile(r, 99) - np.percentile(d, 99)), 3), "pairs": n}


def bento_python(skip: bool) -> Path | None:
    """The BentoML venv's python (created with BentoML 1.4, the same scikit-learn and pandas), or None."""
    if skip:
        return None
    python = BENTO_VENV / "bin" / "python"
    if not python.exists():
        import pandas
        import sklearn

        subprocess.run([sys.executable, "-m", "venv", str(BENTO_VENV)], check=True)
        pins = ["bentoml>=1.4,<1.5", f"scikit-learn=={sklearn.__version__}", f"pandas=={pandas.__version__}", "joblib"]
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", *pins], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"BentoML 1.4 did not install here: {done.stderr.strip()[-600:]}")
            return None
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--pairs", type=int, default=500)
    parser.add_argument("--skip-bentoml", action="store_true")
    args = parser.parse_args()

    import joblib

    import serving_models
    from mlsitter.ml.serving import free_port

    work = Path(tempfile.mkdtemp(prefix="mlsitter-serving-bench-"))
    os.environ["MLSITTER_HOME"] = str(work / "home")
    model = serving_models.titanic_pipeline()
    serving_models.register("titanic", model, alias="champion")
    pickle = work / "titanic.joblib"
    joblib.dump(model, pickle)
    records, _ = serving_models.records(800, seed=0)
    env = dict(os.environ)
    results: dict[str, dict] = {}
    procs: list[subprocess.Popen] = []
    bento = bento_python(args.skip_bentoml)
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")

    def run(name: str, url: str, single_path: str, batch_path: str) -> None:
        results[name] = {
            "single": measure(url, records, clients=args.clients, requests=args.requests, seconds=args.seconds,
                              batch=1, path=single_path),
            "batch": measure(url, records, clients=args.clients, requests=max(200, args.requests // 4),
                             seconds=args.seconds, batch=args.batch, path=batch_path)}
        print(name, json.dumps(results[name]))

    try:
        port = free_port()
        server = spawn([sys.executable, "-m", "mlsitter.ml.serving", "server", "titanic@champion", "--port", str(port),
                        "--log-dir", str(work / "log")], work / "server.log", env)
        procs.append(server)
        direct = f"http://127.0.0.1:{port}"
        wait_ready(direct + "/ready", server)
        run("mlsitter server", direct, "/predict", "/predict")
        rport = free_port()
        router = spawn([sys.executable, "-m", "mlsitter.ml.serving", "router", "--port", str(rport), "--log-dir",
                        str(work / "log"), "--champion", direct, "--champion-version", "titanic/1"],
                       work / "router.log", env)
        procs.append(router)
        routed = f"http://127.0.0.1:{rport}"
        wait_ready(routed + "/ready", router)
        run("mlsitter router -> server", routed, "/predict", "/predict")
        import httpx

        results["router self time (8 clients)"] = httpx.get(routed + "/admin/overhead").json()
        print("router self time under load", json.dumps(results["router self time (8 clients)"]))
        results["router overhead"] = router_overhead(direct, routed, records[0], args.pairs)
        print("router overhead", json.dumps(results["router overhead"]))
        stop(router)
        stop(server)

        (work / "plain_app.py").write_text(PLAIN_APP.format(path=str(pickle)))
        pport = free_port()
        plain = spawn([sys.executable, "-m", "uvicorn", "plain_app:app", "--port", str(pport), "--log-level", "warning",
                       "--no-access-log"], work / "plain.log", env, cwd=str(work))
        procs.append(plain)
        wait_ready(f"http://127.0.0.1:{pport}/docs", plain)
        run("plain FastAPI", f"http://127.0.0.1:{pport}", "/predict", "/predict_batch")
        stop(plain)

        if bento is not None:
            (work / "service.py").write_text(BENTO_SERVICE.format(path=str(pickle)))
            bport = free_port()
            bento_env = {k: v for k, v in env.items() if not k.startswith("VIRTUAL_ENV")}
            bento_env["BENTOML_HOME"] = str(work / "bentoml")
            served = spawn([str(bento), "-m", "bentoml", "serve", "service:Titanic", "--port", str(bport)],
                           work / "bento.log", bento_env, cwd=str(work))
            procs.append(served)
            wait_ready(f"http://127.0.0.1:{bport}/readyz", served)
            run("BentoML 1.4", f"http://127.0.0.1:{bport}", "/predict", "/predict_batch")
            stop(served)
    finally:
        for proc in procs:
            stop(proc)

    ours, plain_r = results["mlsitter server"]["single"], results["plain FastAPI"]["single"]
    print("\nratios (single records):")
    print(f"  mlsitter / plain FastAPI throughput: {ours['throughput'] / plain_r['throughput']:.2f}x, p99 "
          f"{ours['p99_ms']:.1f} vs {plain_r['p99_ms']:.1f} ms")
    if "BentoML 1.4" in results:
        b = results["BentoML 1.4"]["single"]
        print(f"  mlsitter / BentoML throughput: {ours['throughput'] / b['throughput']:.2f}x, p99 {ours['p99_ms']:.1f} vs "
              f"{b['p99_ms']:.1f} ms")
    print(f"  router overhead, one client (routed minus direct): p50 {results['router overhead']['overhead_p50_ms']} ms, "
          f"p99 {results['router overhead']['overhead_p99_ms']} ms")
    own = results["router self time (8 clients)"]
    print(f"  router's own time per request under load: p50 {own['p50_ms']:.3f} ms, p99 {own['p99_ms']:.3f} ms")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
