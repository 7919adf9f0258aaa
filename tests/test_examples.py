"""The bundled example process `examples/titanic_quality.py` works end to end, auto and by hand."""

from __future__ import annotations

from pathlib import Path

import mlsitter
from mlsitter import Store

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = f"{ROOT / 'examples' / 'titanic_quality.py'}:titanic-quality"
DATA = str(ROOT / "examples" / "data" / "titanic.csv")


def test_demo_runs_end_to_end_with_auto_policy():
    handle = mlsitter.run(EXAMPLE, data=DATA, approve="auto", seed=1)
    assert handle.status == "completed", handle.error
    result = handle.result
    assert result["rows"] == 891 and result["columns"] == 12
    assert abs(result["worst_missing_share"] - 687 / 891) < 1e-9  # Cabin is missing in 687 rows
    assert 0.75 < result["baseline_accuracy"] < 0.85
    store = Store()
    children = store.list_runs(parent=handle.run_id)
    assert [c.process for c in children] == ["baseline"] and children[0].status == "completed"
    assert store.verify(handle.run_id).ok and store.verify(children[0].run_id).ok
    assert "Titanic data check" in Path(result["report"]).read_text()


def test_demo_review_feedback_changes_the_next_report():
    handle = mlsitter.run(EXAMPLE, data=DATA, seed=1)
    assert handle.status == "waiting" and handle.waiting["question"] == "Approve the data-check report?"
    store = Store()
    first = store.artifacts.find(handle.waiting["artifacts"][0]["sha256"]).read_text()
    assert "<td>Cabin</td>" in first
    handle = mlsitter.reject(handle.run_id, "exclude: Cabin, Ticket", resume=True)
    second = store.artifacts.find(handle.waiting["artifacts"][0]["sha256"]).read_text()
    assert "<td>Cabin</td>" not in second and "excluded: Cabin, Ticket" in second
    done = mlsitter.approve(handle.run_id, resume=True)
    assert done.status == "completed"


def test_demo_missing_file_is_a_clear_failure(tmp_path):
    handle = mlsitter.run(EXAMPLE, data=str(tmp_path / "nope.csv"), approve="auto")
    assert handle.status == "failed" and "does not exist; expected a CSV file" in handle.error
    assert Store().verify(handle.run_id).ok
