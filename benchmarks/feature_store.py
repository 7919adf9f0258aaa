"""Feature store: a point-in-time training set for 1,000,000 entity rows over 3 feature views (about
10,000,000 feature rows, 20 features) with mlsitter's DuckDB as-of join vs Feast 0.67's default local
retrieval (``get_historical_features`` on the file offline store) on the same repo, and the online lookup
latency of one entity with 20 features.

Each retrieval runs in its own fresh process, so its peak memory (VmHWM) is its own; the baseline
RSS after imports is printed beside it. Feast is run at the entity-row counts given by ``--feast-rows``
(on the full 10M-row repo); where it is not run at 1M, its 1M time is extrapolated linearly from the
largest size and labelled as such. Values are compared on every row Feast returns.

Run: .venv/bin/python benchmarks/feature_store.py [--entity-rows 1000000] [--feature-rows 10000000]
     [--feast-rows 10000 100000] [--lookups 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")

VIEWS = {"profile": 5, "activity": 5, "history": 10}  # view -> number of float features (20 in all)
ENTITIES = 100_000
START = pd.Timestamp("2025-01-01", tz="UTC")
SPAN_S = 365 * 24 * 3600


def spec() -> dict:
    return {"timestamp": "ts", "entities": [{"name": "customer", "join_key": "customer_id"}],
            "feature_views": [{"name": v, "source": v, "entities": ["customer"], "ttl": "30d",
                               "features": [f"{v}_{i}" for i in range(n)]} for v, n in VIEWS.items()]}


def make_repo(root: Path, feature_rows: int, seed: int = 0) -> tuple[Path, object]:
    """A Feast repo with 3 views of ``feature_rows`` rows in all over 100k customers and a year."""
    from mlsitter.ml import features as F

    rng = np.random.default_rng(seed)
    repo = F.create_local_repo(root, "bench")
    columns = {}
    frames = {}
    for v, n in VIEWS.items():
        rows = feature_rows // len(VIEWS)
        frame = pd.DataFrame({"customer_id": rng.integers(0, ENTITIES, rows),
                              "ts": START + pd.to_timedelta(rng.integers(0, SPAN_S, rows), unit="s")})
        frame = frame.drop_duplicates(["customer_id", "ts"])
        for i in range(n):
            frame[f"{v}_{i}"] = rng.random(len(frame))
        path, columns[v] = F.stage_source(frame, repo, v, "ts")
        frames[v] = (frame, path)
    defs = F.parse_definitions(spec(), columns, "bench")
    for v, (frame, path) in frames.items():
        F.write_source(frame, path, "ts")
    F.apply_definitions(repo, defs, applied_at="bench", applied_by="bench", changes=[])
    return repo, defs


def entity_rows(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"customer_id": rng.integers(0, int(ENTITIES * 1.05), n),  # 5 % unknown customers
                         "event_timestamp": START + pd.to_timedelta(rng.integers(0, SPAN_S, n), unit="s")})


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; ``ru_maxrss`` would carry the parent's peak over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(engine: str, repo: str, rows: int, out: str) -> None:
    """One retrieval in this process; prints a JSON line with time, rows and peak RSS."""
    from mlsitter.ml import features as F

    defs = F.applied_definitions(repo)
    entities = entity_rows(rows)
    if engine == "feast":
        F.open_store(repo)  # imports and registry load outside the timing
    base = peak_rss_mb()
    start, cpu = time.perf_counter(), time.process_time()
    if engine == "mlsitter":
        result = F.point_in_time_join(entities, defs)
        frame, no_value = result.frame, result.rows_without_value
    else:
        frame = F.open_store(repo).get_historical_features(entity_df=entities, features=defs.feature_refs()).to_df()
        no_value = {}
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = peak_rss_mb()
    frame.to_parquet(out, index=False)
    print(json.dumps({"engine": engine, "entity_rows": rows, "rows_out": len(frame), "seconds": elapsed,
                      "cpu_seconds": cpu, "load": os.getloadavg()[0], "peak_rss_mb": peak, "rss_before_mb": base,
                      "rows_without_value": no_value}))


def run_worker(engine: str, repo: Path, rows: int, out: Path, timeout: float) -> dict | None:
    cmd = [sys.executable, __file__, "--worker", engine, "--repo", str(repo), "--rows", str(rows), "--out", str(out)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        print(f"  {engine} at {rows:,} entity rows: over the {timeout:.0f} s limit, stopped")
        return None
    except subprocess.CalledProcessError as exc:
        print(f"  {engine} at {rows:,} entity rows failed: {exc.stderr[-800:]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(ours: Path, feast: Path) -> tuple[int, int]:
    """(rows Feast returned, of them rows whose 20 values equal ours)."""
    a = pd.read_parquet(ours)
    b = pd.read_parquet(feast)
    a = a.drop_duplicates(["customer_id", "event_timestamp"])
    b = b.drop_duplicates(["customer_id", "event_timestamp"])
    m = a.merge(b, on=["customer_id", "event_timestamp"], suffixes=("", "_feast"))
    feats = [f"{v}_{i}" for v, n in VIEWS.items() for i in range(n)]
    same = np.ones(len(m), dtype=bool)
    for f in feats:
        x, y = m[f].to_numpy(dtype=float), m[f + "_feast"].to_numpy(dtype=float)
        same &= (x == y) | (np.isnan(x) & np.isnan(y))
    return len(b), int(same.sum())


def online_latency(root: Path, lookups: int) -> dict:
    """p50/p99 of one entity with 20 features through OnlineFeatureLookup and through Feast directly; the
    lookup's own CPU time (thread time) beside its wall time, since the wall time on a shared machine
    includes the waits for a core."""
    from mlsitter.ml import features as F

    repo, defs = make_repo(root, 30_000, seed=3)
    end = (START + timedelta(seconds=SPAN_S)).to_pydatetime()
    t0 = time.perf_counter()
    F.materialize(repo, defs, end=end, mode="full")
    materialize_s = time.perf_counter() - t0
    lookup = F.OnlineFeatureLookup(repo, list(VIEWS))
    store = lookup.store
    rng = np.random.default_rng(4)
    keys = rng.integers(0, ENTITIES, lookups)
    for k in keys[:50]:
        lookup.lookup_one(customer_id=int(k))
    ours, raw, cpu = [], [], []
    for k in keys:
        t, c = time.perf_counter(), time.thread_time()
        lookup.lookup_one(customer_id=int(k))
        ours.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
        t = time.perf_counter()
        store.get_online_features(features=lookup.refs, entity_rows=[{"customer_id": int(k)}]).to_dict()
        raw.append(time.perf_counter() - t)
    ms = lambda xs, q: float(np.percentile(xs, q) * 1000)  # noqa: E731
    return {"lookups": lookups, "features": len(lookup.features), "materialize_s": materialize_s,
            "p50_ms": ms(ours, 50), "p99_ms": ms(ours, 99),
            "cpu_p50_ms": ms(cpu, 50), "cpu_p99_ms": ms(cpu, 99), "feast_p50_ms": ms(raw, 50), "feast_p99_ms": ms(raw, 99)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entity-rows", type=int, default=1_000_000)
    parser.add_argument("--feature-rows", type=int, default=10_000_000)
    parser.add_argument("--feast-rows", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--feast-timeout", type=float, default=600)
    parser.add_argument("--lookups", type=int, default=2_000)
    parser.add_argument("--worker"), parser.add_argument("--repo"), parser.add_argument("--rows", type=int)
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.repo, args.rows, args.out)
    print(f"load: {os.getloadavg()}; cpus: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="fs-bench-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        repo, _ = make_repo(root / "repo", args.feature_rows)
        print(f"repo with {args.feature_rows:,} feature rows over {len(VIEWS)} views built in {time.perf_counter() - t0:.1f} s")
        results: dict[tuple[str, int], dict] = {}
        sizes = sorted(set(args.feast_rows) | {args.entity_rows})
        for rows in sizes:
            ours = run_worker("mlsitter", repo, rows, root / f"ours-{rows}.parquet", 1800)
            results[("mlsitter", rows)] = ours
            print(f"  mlsitter {rows:>9,} entity rows: {ours['seconds']:7.2f} s (CPU {ours['cpu_seconds']:.1f} s, load "
                  f"{ours['load']:.1f}), {ours['rows_out']:,} rows out, peak RSS "
                  f"{ours['peak_rss_mb']:.0f} MB (after imports {ours['rss_before_mb']:.0f} MB), no value per view "
                  f"{ours['rows_without_value']}")
            if rows in args.feast_rows:
                feast = run_worker("feast", repo, rows, root / f"feast-{rows}.parquet", args.feast_timeout)
                if feast:
                    results[("feast", rows)] = feast
                    returned, same = compare(root / f"ours-{rows}.parquet", root / f"feast-{rows}.parquet")
                    print(f"  feast    {rows:>9,} entity rows: {feast['seconds']:7.2f} s (CPU "
                          f"{feast['cpu_seconds']:.1f} s, load {feast['load']:.1f}), {feast['rows_out']:,} rows out "
                          f"(dropped {rows - feast['rows_out']:,}), peak RSS {feast['peak_rss_mb']:.0f} MB (after imports "
                          f"{feast['rss_before_mb']:.0f} MB); same 20 values on {same:,} of {returned:,} Feast rows; "
                          f"speed ratio {feast['seconds'] / ours['seconds']:.1f}x")
        measured = [r for (e, r) in results if e == "feast"]
        ours_full = results[("mlsitter", args.entity_rows)]
        if args.entity_rows not in measured and measured:
            largest = max(measured)
            per_row = results[("feast", largest)]["seconds"] / largest
            guess = per_row * args.entity_rows
            print(f"  feast at {args.entity_rows:,} entity rows NOT RUN; EXTRAPOLATED linearly from {largest:,}: ~{guess:.0f} s "
                  f"-> ratio ~{guess / ours_full['seconds']:.0f}x (extrapolation, not a measurement)")
        print("online:", json.dumps(online_latency(root / "online", args.lookups)))


if __name__ == "__main__":
    main()
