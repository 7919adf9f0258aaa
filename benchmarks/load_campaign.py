"""Load campaign: many runner processes on one SQLite store at once (issue 16).

    .venv/bin/python benchmarks/load_campaign.py [--runners 20] [--runs 10] [--steps 20] [--store DIR]

Each runner is a separate OS process (this script with ``--runner``) that starts ``--runs`` runs of
``benchmarks/_campaign_workload.py:load-steps`` (``--steps`` small journaled tasks each) one after the
other through ``mlsitter.Runner`` on the same store. The runners wait for one go signal after their
imports, so they all write at once. First one runner alone (the baseline), then all of them.

Checked: every runner exits cleanly, every run completed with the result of the plain program, no
error at all (``database is locked`` counted on its own), every run's journal verifies and holds exactly
the events a run of that size writes (none lost, none extra), and the store holds exactly the runs
started. Reported: runs/s over the whole campaign, and the step latency (from one ``step.completed`` to
the next in the journal: a whole ``ctx.task`` cycle with its two journal writes) p50 / p99 / max,
under load and alone. Exit status 1 when an invariant broke.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _campaign_store import load_average, scratch_store, store_home  # noqa: E402

THIS = Path(__file__).resolve()
TARGET = f"{THIS.parent / '_campaign_workload.py'}:load-steps"
GO_TIMEOUT_S = 120.0
RUNNER_TIMEOUT_S = 600.0


def events_per_run(steps: int) -> int:
    """run.created, run.started, a step.started and a step.completed per step, run.completed."""
    return 2 * steps + 3


def expected_result(steps: int, payload: str) -> dict[str, Any]:
    """What ``load-steps`` returns, computed as a plain program."""
    from _campaign_workload import load_step

    return {"steps": steps, "last": load_step(steps - 1, payload)}


# -- the runner process ------------------------------------------------------------------------------
def runner_main(home: Path, name: str, runs: int, steps: int, go: Path, out: Path) -> int:
    """Say it is ready (imports done, store open), wait for the go signal, start ``runs`` runs one after
    the other, write what happened as JSON."""
    from mlsitter import Runner, Store

    ready = out.with_suffix(".ready")
    runner = Runner(Store(home))
    ready.touch()
    deadline = time.monotonic() + GO_TIMEOUT_S
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.002)
    records = []
    for r in range(runs):
        payload = f"{name}-{r}"
        t0 = time.time()
        try:
            handle = runner.start(TARGET, {"steps": steps, "payload": payload})
            record = {"run_id": handle.run_id, "status": handle.status, "error": handle.error,
                      "result": handle.result}
        except Exception as exc:  # a locked database would land here: record it, keep going
            record = {"run_id": None, "status": "exception", "error": f"{type(exc).__name__}: {exc}", "result": None}
        records.append({**record, "payload": payload, "started": t0, "ended": time.time()})
    out.write_text(json.dumps(records))
    return 0


# -- the coordinator ----------------------------------------------------------------------------------
@dataclass
class LoadReport:
    """One load phase: how many runners and runs, what broke (must be nothing), throughput and step latency."""

    runners: int
    runs_per_runner: int
    steps_per_run: int
    runs: int
    completed: int
    runner_failures: int
    errors: list[str]
    database_locked: int
    verify_failures: int
    event_count_mismatches: int
    runs_in_store: int
    wall_s: float
    runs_per_s: float
    steps_per_s: float
    step_latency_ms: dict[str, float]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def step_latencies_ms(store: Any, run_id: str) -> list[float]:
    """Intervals between consecutive step completions (the first from run.started), in ms."""
    events = store.events(run_id, types=("run.started", "step.completed"))
    return [(b.at - a.at) * 1000 for a, b in zip(events, events[1:])]


def load(store: Path | str, *, runners: int, runs: int, steps: int) -> LoadReport:
    """Start ``runners`` runner processes on the store at once, wait for them, check every run."""
    from mlsitter import Store

    home = store_home(store)
    work = Path(tempfile.mkdtemp(prefix="load-campaign-", dir=home))
    go = work / "go"
    before = Store(home).count_runs()
    procs = []
    for n in range(runners):
        out = work / f"runner-{n}.json"
        cmd = [sys.executable, str(THIS), "--runner", f"r{n}", "--store", str(home), "--runs", str(runs),
               "--steps", str(steps), "--go", str(go), "--out", str(out)]
        log = (work / f"runner-{n}.log").open("wb")
        procs.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), out, work / f"runner-{n}.log"))
        log.close()
    deadline = time.monotonic() + GO_TIMEOUT_S
    while time.monotonic() < deadline and not all(out.with_suffix(".ready").exists() or p.poll() is not None
                                                  for p, out, _ in procs):
        time.sleep(0.01)
    go.touch()  # all of them imported and opened the store: they start writing at once
    problems: list[str] = []
    records: list[dict[str, Any]] = []
    for proc, out, log_path in procs:
        try:
            rc = proc.wait(timeout=RUNNER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        text = log_path.read_text()
        if rc != 0 or not out.exists():
            problems.append(f"runner {out.stem} exited {rc}: {text[-1500:]}")
            continue
        records += json.loads(out.read_text())
        if "database is locked" in text:
            problems.append(f"runner {out.stem} printed 'database is locked'")
    store_ = Store(home)
    errors = [f"{r['payload']}: {r['error']}" for r in records if r["status"] != "completed"]
    problems += errors
    verify_failures = mismatches = 0
    latencies: list[float] = []
    for r in records:
        if r["run_id"] is None:
            continue
        if r["status"] == "completed" and r["result"] != expected_result(steps, r["payload"]):
            problems.append(f"run {r['run_id']}: result {r['result']} is not the plain program's")
        report = store_.verify(r["run_id"])
        if not report.ok:
            verify_failures += 1
            problems += [f"run {r['run_id']}: {p}" for p in report.problems]
        if report.events != events_per_run(steps):
            mismatches += 1
            problems.append(f"run {r['run_id']}: {report.events} events, expected {events_per_run(steps)}")
        latencies += step_latencies_ms(store_, r["run_id"])
    in_store = store_.count_runs() - before
    if in_store != runners * runs:
        problems.append(f"the store holds {in_store} new runs, {runners * runs} were started")
    if len(records) != runners * runs:
        problems.append(f"{len(records)} runs reported by the runners, {runners * runs} expected")
    if records:
        wall = max(r["ended"] for r in records) - min(r["started"] for r in records)
    else:
        wall = float("nan")
    completed = sum(r["status"] == "completed" for r in records)
    quantiles = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "max": 1.0}
    return LoadReport(
        runners=runners, runs_per_runner=runs, steps_per_run=steps, runs=len(records), completed=completed,
        runner_failures=sum(1 for p in problems if p.startswith("runner ")), errors=errors,
        database_locked=sum("database is locked" in p for p in problems), verify_failures=verify_failures,
        event_count_mismatches=mismatches, runs_in_store=in_store, wall_s=round(wall, 3),
        runs_per_s=round(completed / wall, 2) if wall else 0.0,
        steps_per_s=round(completed * steps / wall, 1) if wall else 0.0,
        step_latency_ms={k: round(percentile(latencies, q), 2) for k, q in quantiles.items()} if latencies else {},
        problems=problems,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runners", type=int, default=20)
    parser.add_argument("--runs", type=int, default=10, help="runs per runner, one after the other")
    parser.add_argument("--steps", type=int, default=20, help="journaled tasks per run")
    parser.add_argument("--store", default=None,
                        help="MLSITTER_HOME folder of the store (default: a temporary one, its journal key beside it)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the one-runner baseline")
    parser.add_argument("--json", type=Path, help="also write the reports to this file")
    parser.add_argument("--runner", help=argparse.SUPPRESS)
    parser.add_argument("--go", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.runner:
        return runner_main(store_home(args.store), args.runner, args.runs, args.steps, args.go, args.out)
    store = args.store or scratch_store("mlsitter-load-")
    print(f"load before: {load_average()}  store: {store}", flush=True)
    reports = {}
    if not args.no_baseline:
        reports["alone"] = load(store, runners=1, runs=args.runs, steps=args.steps)
    reports["loaded"] = load(store, runners=args.runners, runs=args.runs, steps=args.steps)
    for name, report in reports.items():
        print(name, json.dumps({k: v for k, v in asdict(report).items() if k != "problems"}, indent=2))
        for problem in report.problems[:20]:
            print("  PROBLEM:", problem)
    if "alone" in reports and reports["alone"].step_latency_ms and reports["loaded"].step_latency_ms:
        a, b = reports["alone"], reports["loaded"]
        print(f"under load / alone: p50 step latency {b.step_latency_ms['p50'] / a.step_latency_ms['p50']:.1f}x, "
              f"p99 {b.step_latency_ms['p99'] / a.step_latency_ms['p99']:.1f}x; "
              f"runs/s {b.runs_per_s / a.runs_per_s:.1f}x")
    print(f"load after: {load_average()}")
    if args.json:
        args.json.write_text(json.dumps({k: asdict(v) for k, v in reports.items()}, indent=2))
    ok = all(r.ok for r in reports.values())
    print("all invariants hold" if ok else "INVARIANTS BROKEN (see problems)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
