"""Gates as the rows reports, approvals and results show them (each row is ``GateResult.as_dict()``)."""

from __future__ import annotations

from typing import Any, Iterable

from mlsitter.runtime import GateResult


def gate_rows(gates: Iterable[GateResult]) -> list[dict[str, Any]]:
    """Each gate as a row: its name, the measured value, the rule, whether it passed and whether a person overrode it."""
    return [g.as_dict() for g in gates]
