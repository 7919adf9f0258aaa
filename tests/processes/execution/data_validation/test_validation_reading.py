"""``data-validation`` on data written as users write it (issue 24): year-month dates typed as datetimes in
the inferred contract, event timestamps not scored as missing points, and unusable contracts refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

import mlsitter


def _trips(path: Path, rows: int = 400) -> Path:
    rng = np.random.default_rng(0)
    pickups = pd.Timestamp("2024-03-01") + pd.to_timedelta(np.cumsum(rng.exponential(45, rows)).astype(int), unit="s")
    pd.DataFrame({
        "pickup": pickups.strftime("%Y-%m-%d %H:%M:%S"),
        "month": pickups.strftime("%Y-%m"),
        "payment": rng.choice(["card", "cash", "None"], rows),
        "fare": rng.gamma(2, 8, rows).round(2),
    }).to_csv(path, index=False)
    return path


def test_dates_are_typed_and_event_timestamps_are_not_scored_as_gaps(tmp_path):
    data = _trips(tmp_path / "trips.csv")
    contract = tmp_path / "contract.yaml"
    handle = mlsitter.run("data-validation", approve="auto", data=str(data), contract=str(contract), timestamp="pickup")
    assert handle.status == "completed", handle.error
    columns = yaml.safe_load(contract.read_text())["columns"]
    assert columns["pickup"]["dtype"] == columns["month"]["dtype"] == "datetime64[ns]"
    assert sorted(columns["payment"]["isin"]) == ["None", "card", "cash"]  # 'None' is a category, not missing
    assert handle.result.scores["timeliness"] == 100.0 and handle.result.gate_failures == []
    assert pd.read_parquet(handle.result.clean_path)["pickup"].dtype.kind == "M"

    again = mlsitter.run("data-validation", approve="auto", data=str(data), contract=str(contract), timestamp="month",
                         date_format="%Y-%m")
    assert again.status == "completed" and again.result.schema_changes == []  # the same data against its own contract


def test_binary_and_empty_contracts_are_refused_with_what_was_expected(tmp_path):
    data = _trips(tmp_path / "trips.csv", rows=60)
    binary = tmp_path / "contract.yaml"
    binary.write_bytes(bytes(range(256)))
    failed = mlsitter.run("data-validation", approve="auto", data=str(data), contract=str(binary))
    assert failed.status == "failed" and "is a binary file (NUL byte at offset 0)" in failed.error
    assert "UnicodeDecodeError" not in failed.error
    empty = tmp_path / "empty.yaml"
    empty.write_text("schema_type: dataframe\napi: pandas\ncolumns: {}\n")
    failed = mlsitter.run("data-validation", approve="auto", data=str(data), contract=str(empty))
    assert failed.status == "failed" and "declares no columns" in failed.error
