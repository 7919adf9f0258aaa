"""How far a model's cross-validated score is from being trusted: the spread over folds and the drop
from the CV score to the test score, on one scale whatever the metric."""

from __future__ import annotations


def measure_gaps(metric_name: str, cv_mean: float, fold_scores: list[float], test_score: float) -> tuple[float, float]:
    """(CV instability, CV-to-test drop): absolute for bounded metrics, relative to the CV mean for unbounded ones."""
    import numpy as np

    from mlsitter.ml.metrics._scoring import METRICS

    metric = METRICS[metric_name]
    std = float(np.std(fold_scores)) if fold_scores else 0.0
    drop = max(0.0, (cv_mean - test_score) if metric.greater_is_better else (test_score - cv_mean))
    if not metric.bounded:
        scale = max(abs(cv_mean), 1e-12)
        return std / scale, drop / scale
    return std, drop
