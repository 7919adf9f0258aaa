"""Performance over windows: accuracy on labelled feedback with a Wilson interval (concept drift), and an
accuracy estimated without labels from scores calibrated on the reference (confidence-based performance
estimation, as NannyML's CBPE): each row is right with the calibrated probability of the class it got."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from mlsitter.naming import stable_name


@stable_name("ml.drift.Performance")
@dataclass
class Performance:
    """Accuracy of one window: measured on labels (with its interval) and/or estimated from scores."""

    window: str
    labelled: int = 0
    accuracy: float | None = None
    low: float | None = None
    high: float | None = None
    estimated: float | None = None
    estimated_low: float | None = None
    estimated_high: float | None = None
    scored: int = 0
    degraded: bool = False  # the whole interval lies below the reference accuracy minus the tolerated drop


def as_labels(values: Sequence[Any]) -> np.ndarray:
    """Labels and predictions compared as trimmed lower-case text, so 1, 1.0, '1' and True == 'true' agree;
    missing values become ''."""
    import pandas as pd

    series = pd.Series(list(values), dtype=object)
    whole = series.map(lambda v: int(v) if isinstance(v, float) and v.is_integer() else v)
    text = whole.astype(str).str.strip().str.lower()
    return np.asarray(text.where(series.notna(), ""), dtype=object)


def labelled_accuracy(predictions: Sequence[Any], labels: Sequence[Any], alpha: float = 0.05) -> tuple[int, float | None,
                                                                                                          float | None,
                                                                                                          float | None]:
    """(labelled rows, accuracy, Wilson interval low, high) over the rows that have both a prediction and a label."""
    from statsmodels.stats.proportion import proportion_confint

    pred, truth = as_labels(predictions), as_labels(labels)
    known = (pred != "") & (truth != "")
    n = int(known.sum())
    if not n:
        return 0, None, None, None
    correct = int((pred[known] == truth[known]).sum())
    low, high = proportion_confint(correct, n, alpha=alpha, method="wilson")
    return n, correct / n, float(low), float(high)


def calibrate(scores: Sequence[float], labels: Sequence[Any], positive: str) -> dict[str, list[float]]:
    """An isotonic map from score to P(label == positive), fitted on the reference (the CBPE calibration step)."""
    from sklearn.isotonic import IsotonicRegression

    s = np.asarray(scores, dtype=float)
    y = (as_labels(labels) == str(positive).strip().lower()).astype(float)
    keep = ~np.isnan(s)
    fit = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(s[keep], y[keep])
    return {"x": [float(v) for v in fit.X_thresholds_], "y": [float(v) for v in fit.y_thresholds_]}


def estimated_accuracy(scores: Sequence[float] | np.ndarray, predictions: Sequence[Any] | None, calibration: dict[str, list[float]],
                       positive: str, threshold: float = 0.5, z: float = 1.959964) -> tuple[int, float | None,
                                                                                            float | None, float | None]:
    """(scored rows, estimated accuracy, low, high): the mean chance that each prediction is right, from the
    calibrated scores; the interval is the normal one of that sum of independent Bernoulli outcomes."""
    s = np.asarray(scores, dtype=float)
    keep = ~np.isnan(s)
    if not keep.any() or not calibration.get("x"):
        return 0, None, None, None
    p = np.interp(s[keep], calibration["x"], calibration["y"])
    if predictions is not None:
        says_positive = as_labels(np.asarray(list(predictions), dtype=object)[keep]) == str(positive).strip().lower()
    else:
        says_positive = s[keep] >= threshold
    right = np.where(says_positive, p, 1.0 - p)
    n = int(right.size)
    estimate = float(right.mean())
    half = z * math.sqrt(float(np.sum(right * (1.0 - right)))) / n
    return n, estimate, max(0.0, estimate - half), min(1.0, estimate + half)
