"""Timestamps built from one or two columns, and gaps in a regular time series."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from mlsitter.errors import SpecError
from mlsitter.naming import stable_name

_UNITS = {"seconds": "s", "second": "s", "s": "s", "minutes": "m", "minute": "m", "m": "m",
          "hours": "h", "hour": "h", "h": "h", "days": "d", "day": "d", "d": "d"}
_SPEC = re.compile(r"^\s*([^+]+?)\s*(?:\+\s*([^\s+]+)\s+([a-z]+))?\s*$", re.IGNORECASE)


@stable_name("ml.io.TimeGaps")
@dataclass
class TimeGaps:
    """Regularity of a time series: inferred step, expected vs observed points, the missing ones."""

    column: str
    start: str
    end: str
    step_seconds: float
    expected: int
    observed: int
    missing: int
    duplicates: int
    largest_gaps: list[dict[str, Any]] = field(default_factory=list)


def parse_timestamp_spec(spec: str) -> tuple[str, str | None, str | None]:
    """Parse ``"col"`` or ``"date_col + offset_col hours"`` (units: seconds, minutes, hours, days)."""
    match = _SPEC.match(spec or "")
    if not match:
        raise SpecError(f"timestamp {spec!r}: expected 'column' or 'date_column + offset_column hours|minutes|seconds|days'")
    column, offset, unit = match.group(1), match.group(2), match.group(3)
    if unit is not None and unit.lower() not in _UNITS:
        raise SpecError(f"timestamp {spec!r}: unit {unit!r} is not one of {', '.join(sorted(set(_UNITS)))}")
    return column, offset, (_UNITS[unit.lower()] if unit else None)


def timestamp_series(frame: pl.DataFrame, spec: str) -> pl.Series:
    """The timestamps a spec describes, as a polars Datetime series (strings are parsed)."""
    from mlsitter.ml.io._ingest import require_columns

    column, offset, unit = parse_timestamp_spec(spec)
    require_columns(frame, [c for c in (column, offset) if c], "timestamp")
    base = to_datetime(frame[column])
    if offset is None:
        return base.alias(spec)
    step = {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit or "s"]
    micros = frame[offset].cast(pl.Int64) * (step * 1_000_000)
    return (base + micros.cast(pl.Duration("us"))).alias(spec)


def to_datetime(series: pl.Series) -> pl.Series:
    """A Datetime series from dates, datetimes or ISO-like strings (unparseable values become null)."""
    if series.dtype == pl.Date:
        return series.cast(pl.Datetime("us"))
    if isinstance(series.dtype, pl.Datetime):
        return series
    if series.dtype == pl.String:
        return series.str.to_datetime(strict=False, time_unit="us")
    raise SpecError(f"timestamp: column {series.name!r} has type {series.dtype}, expected dates, datetimes or date strings")


def time_gaps(stamps: pl.Series, step_seconds: float | None = None, top: int = 5) -> TimeGaps | None:
    """Missing points of a series expected on a regular grid (step inferred as the most common difference)."""
    values = stamps.drop_nulls().cast(pl.Datetime("us"))
    if values.len() < 3:
        return None
    unique = values.unique().sort()
    duplicates = int(values.len() - unique.len())
    diffs = unique.diff().drop_nulls().dt.total_microseconds()
    if step_seconds is None:
        mode = diffs.mode()
        if mode.len() == 0 or mode[0] <= 0:
            return None
        step_us = int(mode.sort()[0])
    else:
        step_us = int(step_seconds * 1_000_000)
    span = int(diffs.sum())
    expected = span // step_us + 1
    on_grid = int(((unique.dt.epoch("us") - unique.dt.epoch("us")[0]) % step_us == 0).sum())
    missing = max(0, expected - on_grid)
    gaps = pl.DataFrame({"after": unique[:-1], "diff": diffs}).filter(pl.col("diff") > step_us).sort("diff", descending=True).head(top)
    largest = [
        {"after": str(row["after"]), "missing_points": int(row["diff"] // step_us - 1)} for row in gaps.iter_rows(named=True)
    ]
    return TimeGaps(
        column=stamps.name, start=str(unique[0]), end=str(unique[-1]), step_seconds=step_us / 1e6,
        expected=int(expected), observed=int(unique.len()), missing=int(missing), duplicates=duplicates, largest_gaps=largest,
    )
