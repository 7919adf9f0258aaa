"""Dates written as text: infer their format from a sample (ISO dates and datetimes, year-month, slashes)
or use the one given, and parse a column with an error that names it and the expected format.

Formats are strftime-style (``%Y-%m``, ``%Y-%m-%d %H:%M``); parsing uses polars for both pandas
and polars columns, so every process reads the same text as the same date.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from mlsitter.errors import DataError, SpecError

# Tried in order; the first under which every sampled value parses is the column's format.
DATE_FORMATS = (
    "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m", "%Y/%m/%d", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m",
)
_LOOKS_LIKE_DATE = r"^\d{4}[-/]\d{1,2}([-/T ]|$)"
_SAMPLE = 500


def check_date_format(date_format: str) -> str:
    """``date_format`` itself when it is a strftime date format (a year directive); SpecError otherwise."""
    if not isinstance(date_format, str) or not any(d in date_format for d in ("%Y", "%y", "%G")):
        raise SpecError(f"date_format {date_format!r}: expected a strftime date format with a year, "
                        "such as '%Y-%m', '%Y-%m-%d', '%d.%m.%Y' or '%Y-%m-%d %H:%M'")
    try:
        pl.Series(["2000-01-01"]).str.to_datetime(format=date_format, strict=False)
    except pl.exceptions.PolarsError as exc:
        raise SpecError(f"date_format {date_format!r} is not a format the parser accepts ({exc}); "
                        "use strftime directives such as %Y %m %d %H %M %S") from exc
    return date_format


def infer_date_format(series: pl.Series, date_format: str | None = None) -> str | None:
    """The format every sampled value of a text column parses with (``date_format`` first when given, then
    :data:`DATE_FORMATS`), or None."""
    if series.dtype != pl.String:
        return None
    sample = series.drop_nulls().str.strip_chars().head(_SAMPLE)
    if sample.len() == 0:
        return None
    if date_format and _parse(sample, date_format).null_count() == 0:
        return date_format
    if not sample.str.contains(_LOOKS_LIKE_DATE).all():
        return None
    for fmt in DATE_FORMATS:
        if _parse(sample, fmt).null_count() == 0:
            return fmt
    return None


def parse_dates(series: pl.Series, date_format: str | None = None, *, what: str = "") -> pl.Series:
    """A Datetime series from a text column in ``date_format`` (None: inferred); DataError names the column
    and the expected format when values do not parse."""
    name = series.name
    label = f"{what}: column {name!r}" if what else f"column {name!r}"
    values = series.str.strip_chars()
    fmt = date_format or infer_date_format(series)
    if fmt is None:
        examples = ", ".join(repr(v) for v in values.drop_nulls().head(3).to_list())
        raise DataError(f"{label}: values such as {examples} are not in a date format that can be inferred "
                        f"(tried {', '.join(DATE_FORMATS[:2])}, %Y-%m, %Y/%m/%d, ...); give date_format=..., e.g. '%d.%m.%Y'")
    parsed = _parse(values, fmt)
    bad = values.is_not_null() & parsed.is_null()
    if bad.any():
        examples = ", ".join(repr(v) for v in values.filter(bad).head(3).to_list())
        raise DataError(f"{label}: {int(bad.sum()):,} of {values.len() - values.null_count():,} values do not parse as "
                        f"dates in format {fmt!r} (e.g. {examples}); give date_format=... matching them")
    return parsed.alias(name)


def _parse(values: pl.Series, fmt: str) -> pl.Series:
    try:
        return values.str.to_datetime(format=fmt, strict=False, time_unit="us")
    except pl.exceptions.PolarsError:  # a format polars cannot apply to this data
        return pl.Series(values.name, [None] * values.len(), dtype=pl.Datetime("us"))


def parse_date_text(frame: Any, date_format: str | None = None) -> Any:
    """Text columns (pandas or polars frame) whose values all parse as dates become datetimes (in ``date_format``
    when they fit it, else in an inferred format). Returns a frame of the same library."""
    import pandas as pd

    if isinstance(frame, pd.DataFrame):
        for column in frame.columns:
            if frame[column].dtype == object or str(frame[column].dtype) in ("string", "str"):
                head = frame[column].dropna().head(_SAMPLE)
                if not all(isinstance(v, str) for v in head):
                    continue
                fmt = infer_date_format(pl.Series(str(column), head.tolist(), dtype=pl.String), date_format)
                if fmt is not None:
                    values = pl.Series(str(column), frame[column].astype("string").to_numpy(na_value=None), dtype=pl.String)
                    parsed = _parse(values.str.strip_chars(), fmt)
                    if parsed.null_count() == values.null_count():
                        frame[column] = pd.Series(parsed.to_pandas(), index=frame.index).astype("datetime64[ns]")
        return frame
    casts = []
    for name, dtype in frame.schema.items():
        fmt = infer_date_format(frame[name], date_format) if dtype == pl.String else None
        if fmt is not None:
            parsed = _parse(frame[name].str.strip_chars(), fmt)
            if parsed.null_count() == frame[name].null_count():
                casts.append(parsed.alias(name))
    return frame.with_columns(casts) if casts else frame
