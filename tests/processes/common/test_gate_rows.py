"""One gate serialisation: ``GateResult.as_dict()`` (runtime) is the row reports, approvals and results show;
processes turn their gates into rows with ``processes.common.gates.gate_rows``, which uses it, and no process
builds those dicts itself."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path

import mlsitter
from mlsitter.processes.common.gates import gate_rows
from mlsitter.runtime import GateResult

PROCESSES = Path(mlsitter.__file__).parent / "processes"


def test_a_row_is_the_gate_as_plain_data():
    passed = GateResult("cv-stability", 0.01, "<=", 0.05, True, "ask")
    overridden = GateResult("target-roc_auc", 0.7, ">=", 0.8, False, "ask", True, "lee")
    rows = gate_rows([passed, overridden])
    assert rows == [
        {"name": "cv-stability", "value": 0.01, "op": "<=", "threshold": 0.05, "passed": True, "overridden": False},
        {"name": "target-roc_auc", "value": 0.7, "op": ">=", "threshold": 0.8, "passed": False, "overridden": True},
    ]
    assert list(rows[0]) == ["name", "value", "op", "threshold", "passed", "overridden"]  # the order journals hold
    assert set(rows[0]) <= {f.name for f in fields(GateResult)}
    json.dumps(rows)  # plain data: what ml/ report code and approvals receive
    assert gate_rows([]) == [] and rows == [passed.as_dict(), overridden.as_dict()]


def test_no_process_builds_gate_rows_by_hand():
    by_hand = re.compile(r"""["']op["']\s*:\s*\w+\.op\b""")
    offenders = [str(p.relative_to(PROCESSES)) for p in PROCESSES.rglob("*.py")
                 if by_hand.search(p.read_text(encoding="utf-8"))]
    assert offenders == [], f"use processes.common.gates.gate_rows instead of a dict built by hand: {offenders}"
