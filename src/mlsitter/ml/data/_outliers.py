"""Outliers: per column by the IQR rule and the robust z-score (median/MAD), per row by Isolation Forest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import polars as pl

from mlsitter.ml.io._frames import as_polars, sample_rows
from mlsitter.naming import stable_name


@stable_name("ml.data.ColumnOutliers")
@dataclass
class ColumnOutliers:
    """Counts of one numeric column's outliers under both rules, with bounds and example values."""

    column: str
    iqr_low: float
    iqr_high: float
    iqr_count: int
    robust_z_count: int
    pct: float
    examples: list[float] = field(default_factory=list)


@stable_name("ml.data.RowOutliers")
@dataclass
class RowOutliers:
    """Isolation Forest over numeric columns: share of rows flagged and the most anomalous rows."""

    rows_scored: int
    flagged: int
    pct: float
    contamination: str
    top_rows: list[dict[str, Any]] = field(default_factory=list)


@stable_name("ml.data.OutlierReport")
@dataclass
class OutlierReport:
    columns: list[ColumnOutliers]
    rows: RowOutliers | None


def column_outliers(frame: Any, columns: Sequence[str], *, iqr_k: float = 1.5, z_max: float = 3.5, examples: int = 5,
                    quartiles: Mapping[str, tuple[float, float, float]] | None = None) -> list[ColumnOutliers]:
    """IQR fences (q1 - k*IQR, q3 + k*IQR) and |robust z| > z_max with z = 0.6745 (x - median) / MAD.

    ``quartiles`` ({column: (q1, median, q3)}, e.g. from a profile) saves recomputing them.
    """
    df = as_polars(frame)
    if not columns:
        return []
    if quartiles is not None and all(c in quartiles for c in columns):
        bounds = {}
        for c in columns:
            q1, med, q3 = quartiles[c]
            bounds.update({f"{c}\x00q1": q1, f"{c}\x00med": med, f"{c}\x00q3": q3})
    else:
        exprs = []
        for c in columns:
            x = pl.col(c).cast(pl.Float64)
            exprs += [x.quantile(0.25).alias(f"{c}\x00q1"), x.quantile(0.75).alias(f"{c}\x00q3"), x.median().alias(f"{c}\x00med")]
        bounds = df.select(exprs).row(0, named=True)
    mad_exprs = [(pl.col(c).cast(pl.Float64) - bounds[f"{c}\x00med"]).abs().median().alias(c) for c in columns if bounds[f"{c}\x00med"] is not None]
    mads = df.select(mad_exprs).row(0, named=True) if mad_exprs else {}
    count_exprs = []
    fences: dict[str, tuple[float, float]] = {}
    for c in columns:
        q1, q3, med = bounds[f"{c}\x00q1"], bounds[f"{c}\x00q3"], bounds[f"{c}\x00med"]
        if q1 is None:
            continue
        iqr = q3 - q1
        lo, hi = q1 - iqr_k * iqr, q3 + iqr_k * iqr
        fences[c] = (lo, hi)
        x = pl.col(c).cast(pl.Float64)
        count_exprs.append(((x < lo) | (x > hi)).sum().alias(f"{c}\x00iqr"))
        mad = mads.get(c) or 0.0
        if mad > 0:
            count_exprs.append(((0.6745 * (x - med) / mad).abs() > z_max).sum().alias(f"{c}\x00z"))
    counts = df.select(count_exprs).row(0, named=True) if count_exprs else {}
    out = []
    n = max(df.height, 1)
    for c, (lo, hi) in fences.items():
        n_iqr = int(counts.get(f"{c}\x00iqr") or 0)
        sample = []
        if n_iqr:
            extreme = df.select(pl.col(c).cast(pl.Float64)).filter((pl.col(c) < lo) | (pl.col(c) > hi)).to_series()
            sample = sorted({float(v) for v in extreme.head(1000).to_list()}, key=lambda v: -abs(v - (lo + hi) / 2))[:examples]
        out.append(ColumnOutliers(c, float(lo), float(hi), n_iqr, int(counts.get(f"{c}\x00z") or 0), 100.0 * n_iqr / n, sample))
    return out


def row_outliers(frame: Any, columns: Sequence[str], *, max_rows: int = 50_000, seed: int = 0, top: int = 5) -> RowOutliers | None:
    """Isolation Forest (sklearn, contamination 'auto') on a seeded sample of rows; nulls filled by medians."""
    from sklearn.ensemble import IsolationForest

    if len(columns) < 1:
        return None
    df = sample_rows(as_polars(frame).with_row_index("__row"), max_rows, seed)
    x = df.select([pl.col(c).cast(pl.Float64).fill_nan(None) for c in columns])
    x = x.with_columns([pl.col(c).fill_null(pl.col(c).median()).fill_null(0.0) for c in columns]).to_numpy()
    if x.shape[0] < 10:
        return None
    forest = IsolationForest(n_estimators=100, contamination="auto", random_state=seed, n_jobs=1).fit(x)
    labels = forest.predict(x)
    scores = forest.score_samples(x)
    order = np.argsort(scores)[:top]
    rows = df["__row"].to_numpy()
    top_rows = [
        {"row": int(rows[i]), "score": float(scores[i]), **{c: float(x[i, j]) for j, c in enumerate(columns[:8])}} for i in order
    ]
    flagged = int((labels == -1).sum())
    return RowOutliers(rows_scored=int(x.shape[0]), flagged=flagged, pct=100.0 * flagged / x.shape[0], contamination="auto", top_rows=top_rows)


def detect_outliers(frame: Any, columns: Sequence[str], *, max_rows: int = 50_000, seed: int = 0,
                    quartiles: Mapping[str, tuple[float, float, float]] | None = None) -> OutlierReport:
    """Both column rules on all rows and Isolation Forest on a sample."""
    return OutlierReport(column_outliers(frame, columns, quartiles=quartiles), row_outliers(frame, columns, max_rows=max_rows, seed=seed))
