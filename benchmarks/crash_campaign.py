"""Crash campaign: runs killed with SIGKILL at random instants, resumed until they complete (issue 16).

    .venv/bin/python benchmarks/crash_campaign.py [--runs 200] [--max-kills 3] [--jobs 2] [--store DIR]

Each run of ``benchmarks/_campaign_workload.py:crash-campaign`` (an array task, a map over 8 items, a
Parquet frame, a ``ctx.artifact``, a child run, a final task) starts as ``mlsitter run`` in its own
process group; the campaign sleeps a random time drawn uniformly over the expected length of that life
(the median of recent uncrashed lives of its kind, fresh run or resume; at first a calibration run) and
SIGKILLs the whole group (runner and pool workers); a life that ends first counts as a missed kill.
It then resumes the run with ``mlsitter resume RUN``, kills that too while the run's kill budget
(1..--max-kills) lasts, and resumes until the run ends. The first run of each cooperative point
(``step``, ``map``, ``artifact``, ``child``) is killed when the workload signals it stands there
(``MLSITTER_CRASH_PAUSE``), so every named point is hit at least once.
Runs are driven until ``--runs`` of them were killed at least once.

After each kill the journal says where the kill landed (the phase). When a run ends the campaign checks:
it completed with the result of the same body run as a plain program; ``Store.verify`` passes for it and
its child; every step completed exactly once; no step was started or executed after its completion
(the per-run side-effect file counts real executions); executions never exceed the journaled starts
(write-ahead), so only steps in flight at a kill ran again. Finally ``mlsitter verify --all`` on the store.
Exit status 1 when an invariant broke (this is the trust check, not a timing).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _campaign_store import load_average, scratch_store, store_home  # noqa: E402

HERE = Path(__file__).resolve().parent
WORKLOAD = HERE / "_campaign_workload.py"
TARGET = f"{WORKLOAD}:crash-campaign"
POINTS = ("step", "map", "artifact", "child")
ARTIFACT_STEPS = {"1": ".npy array", "3": "Parquet frame", "c:1": ".npy array (child)"}
EXPECTED_KEYS = {"1", *(f"2.{i}" for i in range(8)), "3", "6", "c:1", "c:2"}
FINAL = ("completed", "failed", "cancelled")
MAX_LIVES = 12
LIFE_TIMEOUT_S = 300.0


@dataclass
class Kill:
    """One SIGKILL that landed: in which life of the run, after how long, and where the journal says it was."""

    life: int
    delay_s: float
    phase: str
    in_flight: int
    status: str  # the run's status right after the kill
    cooperative: str | None = None


@dataclass
class RunOutcome:
    """One campaign run after its last resume, with the invariants checked on it."""

    index: int
    run_id: str | None
    child_run_id: str | None
    executor: str
    lives: int
    kills: list[Kill]
    missed_kills: int  # lives that ended before their kill was due
    status: str
    result_ok: bool
    verify_ok: bool
    steps: int
    executions: int
    reexecuted_in_flight: int
    executed_after_completion: int
    started_after_completion: int
    problems: list[str] = field(default_factory=list)


@dataclass
class CampaignReport:
    """The counts the issue asks for, and every run's outcome."""

    runs: int
    killed_runs: int  # the campaign drives runs until this many were killed at least once
    completed: int
    kills: int
    kills_by_phase: dict[str, int]
    status_after_kill: dict[str, int]
    cooperative_kills: dict[str, int]
    missed_kills: int
    lives: int
    steps: int
    executions: int
    reexecuted_in_flight: int
    in_flight_at_kills: int
    executed_after_completion: int
    started_after_completion: int
    verify_failures: int
    cli_verify_ok: bool
    orphan_temp_files: int  # artifact writes cut by a kill leave their temporary file (never a named artifact)
    problems: list[str]
    wall_s: float
    outcomes: list[RunOutcome] = field(repr=False, default_factory=list)

    @property
    def ok(self) -> bool:
        return (self.completed == self.runs and not self.problems and self.verify_failures == 0
                and self.executed_after_completion == 0 and self.started_after_completion == 0 and self.cli_verify_ok)


# -- reading what a run left -------------------------------------------------------------------------
def executions(log: Path) -> dict[str, list[tuple[int, float, str]]]:
    """Per step key: (attempt, time, phase) of each line the tasks wrote."""
    found: dict[str, list[tuple[int, float, str]]] = {}
    if log.exists():
        for line in log.read_text().splitlines():
            key, attempt, at, _pid, phase = line.split()
            found.setdefault(key, []).append((int(attempt), float(at), phase))
    return found


