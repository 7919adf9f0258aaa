"""Durable process runtime: journal, context intrinsics, runner, executors and store.

It knows nothing about ML (``mlsitter.ml`` is never imported here).
"""

from mlsitter.runtime.artifacts import ArtifactRef
from mlsitter.runtime.context import Answer, Attempt, ChildRunFailedError, Context, ExternalEffectError, GateResult
from mlsitter.runtime.definitions import ProcessSpec, TaskOptions, process, task
from mlsitter.runtime.inputs import Doc, Interval, Normalize
from mlsitter.runtime.policy import ApprovalPolicy
from mlsitter.runtime.runner import RunHandle, Runner
from mlsitter.runtime.store import Store

__all__ = [
    "Answer", "ApprovalPolicy", "ArtifactRef", "Attempt", "ChildRunFailedError", "Context", "Doc", "ExternalEffectError",
    "GateResult", "Interval", "Normalize", "ProcessSpec", "RunHandle", "Runner", "Store", "TaskOptions", "process", "task",
]
