"""EDA speed and memory: mlsitter's ``eda`` building blocks vs ydata-profiling (minimal mode).

Datasets: Adult (train + test = 48,842 rows) and a synthetic 1,000,000 x 50 frame of mixed types
with missing values. Each side runs in its own subprocess (fresh memory, peak RSS measured); the
same Parquet file feeds both. ydata-profiling lives in ``benchmarks/.venv-ydata`` (created on first
use). Timings: compute (statistics) and HTML rendering separately, plus the report's size.

    .venv/bin/python benchmarks/eda_vs_ydata.py [--rows 1000000] [--skip-ydata] [--process]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
YDATA_VENV = HERE / ".venv-ydata"
sys.path.insert(0, str(ROOT / "tests"))


def synthetic(rows: int, seed: int = 0) -> pd.DataFrame:
    """50 columns: 22 float, 8 int, 12 categorical (3-500 levels), 4 boolean, 2 datetime, 2 id/text; 0-30% missing."""
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {}
    for i in range(22):
        x = rng.lognormal(0, 1, rows) if i % 3 == 0 else rng.normal(i, 1 + i % 5, rows)
        if i % 4 == 1:
            x = x + 0.8 * cols[f"f{i - 1}"]  # some correlated pairs
        x[rng.random(rows) < (i % 7) * 0.04] = np.nan
        cols[f"f{i}"] = x
    for i in range(8):
        cols[f"i{i}"] = rng.integers(0, 10 ** (1 + i % 4), rows)
    levels = [3, 5, 8, 12, 20, 30, 50, 80, 120, 200, 300, 500]
    for i, k in enumerate(levels):
        values = np.array([f"c{i}_{j}" for j in range(k)], dtype=object)[rng.zipf(1.6, rows) % k]
        values[rng.random(rows) < (i % 4) * 0.05] = None
        cols[f"cat{i}"] = values
    for i in range(4):
        b = rng.random(rows) < 0.1 + 0.2 * i
        cols[f"b{i}"] = b
    start = np.datetime64("2020-01-01T00:00:00")
    cols["ts"] = start + np.sort(rng.integers(0, 3 * 365 * 86400, rows)).astype("timedelta64[s]")
    cols["day"] = start + rng.integers(0, 1000, rows).astype("timedelta64[D]")
    cols["row_id"] = np.arange(rows)
    cols["code"] = np.char.add("K", rng.integers(0, 10 ** 7, rows).astype(str)).astype(object)
    return pd.DataFrame(cols)


def adult() -> pd.DataFrame:
    import realdata

    return pd.concat([realdata.adult("train"), realdata.adult("test")], ignore_index=True)


MLSITTER_WORKER = r"""
def peak_mb():
    # VmHWM is this process's own peak (ru_maxrss would carry the parent's peak across exec)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
import json, sys, time
from pathlib import Path
import pandas as pd
data, out = sys.argv[1], Path(sys.argv[2])
frame = pd.read_parquet(data)
from mlsitter.processes.planning.eda.analysis import analyze_dataset
from mlsitter.processes.planning.eda.report import build_eda_report
import sklearn.ensemble, matplotlib.pyplot  # imports are not what we time
from mlsitter.ml.io._frames import as_polars
tc = time.perf_counter()
frame = as_polars(frame)  # once: every step works on polars (the eda process's load task returns polars)
t0 = time.perf_counter()
analysis = analyze_dataset(frame, seed=0)
t1 = time.perf_counter()
report = build_eda_report(analysis, frame, source=data)
files = report.write(out, stem="eda-report")
t2 = time.perf_counter()
print(json.dumps({"convert_s": t0 - tc, "compute_s": t1 - t0, "render_s": t2 - t1, "total_s": t2 - t0, "html_bytes": files.html.stat().st_size,
                  "peak_rss_mb": peak_mb(),
                  "quality_score": analysis.quality.score, "columns": analysis.profile.n_columns, "rows": analysis.profile.rows}))
"""

MLSITTER_PROCESS_WORKER = r"""
def peak_mb():
    # VmHWM is this process's own peak (ru_maxrss would carry the parent's peak across exec)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
import json, os, sys, time, tempfile
os.environ["MLSITTER_HOME"] = tempfile.mkdtemp()
import mlsitter
t0 = time.perf_counter()
h = mlsitter.run("eda", approve="auto", data=sys.argv[1], min_quality=0)
t1 = time.perf_counter()
assert h.status == "completed", h.error
print(json.dumps({"process_s": t1 - t0, "peak_rss_mb": peak_mb(),
                  "html_bytes": os.path.getsize(h.result.report)}))