def step_events(store: Any, run_id: str | None, prefix: str = "") -> dict[str, dict[str, list[float]]]:
    """Per step key: the times of its ``step.started`` and ``step.completed`` events."""
    steps: dict[str, dict[str, list[float]]] = {}
    if run_id is None:
        return steps
    for event in store.events(run_id, types=("step.started", "step.completed")):
        kind = "started" if event.type == "step.started" else "completed"
        steps.setdefault(prefix + event.data["key"], {"started": [], "completed": []})[kind].append(event.at)
    return steps


def find_run(store: Any, log: Path) -> str | None:
    """The run whose ``log`` input is this campaign run's side-effect file (None before it was created)."""
    for run in store.list_runs(process="crash-campaign", limit=100_000):
        if run.inputs.get("log") == str(log):
            return str(run.run_id)
    return None


def child_of(store: Any, run_id: str | None) -> str | None:
    if run_id is None:
        return None
    children = store.list_runs(parent=run_id, limit=10)
    return str(children[0].run_id) if children else None


def in_flight(steps: dict[str, dict[str, list[float]]]) -> list[str]:
    """Steps journaled as started after their last completion (or never completed)."""
    return sorted(k for k, s in steps.items() if s["started"] and (not s["completed"] or
                                                                      max(s["started"]) > max(s["completed"])))


def classify(store: Any, run_id: str | None, events_before: int, log: Path) -> tuple[str, int]:
    """Where a kill landed, read from the journal (and the side-effect file); also how many steps were in flight."""
    if run_id is None:
        return "startup (before the run was created)", 0
    events = store.events(run_id)
    if store.get_run(run_id).status in FINAL:
        return "after the run ended (output, exit)", 0
    if len(events) <= events_before:
        return "startup (imports, journal read)", 0
    child = child_of(store, run_id)
    steps = {**step_events(store, run_id), **step_events(store, child, "c:")}
    flying = in_flight(steps)
    ends = {k for k, lines in executions(log).items() if lines and lines[-1][2] == "end"}
    child_flying = [k for k in flying if k.startswith("c:")]
    if child_flying:
        key = child_flying[0]
        phase = "child run: artifact write" if key in ends and key in ARTIFACT_STEPS else "child run: step"
        return phase, len(flying)
    if any(k.startswith("2.") for k in flying):
        return "map (items in flight)", len(flying)
    if flying:
        key = flying[0]
        if key in ends and key in ARTIFACT_STEPS:
            return f"artifact write (result encode: {ARTIFACT_STEPS[key]})", len(flying)
        return "step (between start and result)", len(flying)
    types = {e.type for e in events}
    last = events[-1]
    if "child.started" in types and "child.completed" not in types:
        return "child run: bookkeeping (create, start, finish)", 0
    if last.type == "step.completed" and last.data.get("key") == "3":
        return "artifact write (ctx.artifact)", 0
    if last.type in ("run.completed", "step.completed") and last.data.get("key") in (None, "6"):
        return "run completion", 0
    return "between steps", 0


# -- one run ------------------------------------------------------------------------------------------
@dataclass
class Plan:
    """What the campaign does to one run: executor, kill budget, first kill cooperative at a point or not."""

    index: int
    seed: int
    executor: str
    kills: int
    cooperative: str | None
    fractions: list[float]  # each random kill comes at this fraction of the expected life's length


class LifeClock:
    """How long an uncrashed life of each kind lasts now (a fresh run, a resume; per executor): the median
    of the latest lives that ended by themselves, else the calibration. Random kill delays are drawn over it,
    so they keep landing inside lives while the machine's load changes."""

    def __init__(self, calibration: dict[str, float]) -> None:
        self.calibration = calibration
        self.seen: dict[tuple[str, str], deque[float]] = {}
        self.lock = threading.Lock()

    def observe(self, executor: str, kind: str, seconds: float) -> None:
        with self.lock:
            self.seen.setdefault((executor, kind), deque(maxlen=20)).append(seconds)

    def span(self, executor: str, kind: str) -> float:
        with self.lock:
            seen = list(self.seen.get((executor, kind), ()))
        return statistics.median(seen) if len(seen) >= 3 else self.calibration[executor]


def _start(cmd: list[str], env: dict[str, str], out: Path) -> subprocess.Popen[bytes]:
    with out.open("wb") as fh:
        return subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def _kill_group(proc: subprocess.Popen[bytes]) -> bool:
    """SIGKILL the life's whole process group (runner, fork server, pool workers); False if it had ended."""
    if proc.poll() is not None:
        return False
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    proc.wait()
    return True


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if path.exists():
            return True
        time.sleep(0.005)
    return path.exists()


