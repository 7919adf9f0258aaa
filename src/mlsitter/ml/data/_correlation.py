"""Associations between columns: Pearson and Spearman (numeric pairs), bias-corrected Cramér's V (categorical pairs),
the correlation ratio eta (categorical-numeric pairs), and VIF for multicollinearity.

Pairwise statistics use at most ``max_rows`` rows (a seeded sample) so they stay fast on 1M+ rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import polars as pl

from mlsitter.ml.io._frames import as_polars, sample_rows
from mlsitter.naming import ADDED_LATER, stable_name


@stable_name("ml.data.Associations")
@dataclass
class Associations:
    """Pairwise association matrices and the pairs worth a warning."""

    numeric: list[str]
    pearson: list[list[float | None]]
    spearman: list[list[float | None]]
    categorical: list[str]
    cramers_v: list[list[float | None]]
    correlation_ratio: list[dict[str, Any]]
    vif: dict[str, float]
    high_pairs: list[dict[str, Any]] = field(default_factory=list)
    high_vif: list[str] = field(default_factory=list)
    rows_used: int = 0
    cramers_support: list[list[int]] = field(default_factory=list, metadata=ADDED_LATER)
    min_support: int = field(default=0, metadata=ADDED_LATER)


def category_codes(series: pl.Series) -> tuple[np.ndarray, int]:
    """Integer codes 0..k-1 for a column's values (null -> -1) and k."""
    codes = series.cast(pl.String).cast(pl.Categorical).to_physical().cast(pl.Int64).fill_null(-1).to_numpy()
    present = np.unique(codes[codes >= 0])
    if present.size and (present[-1] + 1 != present.size):  # physical codes may be global: compact them
        lookup = np.full(int(present[-1]) + 1, -1, dtype=np.int64)
        lookup[present] = np.arange(present.size)
        codes = np.where(codes >= 0, lookup[np.clip(codes, 0, None)], -1)
    return codes.astype(np.int64), int(present.size)


def cramers_v(a: np.ndarray, ka: int, b: np.ndarray, kb: int) -> float:
    """Bias-corrected Cramér's V (Bergsma 2013) of two coded categorical columns, on the rows where both are
    present: the plain V of a few rows is inflated (7 rows of two 3-level columns easily reach 1.0)."""
    mask = (a >= 0) & (b >= 0)
    n = int(mask.sum())
    if n == 0 or ka < 2 or kb < 2:
        return float("nan")
    table = np.bincount(a[mask] * kb + b[mask], minlength=ka * kb).reshape(ka, kb).astype(float)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    r, c = table.shape
    if r < 2 or c < 2:
        return 0.0
    if n < 2:
        return float("nan")
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    phi2 = max(0.0, chi2 / n - (r - 1) * (c - 1) / (n - 1))
    r_corr, c_corr = r - (r - 1) ** 2 / (n - 1), c - (c - 1) ** 2 / (n - 1)
    denominator = min(r_corr - 1, c_corr - 1)
    return float(np.sqrt(phi2 / denominator)) if denominator > 0 else float("nan")


def pair_support(a: np.ndarray, b: np.ndarray) -> int:
    """Rows where both coded columns are present: the support of their association."""
    return int(((a >= 0) & (b >= 0)).sum())


def correlation_ratio(codes: np.ndarray, k: int, values: np.ndarray) -> float:
    """Eta: the share of a numeric column's spread explained by a categorical column (0..1)."""
    mask = (codes >= 0) & np.isfinite(values)
    if mask.sum() < 2 or k < 2:
        return float("nan")
    c, v = codes[mask], values[mask]
    counts = np.bincount(c, minlength=k).astype(float)
    sums = np.bincount(c, weights=v, minlength=k)
    mean = v.mean()
    total = float(((v - mean) ** 2).sum())
    if total == 0:
        return 0.0
    nz = counts > 0
    between = float((counts[nz] * (sums[nz] / counts[nz] - mean) ** 2).sum())
    return float(np.sqrt(between / total))


def vif_from_correlation(corr: np.ndarray) -> np.ndarray:
    """VIF_i = 1 / (1 - R_i^2), R_i^2 from regressing column i on the others via the correlation matrix.

    Least squares on each (k-1)x(k-1) sub-matrix keeps exact collinearity local: only the columns in
    the linear dependency get an infinite VIF.
    """
    k = corr.shape[0]
    out = np.ones(k)
    for i in range(k):
        others = [j for j in range(k) if j != i]
        if not others:
            continue
        sub = corr[np.ix_(others, others)]
        r = corr[others, i]
        beta = np.linalg.lstsq(sub, r, rcond=None)[0]
        r2 = float(r @ beta)
        out[i] = np.inf if r2 >= 1 - 1e-9 else 1.0 / (1.0 - r2)
    return out


