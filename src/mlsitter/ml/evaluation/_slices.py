"""Error analysis by slice: the feature bins and categories where the model does worst, each with
its size and a confidence interval, so a reviewer sees both how bad and how sure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from mlsitter.naming import stable_name


@stable_name("ml.evaluation.SliceResult")
@dataclass
class SliceResult:
    """Error of the model on one slice of the data, compared with the overall error."""

    feature: str
    slice: str
    size: int
    error: float
    ci_low: float
    ci_high: float
    overall_error: float

    @property
    def excess(self) -> float:
        return self.error - self.overall_error


def wilson_interval(errors: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (stays inside [0, 1] for small slices)."""
    if n == 0:
        return float("nan"), float("nan")
    z = stats.norm.ppf(0.5 + level / 2)
    p = errors / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    # the interval contains p in exact arithmetic; min/max keep it so at p = 0 or 1 despite rounding
    return float(min(centre - half, p)), float(max(centre + half, p))


def _slice_labels(column: pd.Series, n_bins: int, max_categories: int) -> pd.Series:
    """Quantile bins for numeric columns; top categories (rest grouped as 'other') for the others."""
    if pd.api.types.is_numeric_dtype(column) and column.nunique(dropna=True) > max(n_bins, 2):
        binned = pd.qcut(column, q=n_bins, duplicates="drop")
        labels = binned.astype(str)
    else:
        labels = column.astype("string")
        top = labels.value_counts().index[:max_categories]
        labels = labels.where(labels.isin(top) | labels.isna(), "other")
    return labels.fillna("(missing)").astype(str)


def worst_slices(
    frame: pd.DataFrame, row_error: np.ndarray, *, task: str = "classification", features: list[str] | None = None,
    n_bins: int = 5, max_categories: int = 15, min_size: int = 30, top: int = 15, level: float = 0.95,
) -> list[SliceResult]:
    """Rank slices by error. ``row_error`` is 0/1 misclassification or absolute error for regression.

    Classification slices get Wilson intervals of the error rate; regression slices get a t interval of
    the mean absolute error. Slices smaller than ``min_size`` are left out (too noisy to act on).
    """
    err = np.asarray(row_error, dtype=np.float64)
    overall = float(err.mean())
    results: list[SliceResult] = []
    for col in features or list(frame.columns):
        labels = _slice_labels(frame[col], n_bins, max_categories)
        grouped = pd.DataFrame({"s": labels.to_numpy(), "e": err}).groupby("s", sort=False)["e"]
        agg = grouped.agg(["size", "mean", "std"])
        for name, row in agg.iterrows():
            size = int(row["size"])
            if size < min_size:
                continue
            if task == "classification":
                low, high = wilson_interval(row["mean"] * size, size, level)
            else:
                half = stats.t.ppf(0.5 + level / 2, size - 1) * (row["std"] / np.sqrt(size)) if size > 1 else np.nan
                low, high = row["mean"] - half, row["mean"] + half
            results.append(SliceResult(col, str(name), size, float(row["mean"]), float(low), float(high), overall))
    results.sort(key=lambda r: (-r.error, -r.size))
    return results[:top]


def confusion_figure(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> object:
    """Confusion matrix plot (counts and row-normalised rates)."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    ConfusionMatrixDisplay.from_predictions(y_true, y_pred, display_labels=labels, ax=axes[0], colorbar=False)
    axes[0].set_title("Counts")
    ConfusionMatrixDisplay.from_predictions(y_true, y_pred, display_labels=labels, ax=axes[1], colorbar=False,
                                            normalize="true", values_format=".2f")
    axes[1].set_title("Rate by true class")
    fig.tight_layout()
    return fig


def residual_figure(y_true: np.ndarray, y_pred: np.ndarray) -> object:
    """Residuals vs predictions and the residual distribution (regression)."""
    import matplotlib.pyplot as plt

    resid = np.asarray(y_true, dtype=float) - np.asarray(y_pred, dtype=float)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].scatter(y_pred, resid, s=4, alpha=0.3)
    axes[0].axhline(0, color="grey", lw=1)
    axes[0].set_xlabel("prediction")
    axes[0].set_ylabel("residual (true - predicted)")
    axes[1].hist(resid, bins=50)
    axes[1].set_xlabel("residual")
    fig.tight_layout()
    return fig
