"""Start, resume, answer and cancel runs. The only code that moves a run between statuses.

A run executes straight through; when it suspends (breakpoint, timer, external effect, waiting
child) the process stops and nothing stays in memory. Resuming reads the journal once and replays.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import os
import secrets
import socket
import sqlite3
import threading
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from mlsitter.errors import InputError, MlsitterError, NonDeterminismError, RunLockedError, RunStateError, UserError
from mlsitter.runtime.codec import Codec
from mlsitter.runtime.context import Context
from mlsitter.runtime.definitions import resolve
from mlsitter.runtime.executors import EXECUTORS, make_executor
from mlsitter.runtime.inputs import bind_inputs, coerce_inputs, input_parameters
from mlsitter.runtime.policy import ApprovalPolicy
from mlsitter.runtime.signals import Suspend
from mlsitter.runtime.store import FINAL, Event, RunRecord, Store, lease_seconds


@dataclass
class RunHandle:
    """Where a run stands after a call: status, decoded result or error, what it waits for."""

    run_id: str
    process: str
    status: str
    result: Any = None
    error: str | None = None
    waiting: dict[str, Any] | None = None
    wake_at: float | None = None

    @property
    def is_done(self) -> bool:
        return self.status in FINAL


def current_user() -> str:
    try:
        user = os.environ.get("MLSITTER_USER") or getpass.getuser()
    except Exception:
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


class Runner:
    """Drives runs stored in one :class:`Store`."""

    def __init__(self, store: Store | None = None, *, on_event: Callable[[Event], None] | None = None) -> None:
        self.store = store or Store()
        self.on_event = on_event
        self._driving: set[str] = set()

    # -- starting -----------------------------------------------------------------------------------
    def start(
        self,
        target: Any,
        inputs: dict[str, Any] | None = None,
        *,
        approve: str = "manual",
        executor: str | None = None,
        seed: int | None = None,
    ) -> RunHandle:
        """Validate the inputs, create the run and execute it until it ends or suspends."""
        run_id = self.create(target, inputs or {}, approve=approve, executor=executor, seed=seed)
        return self.drive(run_id)

    def create(
        self,
        target: Any,
        inputs: dict[str, Any],
        *,
        approve: str = "manual",
        executor: str | None = None,
        seed: int | None = None,
        parent: tuple[str, str] | None = None,
    ) -> str:
        spec = resolve(target)
        policy = ApprovalPolicy.parse(approve)
        executor = executor or os.environ.get("MLSITTER_EXECUTOR") or "inline"
        if executor not in EXECUTORS:
            raise InputError(f"unknown executor {executor!r}; expected one of {', '.join(EXECUTORS)}")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
            raise InputError(f"seed must be a non-negative integer, got {seed!r}")
        if seed is not None and parent is None and "seed" not in inputs and any(
                p.name == "seed" for p in input_parameters(spec.fn)):
            inputs = {**inputs, "seed": seed}  # `--seed 3` on a process with a seed input means seed 3 there too
        coerced = coerce_inputs(spec.fn, inputs, spec.name)
        return self.store.create_run(
            process=spec.name, target=spec.target, inputs=coerced, policy=str(policy), executor=executor,
            seed=seed if seed is not None else secrets.randbelow(2**31 - 1),
            parent_run_id=parent[0] if parent else None, parent_key=parent[1] if parent else None,
        )

    def create_child(self, parent: Context, key: str, process_name: str, inputs: dict[str, Any]) -> str:
        run = self.store.get_run(parent.run_id)
        child_seed = parent.derived_seed(key)  # same parent seed and position -> same child seed
        return self.create(process_name, inputs, approve=run.policy, executor=run.executor, seed=child_seed,
                           parent=(parent.run_id, key))

    # -- executing ----------------------------------------------------------------------------------
    def drive(self, run_id: str) -> RunHandle:
        """Execute or resume ``run_id`` in this process until it completes, fails or suspends."""
        handle = self._drive(run_id)
        self._wake_parent(run_id, handle)
        return handle

    def drive_child(self, run_id: str) -> RunHandle:
        """Used by ``ctx.call``: drive a child unless it is still waiting for something not yet there."""
        run = self.store.get_run(run_id)
        if run.status in FINAL:
            return self._handle(run)
        if run.status == "waiting" and not (run.wake_at and run.wake_at <= _now()):
            return self._handle(run)
        return self._drive(run_id)

    def _drive(self, run_id: str) -> RunHandle:
        run = self.store.get_run(run_id)
        run_id = run.run_id
        if run.status in FINAL:
            raise RunStateError(f"run {run_id} has already {run.status}; it cannot be resumed")
        owner = self.store.acquire(run_id)
        self._driving.add(run_id)
        heartbeat = Heartbeat(self.store, run_id, owner)
        try:
            return self._execute(run, owner)
        finally:
            heartbeat.stop()
            self._driving.discard(run_id)
            self.store.release(run_id, owner)

    def _execute(self, run: RunRecord, owner: str) -> RunHandle:
        store = self.store
        history = store.events(run.run_id)
        writer = store.journal(run.run_id, owner)
        if self.on_event:
            writer.listeners.append(self.on_event)
        gates = GateCount(history)
        writer.listeners.append(gates.see)
        host = {"pid": os.getpid(), "host": socket.gethostname()}
        running = {"status": "running", "waiting": None, "wake_at": None}
        if not history:  # created by schema-1 code, which journaled run.created only when the run started
            writer.append("run.created", {
                "process": run.process, "target": run.target, "inputs": run.inputs, "policy": run.policy,
                "executor": run.executor, "seed": run.seed, "parent_run_id": run.parent_run_id,
                "parent_key": run.parent_key,
            })
        if run.interrupted:  # its last runner died: say so in the journal before taking over
            writer.append("run.interrupted", {"reason": run.interrupted, "detected_by": host},
                          run={"status": "interrupted"})
        if not any(e.type == "run.started" for e in history):
            writer.append("run.started", host, run=running)
        else:
            writer.append("run.resumed", {**host, "replaying": len(history)}, run=running)
        executor = make_executor(run.executor)
        codec = Codec(store.artifacts)
        try:
            spec = resolve(run.target)
            kwargs = bind_inputs(spec.fn, run.inputs, run.process)
            ctx = Context(
                run_id=run.run_id, process=run.process, inputs=dict(kwargs), seed=run.seed, store=store,
                writer=writer, policy=ApprovalPolicy.parse(run.policy), executor=executor, runner=self,
                history=history,
            )
            value = spec.fn(ctx, **kwargs)
            encoded = codec.encode(value)
        except Suspend as suspend:
            writer.append("run.waiting", suspend.waiting,
                          run=gates.fields(status="waiting", waiting=suspend.waiting, wake_at=suspend.wake_at))
            return RunHandle(run.run_id, run.process, "waiting", waiting=suspend.waiting, wake_at=suspend.wake_at)
        except NonDeterminismError as exc:
            # The code changed under a recorded run: keep the run as it was so restoring the code can
            # finish it, and tell the caller exactly where replay diverged.
            restore = run.status if run.status not in ("created", "running") else "interrupted"
            writer.append("run.replay_failed", {"error": str(exc)},
                          run={"status": restore, "waiting": run.waiting, "wake_at": run.wake_at})
            raise
        except RunLockedError:  # the lease was lost to another runner: write nothing more
            raise
        except KeyboardInterrupt:
            writer.append("run.interrupted", {"reason": "interrupted by the user (Ctrl-C)"},
                          run=gates.fields(status="interrupted"))
            raise
        except Exception as exc:
            message = error_message(exc)
            data: dict[str, Any] = {"error": message, "type": type(exc).__name__}
            if not isinstance(exc, MlsitterError):
                data["traceback"] = "".join(traceback.format_exception(exc))[-8000:]
            writer.append("run.failed", data, run=gates.fields(status="failed", error=message))
            return RunHandle(run.run_id, run.process, "failed", error=message)
        finally:
            executor.close()
        writer.append("run.completed", {"result": encoded}, run=gates.fields(status="completed", result=encoded))
        return RunHandle(run.run_id, run.process, "completed", result=value)

    def _wake_parent(self, run_id: str, handle: RunHandle) -> None:
        """A child that ended on its own resume lets its waiting parent continue."""
        if handle.status not in FINAL:
            return
        run = self.store.get_run(run_id)
        if not run.parent_run_id or run.parent_run_id in self._driving:
            return
        parent = self.store.get_run(run.parent_run_id)
        waiting = parent.waiting or {}
        if parent.status == "waiting" and waiting.get("child_run_id") == run_id:
            self.drive(parent.run_id)

    def _handle(self, run: RunRecord) -> RunHandle:
        result = Codec(self.store.artifacts).decode(run.result) if run.status == "completed" else None
        return RunHandle(run.run_id, run.process, run.status, result, run.error, run.waiting, run.wake_at)

    def handle(self, run_id: str) -> RunHandle:
        return self._handle(self.store.get_run(run_id))

    def resume(self, run_id: str) -> RunHandle:
        run = self.store.get_run(run_id)
        if run.status in FINAL:
            raise RunStateError(f"run {run.run_id} has already {run.status}; it cannot be resumed")
        return self.drive(run.run_id)

    def resume_due(self, *, recover: RecoveryPolicy | None = None) -> list[RunHandle]:
        """Resume every run whose timer is due or whose answer has arrived, and, under ``recover``, the
        interrupted runs it allows (a run whose runner died, up to a number of times)."""
        due = self.store.due_runs()
        if recover is not None:
            due += [r for r in recover.recoverable(self.store) if r not in due]
        handles = []
        for run_id in due:
            run = self.store.get_run(run_id)
            if run.status in FINAL or self.store.is_locked_by_live_process(run):
                continue
            try:
                handles.append(self.drive(run_id))
            except RunLockedError:  # another worker took it first
                continue
        return handles

    # -- answers ------------------------------------------------------------------------------------
    def waiting_leaf(self, run_id: str) -> RunRecord:
        """The run that actually waits: follows a parent's wait on its child down the chain."""
        run = self.store.get_run(run_id)
        while run.status == "waiting" and run.waiting is not None and run.waiting.get("kind") == "child":
            run = self.store.get_run(run.waiting["child_run_id"])
        return run

    def answer(self, run_id: str, *, approved: bool, feedback: str | None = None, by: str | None = None,
               option: str | None = None) -> RunRecord:
        """Journal a person's answer to the breakpoint the run waits on; the run becomes ``ready``."""
        run = self.waiting_leaf(run_id)
        waiting = run.waiting or {}
        if run.status != "waiting" or waiting.get("kind") != "breakpoint":
            what = f"waits for {waiting.get('reason')}" if run.status == "waiting" else f"is {run.status}"
            raise RunStateError(f"run {run.run_id} {what}; there is no approval to answer")
        if not approved and not (feedback or "").strip():
            raise InputError("a rejection needs feedback saying what to change (--feedback \"...\")")
        options = waiting.get("options")
        if option is not None and options and option not in options:
            raise InputError(f"option {option!r} is not offered; choose one of {', '.join(options)}")
        data = {"key": waiting["key"], "approved": approved, "feedback": feedback or "", "by": by or current_user(),
                "at": _dt.datetime.now(_dt.timezone.utc).isoformat(), "option": option}
        self._append_while_waiting(run, "breakpoint.answered", data)
        return self.store.get_run(run.run_id)

    def post_external(self, run_id: str, key: str | None, result: Any, *, by: str | None = None) -> RunRecord:
        """Journal the result of an external effect after validating it against its schema."""
        import jsonschema

        run = self.waiting_leaf(run_id)
        waiting = run.waiting or {}
        if run.status != "waiting" or waiting.get("kind") != "external":
            raise RunStateError(f"run {run.run_id} is not waiting for an external result (status {run.status})")
        if key is not None and str(key) != str(waiting["key"]):
            raise InputError(f"run {run.run_id} waits for external task {waiting['key']}, not {key}")
        try:
            jsonschema.validate(result, waiting["schema"])
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
            raise InputError(f"result does not match the task's schema at {where}: {exc.message}") from None
        self._append_while_waiting(run, "external.completed", {"key": waiting["key"], "result": result,
                                                                "by": by or current_user()})
        return self.store.get_run(run.run_id)

    def _append_while_waiting(self, run: RunRecord, type_: str, data: dict[str, Any]) -> None:
        owner = self.store.acquire(run.run_id)
        try:
            fresh = self.store.get_run(run.run_id)
            if fresh.status != "waiting" or (fresh.waiting or {}).get("key") != (run.waiting or {}).get("key"):
                raise RunStateError(f"run {run.run_id} changed while answering (now {fresh.status}); look again")
            self.store.journal(run.run_id, owner).append(type_, data, run={"status": "ready"})
        finally:
            self.store.release(run.run_id, owner)

    def cancel(self, run_id: str, *, by: str | None = None, reason: str = "") -> RunRecord:
        """Cancel a run that is not executing right now (and its unfinished children)."""
        run = self.store.get_run(run_id)
        if run.status in FINAL:
            raise RunStateError(f"run {run.run_id} has already {run.status}")
        owner = self.store.acquire(run.run_id)
        try:
            self.store.journal(run.run_id, owner).append("run.cancelled", {"by": by or current_user(), "reason": reason},
                                                         run={"status": "cancelled"})
        finally:
            self.store.release(run.run_id, owner)
        for child in self.store.list_runs(parent=run.run_id, limit=10_000):
            if child.status not in FINAL:
                self.cancel(child.run_id, by=by, reason=f"parent {run.run_id} cancelled")
        return self.store.get_run(run.run_id)

    def pending(self) -> list[RunRecord]:
        """Runs waiting on a person or an external effect (not parents waiting on a child)."""
        runs = self.store.list_runs(status="waiting", limit=100_000)
        return [r for r in runs if (r.waiting or {}).get("kind") in ("breakpoint", "external")]


