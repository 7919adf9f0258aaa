"""The process context: every intrinsic a process may call, each one journaled.

Each intrinsic takes the next *position* (``1``, ``2``, ...; items of a map are ``5.0``, ``5.1``).
A resumed run reads its journal once; an intrinsic whose position is already recorded returns the
recorded outcome without doing the work again, after checking that the process asks for the same
step (kind, name and argument hash) — otherwise :class:`NonDeterminismError`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import operator
import os
import sys
import threading
import time
import uuid as _uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Protocol, Sequence

from mlsitter.errors import DataError, GateFailedError, MlsitterError, RefineExhaustedError, SpecError
from mlsitter.runtime.agent import ExternalEffectError, agent_command, run_agent
from mlsitter.runtime.artifacts import ArtifactRef, RecordedFile, media_type_for, record_file
from mlsitter.runtime.codec import Codec
from mlsitter.runtime.checkpoints import Checkpoints, check_checkpoint
from mlsitter.runtime.replay import ReplayIndex
from mlsitter.runtime.signals import Suspend
from mlsitter.runtime.steps import StepScheduler
from mlsitter.runtime.values import jsonable

if TYPE_CHECKING:
    from mlsitter.runtime.executors import Executor
    from mlsitter.runtime.policy import ApprovalPolicy
    from mlsitter.runtime.store import Event, JournalWriter, Store

__all__ = [
    "INLINE_SLEEP_MAX", "ON_FAIL", "Answer", "Attempt", "ChildRun", "ChildRunFailedError", "ChildRuns", "Context",
    "ExternalEffectError", "GateResult", "run_agent",
]

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq, "!=": operator.ne,
}
ON_FAIL = ("fail", "ask", "warn")
INLINE_SLEEP_MAX = float(os.environ.get("MLSITTER_INLINE_SLEEP", "2"))


@dataclass(frozen=True)
class Answer:
    """A person's (or a policy's) answer to a breakpoint."""

    approved: bool
    feedback: str = ""
    by: str = ""
    at: str = ""
    option: str | None = None


@dataclass(frozen=True)
class GateResult:
    """A recorded quality gate: the measured value against its threshold."""

    name: str
    value: Any
    op: str
    threshold: Any
    passed: bool
    on_fail: str
    overridden: bool = False
    by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The gate as the plain row reports, approvals and results show: name, measured value, rule,
        whether it passed and whether a person overrode it (the one place a gate becomes a dict)."""
        return {"name": self.name, "value": self.value, "op": self.op, "threshold": self.threshold,
                "passed": self.passed, "overridden": self.overridden}


class ChildRunFailedError(MlsitterError):
    """A child run started with ``ctx.call`` failed or was cancelled."""


@dataclass
class Attempt:
    """One pass of a refine loop; call :meth:`review` once to ask for approval."""

    ctx: "Context" = field(repr=False)
    loop: str
    number: int
    max_attempts: int
    feedbacks: list[str]
    answer: Answer | None = None

    @property
    def feedback(self) -> str | None:
        """Feedback of the last rejection (``None`` on the first attempt)."""
        return self.feedbacks[-1] if self.feedbacks else None

    def review(
        self, question: str, *, context: Any = None, artifacts: Sequence[Any] = (), tags: Sequence[str] = (),
        checkpoint: Checkpoints = None,
    ) -> Answer:
        info = {"refine": self.loop, "attempt": self.number, "max_attempts": self.max_attempts}
        if context is not None:
            info["context"] = context
        self.answer = self.ctx.breakpoint(question, context=info, artifacts=artifacts, tags=tags, checkpoint=checkpoint)
        return self.answer


class ChildRun(Protocol):
    """Where a child run stands after :meth:`ChildRuns.drive_child` (a :class:`~mlsitter.runtime.RunHandle`)."""

    status: str
    result: Any
    error: str | None
    waiting: dict[str, Any] | None
    wake_at: float | None


class ChildRuns(Protocol):
    """What a context needs from whoever runs it: child runs for ``ctx.call``. The Runner is one."""

    def create_child(self, parent: Context, key: str, process_name: str, inputs: dict[str, Any]) -> str:
        """Create the child run of ``parent`` at position ``key``; return its run id."""
        ...

    def drive_child(self, run_id: str) -> ChildRun:
        """Execute or resume a child run as far as it goes now."""
        ...


