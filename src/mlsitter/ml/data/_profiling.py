"""Column profiles computed with polars: one ``select`` evaluates the moments and counts of every column
(quantiles and histograms come from one numpy pass over each numeric column).

Kinds: numeric, boolean, categorical, datetime, text, id. Statistics per kind: counts, missing,
distinct, top values, mean/std/quantiles/min/max, skew/kurtosis, zeros, negatives, histogram,
datetime range and gaps, text length.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import polars as pl

from mlsitter.ml.io._frames import as_polars
from mlsitter.ml.io._timeseries import TimeGaps, time_gaps, timestamp_series
from mlsitter.naming import stable_name

KINDS = ("numeric", "boolean", "categorical", "datetime", "text", "id")
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


@stable_name("ml.data.ColumnProfile")
@dataclass
class ColumnProfile:
    """Statistics of one column; fields that do not apply to its kind stay None."""

    name: str
    kind: str
    dtype: str
    count: int
    missing: int
    missing_pct: float
    distinct: int
    distinct_pct: float
    top_values: list[tuple[str, int]] = field(default_factory=list)
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    quantiles: dict[str, float] = field(default_factory=dict)
    skew: float | None = None
    kurtosis: float | None = None
    zeros: int | None = None
    negatives: int | None = None
    histogram: tuple[list[int], list[float]] | None = None
    first: str | None = None
    last: str | None = None
    gaps: TimeGaps | None = None
    length_min: int | None = None
    length_mean: float | None = None
    length_max: int | None = None
    constant: bool = False


@stable_name("ml.data.DatasetProfile")
@dataclass
class DatasetProfile:
    """The whole table: shape, duplicates, missing cells and one ColumnProfile per column."""

    rows: int
    n_columns: int
    memory_bytes: int
    duplicate_rows: int
    missing_cells: int
    missing_cells_pct: float
    columns: list[ColumnProfile]
    kinds: dict[str, str]
    time_gaps: TimeGaps | None = None
    sampled_from: int | None = None

    def column(self, name: str) -> ColumnProfile:
        return next(c for c in self.columns if c.name == name)

    def names(self, *kinds: str) -> list[str]:
        return [c.name for c in self.columns if c.kind in kinds]


def _is_numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric()


def parse_date_strings(frame: pl.DataFrame, date_format: str | None = None) -> pl.DataFrame:
    """String columns whose values all parse as dates (ISO, year-month, ...; or ``date_format``) become Datetime columns."""
    from mlsitter.ml.io._dates import parse_date_text

    result: pl.DataFrame = parse_date_text(frame, date_format)
    return result


def infer_kinds(frame: pl.DataFrame, distinct: dict[str, int], lengths: dict[str, float]) -> dict[str, str]:
    """Kind of each column from its dtype, distinct count and (strings) mean length."""
    kinds: dict[str, str] = {}
    for name, dtype in frame.schema.items():
        non_null = frame.height - frame[name].null_count()
        n_distinct = distinct[name]
        if dtype == pl.Boolean:
            kinds[name] = "boolean"
        elif isinstance(dtype, (pl.Datetime, pl.Date)):
            kinds[name] = "datetime"
        elif _is_numeric(dtype):
            is_int = dtype.is_integer()
            if n_distinct <= 2 and non_null > 0 and set(frame[name].drop_nulls().unique().to_list()) <= {0, 1}:
                kinds[name] = "boolean"
            elif is_int and non_null > 50 and n_distinct == non_null and _looks_like_id(frame[name], name):
                kinds[name] = "id"
            else:
                kinds[name] = "numeric"
        else:
            ratio = n_distinct / non_null if non_null else 0.0
            if n_distinct <= 2 and non_null > 0:
                kinds[name] = "boolean" if n_distinct == 2 else "categorical"
            elif lengths.get(name, 0.0) >= 25 and ratio > 0.5:
                kinds[name] = "text"
            elif non_null > 50 and ratio >= 0.95:
                kinds[name] = "id"
            else:
                kinds[name] = "categorical"
    return kinds


def _looks_like_id(series: pl.Series, name: str) -> bool:
    lowered = name.lower()
    if lowered in ("id", "index", "key", "instant") or lowered.endswith(("id", "_key", "_no", "number")):
        return True
    values = series.drop_nulls()
    return bool(values.is_sorted()) and int(values.max() - values.min()) == values.len() - 1  # a 1..n counter


def profile_frame(
    frame: Any,
    *,
    top: int = 10,
    bins: int = 30,
    timestamp: str | None = None,
    exclude: Sequence[str] = (),
    date_format: str | None = None,
) -> DatasetProfile:
    """Profile every column of ``frame`` (pandas or polars); ``timestamp`` adds a gap analysis; text dates are
    read in ``date_format`` (None: inferred, year-month included)."""
    df = as_polars(frame)
    gaps = None
    if timestamp:
        gaps = time_gaps(timestamp_series(df, timestamp, date_format))
    if exclude:
        df = df.drop([c for c in exclude if c in df.columns])
    df = parse_date_strings(df, date_format)
    schema = df.schema
    n = df.height

    # pass 1: counts that decide the kind (one select over all columns)
    first_exprs: list[pl.Expr] = []
    for name, dtype in schema.items():
        first_exprs.append(pl.col(name).null_count().alias(f"{name}\x00missing"))
        first_exprs.append(pl.col(name).n_unique().alias(f"{name}\x00distinct"))
        if dtype == pl.String:
            first_exprs.append(pl.col(name).str.len_chars().mean().alias(f"{name}\x00len_mean"))
    first = df.select(first_exprs).row(0, named=True) if first_exprs else {}
    missing = {name: int(first[f"{name}\x00missing"]) for name in schema}
    distinct = {name: int(first[f"{name}\x00distinct"]) - (1 if missing[name] else 0) for name in schema}
    lengths = {name: float(first.get(f"{name}\x00len_mean") or 0.0) for name in schema}
    kinds = infer_kinds(df, distinct, lengths)

    # pass 2: kind-specific statistics (one select over all columns)
    exprs: list[pl.Expr] = []
    for name, dtype in schema.items():
        col = pl.col(name)
        if _is_numeric(dtype) and kinds[name] in ("numeric", "id", "boolean"):
            c = col.cast(pl.Float64)
            exprs += [
                c.mean().alias(f"{name}\x00mean"), c.std().alias(f"{name}\x00std"),
                c.min().alias(f"{name}\x00min"), c.max().alias(f"{name}\x00max"),
                c.skew().alias(f"{name}\x00skew"), c.kurtosis().alias(f"{name}\x00kurtosis"),
                (c == 0).sum().alias(f"{name}\x00zeros"), (c < 0).sum().alias(f"{name}\x00negatives"),
            ]
        elif isinstance(dtype, (pl.Datetime, pl.Date)):
            exprs += [col.min().cast(pl.String).alias(f"{name}\x00first"), col.max().cast(pl.String).alias(f"{name}\x00last")]
        elif dtype == pl.String:
            lens = col.str.len_chars()
            exprs += [lens.min().alias(f"{name}\x00len_min"), lens.max().alias(f"{name}\x00len_max")]
    stats = df.select(exprs).row(0, named=True) if exprs else {}

    columns: list[ColumnProfile] = []
    for name, dtype in schema.items():
        kind = kinds[name]
        non_null = n - missing[name]
        prof = ColumnProfile(
            name=name, kind=kind, dtype=str(dtype), count=non_null, missing=missing[name],
            missing_pct=100.0 * missing[name] / n if n else 0.0, distinct=distinct[name],
            distinct_pct=100.0 * distinct[name] / non_null if non_null else 0.0,
            constant=distinct[name] <= 1,
        )
        get = lambda key: stats.get(f"{name}\x00{key}")  # noqa: E731 - local accessor
        if f"{name}\x00mean" in stats:
            prof.mean, prof.std, prof.min, prof.max = _f(get("mean")), _f(get("std")), _f(get("min")), _f(get("max"))
            prof.skew, prof.kurtosis = _f(get("skew")), _f(get("kurtosis"))
            prof.zeros, prof.negatives = int(get("zeros") or 0), int(get("negatives") or 0)
            values = _finite(df[name])
            if values.size:
                prof.quantiles = {f"p{int(q * 100)}": float(v) for q, v in zip(QUANTILES, np.quantile(values, QUANTILES))}
            if kind in ("numeric", "id") and values.size and prof.min is not None and prof.max is not None:
                prof.histogram = _histogram(values, prof.min, prof.max, bins)
        if f"{name}\x00first" in stats:
            prof.first, prof.last = get("first"), get("last")
            if kind == "datetime" and non_null > 2:
                prof.gaps = time_gaps(df[name].cast(pl.Datetime("us")))
        if f"{name}\x00len_min" in stats:
            prof.length_min, prof.length_max = _i(get("len_min")), _i(get("len_max"))
            prof.length_mean = lengths[name]
        if kind in ("categorical", "boolean", "text") or (kind == "numeric" and distinct[name] <= top):
            prof.top_values = _top_values(df[name], top)
        columns.append(prof)

    missing_cells = sum(missing.values())
    cells = n * len(schema)
    duplicates = int(n - df.hash_rows(seed=0).n_unique()) if n and schema else 0  # 64-bit row hashes: collisions ~1e-8 at 1M rows
    return DatasetProfile(
        rows=n, n_columns=len(schema), memory_bytes=int(df.estimated_size()), duplicate_rows=duplicates,
        missing_cells=missing_cells, missing_cells_pct=100.0 * missing_cells / cells if cells else 0.0,
        columns=columns, kinds=kinds, time_gaps=gaps,
    )


def _finite(series: pl.Series) -> np.ndarray:
    """The column's finite values as float64 (one conversion shared by quantiles and histogram)."""
    values = series.drop_nulls().cast(pl.Float64).to_numpy()
    return values[np.isfinite(values)]


def _histogram(values: np.ndarray, lo: float, hi: float, bins: int) -> tuple[list[int], list[float]]:
    if lo == hi:
        return [int(values.size)], [lo, hi]
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    return counts.astype(int).tolist(), edges.astype(float).tolist()


def _top_values(series: pl.Series, top: int) -> list[tuple[str, int]]:
    counts = series.drop_nulls().value_counts(sort=True).head(top)
    return [(str(v), int(c)) for v, c in counts.iter_rows()]


def _f(value: Any) -> float | None:
    if value is None:
        return None
    out = float(value)
    return None if np.isnan(out) or np.isinf(out) else out


def _i(value: Any) -> int | None:
    return None if value is None else int(value)