def drive_run(plan: Plan, home: Path, work: Path, rows: int, work_s: float, clock: LifeClock) -> RunOutcome:
    """Run, kill and resume one campaign run until it ends; then check its invariants."""
    from mlsitter import Store

    store = Store(home)
    log = work / f"run-{plan.index:04d}.log"
    env = {**os.environ, "MLSITTER_HOME": str(home), "MLSITTER_WORKERS": "2"}
    env.pop("MLSITTER_CRASH_PAUSE", None)
    run_id: str | None = None
    kills: list[Kill] = []
    missed = lives = 0
    problems: list[str] = []
    rc = None
    while lives < MAX_LIVES:
        lives += 1
        kind = "run" if run_id is None else "resume"
        if run_id is None:
            cmd = [sys.executable, "-m", "mlsitter", "run", TARGET, "-i", f"log={log}", "-i", f"seed={plan.seed}",
                   "-i", f"rows={rows}", "-i", f"work_s={work_s}", "--executor", plan.executor, "--json"]
        else:
            cmd = [sys.executable, "-m", "mlsitter", "resume", run_id, "--json"]
        events_before = len(store.events(run_id)) if run_id else 0
        kill_now = len(kills) < plan.kills
        cooperative = plan.cooperative if kill_now and not kills else None
        life_env = dict(env)
        marker = work / f"run-{plan.index:04d}.life-{lives}.marker"
        if cooperative:
            life_env["MLSITTER_CRASH_PAUSE"] = f"{cooperative}:{marker}"
        proc = _start(cmd, life_env, work / f"run-{plan.index:04d}.life-{lives}.out")
        t0 = time.monotonic()
        killed = False
        if cooperative:
            if _wait_for(marker, proc, LIFE_TIMEOUT_S):
                if cooperative == "artifact":  # the task returned its frame: the codec writes the Parquet now
                    time.sleep(random.Random(plan.seed).uniform(0.0, 0.01))
                killed = _kill_group(proc)
            else:
                problems.append(f"life {lives}: the workload never reached the pause point {cooperative!r}")
        elif kill_now:
            fraction = plan.fractions[(len(kills) + missed) % len(plan.fractions)]
            deadline = t0 + fraction * clock.span(plan.executor, kind)
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(min(0.002, max(0.0, deadline - time.monotonic())))
            killed = _kill_group(proc)
            if not killed:
                missed += 1
        if not killed:
            try:
                rc = proc.wait(timeout=LIFE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                problems.append(f"life {lives}: the runner did not end within {LIFE_TIMEOUT_S:.0f} s")
                break
        run_id = run_id or find_run(store, log)
        if killed:
            phase, flying = classify(store, run_id, events_before, log)
            status = store.get_run(run_id).status if run_id else "missing"
            kills.append(Kill(lives, round(time.monotonic() - t0, 4), phase, flying, status, cooperative))
            if status in FINAL:
                break  # it had ended and was writing its output: nothing to resume
            continue
        if rc == 0:
            clock.observe(plan.executor, kind, time.monotonic() - t0)
        if rc != 0:
            output = (work / f"run-{plan.index:04d}.life-{lives}.out").read_text()[-2000:]
            problems.append(f"life {lives}: `{' '.join(cmd[3:5])}` exited {rc}: {output}")
            if run_id is None or store.get_run(run_id).status in FINAL:
                break
            continue
        break
    else:
        problems.append(f"the run did not complete within {MAX_LIVES} lives")
    return check_run(plan, store, run_id, log, lives, kills, missed, problems, rows)


def check_run(plan: Plan, store: Any, run_id: str | None, log: Path, lives: int, kills: list[Kill], missed: int,
              problems: list[str], rows: int) -> RunOutcome:
    """The invariants of one ended run: completed with the right result, verified, each step done once,
    only in-flight steps re-run."""
    child = child_of(store, run_id)
    status = store.get_run(run_id).status if run_id else "missing"
    result_ok = verify_ok = False
    if status == "completed" and run_id:
        from mlsitter import Runner

        oracle_log = log.with_suffix(".oracle")
        from _campaign_workload import expected_result

        expected = expected_result(str(oracle_log), plan.seed, rows)
        oracle_log.unlink(missing_ok=True)
        result_ok = Runner(store).handle(run_id).result == expected
        if not result_ok:
            problems.append(f"result {Runner(store).handle(run_id).result} differs from the plain program's {expected}")
    else:
        problems.append(f"run ended {status}")
    if run_id:
        reports = [store.verify(run_id)] + ([store.verify(child)] if child else [])
        verify_ok = all(r.ok for r in reports)
        problems += [p for r in reports for p in r.problems]
    for rid in (run_id, child):
        ends = [e.seq for e in store.events(rid, types=("run.completed",))] if rid else []
        if status == "completed" and (len(ends) != 1 or ends[0] != store.count_events(rid)):
            problems.append(f"journal of {rid}: run.completed at {ends} of {store.count_events(rid)} events "
                            "(expected once, as the last event)")
    steps = {**step_events(store, run_id), **step_events(store, child, "c:")}
    ran = executions(log)
    done_keys = {k for k, s in steps.items() if s["completed"]}
    if status == "completed" and done_keys != EXPECTED_KEYS:
        problems.append(f"completed steps {sorted(done_keys)} are not the workload's {sorted(EXPECTED_KEYS)}")
    if set(ran) - set(steps):
        problems.append(f"steps {sorted(set(ran) - set(steps))} executed without a journaled start")
    reexecuted = after_completion = started_after = total = 0
    for key, s in steps.items():
        starts = [at for attempt, at, phase in ran.get(key, []) if phase == "start"]
        total += len(starts)
        if len(s["completed"]) > 1:
            problems.append(f"step {key} completed {len(s['completed'])} times")
        if s["completed"]:
            done = min(s["completed"])
            after_completion += sum(1 for at in starts if at > done)
            started_after += sum(1 for at in s["started"] if at > done)
        if len(starts) > len(s["started"]):
            problems.append(f"step {key} executed {len(starts)} times but the journal started it "
                            f"{len(s['started'])} times")
        reexecuted += max(0, len(starts) - 1)
    if after_completion:
        problems.append(f"{after_completion} execution(s) of steps after they had completed")
    if started_after:
        problems.append(f"{started_after} step start(s) journaled after the step had completed")
    return RunOutcome(plan.index, run_id, child, plan.executor, lives, kills, missed, status, result_ok, verify_ok,
                      len(steps), total, reexecuted, after_completion, started_after, problems)


# -- the campaign ---------------------------------------------------------------------------------------
def calibrate(home: Path, work: Path, rows: int, work_s: float, executor: str) -> float:
    """Wall time of one uncrashed life (``mlsitter run`` to exit): the span random kill delays are drawn over
    until the campaign has seen lives of its own."""
    env = {**os.environ, "MLSITTER_HOME": str(home), "MLSITTER_WORKERS": "2"}
    env.pop("MLSITTER_CRASH_PAUSE", None)
    log = work / f"calibration-{executor}.log"
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "mlsitter", "run", TARGET, "-i", f"log={log}", "-i", "seed=999",
                    "-i", f"rows={rows}", "-i", f"work_s={work_s}", "--executor", executor, "--json"],
                   env=env, check=True, capture_output=True)
    return time.monotonic() - t0


