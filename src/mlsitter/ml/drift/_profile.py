"""The reference profile: per feature a summary, binned counts over the whole reference (for PSI), category
counts, and a bounded seeded sample of the raw values (for KS and Wasserstein), computed once and stored
so later windows are compared without rereading the reference data."""

from __future__ import annotations

import io
import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import polars as pl

from mlsitter.errors import DataError, SpecError
from mlsitter.naming import stable_name

NUMERIC, CATEGORICAL = "numeric", "categorical"
MISSING = "(missing)"
FORMAT = "mlsitter.drift.profile/1"
GROUP = 16  # columns read and computed together


@stable_name("ml.drift.FeatureProfile")
@dataclass
class FeatureProfile:
    """One feature of the reference: kind, counts, summary, bin edges and counts, categories, raw sample."""

    name: str
    kind: str  # numeric | categorical
    count: int  # non-missing values
    missing: int
    summary: dict[str, float] = field(default_factory=dict)
    edges: np.ndarray = field(default_factory=lambda: np.empty(0))  # inner bin edges (numeric)
    counts: np.ndarray = field(default_factory=lambda: np.empty(0))  # reference count per bin (numeric)
    categories: dict[str, int] = field(default_factory=dict)  # reference count per category (categorical)
    sample: np.ndarray = field(default_factory=lambda: np.empty(0))  # raw values, at most max_sample (numeric)


@stable_name("ml.drift.ReferenceProfile")
@dataclass
class ReferenceProfile:
    """The whole reference: its features, the optional prediction column's profile, the reference performance
    and the score calibration for performance estimation without labels."""

    rows: int
    features: dict[str, FeatureProfile]
    max_sample: int
    bins: int
    seed: int
    source: str = ""
    prediction: FeatureProfile | None = None
    target: str = ""
    positive: str = ""
    accuracy: dict[str, Any] = field(default_factory=dict)  # labelled accuracy of the reference (with its CI)
    calibration: dict[str, list[float]] = field(default_factory=dict)  # isotonic map: x -> calibrated P(positive)

    def columns(self) -> list[str]:
        return list(self.features)


def read_frame(source: Any, what: str) -> pl.DataFrame:
    """A table as a polars frame: a pandas/polars frame as it is, a Parquet file through polars, any other file
    (CSV, JSON, Excel, SQL URL) through the project's ingest, which detects delimiter, encoding and header."""
    if isinstance(source, (pl.DataFrame, pl.LazyFrame)) or type(source).__name__ == "DataFrame":
        from mlsitter.ml.io import as_polars

        frame = as_polars(source)
    else:
        text = str(source or "").strip()
        if not text:
            raise SpecError(f"{what}: no table given; expected a CSV, Parquet or JSON file (or a SQL URL)")
        if text.lower().endswith((".parquet", ".pq")):
            if not Path(text).is_file():
                raise DataError(f"{what}: file {text!r} does not exist; expected a readable Parquet file")
            frame = pl.read_parquet(text)
        else:
            from mlsitter.ml.io import MISSING_TOKENS, as_polars, load_table

            frame = as_polars(load_table(text, na_values=list(MISSING_TOKENS)))
    frame = frame.rename({c: str(c).strip() for c in frame.columns})
    if frame.height == 0:
        raise DataError(f"{what} has columns {frame.columns[:10]} but no rows; expected at least one row to compare")
    return frame


def _is_numeric(dtype: Any) -> bool:
    return bool(dtype.is_numeric()) and dtype != pl.Boolean


def _numeric_values(frame: pl.DataFrame, column: str, what: str) -> np.ndarray:
    """The non-missing values of a numeric feature as float64; text that is no number is an error naming it."""
    series = frame.get_column(column)
    if not _is_numeric(series.dtype):
        text = series.cast(pl.Utf8).str.strip_chars()
        parsed = text.cast(pl.Float64, strict=False)
        bad = text.filter(parsed.is_null() & text.is_not_null() & (text != ""))
        if bad.len():
            shown = ", ".join(repr(v) for v in bad.unique(maintain_order=True).head(5).to_list())
            raise DataError(f"{what}: feature {column!r} is numeric in the reference but holds non-numeric value(s) "
                            f"{shown} in {bad.len():,} row(s); expected numbers (or empty cells for missing values)")
        series = parsed
    values = series.cast(pl.Float64).drop_nulls().drop_nans().to_numpy()
    return np.asarray(values, dtype=np.float64)


