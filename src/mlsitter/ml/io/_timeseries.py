"""Timestamps built from one or two columns, and gaps in a regular time series."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from mlsitter.errors import SpecError
from mlsitter.naming import ADDED_LATER, stable_name

_UNITS = {"seconds": "s", "second": "s", "s": "s", "minutes": "m", "minute": "m", "m": "m",
          "hours": "h", "hour": "h", "h": "h", "days": "d", "day": "d", "d": "d"}
_SPEC = re.compile(r"^\s*([^+]+?)\s*(?:\+\s*([^\s+]+)\s+([a-z]+))?\s*$", re.IGNORECASE)


@stable_name("ml.io.TimeGaps")
@dataclass
class TimeGaps:
    """Regularity of a time series: inferred step, expected vs observed points, the missing ones.

    ``regular`` is False for event timestamps (taxi pickups): no grid is expected, so nothing counts as
    missing (``expected`` equals ``observed``); ``step_share`` is the share of gaps equal to the step."""

    column: str
    start: str
    end: str
    step_seconds: float
    expected: int
    observed: int
    missing: int
    duplicates: int
    largest_gaps: list[dict[str, Any]] = field(default_factory=list)
    regular: bool = field(default=True, metadata=ADDED_LATER)
    step: str = field(default="", metadata=ADDED_LATER)
    step_share: float = field(default=1.0, metadata=ADDED_LATER)
    median_gap_seconds: float | None = field(default=None, metadata=ADDED_LATER)


def parse_timestamp_spec(spec: str) -> tuple[str, str | None, str | None]:
    """Parse ``"col"`` or ``"date_col + offset_col hours"`` (units: seconds, minutes, hours, days)."""
    match = _SPEC.match(spec or "")
    if not match:
        raise SpecError(f"timestamp {spec!r}: expected 'column' or 'date_column + offset_column hours|minutes|seconds|days'")
    column, offset, unit = match.group(1), match.group(2), match.group(3)
    if unit is not None and unit.lower() not in _UNITS:
        raise SpecError(f"timestamp {spec!r}: unit {unit!r} is not one of {', '.join(sorted(set(_UNITS)))}")
    return column, offset, (_UNITS[unit.lower()] if unit else None)


def timestamp_series(frame: pl.DataFrame, spec: str, date_format: str | None = None) -> pl.Series:
    """The timestamps a spec describes, as a polars Datetime series (text parsed in ``date_format``, else inferred)."""
    from mlsitter.ml.io._ingest import require_columns

    column, offset, unit = parse_timestamp_spec(spec)
    require_columns(frame, [c for c in (column, offset) if c], "timestamp")
    base = to_datetime(frame[column], date_format)
    if offset is None:
        return base.alias(spec)
    step = {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit or "s"]
    micros = frame[offset].cast(pl.Int64) * (step * 1_000_000)
    return (base + micros.cast(pl.Duration("us"))).alias(spec)


def to_datetime(series: pl.Series, date_format: str | None = None) -> pl.Series:
    """A Datetime series from dates, datetimes or date text (DataError names the column when text does not parse)."""
    if series.dtype == pl.Date:
        return series.cast(pl.Datetime("us"))
    if isinstance(series.dtype, pl.Datetime):
        return series
    if series.dtype == pl.String:
        from mlsitter.ml.io._dates import parse_dates

        return parse_dates(series, date_format, what="timestamp")
    raise SpecError(f"timestamp: column {series.name!r} has type {series.dtype}, expected dates, datetimes or date strings")


# A series is regular when at least this share of its consecutive gaps equal the step and nearly all
# are whole multiples of it; event data (arrivals, pickups) has spread-out gaps and is not.
REGULAR_STEP_SHARE = 0.5
REGULAR_MULTIPLE_SHARE = 0.99


def time_gaps(stamps: pl.Series, step_seconds: float | None = None, top: int = 5) -> TimeGaps | None:
    """Missing points of a series on a regular grid (step: the most common gap; calendar months when every
    stamp is midnight on the same day of the month). An irregular series is described but not scored."""
    values = stamps.drop_nulls().cast(pl.Datetime("us"))
    if values.len() < 3:
        return None
    unique = values.unique().sort()
    duplicates = int(values.len() - unique.len())
    monthly = step_seconds is None and _calendar_months(unique)
    if monthly:
        positions = (unique.dt.year().cast(pl.Int64) * 12 + unique.dt.month().cast(pl.Int64) - 1)
    else:
        positions = unique.dt.epoch("us")
    diffs = positions.diff().drop_nulls()
    if step_seconds is None:
        mode = diffs.mode()
        if mode.len() == 0 or mode.sort()[0] <= 0:
            return None
        step = int(mode.sort()[0])
    else:
        step = int(step_seconds * 1_000_000)
    step_share = float((diffs == step).mean() or 0.0)
    multiples = float(((diffs % step) == 0).mean() or 0.0)
    regular = step_seconds is not None or (step_share >= REGULAR_STEP_SHARE and multiples >= REGULAR_MULTIPLE_SHARE)
    label = f"{step} month{'s' if step > 1 else ''}" if monthly else f"{step / 1e6:g} s"
    step_s = (30.436875 * 86400 * step) if monthly else step / 1e6
    observed = int(unique.len())
    expected, missing, largest = observed, 0, []
    if regular:
        expected = int(positions[-1] - positions[0]) // step + 1
        missing = max(0, expected - int(((positions - positions[0]) % step == 0).sum()))
        gaps = pl.DataFrame({"after": unique[:-1], "diff": diffs}).filter(pl.col("diff") > step).sort("diff", descending=True).head(top)
        largest = [{"after": str(row["after"]), "missing_points": int(row["diff"] // step - 1)} for row in gaps.iter_rows(named=True)]
    median = _gap_seconds(unique).median()
    return TimeGaps(column=stamps.name, start=str(unique[0]), end=str(unique[-1]), step_seconds=step_s, expected=expected,
                    observed=observed, missing=missing, duplicates=duplicates, largest_gaps=largest, regular=regular,
                    step=label, step_share=round(step_share, 4),
                    median_gap_seconds=float(median) if isinstance(median, (int, float)) else None)


def _calendar_months(unique: pl.Series) -> bool:
    """Every stamp at midnight on one day of the month (<= 28), with gaps of at least 28 days: a monthly series."""
    days = unique.dt.day().unique()
    if days.len() != 1 or int(days[0]) > 28:
        return False
    if bool((unique.dt.truncate("1d") != unique).any()):
        return False
    shortest = _gap_seconds(unique).min()
    return isinstance(shortest, (int, float)) and shortest >= 28 * 86400


def _gap_seconds(unique: pl.Series) -> pl.Series:
    return unique.diff().drop_nulls().dt.total_microseconds() / 1e6
