"""Data read as the user wrote it (issue 24): year-month dates, explicit missing-value tokens, header
names kept exactly, and event timestamps not scored as a regular series with missing points."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from mlsitter.errors import DataError, SpecError
from mlsitter.ml.data._profiling import profile_frame
from mlsitter.ml.data._quality import timeliness
from mlsitter.ml.io._dates import parse_dates
from mlsitter.ml.io._ingest import DEFAULT_NA_VALUES, parse_sources, read_source, require_columns
from mlsitter.ml.io._table_reader import parse_date_columns
from mlsitter.ml.io._timeseries import time_gaps


def _monthly_csv(path: Path, drop: str | None = None) -> Path:
    months = [str(p) for p in pd.period_range("2016-01", periods=48, freq="M") if str(p) != drop]
    pd.DataFrame({"month": months, "sales": np.arange(len(months)) * 1.5 + 100}).to_csv(path, index=False)
    return path


def _read(path: Path, **options: object) -> tuple[pd.DataFrame, object]:
    return read_source(parse_sources([str(path)], **options)[0])


def test_year_month_dates_are_profiled_as_dates_with_a_monthly_grid(tmp_path):
    frame, _ = _read(_monthly_csv(tmp_path / "monthly.csv", drop="2018-05"))
    profile = profile_frame(frame, timestamp="month")
    assert profile.kinds["month"] == "datetime"  # not an id, though every value is distinct
    gaps = profile.time_gaps
    assert gaps.regular and gaps.step == "1 month" and gaps.expected == 48 and gaps.missing == 1
    assert gaps.largest_gaps == [{"after": "2018-04-01 00:00:00", "missing_points": 1}]
    given = profile_frame(frame, date_format="%Y-%m")
    assert given.kinds["month"] == "datetime" and given.column("month").first.startswith("2016-01-01 00:00:00")
    assert parse_date_columns(frame.copy())["month"].dtype == "datetime64[ns]"


def test_a_date_that_does_not_parse_names_the_column_and_the_format(tmp_path):
    frame, _ = _read(_monthly_csv(tmp_path / "monthly.csv"))
    with pytest.raises(DataError, match=r"timestamp: column 'month': 48 of 48 values do not parse as dates in format '%d\.%m\.%Y'"):
        profile_frame(frame, timestamp="month", date_format="%d.%m.%Y")
    with pytest.raises(DataError, match=r"column 'when': values such as 'soon'.*give date_format="):
        parse_dates(pl.Series("when", ["soon", "later"]), what="")
    with pytest.raises(SpecError, match=r"date_format '%H:%M': expected a strftime date format with a year"):
        parse_sources(["x.csv"], date_format="%H:%M")


def test_missing_tokens_are_explicit_counted_and_keep_a_real_none_category(tmp_path):
    path = tmp_path / "housing.csv"
    path.write_text("Id,MasVnrType,Area,Price\n1,None,NaN,100\n2,BrkFace,12.5,200\n3,,3.0,300\n4,None,4.0,\n5,Stone,NA,500\n")
    frame, info = _read(path)
    assert info.na_values == list(DEFAULT_NA_VALUES)
    assert frame["MasVnrType"].tolist()[:2] == ["None", "BrkFace"] and frame["MasVnrType"].isna().sum() == 1
    assert frame["Area"].dtype == object  # 'NA' is text by default, so the column stays as written
    assert info.missing_tokens == {"MasVnrType": {"": 1}, "Area": {"NaN": 1}, "Price": {"": 1}}
    frame, info = _read(path, na_values=["None", "NA", "NaN"])
    assert frame["MasVnrType"].isna().sum() == 3 and frame["Area"].dtype == float
    assert info.na_values == ["", "None", "NA", "NaN"]  # the empty field stays missing
    assert info.missing_tokens["MasVnrType"] == {"": 1, "None": 2} and info.missing_tokens["Area"] == {"NA": 1, "NaN": 1}


def test_header_names_are_kept_as_written_and_a_near_miss_names_the_real_one(tmp_path):
    path = tmp_path / "spaced.csv"
    path.write_text(" price, rooms ,city\n1, 2,Bern\n3, 4,Basel\n")
    frame, _ = _read(path)
    assert list(frame.columns) == list(pd.read_csv(path).columns) == [" price", " rooms ", "city"]
    assert frame[" rooms "].tolist() == [2, 4]
    assert require_columns(frame, [" price"], "target") == [" price"]
    with pytest.raises(DataError, match=r"target: column 'price' \(did you mean ' price'\?\)"):
        require_columns(frame, ["price"], "target")


def test_irregular_event_timestamps_are_not_scored_as_missing_points():
    rng = np.random.default_rng(0)
    seconds = np.cumsum(rng.exponential(40, 3000)).astype(np.int64)  # pickups: a Poisson stream at 1 s resolution
    pickups = np.datetime64("2024-01-01T00:00:00", "s").astype("datetime64[ms]") + seconds.astype("timedelta64[s]")
    events = pl.DataFrame({"pickup": pickups})
    gaps = time_gaps(events["pickup"])
    assert not gaps.regular and gaps.missing == 0 and gaps.expected == gaps.observed and gaps.step_share < 0.1
    dim = timeliness(events, "pickup")
    assert dim.score == 100.0 and "irregular event timestamps" in dim.summary and dim.failing == 0
    hourly = pl.datetime_range(pl.datetime(2024, 1, 1), pl.datetime(2024, 1, 10), "1h", eager=True)
    with_outage = pl.DataFrame({"t": hourly.filter((hourly.dt.day() != 5))})  # a regular series with a day missing
    regular = timeliness(with_outage, "t")
    assert regular.failing == 24 and regular.score == pytest.approx(100 * (217 - 24) / 217)


def test_fields_added_later_keep_the_argument_hash_of_runs_recorded_before_them():
    import dataclasses

    from mlsitter.ml.io._timeseries import TimeGaps
    from mlsitter.runtime.codec import args_hash

    added = [f.name for f in dataclasses.fields(TimeGaps) if f.metadata]
    assert added == ["regular", "step", "step_share", "median_gap_seconds"]
    before = dataclasses.make_dataclass("TimeGaps", [(f.name, f.type) for f in dataclasses.fields(TimeGaps) if not f.metadata])
    values = dict(column="t", start="a", end="b", step_seconds=3600.0, expected=10, observed=9, missing=1, duplicates=0,
                  largest_gaps=[])
    assert args_hash({"gaps": TimeGaps(**values)}) == args_hash({"gaps": before(**values)})  # defaults: as recorded before
    assert args_hash({"gaps": TimeGaps(**values, regular=False)}) != args_hash({"gaps": before(**values)})