def _category_counts(series: pl.Series) -> dict[str, int]:
    """Count per category (missing values are one), largest first and ties by name, so the order is the same on
    every run. A ``group_by(...).len()`` counts three times faster than ``value_counts`` (which also leaves ties in any
order when it sorts)."""
    counts = series.cast(pl.Utf8).fill_null(MISSING).to_frame("value").group_by("value").len()
    pairs = zip(counts.get_column("value").to_list(), counts.get_column("len").to_list())
    return dict(sorted(((str(k), int(v)) for k, v in pairs), key=lambda kv: (-kv[1], kv[0])))


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Count of ``values`` (no NaN) in each bin cut at the sorted inner ``edges`` (len(edges) + 1 bins, open at both
    ends, a value on an edge in the bin above it). One vectorised comparison per edge: about ten times faster than
    a binary search per value, which mispredicts a branch at every step."""
    above = [np.count_nonzero(values >= e) for e in edges]  # values at or above each edge, non-increasing
    return -np.diff(np.array([values.size, *above, 0], dtype=np.int64))


def sorted_bin_counts(ordered: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """:func:`bin_counts` of already sorted values: one binary search per edge."""
    below = np.searchsorted(ordered, edges, side="left")  # values under each edge
    return np.diff(np.concatenate([[0], below, [ordered.size]])).astype(np.int64)


def profile_feature(frame: pl.DataFrame, column: str, kind: str, *, max_sample: int, bins: int, seed: int,
                    what: str) -> FeatureProfile:
    """The profile of one column of the reference."""
    missing = int(frame.get_column(column).null_count())
    if kind == CATEGORICAL:
        cats = _category_counts(frame.get_column(column))
        return FeatureProfile(column, kind, frame.height - missing, missing, categories=cats)
    values = _numeric_values(frame, column, what)
    if values.size == 0:
        raise DataError(f"{what}: numeric feature {column!r} has no values (all {frame.height:,} missing); "
                        "drop it or give a reference where it is measured")
    # one sort serves the quantile edges, the median, min and max and the bin counts: a selection per quantile
    # on unsorted values costs more than the sort (the order statistics, so the results, are the same)
    ordered = np.sort(values)
    edges = np.unique(np.quantile(ordered, np.linspace(0, 1, bins + 1)[1:-1]))
    sample = values
    if values.size > max_sample:  # drawn from the values in row order, as always: the same seeded sample
        sample = np.random.default_rng(seed).choice(values, size=max_sample, replace=False)
    summary = {"mean": float(values.mean()), "std": float(values.std()), "min": float(ordered[0]),
               "max": float(ordered[-1]), "median": float(np.median(ordered))}
    return FeatureProfile(column, kind, int(values.size), frame.height - int(values.size), summary, edges,
                          sorted_bin_counts(ordered, edges), sample=ordered if sample is values else np.sort(sample))


@stable_name("ml.drift.Columns")
@dataclass
class Columns:
    """A table read a group of columns at a time: a frame in memory, or a Parquet file of which only the group
    is read (so a wide table is never held whole)."""

    schema: dict[str, Any]
    height: int
    frame: pl.DataFrame | None = None
    path: str = ""

    @property
    def columns(self) -> list[str]:
        return list(self.schema)

    def read(self, names: Sequence[str]) -> pl.DataFrame:
        if self.frame is not None:
            return self.frame.select(list(names))
        return pl.read_parquet(self.path, columns=list(names))


def columns_of(table: Any) -> Columns:
    """A frame as it is; a path as the Parquet file it names (schema and row count from its footer)."""
    if isinstance(table, Columns):
        return table
    if isinstance(table, pl.DataFrame):
        return Columns(dict(table.schema), table.height, table)
    path = str(table)
    return Columns(dict(pl.read_parquet_schema(path)), int(pl.scan_parquet(path).select(pl.len()).collect().item()),
                   path=path)


def each_column(fn: Any, names: Sequence[str]) -> list[Any]:
    """``[fn(name) for name in names]`` on a thread per core: numpy's sorts and polars release the GIL, and
    the results come back in order (each column has its own seed, so threads change no number)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    workers = min(len(names), os.cpu_count() or 1)
    if workers <= 1:
        return [fn(n) for n in names]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, names))


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS on one thread while the columns run on theirs: scipy's Wasserstein ends in a dot product that
    OpenBLAS spreads over every core, and its threads then spin, taking the cores from the column threads (on 2
    cores this spent 1.5 s of CPU in a 500k-row window). The columns are the parallel work here."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def groups(names: Sequence[str], size: int = GROUP) -> list[list[str]]:
    """``names`` in consecutive groups of ``size`` (the columns read together)."""
    items = list(names)
    return [items[i:i + size] for i in range(0, len(items), size)]


def feature_kinds(table: Any, features: Sequence[str], categorical: Sequence[str] = ()) -> dict[str, str]:
    """Numeric for number columns (booleans excluded), categorical for the rest and for those named."""
    return {c: CATEGORICAL if c in categorical or not _is_numeric(table.schema[c]) else NUMERIC for c in features}


