"""Validation speed: mlsitter's ``data-validation`` building blocks vs Great Expectations (ephemeral context).

Data: 1,000,000 rows x 20 columns with about 0.1% bad values injected. The same 10 checks on both
sides: not-null x2, unique, between x3, in-set x3, and a column pair ``shipped_at >= ordered_at``.
mlsitter runs them as a pandera contract (9 checks) plus one consistency rule, exactly what the
process calls; GE runs an expectation suite through a validation definition (result format
SUMMARY, its default). Each side runs in its own subprocess on the same Parquet file; failing
counts are printed so both sides are seen to find the same bad rows. GE lives in
``benchmarks/.venv-ge`` (created on first use).

    .venv/bin/python benchmarks/validation_vs_ge.py [--rows 1000000] [--skip-ge] [--process]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
GE_VENV = HERE / ".venv-ge"

CATEGORIES = ["books", "games", "garden", "home", "music", "sports", "tools", "toys"]
STATUSES = ["cancelled", "delivered", "pending", "returned", "shipped"]
COUNTRIES = ["AT", "BE", "CH", "DE", "DK", "ES", "FR", "IT", "NL", "PL", "PT", "SE"]

CONTRACT = {
    "order_id": {"dtype": "int64", "nullable": False, "unique": True},
    "customer_id": {"dtype": "int64", "nullable": False},
    "amount": {"dtype": "float64", "nullable": True, "in_range": (0.0, 10_000.0)},
    "quantity": {"dtype": "int64", "nullable": True, "in_range": (1, 100)},
    "discount": {"dtype": "float64", "nullable": True, "in_range": (0.0, 1.0)},
    "category": {"dtype": "str", "nullable": True, "isin": CATEGORIES},
    "status": {"dtype": "str", "nullable": True, "isin": STATUSES},
    "country": {"dtype": "str", "nullable": True, "isin": COUNTRIES},
}
RULE = "shipped_at >= ordered_at"


def make_data(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    bad = lambda share=0.001: rng.random(rows) < share  # noqa: E731
    order_id = np.arange(rows, dtype=np.int64)
    order_id[rng.choice(rows, 200, replace=False)] = rng.integers(0, rows, 200)  # duplicate keys
    amount = rng.gamma(2.0, 60.0, rows)
    amount[bad()] = -5.0
    quantity = rng.integers(1, 20, rows)
    quantity[bad()] = 0
    discount = rng.beta(1, 8, rows)
    discount[bad()] = 1.5
    category = np.array(CATEGORIES, dtype=object)[rng.integers(0, len(CATEGORIES), rows)]
    category[bad()] = "unknown"
    status = np.array(STATUSES, dtype=object)[rng.integers(0, len(STATUSES), rows)]
    status[bad()] = "lost"
    country = np.array(COUNTRIES, dtype=object)[rng.integers(0, len(COUNTRIES), rows)]
    country[bad()] = "XX"
    ordered = np.datetime64("2024-01-01") + rng.integers(0, 365 * 86400, rows).astype("timedelta64[s]")
    shipped = ordered + rng.integers(3600, 5 * 86400, rows).astype("timedelta64[s]")
    flip = bad()
    shipped[flip] = ordered[flip] - np.timedelta64(3600, "s")
    frame = pd.DataFrame({
        "order_id": order_id, "customer_id": rng.integers(0, 200_000, rows), "amount": amount, "quantity": quantity,
        "discount": discount, "category": category, "status": status, "country": country,
        "ordered_at": ordered, "shipped_at": shipped,
    })
    for i in range(10):  # payload columns nobody checks: a realistic 20-column frame
        frame[f"x{i}"] = rng.normal(size=rows) if i % 2 else rng.integers(0, 1000, rows)
    return frame


def write_contract(path: Path) -> None:
    import pandera.pandas as pa

    from mlsitter.ml.data._schema_contract import save_contract

    columns = {}
    for name, spec in CONTRACT.items():
        checks = []
        if "in_range" in spec:
            checks.append(pa.Check.in_range(*spec["in_range"]))
        if "isin" in spec:
            checks.append(pa.Check.isin(spec["isin"]))
        columns[name] = pa.Column(spec["dtype"], checks=checks, nullable=spec["nullable"], unique=spec.get("unique", False))
    save_contract(pa.DataFrameSchema(columns, name="orders", strict=False), path)


MLSITTER_WORKER = r"""
def peak_mb():
    # VmHWM is this process's own peak (ru_maxrss would carry the parent's peak across exec)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
import json, sys, time
import pandas as pd
from mlsitter.ml.data._schema_contract import load_contract, enforce_contract
from mlsitter.ml.data import _quality as quality
from mlsitter.ml.data._quarantine import write_split
frame = pd.read_parquet(sys.argv[1])
checks, full = [], []
for _ in range(int(sys.argv[5])):
    t0 = time.perf_counter()
    contract = load_contract(sys.argv[2])
    violations = enforce_contract(contract, frame)
    rule = quality.consistency(frame, [sys.argv[3]])
    t1 = time.perf_counter()
    assessment = quality.assess([quality.completeness(frame), quality.validity(violations), rule, quality.uniqueness(frame)])
    split = write_split(frame, assessment.row_reasons, sys.argv[4])
    t2 = time.perf_counter()
    checks.append(t1 - t0)
    full.append(t2 - t0)
counts = {f"{c['column']} {c['check']}": c["failing_rows"] for c in violations.by_check}
counts[sys.argv[3]] = rule.failing
print(json.dumps({"checks_s": min(checks), "full_s": min(full), "checks_runs": checks, "full_runs": full,
                  "failing_rows": len(assessment.row_reasons), "counts": counts,
                  "quarantined": split.quarantined_rows, "peak_rss_mb": peak_mb()}))
