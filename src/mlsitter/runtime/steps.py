"""Step scheduling: run a group of tasks on the executor, journaled write-ahead, retried, landed.

A step's ``step.started`` is journaled before it runs and its ``step.completed`` (or ``step.failed``)
right after; a step the replay index already holds a result for is not run again.
"""

from __future__ import annotations

import inspect
import time
import traceback
from queue import Empty, SimpleQueue
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

from mlsitter.errors import MlsitterError, SpecError
from mlsitter.runtime.codec import args_hash
from mlsitter.runtime.definitions import step_name, task_options

if TYPE_CHECKING:
    from mlsitter.runtime.codec import Codec
    from mlsitter.runtime.executors import Executor
    from mlsitter.runtime.replay import ReplayIndex
    from mlsitter.runtime.store import JournalWriter


@dataclass(slots=True)
class Step:
    """One task call at one position: the function, its arguments and the attempt being made."""

    key: str
    fn: Callable[..., Any]
    kwargs: dict[str, Any]
    name: str
    args_hash: str
    attempt: int = 1
    shared: dict[str, Any] | None = None
    """A map's common arguments (the same dict for all its steps), shared through ``Executor.share``."""


class StepScheduler:
    """Runs the steps of ``ctx.task`` / ``ctx.map`` / ``ctx.parallel`` for one context."""

    __slots__ = ("_writer", "_codec", "_executor", "_open", "_started")

    def __init__(self, writer: JournalWriter, codec: Codec, executor: Executor, replay: ReplayIndex) -> None:
        self._writer = writer
        self._codec = codec
        self._executor = executor
        self._open = replay.open
        self._started = replay.started

    def task(self, key: str, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        """``fn(**kwargs)`` as the single step at ``key``."""
        step = Step(key, fn, kwargs, step_name(fn), args_hash(kwargs))
        return self.run(key, "task", step.name, step.args_hash, [step], group=False)[0]

    def map(self, key: str, fn: Callable[..., Any], items: list[Any], common: dict[str, Any]) -> list[Any]:
        """``fn(item, **common)`` for each item, as steps ``key.0``, ``key.1``, ..."""
        name = step_name(fn)
        first_param = _first_param(fn)
        steps = []
        for i, item in enumerate(items):
            kwargs = {first_param: item, **common}
            steps.append(Step(f"{key}.{i}", fn, kwargs, name, args_hash(kwargs), shared=common or None))
        digest = args_hash({"n": len(items), "items": [s.args_hash for s in steps]})
        return self.run(key, "map", name, digest, steps, group=True)

    def parallel(self, key: str, calls: Sequence[tuple[Callable[..., Any], dict[str, Any]]]) -> list[Any]:
        """Each ``(fn, kwargs)`` of ``calls`` as steps ``key.0``, ``key.1``, ..."""
        steps = [
            Step(f"{key}.{i}", fn, dict(kwargs), step_name(fn), args_hash(dict(kwargs)))
            for i, (fn, kwargs) in enumerate(calls)
        ]
        name = ",".join(s.name for s in steps)
        digest = args_hash({"steps": [s.args_hash for s in steps]})
        return self.run(key, "parallel", name, digest, steps, group=True)

    def run(self, key: str, op: str, name: str, digest: str, steps: list[Step], group: bool) -> list[Any]:
        """Results of ``steps`` in order: recorded ones decoded, the others executed now."""
        recorded = self._open(key, op, name, digest)
        if group and recorded is None:
            self._writer.append_many([(f"{op}.started", {"key": key, "op": op, "name": name, "args_hash": digest,
                                                          "n": len(steps)})], flush=False)
        results: list[Any] = [None] * len(steps)
        todo: list[int] = []
        for i, step in enumerate(steps):
            if group:
                rec = self._open(step.key, "task", step.name, step.args_hash)
            else:
                rec = recorded
            if rec and "step.completed" in rec:
                results[i] = self._codec.decode(rec["step.completed"]["result"])
            else:
                step.attempt = self._started.get(step.key, 0) + 1
                todo.append(i)
        if todo:
            self._execute(steps, todo, results)
        return results

    def _execute(self, steps: list[Step], todo: list[int], results: list[Any]) -> None:
        executor = self._executor
        here = [i for i in todo if executor.name == "inline" or task_options(steps[i].fn).local]
        local = set(here)
        # Write-ahead markers: committed (a SIGKILL loses none) but not flushed on their own at full
        # durability; the flush of the results that follow covers them (see JournalWriter.append_many).
        self._writer.append_many([
            ("step.started", {"key": steps[i].key, "op": "task", "name": steps[i].name,
                              "args_hash": steps[i].args_hash, "attempt": steps[i].attempt,
                              "executor": "inline" if i in local else executor.name})
            for i in todo
        ], flush=False)
        running: dict[Future[Any], tuple[int, float]] = {}
        landed: SimpleQueue[Future[Any]] = SimpleQueue()
        handles: dict[int, dict[str, Any]] = {}

        def submit(i: int) -> None:
            step = steps[i]
            kwargs = step.kwargs
            if step.shared:  # a map's common arguments go to the executor once, not once per task
                shared = handles.get(id(step.shared))
                if shared is None:
                    shared = handles[id(step.shared)] = executor.share(step.shared)
                kwargs = {**kwargs, **shared}
            future = executor.submit(step.fn, kwargs)
            running[future] = (i, time.perf_counter())
            future.add_done_callback(landed.put)

        for i in todo:
            if i not in local:
                submit(i)
        error: BaseException | None = None
        for i in here:  # in this thread, while any pool tasks run; no futures, so the common path stays cheap
            try:
                results[i] = self._run_here(steps[i])
            except Exception as exc:
                if not running:
                    raise
                error = error or exc
                break
        while running:
            done = [landed.get()]  # then every other result that is ready too: they share one commit
            while True:
                try:
                    done.append(landed.get_nowait())
                except Empty:
                    break
            finished = [(running.pop(f), f) for f in done]
            ok = [(i, started, f.result()) for (i, started), f in finished if f.exception() is None]
            for (i, _, _), value in zip(ok, self._land([(steps[i], value, t) for i, t, value in ok])):
                results[i] = value
            for (i, _), future in finished:
                failure = future.exception()
                if failure is None:
                    continue
                if self._failed(steps[i], failure, can_retry=error is None):
                    submit(i)
                else:
                    error = error or failure
        if error is not None:
            raise error

    def _run_here(self, step: Step) -> Any:
        """Run one step in this thread, retrying as its policy allows; journal the outcome."""
        while True:
            started = time.perf_counter()
            try:
                value = step.fn(**step.kwargs)
            except Exception as exc:
                if self._failed(step, exc, can_retry=True):
                    continue
                raise
            return self._land([(step, value, started)])[0]

    def _land(self, finished: list[tuple[Step, Any, float]]) -> list[Any]:
        """Journal finished steps' results in one commit; return the values the process sees."""
        if not finished:
            return []
        now = time.perf_counter()
        encoded = [self._codec.encode(value) for _, value, _ in finished]
        self._writer.append_many([
            ("step.completed", {"key": step.key, "result": enc, "attempt": step.attempt,
                                "duration_ms": round((now - started) * 1000, 3)})
            for (step, _, started), enc in zip(finished, encoded)
        ])
        return [self._codec.decode(enc) if _has_figure(value) else value
                for (_, value, _), enc in zip(finished, encoded)]

    def _failed(self, step: Step, exc: BaseException, can_retry: bool) -> bool:
        """Journal a failed attempt; when the task's policy allows, wait the backoff and say retry."""
        options = task_options(step.fn)
        retry = can_retry and step.attempt <= options.retries and not isinstance(exc, MlsitterError)
        delay = options.delay(step.attempt) if retry else 0.0
        self._writer.append("step.failed", {
            "key": step.key, "attempt": step.attempt, "error": f"{type(exc).__name__}: {exc}",
            "will_retry": retry, "retry_in_s": delay,
            "traceback": "".join(traceback.format_exception(exc))[-4000:],
        })
        if retry:
            time.sleep(delay)
            step.attempt += 1
            self._writer.append_many([("step.retried", {"key": step.key, "op": "task", "name": step.name,
                                                        "args_hash": step.args_hash, "attempt": step.attempt})],
                                     flush=False)
        return retry


def _first_param(fn: Callable[..., Any]) -> str:
    params = list(inspect.signature(fn).parameters.values())
    if not params:
        raise SpecError(f"ctx.map needs a function that takes the item as its first argument; {step_name(fn)} takes none")
    return params[0].name


def _has_figure(value: Any) -> bool:
    if type(value).__name__ == "Figure":
        return True
    if isinstance(value, dict):
        return any(_has_figure(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_figure(v) for v in value)
    return False