"""

YDATA_WORKER = r"""
def peak_mb():
    # VmHWM is this process's own peak (ru_maxrss would carry the parent's peak across exec)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
import json, sys, time, warnings
warnings.filterwarnings("ignore")
from pathlib import Path
import pandas as pd
data, out = sys.argv[1], Path(sys.argv[2])
frame = pd.read_parquet(data)
from ydata_profiling import ProfileReport
t0 = time.perf_counter()
report = ProfileReport(frame, minimal=True, progress_bar=False)
report.get_description()
t1 = time.perf_counter()
html = report.to_html()
t2 = time.perf_counter()
(out / "ydata.html").write_text(html, encoding="utf-8")
print(json.dumps({"compute_s": t1 - t0, "render_s": t2 - t1, "total_s": t2 - t0, "html_bytes": len(html.encode()),
                  "peak_rss_mb": peak_mb()}))
"""


def ensure_ydata() -> Path:
    python = YDATA_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(YDATA_VENV)], check=True)
    if subprocess.run([str(python), "-c", "import ydata_profiling, pyarrow"], capture_output=True).returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "-q", "ydata-profiling", "pandas<3", "setuptools<81", "pyarrow"], check=True)
    return python


def run_worker(python: Path, code: str, *args: str, env: dict[str, str] | None = None) -> dict:
    proc = subprocess.run([str(python), "-c", code, *args], capture_output=True, text=True,
                          env={**os.environ, "MPLBACKEND": "Agg", **(env or {})})
    if proc.returncode != 0:
        raise RuntimeError(f"worker failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the synthetic frame")
    parser.add_argument("--skip-ydata", action="store_true")
    parser.add_argument("--skip-adult", action="store_true")
    parser.add_argument("--process", action="store_true", help="also time the whole eda process (mlsitter.run)")
    args = parser.parse_args()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
    ydata_python = None if args.skip_ydata else ensure_ydata()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        datasets = [] if args.skip_adult else [("adult 48,842 x 15", adult)]
        datasets.append((f"synthetic {args.rows:,} x 50", lambda: synthetic(args.rows)))
        for label, make in datasets:
            path = Path(tmp) / f"{label.split()[0]}.parquet"
            make().to_parquet(path, index=False)  # the frame is dropped at once; workers read the file
            out = Path(tmp) / label.split()[0]
            out.mkdir()
            row = {"mlsitter": run_worker(Path(sys.executable), MLSITTER_WORKER, str(path), str(out))}
            if args.process:
                row["mlsitter_process"] = run_worker(Path(sys.executable), MLSITTER_PROCESS_WORKER, str(path))
            if ydata_python is not None:
                row["ydata"] = run_worker(ydata_python, YDATA_WORKER, str(path), str(out))
            results[label] = row
            m = row["mlsitter"]
            print(f"\n== {label}")
            print(f"mlsitter eda : compute {m['compute_s']:7.2f}s  render {m['render_s']:6.2f}s  total {m['total_s']:7.2f}s  "
                  f"peak RSS {m['peak_rss_mb']:7.0f} MB  HTML {m['html_bytes'] / 1e6:5.2f} MB  (+ pandas->polars {m['convert_s']:.2f}s)")
            if "mlsitter_process" in row:
                p = row["mlsitter_process"]
                print(f"eda process  : mlsitter.run total {p['process_s']:7.2f}s (read + journal + artifacts)  peak RSS {p['peak_rss_mb']:7.0f} MB")
            if "ydata" in row:
                y = row["ydata"]
                print(f"ydata minimal: compute {y['compute_s']:7.2f}s  render {y['render_s']:6.2f}s  total {y['total_s']:7.2f}s  "
                      f"peak RSS {y['peak_rss_mb']:7.0f} MB  HTML {y['html_bytes'] / 1e6:5.2f} MB")
                print(f"speed-up     : compute x{y['compute_s'] / m['compute_s']:.1f}, compute+render x{y['total_s'] / m['total_s']:.1f}, "
                      f"compute+render incl. pandas->polars x{y['total_s'] / (m['total_s'] + m['convert_s']):.1f}")
    print("\n" + json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
