"""Small processes that exercise each runtime intrinsic; tests run them by file path."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from mlsitter import Context, process, task


def mark(counter: str, i: int, delay: float = 0.0) -> int:
    """Side effect: append the step index to a counter file (so tests can count executions)."""
    if delay:
        time.sleep(delay)
    with open(counter, "a") as fh:
        fh.write(f"{i}\n")
        fh.flush()
        os.fsync(fh.fileno())
    return i * i


@process("steps")
def steps(ctx: Context, counter: str, n: int = 10, delay: float = 0.0) -> dict:
    total = 0
    for i in range(n):
        total += ctx.task(mark, counter=counter, i=i, delay=delay)
    return {"total": total}


@process("wait-then-steps")
def wait_then_steps(ctx: Context, counter: str, n: int = 3, delay: float = 0.0) -> dict:
    ctx.breakpoint("Start the work?")
    return {"results": [ctx.task(mark, counter=counter, i=i, delay=delay) for i in range(n)]}


def write_report(out_dir: str, attempt: int, feedback: str | None) -> str:
    path = Path(out_dir) / f"report-{attempt}.html"
    path.write_text(f"<html><body><h1>Report v{attempt}</h1><p>feedback: {feedback}</p></body></html>")
    return str(path)


@process("review")
def review(ctx: Context, max_attempts: int = 3) -> dict:
    seen = []
    for attempt in ctx.refine("report", max_attempts=max_attempts):
        path = ctx.task(write_report, out_dir=str(ctx.workdir), attempt=attempt.number, feedback=attempt.feedback)
        ref = ctx.artifact(f"report-{attempt.number}.html", path)
        seen.append(attempt.feedback)
        attempt.review("Approve the report?", artifacts=[ref])
    return {"feedbacks": seen, "attempts": len(seen)}


def measure(value: float) -> float:
    return value


@process("gated")
def gated(ctx: Context, value: float, threshold: float = 0.5, on_fail: str = "fail") -> dict:
    measured = ctx.task(measure, value=value)
    result = ctx.gate("quality", measured, ">=", threshold, on_fail=on_fail)
    return {"passed": result.passed, "overridden": result.overridden}


@process("policy-check")
def policy_check(ctx: Context, value: float = 1.0) -> dict:
    ctx.gate("quality", value, ">=", 0.5, on_fail="warn")
    first = ctx.breakpoint("Ordinary approval?")
    second = ctx.breakpoint("Deploy to production?", tags=("production",))
    return {"first_by": first.by, "second_by": second.by}


@process("external")
def external(ctx: Context, kind: str = "label") -> dict:
    schema = {"type": "object", "properties": {"label": {"type": "string"}, "score": {"type": "number"}},
              "required": ["label", "score"]}
    result = ctx.external(kind, {"question": "label this row", "row": {"x": 1}}, schema)
    return {"got": result}


@process("sleeper")
def sleeper(ctx: Context, seconds: float = 3.0) -> dict:
    before = ctx.now()
    ctx.sleep(seconds)
    return {"slept_from": before.isoformat()}


@process("rt-child")
def child(ctx: Context, value: int = 1) -> dict:
    answer = ctx.breakpoint(f"Approve child value {value}?")
    return {"value": value * 10, "approved_by": answer.by}


@process("rt-parent")
def parent(ctx: Context, value: int = 2) -> dict:
    result = ctx.call("rt-child", value=value)
    return {"child": result}


_attempts: dict[str, int] = {}


@task(retries=2, backoff=0.01)
def flaky(state: str, fail_times: int) -> str:
    """Fails ``fail_times`` times (counted in a file so it survives processes), then succeeds."""
    path = Path(state)
    count = int(path.read_text()) if path.exists() else 0
    path.write_text(str(count + 1))
    if count < fail_times:
        raise RuntimeError(f"transient failure {count + 1}")
    return "ok"


@process("flaky")
def flaky_process(ctx: Context, state: str, fail_times: int = 2) -> str:
    return ctx.task(flaky, state=state, fail_times=fail_times)


def square(x: int) -> int:
    return x * x


@process("mapper")
def mapper(ctx: Context, n: int = 8) -> list:
    return ctx.map(square, range(n))


def pid_of_worker(i: int) -> int:
    return os.getpid()


@task(local=True)
def pid_of_runner(i: int) -> int:
    return os.getpid()


def placement(ctx: Context, module: str = "", wait: bool = False) -> dict:
    """Where tasks ran: a plain task on the executor, a ``local`` one in the runner, both in one ``parallel``."""
    if module:
        ctx.prefetch(module)
    both = ctx.parallel([(pid_of_worker, {"i": 0}), (pid_of_runner, {"i": 1})])
    import sys

    deadline = time.time() + 30
    while wait and module not in sys.modules and time.time() < deadline:
        time.sleep(0.05)
    return {"runner": os.getpid(), "plain": ctx.task(pid_of_worker, i=2), "local": ctx.task(pid_of_runner, i=3),
            "parallel": both, "prefetched": bool(module) and module in sys.modules}


def frame_stats(rows: int):
    import pandas as pd

    frame = pd.DataFrame({"a": range(rows), "b": [float(i) / 2 for i in range(rows)]})
    return {"frame": frame, "mean": float(frame["b"].mean())}


@process("values")
def values(ctx: Context, rows: int = 5) -> dict:
    out = ctx.task(frame_stats, rows=rows)
    return {"rows": len(out["frame"]), "mean": out["mean"], "uuid": ctx.uuid(), "seed": ctx.seed(),
            "now": ctx.now().isoformat()}


@process("seeded")
def seeded(ctx: Context, seed: int = 0) -> dict:
    return {"input": seed, "derived": ctx.seed()}


@process("logs-json")
def logs_json(ctx: Context) -> str:
    ctx.log("info", "hello")
    return json.dumps({"ok": True})


@process("release")
def release(ctx: Context, model: str = "m-1") -> dict:
    """A small release: an ordinary sign-off, then a production breakpoint (governed by approval rules)."""
    ctx.breakpoint("Release notes fine?")
    answer = ctx.breakpoint(f"Ship {model} to production?", tags=("production",), options=("ship", "hold"))
    return {"shipped": answer.approved and answer.option != "hold", "by": answer.by, "option": answer.option}


def hold(release: str, i: int) -> int:
    """Waits until the test creates the ``release`` file (at most a minute): a runner that is busy on demand."""
    end = time.monotonic() + 60
    while not os.path.exists(release) and time.monotonic() < end:
        time.sleep(0.02)
    return i


@process("held")
def held(ctx: Context, release: str, n: int = 2) -> dict:
    return {"steps": [ctx.task(hold, release=release, i=i) for i in range(n)]}


@process("upgraded")
def upgraded(ctx: Context, counter: str) -> dict:
    """Code that changes while a run waits: with MLSITTER_TEST_UPGRADED=1 it is today's code, which added one
    step before the wait and one after it, each behind ``ctx.patched``."""
    today = os.environ.get("MLSITTER_TEST_UPGRADED") == "1"
    first = ctx.task(mark, counter=counter, i=1)
    added = ctx.task(mark, counter=counter, i=2) if today and ctx.patched("upgraded.before-wait") else None
    ctx.breakpoint("go on?")
    after = ctx.task(mark, counter=counter, i=3) if today and ctx.patched("upgraded.after-wait") else None
    return {"first": first, "added": added, "after": after}


@task()
def needs_file(flag: str) -> str:
    """Fails until ``flag`` exists (a missing upstream file fixed by hand, then the run retried)."""
    if not Path(flag).exists():
        raise FileNotFoundError(f"upstream file {flag} is not there yet")
    return Path(flag).read_text()


@process("needs-file")
def needs_file_process(ctx: Context, counter: str, flag: str) -> dict:
    first = ctx.task(mark, counter=counter, i=1)
    found = ctx.task(needs_file, flag=flag)
    return {"first": first, "found": found, "last": ctx.task(mark, counter=counter, i=2)}


@process("needs-file-parent")
def needs_file_parent(ctx: Context, counter: str, flag: str) -> dict:
    return {"child": ctx.call("needs-file", counter=counter, flag=flag)}
