"""``eda`` and ``data-validation`` end to end, as a user runs them, against their peers (issue 25).

Each side is one fresh subprocess that reads the same Parquet file and writes its report; the wall time
of the whole subprocess (interpreter, imports, reading, analysis, report) is the end-to-end figure, and
peak RSS is the subprocess's own. Beside it, the building blocks' ratio (frame already in memory) from
``eda_vs_ydata.py`` / ``validation_vs_ge.py`` workers, in the same run.

- eda: ``mlsitter.run("eda", data=<rows x 50 Parquet>)`` vs ydata-profiling ``minimal=True`` reading the
  file, profiling and writing its HTML report.
- data-validation: ``mlsitter.run("data-validation", ...)`` (contract, every quality dimension, quarantine,
  dataset version, report) vs Great Expectations (file context) reading the file, running the same 10
  checks through a checkpoint and building its Data Docs.

    .venv/bin/python benchmarks/end_to_end.py [--rows 1000000] [--skip eda|validation] [--skip-peers]
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import eda_vs_ydata as eda_bench  # noqa: E402
import validation_vs_ge as ge_bench  # noqa: E402

GE_SETUP = ge_bench.GE_WORKER.split("t1 = time.perf_counter()")[0]  # read the file, the same suite and validation
GE_DOCS_WORKER = GE_SETUP.replace('gx.get_context(mode="ephemeral")', 'gx.get_context(mode="file", project_root_dir=sys.argv[3])') + r"""
checkpoint = context.checkpoints.add(gx.Checkpoint(name="orders", validation_definitions=[validation],
                                                   actions=[gx.checkpoint.UpdateDataDocsAction(name="docs")]))
t1 = time.perf_counter()
result = checkpoint.run(batch_parameters={"dataframe": frame})
t2 = time.perf_counter()
sites = context.build_data_docs()
t3 = time.perf_counter()
print(json.dumps({"setup_s": t1 - t0, "validate_s": t2 - t1, "docs_s": t3 - t2, "success": result.success,
                  "docs": list(sites.values()), "peak_rss_mb": peak_mb()}))
"""


def timed(python: Path, code: str, *args: str) -> dict:
    """A worker's JSON line plus the wall time of its whole subprocess (``wall_s``)."""
    started = time.perf_counter()
    try:
        out = eda_bench.run_worker(python, code, *args)
    except RuntimeError as exc:  # a peer that cannot finish: say so with what it said
        out = {"failed": str(exc)[-600:]}
    out["wall_s"] = time.perf_counter() - started
    return out