class Context:
    """What a process sees: the intrinsics of DESIGN §2. Built by the runner, one per execution."""

    def __init__(
        self,
        *,
        run_id: str,
        process: str,
        inputs: dict[str, Any],
        seed: int,
        store: Store,
        writer: JournalWriter,
        policy: ApprovalPolicy,
        executor: Executor,
        runner: ChildRuns,
        history: list[Event],
    ) -> None:
        self.run_id = run_id
        self.process = process
        self.inputs = inputs
        self._seed = seed
        self._store = store
        self._codec = Codec(store.artifacts)
        self._policy = policy
        self._executor = executor
        self._runner = runner
        self._counter = 0
        self.gates: list[GateResult] = []
        self._replay = ReplayIndex(run_id, history)
        self._steps = StepScheduler(writer, self._codec, executor, self._replay)
        self._open = self._replay.open  # bound once: every intrinsic looks up its position here
        self._append = writer.append

    # -- identity --------------------------------------------------------------------------------
    @property
    def workdir(self) -> Path:
        """A scratch folder of this run for task outputs (reports, fitted files)."""
        path = self._store.run_dir(self.run_id) / "work"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def is_replaying(self) -> bool:
        """True while the process is still below the last position its journal recorded."""
        return self._counter < self._replay.until

    def _next_key(self) -> str:
        self._counter += 1
        return str(self._counter)

    # -- tasks --------------------------------------------------------------------------------------
    def task(self, fn: Callable[..., Any], /, **kwargs: Any) -> Any:
        """Run ``fn(**kwargs)`` once, journaled; on replay return the recorded result."""
        return self._steps.task(self._next_key(), fn, kwargs)

    def map(self, fn: Callable[..., Any], items: Iterable[Any], /, **common: Any) -> list[Any]:
        """``[fn(item, **common) for item in items]`` on the executor; results land as they finish."""
        items = list(items)
        return self._steps.map(self._next_key(), fn, items, common)

    def parallel(self, calls: Sequence[tuple[Callable[..., Any], dict[str, Any]]], /) -> list[Any]:
        """Run different tasks concurrently: ``ctx.parallel([(fn_a, {...}), (fn_b, {...})])``."""
        return self._steps.parallel(self._next_key(), calls)

    def prefetch(self, *modules: str) -> None:
        """Start importing ``modules`` in a background thread of the runner, for a ``local`` task that comes
        later. On a pool executor the runner idles while workers finish the last steps, so the import overlaps
        them instead of adding to the run; on the inline executor this thread is busy, so it does nothing.
        Not journaled: an import changes no result (a module that fails here fails again in the task)."""
        missing = [m for m in modules if m not in sys.modules]
        if self._executor.name != "inline" and missing:
            threading.Thread(target=_import_all, args=(missing,), name="mlsitter-prefetch", daemon=True).start()

    # -- gates --------------------------------------------------------------------------------------
    def gate(self, name: str, value: Any, op: str, threshold: Any, *, on_fail: str = "fail",
             checkpoint: Checkpoints = None,
             context: dict[str, Any] | None = None, artifacts: Sequence[Any] = ()) -> GateResult:
        """Record a gate on a measured ``value``; ``on_fail`` decides what a failure does. ``context`` and
        ``artifacts`` (the evidence: a report, its deductions) go with the override question when one is asked."""
        if op not in _OPS:
            raise SpecError(f"gate {name!r}: unknown operator {op!r}; expected one of {', '.join(_OPS)}")
        if on_fail not in ON_FAIL:
            raise SpecError(f"gate {name!r}: on_fail must be one of {', '.join(ON_FAIL)}, got {on_fail!r}")
        journaled = check_checkpoint(checkpoint, f"gate {name!r}")
        key = self._next_key()
        rec = self._open(key, "gate", name)
        if rec and "gate.evaluated" in rec:
            ev = rec["gate.evaluated"]
            result = GateResult(name, ev["value"], op, ev["threshold"], ev["passed"], on_fail)
        else:
            measured, limit = jsonable(value), jsonable(threshold)
            passed = _compare(measured, op, limit)
            result = GateResult(name, measured, op, limit, passed, on_fail)
            self._append("gate.evaluated", {"key": key, "op": "gate", "name": name, "value": measured,
                                            "operator": op, "threshold": limit, "passed": passed, "on_fail": on_fail,
                                            **({"checkpoint": journaled} if journaled else {})})
        self.gates.append(result)
        if result.passed or on_fail == "warn":
            return result
        rule = f"measured {_show(result.value)}, required {op} {_show(result.threshold)}"
        if on_fail == "fail":
            raise GateFailedError(f"gate {name!r} failed: {rule}")
        answer = self.breakpoint(
            f"Gate {name!r} failed ({rule}). Override it and continue?",
            context={**(context or {}), "gate": name, "value": result.value, "operator": op, "threshold": result.threshold},
            artifacts=artifacts, tags=("gate-override",), checkpoint=checkpoint,
        )
        if not answer.approved:
            raise GateFailedError(f"gate {name!r} failed: {rule}; override refused by {answer.by}"
                                  + (f": {answer.feedback}" if answer.feedback else ""))
        if not (rec and "gate.overridden" in rec):
            self._append("gate.overridden", {"key": key, "name": name, "by": answer.by, "feedback": answer.feedback})
        result = GateResult(name, result.value, op, result.threshold, False, on_fail, True, answer.by)
        self.gates[-1] = result
        return result

    @property
    def all_gates_passed(self) -> bool:
        return all(g.passed for g in self.gates)

    # -- people -------------------------------------------------------------------------------------
    def breakpoint(
        self,
        question: str,
        *,
        context: Any = None,
        artifacts: Sequence[Any] = (),
        options: Sequence[str] | None = None,
        tags: Sequence[str] = (),
        checkpoint: Checkpoints = None,
    ) -> Answer:
        """Ask a person; with no answer journaled the run suspends until one arrives. ``checkpoint`` names the
        compliance checkpoint(s) the answer serves (:mod:`mlsitter.runtime.compliance`)."""
        key = self._next_key()
        rec = self._open(key, "breakpoint", question)
        if rec and "breakpoint.answered" in rec:
            return _answer(rec["breakpoint.answered"])
        request = {
            "key": key, "op": "breakpoint", "name": question, "question": question,
            "context": jsonable(context), "artifacts": [_artifact_info(a) for a in artifacts],
            "options": list(options) if options else None, "tags": list(tags),
            **({"checkpoint": check_checkpoint(checkpoint, f"breakpoint {question!r}")} if checkpoint else {}),
        }
        if not rec:
            self._append("breakpoint.requested", request)
        if self._policy.approves(tuple(tags), self.all_gates_passed):
            data = {"key": key, "approved": True, "feedback": "", "by": f"policy:{self._policy}",
                    "identity": {"user": f"policy:{self._policy}", "auth": "policy", "host": ""},
                    "at": _dt.datetime.now(_dt.timezone.utc).isoformat(), "option": None}
            self._append("breakpoint.answered", data)
            return _answer(data)
        raise Suspend({"kind": "breakpoint", "reason": f"approval: {question}", **request})

    def refine(self, name: str, max_attempts: int = 3, *, on_exhausted: str = "fail") -> Iterator[Attempt]:
        """Attempts until one is approved; each gets the feedback of the rejections before it."""
        if max_attempts < 1:
            raise SpecError(f"refine {name!r}: max_attempts must be >= 1, got {max_attempts!r}")
        if on_exhausted not in ("fail", "ask"):
            raise SpecError(f"refine {name!r}: on_exhausted must be 'fail' or 'ask', got {on_exhausted!r}")
        feedbacks: list[str] = []
        for number in range(1, max_attempts + 1):
            key = self._next_key()
            rec = self._open(key, "refine", name)
            if not rec:
                self._append("refine.attempt", {"key": key, "op": "refine", "name": name, "attempt": number,
                                                "max_attempts": max_attempts, "feedback": feedbacks[-1] if feedbacks else None})
            attempt = Attempt(self, name, number, max_attempts, list(feedbacks))
            yield attempt
            if attempt.answer is None:
                raise SpecError(f"refine loop {name!r}: attempt {number} ended without attempt.review(...)")
            if attempt.answer.approved:
                return
            feedbacks.append(attempt.answer.feedback)
        last = f" Last feedback: {feedbacks[-1]!r}." if feedbacks and feedbacks[-1] else ""
        message = f"refine loop {name!r} used all {max_attempts} attempts without an approval.{last}"
        if on_exhausted == "ask":
            answer = self.breakpoint(f"{message} Accept the last attempt anyway?", context={"refine": name})
            if answer.approved:
                return
        raise RefineExhaustedError(message)

    # -- changes to a process's code ------------------------------------------------------------------
    def patched(self, change: str) -> bool:
        """Whether this run takes the code path added by ``change`` (a name unique in the process): True in a run
        that reaches this point with today's code (recorded here), False while replaying a journal written
        before the change, which then finishes on the old path. As Temporal's ``patched``."""
        if self.is_replaying:
            recorded = self._replay.identity(str(self._counter + 1))
            if recorded is None or recorded[:2] != ("patch", change):
                return False  # the journal went on without it: no position is taken
            self._counter += 1
            return True
        self._append("patch.recorded", {"key": self._next_key(), "op": "patch", "name": change})
        return True

    # -- time, ids, randomness ------------------------------------------------------------------------
    def _value(self, kind: str, make: Callable[[], Any]) -> Any:
        key = self._next_key()
        rec = self._open(key, "value", kind)
        if rec and "value.recorded" in rec:
            return rec["value.recorded"]["value"]
        value = make()
        self._append("value.recorded", {"key": key, "op": "value", "name": kind, "value": value})
        return value

    def now(self) -> _dt.datetime:
        """The current UTC time, the same on replay."""
        return _dt.datetime.fromtimestamp(self._value("now", time.time), _dt.timezone.utc)

    def uuid(self) -> str:
        """A random UUID, the same on replay."""
        value: str = self._value("uuid", lambda: str(_uuid.uuid4()))
        return value

    def seed(self) -> int:
        """A seed derived from the run's seed and the position: same run seed, same seeds."""
        position = str(self._counter + 1)
        value: int = self._value("seed", lambda: self.derived_seed(position))
        return value

    def derived_seed(self, key: str) -> int:
        """Deterministic seed for position ``key`` (no journal entry: the run seed is journaled)."""
        return int(hashlib.sha256(f"{self._seed}:{key}".encode()).hexdigest()[:8], 16) % (2**31 - 1)

    def sleep(self, seconds: float) -> None:
        """Durable sleep: a long one suspends the run until ``mlsitter resume --due``."""
        self._timer(lambda: time.time() + float(seconds))

    def sleep_until(self, when: _dt.datetime | float) -> None:
        wake = when.timestamp() if isinstance(when, _dt.datetime) else float(when)
        self._timer(lambda: wake)

    def _timer(self, wake_at: Callable[[], float]) -> None:
        key = self._next_key()
        rec = self._open(key, "timer", "sleep")
        if rec and "timer.fired" in rec:
            return
        if rec and "timer.started" in rec:
            wake = rec["timer.started"]["wake_at"]
        else:
            wake = wake_at()
            self._append("timer.started", {"key": key, "op": "timer", "name": "sleep", "wake_at": wake})
        remaining = wake - time.time()
        if remaining <= INLINE_SLEEP_MAX:
            time.sleep(max(0.0, remaining))
            self._append("timer.fired", {"key": key})
            return
        when = _dt.datetime.fromtimestamp(wake, _dt.timezone.utc).isoformat(timespec="seconds")
        raise Suspend({"kind": "timer", "key": key, "wake_at": wake, "reason": f"timer until {when}"}, wake_at=wake)

    # -- composition --------------------------------------------------------------------------------
    def call(self, process_name: str, /, **inputs: Any) -> Any:
        """Run another process as a child run (own journal, linked both ways); return its result."""
        key = self._next_key()
        rec = self._open(key, "call", process_name)
        if rec and "child.completed" in rec:
            return self._codec.decode(rec["child.completed"]["result"])
        if rec and "child.failed" in rec and self._store.get_run(rec["child.failed"]["child_run_id"]).status in (
                "failed", "cancelled"):  # a child retried since (mark_retried) runs again below
            raise ChildRunFailedError(rec["child.failed"]["error"])
        if rec and "child.started" in rec:
            child_id = rec["child.started"]["child_run_id"]
        else:
            child_id = self._runner.create_child(self, key, process_name, inputs)
            self._append("child.started", {"key": key, "op": "call", "name": process_name, "child_run_id": child_id})
        handle = self._runner.drive_child(child_id)
        if handle.status == "completed":
            run = self._store.get_run(child_id)
            self._append("child.completed", {"key": key, "child_run_id": child_id, "result": run.result})
            return handle.result
        if handle.status in ("failed", "cancelled"):
            error = f"child run {child_id} ({process_name}) {handle.status}: {handle.error}"
            self._append("child.failed", {"key": key, "child_run_id": child_id, "error": error})
            raise ChildRunFailedError(error)
        reason = (handle.waiting or {}).get("reason", handle.status)
        raise Suspend({"kind": "child", "key": key, "child_run_id": child_id,
                       "reason": f"child run {child_id} ({process_name}) is waiting: {reason}"},
                      wake_at=handle.wake_at)

    def external(self, kind: str, spec: Any, output_schema: dict[str, Any]) -> Any:
        """An effect performed outside the process; its result must match ``output_schema``."""
        import jsonschema

        key = self._next_key()
        rec = self._open(key, "external", kind)
        if rec and "external.completed" in rec:
            return rec["external.completed"]["result"]
        try:
            jsonschema.Draft202012Validator.check_schema(output_schema)
        except jsonschema.SchemaError as exc:
            raise SpecError(f"external {kind!r}: output_schema is not a valid JSON schema: {exc.message}") from None
        request = {"key": key, "op": "external", "name": kind, "kind": kind, "spec": jsonable(spec),
                   "schema": output_schema}
        if not rec:
            self._append("external.requested", request)
        command = agent_command()
        if kind == "agent" and command:
            result = run_agent(command, request, self.run_id)
            self._append("external.completed", {"key": key, "result": result, "by": f"agent:{command}"})
            return result
        raise Suspend({**request, "kind": "external", "external_kind": kind,
                       "reason": f"external {kind} result (mlsitter tasks post {self.run_id} {key} ...)"})

    # -- records ------------------------------------------------------------------------------------
    def artifact(self, name: str, obj_or_path: Any, *, media_type: str | None = None) -> ArtifactRef:
        """Store a file, bytes, text-free JSON value or figure, content-addressed, and journal it."""
        key = self._next_key()
        rec = self._open(key, "artifact", name)
        if rec and "artifact.recorded" in rec:
            d = rec["artifact.recorded"]
            return ArtifactRef(d["name"], d["sha256"], d["media_type"], d["size"], d["path"])
        store = self._store.artifacts
        if isinstance(obj_or_path, ArtifactRef):
            ref = ArtifactRef(name, obj_or_path.sha256, obj_or_path.media_type, obj_or_path.size, obj_or_path.path)
        elif isinstance(obj_or_path, (str, Path)):
            path = Path(obj_or_path)
            if not path.is_file():
                raise DataError(f"artifact {name!r}: file {str(path)!r} does not exist")
            ref = store.put_file(path, name)
        elif isinstance(obj_or_path, (bytes, bytearray)):
            ref = store.put_bytes(bytes(obj_or_path), name)
        elif isinstance(obj_or_path, (dict, list)):
            ref = store.put_bytes(json.dumps(jsonable(obj_or_path), indent=2).encode(), name)
        elif type(obj_or_path).__name__ == "Figure":
            from mlsitter.figures import figure_to_png

            ref = store.put_bytes(figure_to_png(obj_or_path), name)
        else:
            raise TypeError(f"ctx.artifact({name!r}, ...) takes a path, bytes, a dict/list or a figure; "
                            f"got {type(obj_or_path).__name__}")
        if media_type:
            ref = ArtifactRef(ref.name, ref.sha256, media_type, ref.size, ref.path)
        elif ref.media_type == "application/octet-stream":
            ref = ArtifactRef(ref.name, ref.sha256, media_type_for(name), ref.size, ref.path)
        self._append("artifact.recorded", {"key": key, "op": "artifact", **asdict(ref)})
        return ref

    def record_file(self, name: str, path: str | Path, *, exclude: Sequence[str] = (), sha256: str | None = None) -> RecordedFile:
        """Journal the content hash of a file or folder the run wrote outside the artifact store (a dataset
        version, a registered model) so that ``mlsitter verify`` detects any later change to it.

        ``exclude`` names files of a folder (relative paths) that legitimately change after it is written; ``sha256``
        is a file's hash the caller computed as it read it (a user's input file is not hashed twice)."""
        key = self._next_key()
        rec = self._open(key, "file", name)
        if rec and "file.recorded" in rec:
            d = rec["file.recorded"]
            return RecordedFile(d["name"], d["path"], d["kind"], d["sha256"], d["size"], tuple(d.get("exclude", ())))
        recorded = record_file(self._store.home, name, Path(path), tuple(exclude), sha256)
        self._append("file.recorded", {"key": key, "op": "file", **asdict(recorded)})
        return recorded

    def log(self, level: str, message: str) -> None:
        """A line in the journal; not repeated when the run replays."""
        if self.is_replaying:
            return
        self._append("log", {"level": level, "message": str(message), "after": str(self._counter)})


# -- helpers ----------------------------------------------------------------------------------------
def _compare(value: Any, op: str, threshold: Any) -> bool:
    if isinstance(value, float) and math.isnan(value) or value is None:
        return False
    try:
        return bool(_OPS[op](value, threshold))
    except TypeError:
        return False


def _show(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value)


def _answer(data: dict[str, Any]) -> Answer:
    return Answer(bool(data["approved"]), data.get("feedback") or "", data.get("by") or "", data.get("at") or "",
                  data.get("option"))


def _artifact_info(item: Any) -> Any:
    if isinstance(item, ArtifactRef):
        return {"name": item.name, "sha256": item.sha256, "media_type": item.media_type, "path": item.path}
    return str(item)


def _import_all(modules: list[str]) -> None:
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # the task that needs it reports the error
            return
