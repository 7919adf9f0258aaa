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
import threading
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from mlsitter.errors import (
    ApprovalRefusedError, InputError, MlsitterError, NonDeterminismError, RunLockedError, RunStateError, UserError,
)
from mlsitter.runtime import approvals
from mlsitter.runtime.codec import Codec
from mlsitter.runtime.context import Context
from mlsitter.runtime.definitions import resolve
from mlsitter.runtime.executors import check_executor, make_executor
from mlsitter.runtime.identity import Identity, answered_by, os_identity
from mlsitter.runtime.inputs import bind_inputs, coerce_inputs, input_parameters
from mlsitter.runtime.policy import ApprovalPolicy
from mlsitter.runtime.signals import Suspend
from mlsitter.runtime.store import FINAL, Event, RunRecord, Store, lease_seconds
from mlsitter.runtime.users import load_users


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


@dataclass(frozen=True)
class ApprovalStatus:
    """Where a governed breakpoint stands: the approvals that count so far, how many are needed, under which
    rules (tags), and a sentence when the approvals file changed since the run started."""

    approvals: list[approvals.Approval]
    needed: int
    tags: list[str]
    version: str
    drift: str | None = None


def current_user() -> str:
    try:
        user = os.environ.get("MLSITTER_USER") or getpass.getuser()
    except Exception:
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _claim(by: str | None) -> str | None:
    """The name an action claims: the one given, else ``$MLSITTER_USER`` (as ``user@host``), else none."""
    return by or (current_user() if os.environ.get("MLSITTER_USER") else None)


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
        starter: Identity | None = None,
    ) -> RunHandle:
        """Validate the inputs, create the run and execute it until it ends or suspends."""
        run_id = self.create(target, inputs or {}, approve=approve, executor=executor, seed=seed, starter=starter)
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
        starter: Identity | None = None,
    ) -> str:
        """Validate and create a run (not started); under an approvals file, journal the rules and its starter."""
        spec = resolve(target)
        policy = ApprovalPolicy.parse(approve)
        executor = executor or os.environ.get("MLSITTER_EXECUTOR") or "inline"
        check_executor(executor)
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
            raise InputError(f"seed must be a non-negative integer, got {seed!r}")
        if seed is not None and parent is None and "seed" not in inputs and any(
                p.name == "seed" for p in input_parameters(spec.fn)):
            inputs = {**inputs, "seed": seed}  # `--seed 3` on a process with a seed input means seed 3 there too
        coerced = coerce_inputs(spec.fn, inputs, spec.name)
        bound = self._binding(parent[0] if parent else None, starter)
        run_id = self.store.create_run(
            process=spec.name, target=spec.target, inputs=coerced, policy=str(policy), executor=executor,
            seed=seed if seed is not None else secrets.randbelow(2**31 - 1),
            parent_run_id=parent[0] if parent else None, parent_key=parent[1] if parent else None,
        )
        if bound is not None:
            owner = self.store.acquire(run_id)
            try:
                self.store.journal(run_id, owner).append(approvals.BOUND_EVENT, bound, run={})  # the head moves
            finally:
                self.store.release(run_id, owner)
        return run_id

    def _binding(self, parent_run_id: str | None, starter: Identity | None) -> dict[str, Any] | None:
        """What ``approvals.bound`` journals: a child inherits its parent's; a new run reads the approvals file
        (a malformed one stops here, before any run exists) and checks the users file the rules will need."""
        if parent_run_id is not None:
            inherited = self.bound_event(parent_run_id)
            return {**inherited, "inherited_from": parent_run_id} if inherited else None
        rules = approvals.load_rules()
        if rules is None:
            return None
        load_users()
        who = starter or os_identity()
        return {"rules": rules.as_dict(), "starter": who.as_dict()}

    def bound_event(self, run_id: str) -> dict[str, Any] | None:
        """The ``approvals.bound`` data of a run (None: it started without an approvals file)."""
        events = self.store.events(run_id, types=(approvals.BOUND_EVENT,))
        return events[0].data if events else None

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
        policy = ApprovalPolicy.parse(run.policy)
        bound_data = next((e.data for e in history if e.type == approvals.BOUND_EVENT), None)
        if bound_data is None and not any(e.type == "run.started" for e in history):
            # not bound at creation (a creator that died before binding): bind at first start, or refuse to
            # start on an approvals file that cannot be read
            bound_data = self._binding(run.parent_run_id, None)
            if bound_data is not None:
                writer.append(approvals.BOUND_EVENT, bound_data)
        bound = approvals.bound_rules(bound_data)
        if bound is not None:  # `auto` never approves a governed tag unless it names it (auto+production)
            policy = policy.protect(frozenset(bound.rules))
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
                writer=writer, policy=policy, executor=executor, runner=self,
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
               option: str | None = None, identity: Identity | None = None) -> RunRecord:
        """Journal a person's answer to the breakpoint the run waits on; the run becomes ``ready``, or stays
        ``waiting`` while the approval rules it started under need more distinct approvers.

        ``identity`` is who was authenticated (default: the OS account); ``by`` is only a claimed name."""
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
        who = identity or os_identity()
        claimed = _claim(by)
        data: dict[str, Any] = {"key": waiting["key"], "approved": approved, "feedback": feedback or "",
                                **answered_by(who, claimed), "at": _dt.datetime.now(_dt.timezone.utc).isoformat(),
                                "option": option}
        bound_data = self.bound_event(run.run_id)
        rules = approvals.bound_rules(bound_data)
        governing = rules.for_tags(waiting.get("tags") or []) if rules else []
        if rules is None or not governing:
            self._append_while_waiting(run, "breakpoint.answered", data)
            return self.store.get_run(run.run_id)
        starter = ((bound_data or {}).get("starter") or {}).get("user")
        roles = load_users().roles_of(who.user)
        data["policy"] = {"version": rules.version, "sha256": rules.sha256, "tags": [r.tag for r in governing]}
        note = approvals.drift(rules)
        if note:
            data["policy"]["drift"] = note

        def decide() -> tuple[str, dict[str, Any], str | None]:
            # under the run's lock: two approvers answering at once are counted one after the other
            verdict = approvals.judge(governing, who=who, roles=roles, approved=approved, option=option,
                                      starter=starter, earlier=self._approvals(run), now=approvals.now_ts(),
                                      run_id=run.run_id)
            if not approved:
                return "breakpoint.answered", data, "ready"
            counted = {**data, "approvers": [a.user for a in verdict.counted], "needed": verdict.needed}
            if verdict.satisfied:
                return "breakpoint.answered", counted, "ready"
            return approvals.PARTIAL_EVENT, {**counted, "ts": verdict.counted[-1].at}, None

        try:
            self._append_while_waiting(run, "", {}, decide=decide)
        except ApprovalRefusedError as exc:
            raise ApprovalRefusedError(f"{exc}. Note: {note}" if note else str(exc)) from None
        return self.store.get_run(run.run_id)

    def _approvals(self, run: RunRecord) -> list[approvals.Approval]:
        """The partial approvals journaled for the breakpoint the run waits on now."""
        key = (run.waiting or {}).get("key")
        return [approvals.Approval(e.data["identity"]["user"], float(e.data["ts"]), e.data.get("option"))
                for e in self.store.events(run.run_id, types=(approvals.PARTIAL_EVENT,)) if e.data.get("key") == key]

    def policy_drift(self, run_id: str) -> str | None:
        """A sentence when the approvals file a run started with changed since (None: unchanged or none)."""
        rules = approvals.bound_rules(self.bound_event(run_id))
        return approvals.drift(rules) if rules else None

    def approval_status(self, run_id: str) -> ApprovalStatus | None:
        """The quorum of the governed breakpoint a run waits on (None: not waiting on one)."""
        run = self.waiting_leaf(run_id)
        waiting = run.waiting or {}
        rules = approvals.bound_rules(self.bound_event(run.run_id))
        if rules is None or run.status != "waiting" or waiting.get("kind") != "breakpoint":
            return None
        governing = rules.for_tags(waiting.get("tags") or [])
        if not governing:
            return None
        valid = min((r.valid_for for r in governing if r.valid_for is not None), default=None)
        now = approvals.now_ts()
        counted = [a for a in self._approvals(run) if valid is None or now - a.at <= valid]
        return ApprovalStatus(counted, max(r.approvers for r in governing), [r.tag for r in governing],
                              rules.version, approvals.drift(rules))

    def post_external(self, run_id: str, key: str | None, result: Any, *, by: str | None = None,
                      identity: Identity | None = None) -> RunRecord:
        """Journal the result of an external effect after validating it against its schema, with who posted it
        (``identity``, default the OS account; ``by`` only claimed)."""
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
                                                                **answered_by(identity or os_identity(), _claim(by))})
        return self.store.get_run(run.run_id)

    def _append_while_waiting(self, run: RunRecord, type_: str, data: dict[str, Any],
                              decide: Callable[[], tuple[str, dict[str, Any], str | None]] | None = None) -> None:
        """Append ``type_`` (or what ``decide`` says, under the lock) while the run still waits on the same key."""
        owner = self.store.acquire(run.run_id)
        try:
            fresh = self.store.get_run(run.run_id)
            if fresh.status != "waiting" or (fresh.waiting or {}).get("key") != (run.waiting or {}).get("key"):
                raise RunStateError(f"run {run.run_id} changed while answering (now {fresh.status}); look again")
            type_, data, status = decide() if decide else (type_, data, "ready")
            self.store.journal(run.run_id, owner).append(type_, data, run={"status": status} if status else {})
        finally:
            self.store.release(run.run_id, owner)

    def cancel(self, run_id: str, *, by: str | None = None, reason: str = "", identity: Identity | None = None) -> RunRecord:
        """Cancel a run that is not executing right now (and its unfinished children), journaling who did it
        (``identity``, default the OS account; ``by`` only claimed)."""
        run = self.store.get_run(run_id)
        if run.status in FINAL:
            raise RunStateError(f"run {run.run_id} has already {run.status}")
        owner = self.store.acquire(run.run_id)
        try:
            who = answered_by(identity or os_identity(), _claim(by))
            self.store.journal(run.run_id, owner).append("run.cancelled", {**who, "reason": reason},
                                                         run={"status": "cancelled"})
        finally:
            self.store.release(run.run_id, owner)
        for child in self.store.list_runs(parent=run.run_id, limit=10_000):
            if child.status not in FINAL:
                self.cancel(child.run_id, by=by, reason=f"parent {run.run_id} cancelled", identity=identity)
        return self.store.get_run(run.run_id)

    def retry(self, run_id: str, *, by: str | None = None, reason: str = "", identity: Identity | None = None
              ) -> RunHandle:
        """Run a failed run again from where it failed: its completed steps come from the journal, the step that
        failed and the rest run now (see :meth:`mark_retried`)."""
        self.mark_retried(run_id, by=by, reason=reason, identity=identity)
        return self.drive(self.store.get_run(run_id).run_id)

    def mark_retried(self, run_id: str, *, by: str | None = None, reason: str = "",
                     identity: Identity | None = None) -> RunRecord:
        """Make a failed run (and its failed children) ready to run again, journaling who asked and the error it
        had; a worker, ``resume`` or :meth:`retry` then continues it. Recorded gates and answers stay as they were,
        so a run that failed on a gate fails on it again."""
        run = self.store.get_run(run_id)
        if run.status != "failed":
            raise RunStateError(f"run {run.run_id} is {run.status}; only a failed run can be retried")
        who = answered_by(identity or os_identity(), _claim(by))
        owner = self.store.acquire(run.run_id)
        try:
            self.store.journal(run.run_id, owner).append(
                "run.retried", {**who, "reason": reason, "error": run.error},
                run={"status": "ready", "error": None, "ended_at": None})
        finally:
            self.store.release(run.run_id, owner)
        for child in self.store.list_runs(parent=run.run_id, status="failed", limit=10_000):
            self.mark_retried(child.run_id, by=by, reason=f"parent {run.run_id} retried", identity=identity)
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
            except store.dialect.errors:
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
