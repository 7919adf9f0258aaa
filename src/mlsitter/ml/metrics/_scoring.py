"""Scoring predictions with a metric of the catalogue (:mod:`mlsitter.ml.metrics._metric_catalog`).

Classification metrics take class probabilities (columns in ``classes`` order); regression metrics
take predicted values. ``score`` always returns the metric in its natural units; ``Metric.loss`` turns
it into "lower is better" so optimisers and ensembles need not care about direction.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

# The catalogue's names, importable from here too (training, AutoML, HPO and cross-validation import them so).
from mlsitter.ml.metrics._metric_catalog import (  # noqa: F401
    ALIASES,
    CLASSIFICATION,
    METRICS,
    REGRESSION,
    Metric,
    get_metric,
)


def infer_task(y: Any) -> str:
    """Classification or regression, decided as every other process decides it
    (:func:`mlsitter.ml.modeling._problem_type.infer_problem_type`), so scoping and training agree."""
    import pandas as pd

    from mlsitter.ml.modeling._problem_type import infer_problem_type

    return infer_problem_type(pd.Series(y)).task


def score(metric: Metric, y: np.ndarray, prediction: np.ndarray, classes: np.ndarray | None = None) -> float:
    """Compute ``metric`` on probabilities (classification) or predicted values (regression)."""
    return metric.compute(np.asarray(y), np.asarray(prediction), np.asarray(classes) if classes is not None else np.array([]))


def no_skill_score(metric: Metric, y: Any, classes: np.ndarray | None = None) -> float:
    """The metric of a model that ignores the features: the class shares as probabilities, or the mean.

    Gaps between models are judged against the gain over this score, so one rule fits AUC, log loss and R².
    """
    y = np.asarray(y)
    if metric.task == CLASSIFICATION:
        cls = np.asarray(classes) if classes is not None and len(classes) else np.unique(y)
        shares = np.array([(y == c).mean() for c in cls], dtype=np.float64)
        return score(metric, y, np.tile(shares, (len(y), 1)), cls)
    return score(metric, y.astype(float), np.full(len(y), float(np.mean(y.astype(float)))))


def metric_scorer(metric: Metric, task: str) -> Callable[[Any, Any, Any], float]:
    """A sklearn-style ``scorer(estimator, X, y)`` returning the metric in its natural units."""

    def scorer(estimator: Any, X: Any, y: Any) -> float:
        if task == CLASSIFICATION:
            return score(metric, y, estimator.predict_proba(X), estimator.classes_)
        return score(metric, y, estimator.predict(X))

    return scorer
