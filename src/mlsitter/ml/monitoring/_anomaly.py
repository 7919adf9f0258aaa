"""Anomaly detection on a metric series: the residual from the median of each point's neighbours (a
centred window without the point itself, the ends extended by point reflection so a trend stays a
trend), which follows trends and slow daily cycles but not a spike, scored with the robust (modified) z of Iglewicz and Hoaglin;
points with ``|z| > threshold`` are anomalies. (An STL decomposition was tried: on a few cycles its
residuals are too uneven for a MAD scale and flagged ordinary noise.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from mlsitter.naming import stable_name

MAD_SCALE = 0.6745  # Iglewicz & Hoaglin: z = 0.6745 (x - median) / MAD
MEAN_AD_SCALE = 0.7979  # when the MAD is 0: z = (x - median) / (1.253314 * mean absolute deviation)


@stable_name("ml.monitoring.Anomaly")
@dataclass(frozen=True)
class Anomaly:
    """A point of a series far from what its trend (and season) expected."""

    series: str
    at: float
    value: float
    expected: float
    score: float


def robust_z(residuals: Sequence[float]) -> Any:
    """Modified z-scores of ``residuals`` (0 everywhere when they do not vary)."""
    import numpy as np

    x = np.asarray(residuals, dtype=float)
    median = np.median(x)
    deviation = np.abs(x - median)
    mad = np.median(deviation)
    if mad > 0:
        return MAD_SCALE * (x - median) / mad
    mean_ad = deviation.mean()
    if mean_ad > 0:
        return MEAN_AD_SCALE * (x - median) / mean_ad
    return np.zeros_like(x)


def detect_anomalies(name: str, times: Sequence[float], values: Sequence[float], *, threshold: float = 3.5,
                     window: int = 11) -> list[Anomaly]:
    """Anomalies of one series (NaN points are skipped), each point against the median of its ``window``
    neighbours (the point itself left out, so a spike cannot hide in its own median)."""
    import numpy as np
    import pandas as pd

    series = pd.Series(np.asarray(values, dtype=float), index=np.asarray(times, dtype=float)).dropna()
    if len(series) < 5:
        return []
    x = series.to_numpy()
    half = max(1, min(window // 2, len(x) - 1))
    padded = np.concatenate([2 * x[0] - x[half:0:-1], x, 2 * x[-1] - x[-2:-half - 2:-1]])
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    expected = np.median(np.delete(windows, half, axis=1), axis=1)
    residual = x - expected
    z = robust_z(residual)
    return [Anomaly(name, float(at), float(v), float(e), round(float(s), 3))
            for at, v, e, s in zip(series.index, series.to_numpy(), expected, z) if abs(s) > threshold]
