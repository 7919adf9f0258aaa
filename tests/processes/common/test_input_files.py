"""A user's input file is read in place (issue 25): ``eda`` and ``data-validation`` journal its path and
content hash instead of a copy of its rows, resume by reading it again once the hash is checked, and stop
with both hashes named when it changed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlsitter


def _journal(run_id: str) -> str:
    rows = mlsitter.Store().conn.execute("SELECT type, data FROM events WHERE run_id=? ORDER BY seq", (run_id,))
    return "\n".join(f"{t} {d}" for t, d in rows.fetchall())


def _table(path: Path, rows: int = 200) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"id": np.arange(rows), "x": rng.normal(0, 1, rows).round(3),
                          "group": rng.choice(["a", "b", "c"], rows)})
    frame.loc[rows - 20:, "id"] = 0  # duplicate keys: a uniqueness gate to wait at
    frame.to_csv(path, index=False)
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _change(path: Path) -> None:
    path.write_text(path.read_text().replace(",a\n", ",b\n", 1))


def _copies(home: Path, rows: int) -> list[Path]:
    """Parquet artifacts holding every row (quarantined rows alone are kept as evidence)."""
    return [p for p in (home / "artifacts").rglob("*.parquet") if len(pd.read_parquet(p)) >= rows]


@pytest.mark.parametrize("process, inputs", [
    ("eda", {"min_quality": 100, "on_gate_fail": "ask"}),
    ("data-validation", {"keys": ["id"], "min_dimension": 100, "on_gate_fail": "ask"}),
])
def test_input_read_in_place_resumes_and_a_changed_file_stops_the_run(tmp_path, mlsitter_home, process, inputs):
    data = _table(tmp_path / "table.csv")
    sha = _sha(data)
    handle = mlsitter.run(process, data=str(data), **inputs)
    assert handle.status == "waiting", handle.error
    journal = _journal(handle.run_id)
    assert sha in journal and "file.recorded" in journal  # path and hash, checked by verify
    assert _copies(mlsitter_home, 200) == []  # no copy of the rows
    assert mlsitter.Store().verify(handle.run_id).ok

    _change(data)
    changed = _sha(data)
    report = mlsitter.Store().verify(handle.run_id)
    assert not report.ok and any(str(data.resolve()) in p for p in report.problems)
    failed = mlsitter.approve(handle.run_id, resume=True)
    assert failed.status == "failed"
    assert str(data.resolve()) in failed.error and sha in failed.error and changed in failed.error
