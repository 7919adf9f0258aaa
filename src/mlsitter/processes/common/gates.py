"""Gates as the rows reports, approvals and results show them."""

from __future__ import annotations

from typing import Any, Iterable

from mlsitter.runtime import GateResult


def gate_rows(gates: Iterable[GateResult]) -> list[dict[str, Any]]:
    """Each gate as a row: its name, the measured value, the rule, whether it passed and whether a person overrode it."""
    return [{"name": g.name, "value": g.value, "op": g.op, "threshold": g.threshold, "passed": g.passed,
             "overridden": g.overridden} for g in gates]