"""

MLSITTER_PROCESS_WORKER = r"""
def peak_mb():
    # VmHWM is this process's own peak (ru_maxrss would carry the parent's peak across exec)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
import json, os, sys, time, tempfile
os.environ["MLSITTER_HOME"] = tempfile.mkdtemp()
import mlsitter
t0 = time.perf_counter()
h = mlsitter.run("data-validation", approve="auto", data=sys.argv[1], contract=sys.argv[2], rules=[sys.argv[3]],
                 on_gate_fail="warn")
t1 = time.perf_counter()
assert h.status == "completed", h.error
print(json.dumps({"process_s": t1 - t0, "quarantined": h.result.quarantined_rows, "dataset_version": h.result.dataset_version,
                  "peak_rss_mb": peak_mb()}))
"""

GE_WORKER = r"""
def peak_mb():
    # VmHWM is this process's own peak (ru_maxrss would carry the parent's peak across exec)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
import json, sys, time, warnings, logging
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
import pandas as pd
import great_expectations as gx
import great_expectations.expectations as gxe
spec = json.loads(sys.argv[2])
frame = pd.read_parquet(sys.argv[1])
t0 = time.perf_counter()
context = gx.get_context(mode="ephemeral")
batch = context.data_sources.add_pandas("orders").add_dataframe_asset("orders").add_batch_definition_whole_dataframe("all")
suite = context.suites.add(gx.ExpectationSuite(name="orders"))
suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="order_id"))
suite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column="order_id"))
suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="customer_id"))
for name, (lo, hi) in spec["ranges"].items():
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column=name, min_value=lo, max_value=hi))
for name, values in spec["sets"].items():
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column=name, value_set=values))
suite.add_expectation(gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="shipped_at", column_B="ordered_at", or_equal=True))
validation = context.validation_definitions.add(gx.ValidationDefinition(name="orders", data=batch, suite=suite))
t1 = time.perf_counter()
runs = []
for _ in range(int(sys.argv[3])):
    ta = time.perf_counter()
    result = validation.run(batch_parameters={"dataframe": frame})
    runs.append(time.perf_counter() - ta)
t2 = t1 + min(runs)
counts = {}
for r in result.results:
    cfg = r.expectation_config
    counts[f"{cfg.type} {cfg.kwargs.get('column') or cfg.kwargs.get('column_A')}"] = r.result.get("unexpected_count")
print(json.dumps({"setup_s": t1 - t0, "checks_s": t2 - t1, "checks_runs": runs, "total_s": t2 - t0, "success": result.success, "counts": counts,
                  "peak_rss_mb": peak_mb()}))
"""


def ensure_ge() -> Path:
    python = GE_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(GE_VENV)], check=True)
    if subprocess.run([str(python), "-c", "import great_expectations, pyarrow"], capture_output=True).returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "-q", "great-expectations", "pandas<3", "pyarrow"], check=True)
    return python


def run_worker(python: Path, code: str, *args: str) -> dict:
    proc = subprocess.run([str(python), "-c", code, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"worker failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-ge", action="store_true")
    parser.add_argument("--process", action="store_true", help="also time the whole data-validation process (mlsitter.run)")
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions per side; the best is reported (shared machines are noisy)")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
    ge_python = None if args.skip_ge else ensure_ge()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "orders.parquet"
        make_data(args.rows).to_parquet(data, index=False)
        contract = Path(tmp) / "orders.yaml"
        write_contract(contract)
        out = {"mlsitter": run_worker(Path(sys.executable), MLSITTER_WORKER, str(data), str(contract), RULE, str(Path(tmp) / "split"), str(args.repeat))}
        if args.process:
            out["mlsitter_process"] = run_worker(Path(sys.executable), MLSITTER_PROCESS_WORKER, str(data), str(contract), RULE)
        if ge_python is not None:
            spec = {"ranges": {k: v["in_range"] for k, v in CONTRACT.items() if "in_range" in v},
                    "sets": {k: v["isin"] for k, v in CONTRACT.items() if "isin" in v}}
            out["ge"] = run_worker(ge_python, GE_WORKER, str(data), json.dumps(spec), str(args.repeat))
    m = out["mlsitter"]
    print(f"\n== {args.rows:,} rows x 20 columns, 10 checks (best of {args.repeat} runs per side)")
    print(f"mlsitter     : 10 checks {m['checks_s']:6.2f}s   + all dimensions, quarantine, clean Parquet {m['full_s']:6.2f}s   "
          f"peak RSS {m['peak_rss_mb']:6.0f} MB   failing rows {m['failing_rows']:,}")
    if "mlsitter_process" in out:
        p = out["mlsitter_process"]
        print(f"process      : mlsitter.run('data-validation') {p['process_s']:6.2f}s (read, contract, journal, version, report); "
              f"quarantined {p['quarantined']:,} (approve=auto accepts the injected new categories as a schema change)")
    if "ge" in out:
        g = out["ge"]
        print(f"GE ephemeral : 10 checks {g['checks_s']:6.2f}s   (+ setup {g['setup_s']:.2f}s)   peak RSS {g['peak_rss_mb']:6.0f} MB")
        print(f"speed-up     : checks x{g['checks_s'] / m['checks_s']:.1f}; GE checks vs mlsitter full validation x{g['checks_s'] / m['full_s']:.1f}")
    print("\n" + json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