def compute_associations(
    frame: Any,
    kinds: Mapping[str, str],
    *,
    max_rows: int = 200_000,
    max_levels: int = 100,
    high_corr: float = 0.9,
    high_assoc: float = 0.8,
    high_vif: float = 10.0,
    min_support: int = 50,
    seed: int = 0,
) -> Associations:
    """All pairwise associations among profiled columns; ``kinds`` comes from the profile.

    A pair is flagged as strongly associated only when at least ``min_support`` rows have both values
    (a sparse column's few filled rows prove nothing); every flagged pair carries its support."""
    df = sample_rows(as_polars(frame), max_rows, seed)
    numeric = [c for c, k in kinds.items() if k == "numeric" and c in df.columns]
    categorical = [c for c, k in kinds.items() if k in ("categorical", "boolean") and c in df.columns]

    pearson = spearman = np.zeros((0, 0))
    numeric_support = np.zeros((0, 0), dtype=np.int64)
    vif: dict[str, float] = {}
    if numeric:
        num = df.select([pl.col(c).cast(pl.Float64).fill_nan(None) for c in numeric])
        frame_num = pd.DataFrame(num.to_numpy(), columns=numeric)
        pearson = frame_num.corr(method="pearson", min_periods=3).to_numpy()
        ranks = pd.DataFrame(num.select([pl.col(c).rank("average") for c in numeric]).to_numpy(), columns=numeric)
        spearman = ranks.corr(method="pearson", min_periods=3).to_numpy()
        present = frame_num.notna().to_numpy().astype(np.float64)
        numeric_support = np.rint(present.T @ present).astype(np.int64)  # rows where both are present (BLAS)
        usable = [i for i, c in enumerate(numeric) if np.isfinite(pearson[i, i])]
        if len(usable) >= 2:
            complete = frame_num.iloc[:, usable].dropna()
            if len(complete) > len(usable) + 1:
                corr = np.corrcoef(complete.to_numpy(), rowvar=False)
                values = vif_from_correlation(np.nan_to_num(corr, nan=0.0) + np.diag(np.where(np.isnan(np.diag(corr)), 1.0, 0.0)))
                vif = {numeric[i]: float(v) for i, v in zip(usable, values)}

    coded: dict[str, tuple[np.ndarray, int]] = {}
    for c in categorical:
        codes, k = category_codes(df[c])
        if 2 <= k <= max_levels:
            coded[c] = (codes, k)
    cats = list(coded)
    v_matrix = np.full((len(cats), len(cats)), np.nan)
    support = np.zeros((len(cats), len(cats)), dtype=np.int64)
    for i, a in enumerate(cats):
        v_matrix[i, i] = 1.0
        support[i, i] = int((coded[a][0] >= 0).sum())
        for j in range(i + 1, len(cats)):
            v_matrix[i, j] = v_matrix[j, i] = cramers_v(*coded[a], *coded[cats[j]])
            support[i, j] = support[j, i] = pair_support(coded[a][0], coded[cats[j]][0])

    ratios: list[dict[str, Any]] = []
    numeric_values = {c: df[c].cast(pl.Float64).fill_null(np.nan).to_numpy() for c in numeric}
    for a in cats:
        for b in numeric:
            eta = correlation_ratio(*coded[a], numeric_values[b])
            if np.isfinite(eta):
                n_both = int(((coded[a][0] >= 0) & np.isfinite(numeric_values[b])).sum())
                ratios.append({"categorical": a, "numeric": b, "eta": eta, "support": n_both})

    high: list[dict[str, Any]] = []
    for matrix, method in ((pearson, "pearson"), (spearman, "spearman")):
        for i in range(len(numeric)):
            for j in range(i + 1, len(numeric)):
                value = matrix[i, j]
                if np.isfinite(value) and abs(value) >= high_corr and numeric_support[i, j] >= min_support:
                    high.append({"a": numeric[i], "b": numeric[j], "method": method, "value": float(value),
                                 "support": int(numeric_support[i, j])})
    for i in range(len(cats)):
        for j in range(i + 1, len(cats)):
            if np.isfinite(v_matrix[i, j]) and v_matrix[i, j] >= high_assoc and support[i, j] >= min_support:
                high.append({"a": cats[i], "b": cats[j], "method": "cramers_v", "value": float(v_matrix[i, j]),
                             "support": int(support[i, j])})
    for r in ratios:
        if r["eta"] >= high_corr and r["support"] >= min_support:
            high.append({"a": r["categorical"], "b": r["numeric"], "method": "correlation_ratio", "value": r["eta"],
                         "support": r["support"]})

    return Associations(
        numeric=numeric, pearson=_matrix(pearson), spearman=_matrix(spearman), categorical=cats,
        cramers_v=_matrix(v_matrix), correlation_ratio=sorted(ratios, key=lambda r: -r["eta"]), vif=vif,
        high_pairs=sorted(high, key=lambda h: -abs(h["value"])),
        high_vif=[c for c, v in vif.items() if v >= high_vif], rows_used=df.height,
        cramers_support=support.tolist(), min_support=min_support,
    )


def _matrix(values: np.ndarray) -> list[list[float | None]]:
    return [[float(v) if np.isfinite(v) else None for v in row] for row in np.asarray(values, dtype=float)]


def matrix_frame(names: Sequence[str], matrix: list[list[float | None]]) -> pd.DataFrame:
    """A labelled frame of a stored matrix (for plots and tables)."""
    return pd.DataFrame([[np.nan if v is None else v for v in row] for row in matrix], index=list(names), columns=list(names))
