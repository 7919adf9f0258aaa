"""Read one tabular file (CSV/TSV with a sniffed separator, Parquet, JSON lines, Excel) into pandas.

Planning processes take a path from the user; this gives them one reader with clear errors.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from mlsitter.errors import DataError


def sniff_separator(path: Path) -> str:
    """Guess a text file's field separator from its first lines (``,`` ``;`` tab or ``|``)."""
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        sample = "".join(handle.readline() for _ in range(20))
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_table(path: str | Path, sep: str = "", sample_rows: int = 0, seed: int = 0) -> pd.DataFrame:
    """Read ``path``; ``sep`` empty means sniff it; ``sample_rows`` > 0 keeps a random sample of rows."""
    p = Path(path)
    if not str(path):
        raise DataError("no data path given; expected a CSV, Parquet or JSON-lines file")
    if not p.exists():
        raise DataError(f"data file {str(p)!r} does not exist")
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(p)
        elif suffix in (".jsonl", ".ndjson"):
            frame = pd.read_json(p, lines=True)
        elif suffix == ".json":
            frame = pd.read_json(p)
        elif suffix in (".xlsx", ".xls"):
            frame = pd.read_excel(p)
        else:
            frame = pd.read_csv(p, sep=sep or sniff_separator(p), skipinitialspace=True,
                                na_values=["?", "NA", "N/A", "null", ""], low_memory=False)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read {str(p)!r} as a table: {exc}") from exc
    if frame.empty or frame.shape[1] < 2:
        raise DataError(f"{str(p)!r} has {frame.shape[0]} rows and {frame.shape[1]} columns; "
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
    """Raise DataError naming every missing column and listing what the frame has."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{what} {missing} not in the data; its columns are {list(frame.columns)}")
