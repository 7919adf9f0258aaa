"""Metrics for training and AutoML: one table of names, direction and what predictions each needs.

Classification metrics take class probabilities (columns in ``classes`` order); regression metrics
take predicted values. ``score`` always returns the metric in its natural units; ``loss`` turns it
into "lower is better" so optimisers and ensembles need not care about direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from mlsitter.errors import SpecError
from mlsitter.naming import stable_name

CLASSIFICATION = "classification"
REGRESSION = "regression"


@stable_name("ml.metrics.Metric")
@dataclass(frozen=True)
class Metric:
    """A named metric: its task, whether larger is better, and how it is computed."""

    name: str
    task: str
    greater_is_better: bool
    compute: Callable[[np.ndarray, np.ndarray, np.ndarray], float]
    bounded: bool = True

    def loss(self, value: float) -> float:
        """The metric as a quantity to minimise."""
        return -value if self.greater_is_better else value

    def is_better(self, a: float, b: float) -> bool:
        """True if ``a`` is strictly better than ``b``."""
        return a > b if self.greater_is_better else a < b


def _labels(proba: np.ndarray, classes: np.ndarray) -> np.ndarray:
    return classes[np.argmax(proba, axis=1)]


def _roc_auc(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if len(classes) == 2:
        return _binary_auc(y == classes[1], proba[:, 1])
    return float(roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes))


def _binary_auc(positive: np.ndarray, score_: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic on average ranks (equal to sklearn's, much faster in loops)."""
    from scipy.stats import rankdata

    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise SpecError("ROC AUC needs both classes among the scored rows")
    ranks = rankdata(score_)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _avg_precision(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    if len(classes) != 2:
        raise SpecError("metric 'average_precision' needs a binary target; use 'roc_auc' or 'f1_macro' for multiclass")
    return float(average_precision_score(y == classes[1], proba[:, 1]))


def _log_loss(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    from sklearn.metrics import log_loss

    clipped = np.clip(np.asarray(proba, dtype=np.float64), 1e-15, 1)
    return float(log_loss(y, clipped / clipped.sum(axis=1, keepdims=True), labels=classes))


def _label_metric(fn_name: str, **kwargs: Any) -> Callable[[np.ndarray, np.ndarray, np.ndarray], float]:
    def compute(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
        import sklearn.metrics as skm

        pred = _labels(proba, classes)
        extra = dict(kwargs)
        if extra.get("average") == "binary":
            if len(classes) != 2:
                raise SpecError(f"metric {fn_name.removesuffix('_score')!r} needs a binary target; "
                                "use 'f1_macro' or 'balanced_accuracy' for multiclass")
            extra["pos_label"] = classes[1]
        return float(getattr(skm, fn_name)(y, pred, **extra))

    return compute


def _reg(fn_name: str, root: bool = False) -> Callable[[np.ndarray, np.ndarray, np.ndarray], float]:
    def compute(y: np.ndarray, pred: np.ndarray, _classes: np.ndarray) -> float:
        import sklearn.metrics as skm

        value = float(getattr(skm, fn_name)(y, pred))
        return float(np.sqrt(value)) if root else value

    return compute


METRICS: dict[str, Metric] = {m.name: m for m in [
    Metric("roc_auc", CLASSIFICATION, True, _roc_auc),
    Metric("average_precision", CLASSIFICATION, True, _avg_precision),
    Metric("log_loss", CLASSIFICATION, False, _log_loss, bounded=False),
    Metric("accuracy", CLASSIFICATION, True, _label_metric("accuracy_score")),
    Metric("balanced_accuracy", CLASSIFICATION, True, _label_metric("balanced_accuracy_score")),
    Metric("f1", CLASSIFICATION, True, _label_metric("f1_score", average="binary")),
    Metric("f1_macro", CLASSIFICATION, True, _label_metric("f1_score", average="macro")),
    Metric("precision", CLASSIFICATION, True, _label_metric("precision_score", average="binary")),
    Metric("recall", CLASSIFICATION, True, _label_metric("recall_score", average="binary")),
    Metric("r2", REGRESSION, True, _reg("r2_score")),
    Metric("rmse", REGRESSION, False, _reg("mean_squared_error", root=True), bounded=False),
    Metric("mae", REGRESSION, False, _reg("mean_absolute_error"), bounded=False),
    Metric("mape", REGRESSION, False, _reg("mean_absolute_percentage_error"), bounded=False),
]}
#: Other spellings (the charter's metric catalogue) of the same metrics.
ALIASES = {"roc_auc_ovr": "roc_auc", "pr_auc": "average_precision"}


def get_metric(name: str, task: str) -> Metric:
    """The metric called ``name`` for ``task``; unknown names or a task mismatch raise SpecError."""
    key = str(name).strip().lower()
    metric = METRICS.get(ALIASES.get(key, key))
    valid = sorted(m.name for m in METRICS.values() if m.task == task)
    if metric is None:
        raise SpecError(f"unknown metric {name!r} for {task}; expected one of: {', '.join(valid)}")
    if metric.task != task:
        raise SpecError(f"metric {name!r} is a {metric.task} metric but the target calls for {task}; "
                        f"expected one of: {', '.join(valid)}")
    return metric


def infer_task(y: Any) -> str:
    """Classification or regression, decided as every other process decides it
    (:func:`mlsitter.ml.modeling._problem_type.infer_problem_type`), so scoping and training agree."""
    import pandas as pd

    from mlsitter.ml.modeling._problem_type import infer_problem_type

    return infer_problem_type(pd.Series(y)).task


def default_metric(task: str, n_classes: int = 2) -> str:
    """roc_auc for binary, log_loss for multiclass, r2 for regression."""
    if task == REGRESSION:
        return "r2"
    return "roc_auc" if n_classes == 2 else "log_loss"


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