def load() -> str:
    """The machine's load averages (1, 5, 15 min) from ``/proc/loadavg``."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def eda_rows(tmp: Path, rows: int, peers: bool) -> dict:
    """Blocks and end to end, mlsitter and ydata-profiling minimal, on one ``rows`` x 50 Parquet file."""
    data = tmp / "synthetic.parquet"
    eda_bench.synthetic(rows).to_parquet(data, index=False)
    out = tmp / "eda-out"
    out.mkdir()
    me = Path(sys.executable)
    result = {"load_before": load(), "file_mb": data.stat().st_size / 1e6,
              "blocks": timed(me, eda_bench.MLSITTER_WORKER, str(data), str(out)),
              "process": timed(me, eda_bench.MLSITTER_PROCESS_WORKER, str(data))}
    if peers:
        result["ydata"] = timed(eda_bench.ensure_ydata(), eda_bench.YDATA_WORKER, str(data), str(out))
    result["load_after"] = load()
    return result


def validation_rows(tmp: Path, rows: int, peers: bool) -> dict:
    """Blocks and end to end, mlsitter and Great Expectations (with Data Docs), on one ``rows`` x 20 Parquet file."""
    data, contract = tmp / "orders.parquet", tmp / "orders.yaml"
    ge_bench.make_data(rows).to_parquet(data, index=False)
    ge_bench.write_contract(contract)
    me = Path(sys.executable)
    spec = {"ranges": {k: v["in_range"] for k, v in ge_bench.CONTRACT.items() if "in_range" in v},
            "sets": {k: v["isin"] for k, v in ge_bench.CONTRACT.items() if "isin" in v}}
    result = {"load_before": load(), "file_mb": data.stat().st_size / 1e6,
              "blocks": timed(me, ge_bench.MLSITTER_WORKER, str(data), str(contract), ge_bench.RULE, str(tmp / "split"), "1"),
              "process": timed(me, ge_bench.MLSITTER_PROCESS_WORKER, str(data), str(contract), ge_bench.RULE)}
    if peers:
        python = ge_bench.ensure_ge()
        result["ge_blocks"] = timed(python, ge_bench.GE_WORKER, str(data), json.dumps(spec), "1")
        result["ge"] = timed(python, GE_DOCS_WORKER, str(data), json.dumps(spec), str(tmp / "ge-project"))
    result["load_after"] = load()
    return result


def ratio(peer: dict, me: float | None) -> str:
    """``peer / me`` as ``x12.3``, or why there is none."""
    if "failed" in peer:
        return f"peer failed after {peer['wall_s']:.0f}s"
    return f"x{peer['wall_s'] / me:.1f}" if me else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip", choices=["eda", "validation"], action="append", default=[])
    parser.add_argument("--skip-peers", action="store_true")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, load {load()}")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if "eda" not in args.skip:
            (Path(tmp) / "eda").mkdir()
            results["eda"] = r = eda_rows(Path(tmp) / "eda", args.rows, not args.skip_peers)
            b, p = r["blocks"], r["process"]
            print(f"\n== eda, {args.rows:,} x 50 ({r['file_mb']:.0f} MB Parquet), load {r['load_before']} -> {r['load_after']}")
            print(f"mlsitter blocks  : compute+render {b['total_s']:7.2f}s  peak {b['peak_rss_mb']:6.0f} MB")
            print(f"mlsitter.run     : end to end {p['wall_s']:7.2f}s (run {p.get('process_s', float('nan')):.2f}s)  "
                  f"peak {p.get('peak_rss_mb', float('nan')):6.0f} MB")
            if "ydata" in r:
                y = r["ydata"]
                print(f"ydata minimal    : end to end {y['wall_s']:7.2f}s (compute+render {y.get('total_s', float('nan')):.2f}s)  "
                      f"peak {y.get('peak_rss_mb', float('nan')):6.0f} MB")
                blocks = f"x{y['total_s'] / b['total_s']:.1f}" if "total_s" in y else "n/a"
                print(f"ratio            : end to end {ratio(y, p['wall_s'])}   blocks {blocks}")
        if "validation" not in args.skip:
            (Path(tmp) / "validation").mkdir()
            results["validation"] = r = validation_rows(Path(tmp) / "validation", args.rows, not args.skip_peers)
            b, p = r["blocks"], r["process"]
            print(f"\n== data-validation, {args.rows:,} x 20 ({r['file_mb']:.0f} MB Parquet), load {r['load_before']} -> {r['load_after']}")
            print(f"mlsitter blocks  : 10 checks {b['checks_s']:6.2f}s, + dimensions, quarantine {b['full_s']:6.2f}s  "
                  f"peak {b['peak_rss_mb']:6.0f} MB")
            print(f"mlsitter.run     : end to end {p['wall_s']:7.2f}s (run {p.get('process_s', float('nan')):.2f}s)  "
                  f"peak {p.get('peak_rss_mb', float('nan')):6.0f} MB")
            if "ge" in r:
                g, gb = r["ge"], r["ge_blocks"]
                print(f"GE + Data Docs   : end to end {g['wall_s']:7.2f}s (setup {g.get('setup_s', float('nan')):.2f}s, validate "
                      f"{g.get('validate_s', float('nan')):.2f}s, docs {g.get('docs_s', float('nan')):.2f}s)  "
                      f"peak {g.get('peak_rss_mb', float('nan')):6.0f} MB")
                blocks = f"x{gb['checks_s'] / b['checks_s']:.1f}" if "checks_s" in gb else "n/a"
                print(f"ratio            : end to end {ratio(g, p['wall_s'])}   blocks (10 checks) {blocks}")
    print("\n" + json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
