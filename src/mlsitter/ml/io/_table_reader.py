"""The table a modelling process works on: one source read by :mod:`mlsitter.ml.io._ingest` (format,
delimiter, encoding and header detected, clear errors), ISO-date text parsed, optionally sampled.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlsitter.errors import DataError
from mlsitter.ml.io._ingest import DEFAULT_NA_VALUES, load_table
from mlsitter.ml.io._ingest import require_columns as ingest_require_columns

# Tokens that mean "missing" in the public datasets this is used on (Adult writes "?").
MISSING_TOKENS = ("?", "NA", "N/A", "null")


def read_table(path: str | Path, sep: str = "", sample_rows: int = 0, seed: int = 0) -> pd.DataFrame:
    """Read ``path`` (``sep`` empty: detect it); ``sample_rows`` > 0 keeps a seeded random sample of rows."""
    if not str(path):
        raise DataError("no data path given; expected a CSV, Parquet, JSON or Excel file, or a SQL URL")
    options = {"na_values": [*DEFAULT_NA_VALUES, *MISSING_TOKENS]}
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


def parse_date_columns(frame: pd.DataFrame, date_format: str | None = None) -> pd.DataFrame:
    """Turn text columns whose values all parse as dates (ISO, year-month, ...; or ``date_format``) into datetimes."""
    from mlsitter.ml.io._dates import parse_date_text

    result: pd.DataFrame = parse_date_text(frame, date_format)
    return result


def require_columns(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    """Raise DataError naming every missing column (with near matches) and listing what the frame has."""
    ingest_require_columns(frame, columns, what)
