"""The replay index: what a run's journal recorded, by position, read once when the run resumes.

An intrinsic asks :meth:`ReplayIndex.open` for its position; a recorded step must be the same step
(kind, name and argument hash) the process asks for now, otherwise :class:`NonDeterminismError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from mlsitter.errors import NonDeterminismError
from mlsitter.runtime.definitions import same_step

if TYPE_CHECKING:
    from mlsitter.runtime.store import Event

Recorded = dict[str, dict[str, Any]]
"""The events journaled at one position, by event type (``{"step.completed": data, ...}``)."""


class ReplayIndex:
    """The events of one run's history by position key, with each position's step identity.

    ``until`` is the highest top-level position recorded: a context replays while below it.
    ``started`` holds, per step key, the last attempt whose ``step.started`` the journal holds.
    """

    __slots__ = ("run_id", "until", "started", "_by_key", "_ident")

    def __init__(self, run_id: str, history: list[Event]) -> None:
        self.run_id = run_id
        self._by_key: dict[str, Recorded] = {}
        self._ident: dict[str, tuple[str, str, str | None]] = {}
        attempts: dict[str, int] = {}
        top = 0
        for event in history:
            key = event.data.get("key") if isinstance(event.data, dict) else None
            if key is None:
                continue
            self._by_key.setdefault(key, {})[event.type] = event.data
            if "op" in event.data and key not in self._ident:
                self._ident[key] = (event.data["op"], event.data.get("name", ""), event.data.get("args_hash"))
            if event.type == "step.started":
                attempts[key] = max(attempts.get(key, 0), int(event.data.get("attempt", 1)))
            top = max(top, int(str(key).split(".")[0]))
        self.until = top
        self.started: Mapping[str, int] = attempts

    def identity(self, key: str) -> tuple[str, str, str | None] | None:
        """(op, name, argument hash) of the step recorded at ``key``; None when nothing is recorded there."""
        return self._ident.get(key)

    def open(self, key: str, op: str, name: str, digest: str | None = None) -> Recorded | None:
        """Recorded events at ``key`` after checking they belong to the same step, else None."""
        recorded = self._ident.get(key)
        if recorded is None:
            return self._by_key.get(key)
        if recorded[0] != op or recorded[2] != digest or not same_step(recorded[1], name):
            old = f"{recorded[0]} {recorded[1]!r}" + (f" (arguments {recorded[2]})" if recorded[2] else "")
            new = f"{op} {name!r}" + (f" (arguments {digest})" if digest else "")
            raise NonDeterminismError(
                f"run {self.run_id}, position {key}: the journal recorded {old}, but the process now asks for "
                f"{new}. The process code or its inputs changed since this run started; start a new run, or "
                "restore the code this run was started with to finish it."
            )
        return self._by_key.get(key)
