"""``eda`` on a table written as users write them (issue 24): header names with spaces, a real 'None'
category, year-month dates, and a failed quality gate that asks for an override with the report and
its deductions in hand (and ``mlsitter status`` shows them)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import mlsitter
from mlsitter.errors import InvalidInputError
from mlsitter.runtime.views import build_view


def _housing(path: Path, rows: int = 120) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "month": [str(p) for p in pd.period_range("2010-01", periods=rows, freq="M")],
        "MasVnrType": rng.choice(["None", "BrkFace", "Stone"], rows),
        "area": rng.normal(100, 20, rows).round(1),
        "PoolQC": [None] * (rows - 5) + ["Ex", "Gd", "Ex", "Fa", "Gd"],
        "price": rng.normal(200, 30, rows).round(1),
    })
    frame.loc[3, "area"] = None
    frame = pd.concat([frame, frame.head(30)])  # duplicates: a score the gate will fail
    frame.rename(columns={"price": " price"}).to_csv(path, index=False)
    return path


def test_a_failed_gate_asks_with_the_report_and_its_deductions(tmp_path):
    data = _housing(tmp_path / "housing.csv")
    handle = mlsitter.run("eda", data=str(data), target=" price", min_quality=99)
    assert handle.status == "waiting", handle.error
    view = build_view(mlsitter.Store(), handle.run_id)
    pending = [b for b in view.breakpoints if b.approved is None]
    assert len(pending) == 1 and "gate-override" in pending[0].tags
    context = pending[0].context
    rules = {d["rule"] for d in context["deductions"]}
    assert "duplicate rows" in rules and "mostly-empty columns" in rules
    assert [a["name"] for a in pending[0].artifacts] == ["eda-report-1.html"]
    assert {"eda-report-1.html", "eda-report-1.json"} <= {a["name"] for a in view.artifacts}  # written before the question
    report = json.loads(Path(context["report"]).with_suffix(".json").read_text())["analysis"]
    assert report["profile"]["kinds"]["month"] == "datetime" and report["profile"]["kinds"][" price"] == "numeric"
    assert report["source"]["missing_tokens"] == {"area": {"": 2}, "PoolQC": {"": 145}}
    assert "None" in dict(next(c for c in report["profile"]["columns"] if c["name"] == "MasVnrType")["top_values"])
    html = Path(context["report"]).read_text(encoding="utf-8")
    assert "Missing values by the text that marked them" in html and "Leak suspects" in html

    from mlsitter.cli import main

    shown = CliRunner().invoke(main, ["status", handle.run_id], terminal_width=200)
    assert "deductions (question" in shown.stdout and "duplicate rows" in shown.stdout
    assert "evidence: eda-report-1.html" in shown.stdout


def test_bad_dates_and_bad_numbers_are_refused_with_what_was_expected(tmp_path):
    data = _housing(tmp_path / "housing.csv")
    failed = mlsitter.run("eda", approve="auto", data=str(data), timestamp="month", date_format="%d/%m/%Y")
    assert failed.status == "failed"
    assert "timestamp: column 'month'" in failed.error and "format '%d/%m/%Y'" in failed.error
    for process, inputs, message in (("eda", {"sample": -5}, "sample"), ("eda", {"min_quality": 150}, "min_quality"),
                                     ("data-validation", {"min_quality": 150}, "min_quality"),
                                     ("data-validation", {"min_dimension": -1}, "min_dimension")):
        with pytest.raises(InvalidInputError, match=message):
            mlsitter.run(process, approve="auto", data=str(data), **inputs)
    assert [r.run_id for r in mlsitter.Store().list_runs()] == [failed.run_id]  # refused before any run was created