class Heartbeat:
    """Renews a run's lease every third of its length while the run executes, on a daemon thread."""

    def __init__(self, store: Store, run_id: str, owner: str) -> None:
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(store, run_id, owner),
                                        name=f"mlsitter-lease-{run_id}", daemon=True)
        self._thread.start()

    def _beat(self, store: Store, run_id: str, owner: str) -> None:
        while not self._stopped.wait(lease_seconds() / 3):
            try:
                if not store.renew(run_id, owner):
                    return  # taken over: the writer refuses the next append
            except sqlite3.Error:
                continue  # a busy database: try again at the next beat, the lease still runs

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)


class GateCount:
    """Gates passed and failed so far, counted from the journal (what ``verify`` recounts)."""

    def __init__(self, history: list[Event]) -> None:
        self.passed = self.failed = 0
        for event in history:
            self.see(event)

    def see(self, event: Event) -> None:
        if event.type == "gate.evaluated":
            if event.data.get("passed"):
                self.passed += 1
            else:
                self.failed += 1

    def fields(self, **fields: Any) -> dict[str, Any]:
        return {**fields, "gates_passed": self.passed, "gates_failed": self.failed}


@dataclass(frozen=True)
class RecoveryPolicy:
    """Which interrupted runs a worker resumes on its own: at most ``max_recoveries`` runner deaths each."""

    max_recoveries: int = 3

    def recoverable(self, store: Store) -> list[str]:
        """Runs whose runner died (not those a person stopped with Ctrl-C) and that may be resumed again."""
        return [r.run_id for r in store.list_runs(status="interrupted", limit=10_000)
                if r.interrupted and len(store.events(r.run_id, types=("run.interrupted",))) < self.max_recoveries]


def error_message(exc: BaseException) -> str:
    if isinstance(exc, UserError | MlsitterError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _now() -> float:
    import time

    return time.time()
