"""Drift speed, memory and decisions: mlsitter's ``drift`` process vs Evidently 0.7 ``DataDriftPreset``.

Data: a synthetic reference and current table of mixed columns (60 % numeric, 40 % categorical, some
missing values); in the current table a fifth of the columns is shifted (numeric: mean moved by half a
standard deviation or spread widened; categorical: a third of the rows moved to one level), the rest is
drawn from the same distributions. Both sides read the same Parquet files in their own subprocess (fresh
memory, peak RSS from /proc). Both are set to the same tests: Wasserstein distance over the reference
standard deviation for numeric columns and Jensen-Shannon distance for categorical ones, both at 0.1
(Evidently's defaults at this size); mlsitter also requires the corrected KS / chi-square test to be
significant. mlsitter's time is the whole process (``mlsitter.run``: read, profile, compare, journal,
report), and then once more with the stored reference profile reused (``reference_profile=``, the reference
not read again); Evidently's is ``Report.run`` (the HTML is not rendered). Evidently lives in
``benchmarks/.venv-evidently`` (created on first use from the local package mirror).

    .venv/bin/python benchmarks/drift_vs_evidently.py [--rows 500000] [--columns 50] [--skip-evidently]
    .venv/bin/python benchmarks/drift_vs_evidently.py --rows 3000000 --columns 100 --skip-evidently
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from eda_vs_ydata import run_worker  # the same subprocess runner (fresh memory, JSON on the last line)

HERE = Path(__file__).resolve().parent
EVIDENTLY_VENV = HERE / ".venv-evidently"
EVIDENTLY = "evidently==0.7.23"
CHUNK = 250_000  # rows generated and written at a time, so the generator holds little


def column_plan(columns: int) -> list[tuple[str, str, bool]]:
    """(name, kind, shifted) per column: 60 % numeric, 40 % categorical, every fifth column shifted."""
    plan = []
    for i in range(columns):
        kind = "num" if i % 5 < 3 else "cat"
        plan.append((f"{kind}{i}", kind, i % 5 == 1 or (i % 10 == 3)))
    return plan


def chunk(plan: list[tuple[str, str, bool]], rows: int, seed: int, current: bool) -> pa.Table:
    rng = np.random.default_rng(seed)
    data = {}
    for i, (name, kind, shifted) in enumerate(plan):
        if kind == "num":
            scale = 1 + i % 4
            x = rng.normal(i, scale, rows) if i % 3 else rng.lognormal(0, 0.5, rows) * scale
            if current and shifted:
                x = x + 0.5 * scale if i % 2 else (x - x.mean()) * 1.6 + x.mean()
            x[rng.random(rows) < 0.02 * (i % 3)] = np.nan
            data[name] = x
        else:
            levels = np.array([f"L{j}" for j in range(3 + i % 12)], dtype=object)
            p = np.linspace(1, 2, len(levels))
            values = levels[rng.choice(len(levels), rows, p=p / p.sum())]
            if current and shifted:
                values[rng.random(rows) < 0.33] = levels[0]
            data[name] = values
    return pa.table(data)


def write(path: Path, plan: list[tuple[str, str, bool]], rows: int, seed: int, current: bool) -> None:
    writer = None
    for k, start in enumerate(range(0, rows, CHUNK)):
        table = chunk(plan, min(CHUNK, rows - start), seed * 1000 + k, current)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


PEAK = """
def peak_mb():
    # VmHWM is this process's own peak (ru_maxrss would carry the parent's peak across exec)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
"""

MLSITTER_WORKER = PEAK + r"""
import json, os, sys, tempfile, time
os.environ["MLSITTER_HOME"] = tempfile.mkdtemp()
import mlsitter
import scipy.stats, statsmodels.stats.multitest, matplotlib.pyplot, polars  # imports are not what we time
ref, cur, max_sample = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
h = mlsitter.run("drift", reference=ref, current=cur, approve="auto", numeric_effect="wasserstein",
                 categorical_effect="jensenshannon", wasserstein_threshold=0.1, js_threshold=0.1, max_sample=max_sample)
t1 = time.perf_counter()
assert h.status == "completed", h.error
(window,) = h.result.windows
peak = peak_mb()
# the stored reference profile reused (reference_profile=): the reference is not read again
t2 = time.perf_counter()
again = mlsitter.run("drift", reference_profile=h.result.profile, current=cur, approve="auto",
                     numeric_effect="wasserstein", categorical_effect="jensenshannon", wasserstein_threshold=0.1,
                     js_threshold=0.1)
