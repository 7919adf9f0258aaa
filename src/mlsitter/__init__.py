"""mlsitter: the ML lifecycle as durable, quality-gated, human-approvable processes.

``import mlsitter`` loads only the runtime (standard library + a few small packages); pandas,
scikit-learn, MLflow and friends load when a process that needs them runs.
"""

from __future__ import annotations

from typing import Any

from mlsitter import errors
from mlsitter.naming import install_moved_module_finder
from mlsitter.runtime import (
    Answer,
    ArtifactRef,
    Attempt,
    Context,
    Doc,
    GateResult,
    Interval,
    Normalize,
    RunHandle,
    Runner,
    Store,
    process,
    task,
)

__version__ = "0.1.0"

install_moved_module_finder()  # objects pickled before a module moved still load


def run(
    target: Any,
    /,
    inputs: dict[str, Any] | None = None,
    *,
    approve: str = "manual",
    executor: str | None = None,
    seed: int | None = None,
    **kw_inputs: Any,
) -> RunHandle:
    """Start a process (registered name, ``module:function``, ``file.py:function`` or the function)
    and execute it until it completes, fails or waits. Inputs as keywords or as ``inputs={...}``; ``seed`` is the
    run seed, and also the process's ``seed`` input when it has one and the inputs do not name it."""
    return Runner().start(target, {**(inputs or {}), **kw_inputs}, approve=approve, executor=executor, seed=seed)


def resume(run_id: str) -> RunHandle:
    """Continue a waiting or interrupted run from its journal."""
    return Runner().resume(run_id)


def approve(run_id: str, feedback: str | None = None, *, by: str | None = None, option: str | None = None,
            resume: bool = False) -> RunHandle:
    """Approve the breakpoint the run waits on; with ``resume=True`` continue it at once."""
    runner = Runner()
    leaf = runner.answer(run_id, approved=True, feedback=feedback, by=by, option=option)
    return runner.resume(leaf.run_id) if resume else runner.handle(run_id)


def reject(run_id: str, feedback: str, *, by: str | None = None, option: str | None = None,
           resume: bool = False) -> RunHandle:
    """Reject with feedback (the next refine attempt receives it); ``resume=True`` continues at once."""
    runner = Runner()
    leaf = runner.answer(run_id, approved=False, feedback=feedback, by=by, option=option)
    return runner.resume(leaf.run_id) if resume else runner.handle(run_id)


def get(run_id: str) -> RunHandle:
    """Where a run stands now."""
    return Runner().handle(run_id)


def retry(run_id: str, reason: str = "") -> RunHandle:
    """Run a failed run again: steps it completed come from the journal, the failed step and the rest run now."""
    return Runner().retry(run_id, reason=reason)


def cancel(run_id: str, reason: str = "") -> RunHandle:
    runner = Runner()
    runner.cancel(run_id, reason=reason)
    return runner.handle(run_id)


__all__ = [
    "Answer", "ArtifactRef", "Attempt", "Context", "Doc", "GateResult", "Interval", "Normalize", "RunHandle", "Runner",
    "Store", "approve", "cancel", "errors", "get", "process", "reject", "resume", "retry", "run", "task",
]