def plan(index: int, max_kills: int, process_share: float, cooperative: bool, seed: int) -> Plan:
    """Run ``index``'s plan, drawn from its own seeded generator: the same campaign seed, the same plans."""
    rng = random.Random(f"{seed}:{index}")
    point = POINTS[index] if cooperative and index < len(POINTS) else None
    executor = "process" if rng.random() < process_share or point == "map" else "inline"
    fractions = [rng.random() for _ in range(MAX_LIVES)]
    return Plan(index, 1000 + index, executor, rng.randint(1, max_kills), point, fractions)


def cli_verify_all(home: Path) -> tuple[bool, int]:
    """``mlsitter verify --all --json`` on the store: (exit status 0, number of runs that failed)."""
    env = {**os.environ, "MLSITTER_HOME": str(home)}
    done = subprocess.run([sys.executable, "-m", "mlsitter", "verify", "--all", "--json"], env=env,
                          capture_output=True, text=True)
    reports = json.loads(done.stdout) if done.stdout.strip().startswith("[") else []
    return done.returncode == 0 and bool(reports), sum(1 for r in reports if not r["ok"])


def campaign(store: Path | str, *, runs: int, max_kills: int = 3, jobs: int = 2, rows: int = 20000,
             work_s: float = 0.05, process_share: float = 0.5, cooperative: bool = True, seed: int = 16,
             progress: bool = False) -> CampaignReport:
    """Run the campaign on the store at ``store`` (an ``MLSITTER_HOME`` folder) and count what happened."""
    home = store_home(store)
    work = Path(tempfile.mkdtemp(prefix="crash-campaign-", dir=home))
    t0 = time.monotonic()
    executors = {"inline"} | ({"process"} if process_share > 0 or cooperative else set())
    with ThreadPoolExecutor(len(executors)) as pool:  # both at once, as the runs after them will be
        durations = dict(zip(sorted(executors), pool.map(lambda e: calibrate(home, work, rows, work_s, e),
                                                         sorted(executors))))
    clock = LifeClock(durations)
    lock = threading.Lock()
    outcomes: list[RunOutcome] = []

    started = [0, 0]  # runs started, runs in progress
    failures: list[str] = []

    def worker() -> None:
        """Drive runs until ``runs`` of them were killed at least once (one that ended first does not count)."""
        while True:
            with lock:
                killed = sum(1 for o in outcomes if o.kills)
                if killed + started[1] >= runs or started[0] >= 3 * runs + 10:
                    return
                index = started[0]
                started[0] += 1
                started[1] += 1
            try:
                outcome = drive_run(plan(index, max_kills, process_share, cooperative, seed), home, work, rows,
                                    work_s, clock)
            except Exception as exc:  # the campaign itself could not go on with this run: say so, go on
                with lock:
                    started[1] -= 1
                    failures.append(f"run {index}: the campaign failed: {type(exc).__name__}: {exc}")
                continue
            with lock:
                started[1] -= 1
                outcomes.append(outcome)
            if progress:
                phases = ", ".join(k.phase for k in outcome.kills)
                print(f"run {index:4d} ({outcome.executor}): {outcome.status}, {len(outcome.kills)} kill(s) [{phases}]"
                      + (f"  PROBLEMS: {outcome.problems}" if outcome.problems else ""), flush=True)

    threads = [threading.Thread(target=worker, name=f"campaign-{j}") for j in range(max(1, jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outcomes.sort(key=lambda o: o.index)
    cli_ok, _ = cli_verify_all(home)
    kills = [k for o in outcomes for k in o.kills]
    return CampaignReport(
        runs=len(outcomes), killed_runs=sum(1 for o in outcomes if o.kills),
        completed=sum(o.status == "completed" and o.result_ok for o in outcomes),
        kills=len(kills), kills_by_phase=dict(Counter(k.phase for k in kills).most_common()),
        status_after_kill=dict(Counter(k.status for k in kills)),
        cooperative_kills=dict(Counter(k.cooperative for k in kills if k.cooperative)),
        missed_kills=sum(o.missed_kills for o in outcomes), lives=sum(o.lives for o in outcomes),
        steps=sum(o.steps for o in outcomes), executions=sum(o.executions for o in outcomes),
        reexecuted_in_flight=sum(o.reexecuted_in_flight for o in outcomes),
        in_flight_at_kills=sum(k.in_flight for k in kills),
        executed_after_completion=sum(o.executed_after_completion for o in outcomes),
        started_after_completion=sum(o.started_after_completion for o in outcomes),
        verify_failures=sum(not o.verify_ok for o in outcomes), cli_verify_ok=cli_ok,
        orphan_temp_files=sum(1 for _ in (home / "artifacts").rglob(".tmp-*")),
        problems=failures + [f"run {o.index} ({o.run_id}): {p}" for o in outcomes for p in o.problems],
        wall_s=round(time.monotonic() - t0, 1), outcomes=outcomes,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200,
                        help="runs killed at least once (a run that ends before its first kill comes on top)")
    parser.add_argument("--max-kills", type=int, default=3, help="each run is killed 1..N times")
    parser.add_argument("--jobs", type=int, default=2, help="runs driven at once")
    parser.add_argument("--rows", type=int, default=20000, help="rows of the workload's array and frame")
    parser.add_argument("--work-s", type=float, default=0.05, help="seconds each map item works")
    parser.add_argument("--process-share", type=float, default=0.5, help="share of runs on the process executor")
    parser.add_argument("--no-cooperative", action="store_true", help="random kills only (no pause points)")
    parser.add_argument("--store", default=None,
                        help="MLSITTER_HOME folder of the store (default: a temporary one, its journal key beside it)")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--json", type=Path, help="also write the report (with every run) to this file")
    args = parser.parse_args()
    store = args.store or scratch_store("mlsitter-crash-")
    print(f"load before: {load_average()}  store: {store}", flush=True)
    report = campaign(store, runs=args.runs, max_kills=args.max_kills, jobs=args.jobs, rows=args.rows,
                      work_s=args.work_s, process_share=args.process_share, cooperative=not args.no_cooperative,
                      seed=args.seed, progress=True)
    summary = {k: v for k, v in asdict(report).items() if k != "outcomes"}
    print(json.dumps(summary, indent=2))
    print(f"load after: {load_average()}")
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2))
    print("all invariants hold" if report.ok else "INVARIANTS BROKEN (see problems)")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
