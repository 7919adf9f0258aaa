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


def align_proba(proba: np.ndarray, fitted: Any, classes: Any) -> np.ndarray:
    """``proba`` of a model fitted on the classes ``fitted`` as columns of all ``classes`` (0 for a class the
    model never saw): a fold or a learning-curve subset may lack a class that the metric must still score."""
    fitted, classes = list(np.asarray(fitted)), list(np.asarray(classes))
    if fitted == classes:
        return proba
    unknown = [c for c in fitted if c not in classes]
    if unknown:
        raise ValueError(f"the model predicts classes {unknown} that are not among the target's {classes}")
    full = np.zeros((len(proba), len(classes)))
    full[:, [classes.index(c) for c in fitted]] = proba[:, :len(fitted)]
    return full


def metric_scorer(metric: Metric, task: str, classes: Any = None) -> Callable[[Any, Any, Any], float]:
    """A sklearn-style ``scorer(estimator, X, y)`` returning the metric in its natural units; with ``classes``
    (all of the target's) an estimator fitted on fewer is scored on every class, never on its own few."""

    def scorer(estimator: Any, X: Any, y: Any) -> float:
        if task == CLASSIFICATION:
            proba = np.asarray(estimator.predict_proba(X), dtype=np.float64)
            if classes is None:
                return score(metric, y, proba, estimator.classes_)
            return score(metric, y, align_proba(proba, estimator.classes_, classes), np.asarray(classes))
        return score(metric, y, estimator.predict(X))

    return scorer
