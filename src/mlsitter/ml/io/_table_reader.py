"""The table a modelling process works on: one source read by :mod:`mlsitter.ml.io._ingest` (format,
delimiter, encoding and header detected, clear errors), ISO-date text parsed, optionally sampled.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlsitter.errors import DataError
from mlsitter.ml.io._ingest import load_table
from mlsitter.ml.io._ingest import require_columns as ingest_require_columns

# Tokens that mean "missing" in the public datasets this is used on (Adult writes "?").
MISSING_TOKENS = ("?", "NA", "N/A", "null")


def read_table(path: str | Path, sep: str = "", sample_rows: int = 0, seed: int = 0) -> pd.DataFrame:
    """Read ``path`` (``sep`` empty: detect it); ``sample_rows`` > 0 keeps a seeded random sample of rows."""
    if not str(path):
        raise DataError("no data path given; expected a CSV, Parquet, JSON or Excel file, or a SQL URL")
    options = {"na_values": list(MISSING_TOKENS)}
    if sep:
        options["delimiter"] = sep
    frame = load_table(str(path), **options)
    if frame.empty or frame.shape[1] < 2:
        raise DataError(f"{str(path)!r} has {frame.shape[0]} rows and {frame.shape[1]} columns; "
                        "expected a table with a target and at least one feature")
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = parse_date_columns(frame)
    if sample_rows and len(frame) > sample_rows:
        frame = frame.sample(n=sample_rows, random_state=seed).reset_index(drop=True)
    return frame


_DATE_LIKE = r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?$"


def parse_date_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Turn text columns whose values all look like ISO dates (YYYY-MM-DD[ HH:MM[:SS]]) into datetimes."""
    for column in frame.columns:
        series = frame[column]
        if series.dtype == object:
            values = series.dropna().astype(str)
            if len(values) and values.head(200).str.match(_DATE_LIKE).all():
                parsed = pd.to_datetime(series, errors="coerce")
                if parsed.notna().sum() >= 0.99 * series.notna().sum():
                    frame[column] = parsed
    return frame


def require_columns(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    """Raise DataError naming every missing column (with near matches) and listing what the frame has."""
    ingest_require_columns(frame, columns, what)