def build_profile(table: Any, *, features: Sequence[str] = (), categorical: Sequence[str] = (),
                  exclude: Sequence[str] = (), prediction: str = "", max_sample: int = 100_000, bins: int = 10,
                  seed: int = 0, source: str = "", what: str = "reference") -> ReferenceProfile:
    """Profile ``features`` of the reference (default: every column not in ``exclude``), a group of columns at a
    time; ``table`` is a polars frame or a Parquet path."""
    from mlsitter.ml.io._ingest import require_columns

    t = columns_of(table)
    chosen = list(features) or [c for c in t.columns if c not in set(exclude) and c != prediction]
    require_columns(t, chosen, "features", what)
    unknown = [c for c in categorical if c not in chosen]
    if unknown:
        raise SpecError(f"categorical: {', '.join(map(repr, unknown))} not among the features {chosen}")
    if not chosen:
        raise DataError(f"{what} has no feature column to compare (columns: {t.columns})")
    kinds = feature_kinds(t, chosen, categorical)
    if prediction:
        kinds[prediction] = feature_kinds(t, [prediction])[prediction]
    profiles: dict[str, FeatureProfile] = {}
    order = {c: i for i, c in enumerate(kinds)}
    with one_blas_thread():
        for group in groups(list(kinds)):
            part = t.read(group)
            done = each_column(lambda c: profile_feature(part, c, kinds[c], max_sample=max_sample, bins=bins,
                                                         seed=seed + order[c], what=what), group)
            profiles.update(zip(group, done))
    pred = profiles.pop(prediction) if prediction else None
    return ReferenceProfile(t.height, profiles, max_sample, bins, seed, source, pred)


def check_window(profile: ReferenceProfile, table: Any, what: str, allowed: Sequence[str] = ()) -> None:
    """Refuse a window whose columns are not the reference's features (``allowed`` may be there too), or that
    has no rows; ``table`` is a frame, a Parquet path or :class:`Columns`."""
    frame = columns_of(table)
    have = set(frame.columns)
    missing = [c for c in profile.features if c not in have]
    extra = [c for c in frame.columns if c not in profile.features and c not in set(allowed)]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"lacks the reference feature(s) {', '.join(map(repr, missing))}")
        if extra:
            parts.append(f"has column(s) {', '.join(map(repr, extra))} the reference does not")
        expected = list(profile.features) + [a for a in allowed if a]
        raise DataError(f"{what} {' and '.join(parts)}; expected the reference's columns {expected}")
    if frame.height == 0:
        raise DataError(f"{what} is empty (0 rows); expected at least one row to compare with the reference")


# -- storage -----------------------------------------------------------------------------------------------
def _feature_meta(p: FeatureProfile) -> dict[str, Any]:
    return {"name": p.name, "kind": p.kind, "count": p.count, "missing": p.missing, "summary": p.summary,
            "categories": p.categories}


def save_profile(profile: ReferenceProfile, path: str | Path) -> Path:
    """Write the profile as one ``.npz`` file (arrays plus a JSON header; no pickles)."""
    arrays: dict[str, np.ndarray] = {}
    items = list(profile.features.values()) + ([profile.prediction] if profile.prediction else [])
    for i, p in enumerate(items):
        arrays[f"edges{i}"], arrays[f"counts{i}"], arrays[f"sample{i}"] = p.edges, p.counts, p.sample
    meta = {"format": FORMAT, "rows": profile.rows, "max_sample": profile.max_sample, "bins": profile.bins,
            "seed": profile.seed, "source": profile.source, "features": [_feature_meta(p) for p in items],
            "prediction": profile.prediction is not None, "target": profile.target, "positive": profile.positive,
            "accuracy": profile.accuracy, "calibration": profile.calibration}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    target.write_bytes(buffer.getvalue())
    return target


def load_profile(path: str | Path) -> ReferenceProfile:
    """Read a profile written by :func:`save_profile`; anything else is a clear error."""
    source = Path(path)
    if not source.is_file():
        raise DataError(f"reference_profile {str(path)!r} does not exist; expected the reference-profile.npz "
                        "artifact of an earlier drift run")
    try:
        with np.load(source, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            arrays = {k: data[k] for k in data.files if k != "meta"}
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"reference_profile {str(path)!r} is not a drift reference profile ({exc}); expected the "
                        "reference-profile.npz artifact of an earlier drift run") from None
    if meta.get("format") != FORMAT:
        raise DataError(f"reference_profile {str(path)!r} has format {meta.get('format')!r}; expected {FORMAT!r}")
    items = [FeatureProfile(m["name"], m["kind"], m["count"], m["missing"], m["summary"], arrays[f"edges{i}"],
                            arrays[f"counts{i}"], m["categories"], arrays[f"sample{i}"])
             for i, m in enumerate(meta["features"])]
    prediction = items.pop() if meta["prediction"] else None
    return ReferenceProfile(meta["rows"], {p.name: p for p in items}, meta["max_sample"], meta["bins"], meta["seed"],
                            meta["source"], prediction, meta["target"], meta["positive"], meta["accuracy"],
                            meta["calibration"])