t3 = time.perf_counter()
assert again.status == "completed", again.error
assert again.result.windows[0]["drifted"] == window["drifted"]
print(json.dumps({"total_s": t1 - t0, "peak_rss_mb": peak, "reuse_s": t3 - t2, "reuse_peak_rss_mb": peak_mb(),
                  "drifted": sorted(window["drifted"]),
                  "effects": {k: v["effect_value"] for k, v in window["features"].items()}}))
"""

EVIDENTLY_WORKER = PEAK + r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
ref, cur = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2])
definition = DataDefinition(numerical_columns=[c for c in ref.columns if c.startswith("num")],
                            categorical_columns=[c for c in ref.columns if c.startswith("cat")])
t0 = time.perf_counter()
report = Report([DataDriftPreset(num_method="wasserstein", cat_method="jensenshannon", num_threshold=0.1,
                                 cat_threshold=0.1)])
snapshot = report.run(Dataset.from_pandas(cur, data_definition=definition),
                      Dataset.from_pandas(ref, data_definition=definition))
t1 = time.perf_counter()
drifted, effects = [], {}
for metric in snapshot.dict()["metrics"]:
    config = metric.get("config", {})
    if config.get("type", "").endswith("ValueDrift"):
        column, value = config["column"], float(metric["value"])
        effects[column] = value
        if value >= config.get("threshold", 0.1):
            drifted.append(column)
print(json.dumps({"total_s": t1 - t0, "peak_rss_mb": peak_mb(), "drifted": sorted(drifted), "effects": effects}))
"""


def ensure_evidently() -> Path:
    python = EVIDENTLY_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], check=True)
    if subprocess.run([str(python), "-c", "import evidently, pyarrow"], capture_output=True).returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "-q", EVIDENTLY, "pandas<3", "pyarrow"], check=True)
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=500_000, help="rows of the reference and of the current table")
    parser.add_argument("--columns", type=int, default=50)
    parser.add_argument("--max-sample", type=int, default=100_000, help="mlsitter's raw values kept per feature")
    parser.add_argument("--skip-evidently", action="store_true")
    args = parser.parse_args()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}; "
          f"load {os.getloadavg()[0]:.1f}")
    plan = column_plan(args.columns)
    expected = sorted(name for name, _, shifted in plan if shifted)
    with tempfile.TemporaryDirectory() as tmp:
        ref, cur = Path(tmp) / "reference.parquet", Path(tmp) / "current.parquet"
        write(ref, plan, args.rows, 1, False)
        write(cur, plan, args.rows, 2, True)
        print(f"data: {args.rows:,} vs {args.rows:,} rows x {args.columns} columns, {len(expected)} shifted; "
              f"Parquet {ref.stat().st_size / 1e6:.0f} + {cur.stat().st_size / 1e6:.0f} MB")
        ours = run_worker(Path(sys.executable), MLSITTER_WORKER, str(ref), str(cur), str(args.max_sample))
        print(f"mlsitter drift : {ours['total_s']:7.2f} s  peak RSS {ours['peak_rss_mb']:6.0f} MB  "
              f"drifted {len(ours['drifted'])} (expected {len(expected)}, same: {ours['drifted'] == expected})")
        print(f"  again with the stored reference profile: {ours['reuse_s']:7.2f} s  "
              f"(peak RSS of both runs {ours['reuse_peak_rss_mb']:6.0f} MB; same decisions)")
        if not args.skip_evidently:
            theirs = run_worker(ensure_evidently(), EVIDENTLY_WORKER, str(ref), str(cur))
            print(f"Evidently 0.7  : {theirs['total_s']:7.2f} s  peak RSS {theirs['peak_rss_mb']:6.0f} MB  "
                  f"drifted {len(theirs['drifted'])} (same as mlsitter: {theirs['drifted'] == ours['drifted']})")
            print(f"ratio: mlsitter {theirs['total_s'] / ours['total_s']:.1f}x faster, "
                  f"{theirs['peak_rss_mb'] / ours['peak_rss_mb']:.2f}x less memory")
            differ = sorted(set(theirs["drifted"]) ^ set(ours["drifted"]))
            for name in differ:
                print(f"  decisions differ on {name}: mlsitter {ours['effects'].get(name)}, "
                      f"Evidently {theirs['effects'].get(name)}")
    print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
