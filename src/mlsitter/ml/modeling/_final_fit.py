"""Fit the chosen configuration on the whole training split, score it on the test split and draw
the run's plots (learning curve, confusion matrix or residuals, importance)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlsitter.ml.modeling._cross_validation import predict_scores
from mlsitter.ml.metrics._scoring import CLASSIFICATION, METRICS, get_metric, metric_scorer, score
from mlsitter.ml.modeling import _training_plots as plots
from mlsitter.naming import stable_name
@stable_name("ml.modeling.FinalFit")
@dataclass
class FinalFit:
    """The refitted model, its test metrics, importances and plots (PNG bytes by file name)."""

    model: Any
    test_score: float
    test_metrics: dict[str, float]
    importances: dict[str, float]
    importance_kind: str
    figures: dict[str, bytes]
    fit_seconds: float
    learning_curve: dict[str, list[float]] = field(default_factory=dict)
    input_example: Any = None


def test_metrics(task: str, y_test: Any, prediction: np.ndarray, classes: list[Any]) -> dict[str, float]:
    """Every metric of the task that applies (binary-only metrics skipped for multiclass)."""
    out: dict[str, float] = {}
    cls = np.asarray(classes) if classes else None
    for name, metric in METRICS.items():
        if metric.task != task:
            continue
        if task == CLASSIFICATION and len(classes) != 2 and metric.binary_only:
            continue
        out[name] = score(metric, np.asarray(y_test), prediction, cls)
    return out


def _original_column(name: str, columns: list[str]) -> str | None:
    """The input column a transformed feature came from (one-hot ``col_value``, ``missingindicator_col``, ``col_year``)."""
    if name in columns:
        return name
    name = name.removeprefix("missingindicator_")
    if name in columns:
        return name
    owners = [c for c in columns if name.startswith(f"{c}_")]
    return max(owners, key=len) if owners else None


def builtin_importances(model: Any, columns: list[str]) -> dict[str, float] | None:
    """A pipeline's built-in importances (trees, |coef|) summed back onto its input columns; None if it has none."""
    estimator = model.named_steps["model"] if hasattr(model, "named_steps") else model
    raw = getattr(estimator, "feature_importances_", None)
    if raw is None and hasattr(estimator, "coef_"):
        raw = np.abs(np.atleast_2d(estimator.coef_)).mean(axis=0)
    try:
        names = [str(n) for n in model.named_steps["columns"].get_feature_names_out()]
    except (AttributeError, KeyError, ValueError):
        return None
    if raw is None or len(raw) != len(names):
        return None
    out: dict[str, float] = {}
    for name, value in zip(names, raw):
        owner = _original_column(name, columns) or name
        out[owner] = out.get(owner, 0.0) + float(value)
    total = sum(out.values()) or 1.0
    return {k: v / total for k, v in out.items()}


def importances_of(model: Any, X: pd.DataFrame, y: Any, *, task: str, metric: str, seed: int,
                   max_rows: int = 1000) -> tuple[dict[str, float], str]:
    """Built-in importances where the model has them (trees, |coef| of linear; for an ensemble the weighted
    sum of its members' on the input columns), else permutation importance."""
    if hasattr(model, "estimators_") and hasattr(model, "weights"):
        total: dict[str, float] = {}
        used = 0.0
        for member, weight in zip(model.estimators_, model.weights):
            found = builtin_importances(member, [str(c) for c in X.columns])
            if found:
                used += weight
                for k, v in found.items():
                    total[k] = total.get(k, 0.0) + weight * v
        if total:
            return {k: v / used for k, v in total.items()}, "members' built-in importances, weighted (input columns)"
    estimator = model.named_steps["model"] if hasattr(model, "named_steps") else model
    try:
        names = [str(n) for n in model.named_steps["columns"].get_feature_names_out()]
    except (AttributeError, KeyError, ValueError):
        names = []
    raw = getattr(estimator, "feature_importances_", None)
    kind = "impurity / split gain"
    if raw is None and hasattr(estimator, "coef_"):
        raw, kind = np.abs(np.atleast_2d(estimator.coef_)).mean(axis=0), "|coefficient| (standardised inputs)"
    if raw is not None and names and len(raw) == len(names):
        total = float(np.sum(raw)) or 1.0
        return {n: float(v) / total for n, v in zip(names, raw)}, kind
    from sklearn.inspection import permutation_importance

    rows = X.sample(n=min(max_rows, len(X)), random_state=seed)
    result = permutation_importance(model, rows, np.asarray(y)[X.index.get_indexer(rows.index)],
                                    scoring=metric_scorer(get_metric(metric, task), task), n_repeats=3,
                                    random_state=seed)
    return {str(c): float(v) for c, v in zip(X.columns, result.importances_mean)}, "permutation (test rows)"


def fit_final(pipeline: Any, X_train: pd.DataFrame, y_train: Any, X_test: pd.DataFrame, y_test: Any, *, task: str,
              metric: str, classes: list[Any], seed: int, learning_curve: bool = True, threads: int = 1,
              fitted_seconds: float | None = None) -> FinalFit:
    """Refit on all training rows, evaluate on the test rows, and draw the plots (OpenMP/BLAS capped at ``threads``).

    With ``fitted_seconds`` the pipeline is already fitted (in that many seconds) and is only evaluated.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(max(1, threads)):
        return _fit_final(pipeline, X_train, y_train, X_test, y_test, task=task, metric=metric, classes=classes,
                          seed=seed, learning_curve=learning_curve, fitted_seconds=fitted_seconds)


def _fit_final(pipeline: Any, X_train: pd.DataFrame, y_train: Any, X_test: pd.DataFrame, y_test: Any, *, task: str,
               metric: str, classes: list[Any], seed: int, learning_curve: bool, fitted_seconds: float | None) -> FinalFit:
    from sklearn.base import clone

    measure = get_metric(metric, task)
    started = time.perf_counter()
    model = pipeline if fitted_seconds is not None else clone(pipeline).fit(X_train, np.asarray(y_train))
    fit_seconds = fitted_seconds if fitted_seconds is not None else time.perf_counter() - started
    prediction = predict_scores(model, X_test, task)
    metrics = test_metrics(task, y_test, prediction, classes)
    figures: dict[str, bytes] = {}
    curve: dict[str, list[float]] = {}
    if learning_curve:
        figures["learning_curve.png"], curve = plots.learning_curve_png(
            clone(pipeline), X_train, np.asarray(y_train), scoring=metric_scorer(measure, task, classes if task == CLASSIFICATION else None), task=task, seed=seed,
            metric_name=metric)
    if task == CLASSIFICATION:
        figures["confusion_matrix.png"] = plots.confusion_matrix_png(y_test, model.predict(X_test), classes)
    else:
        figures["residuals.png"] = plots.residuals_png(y_test, prediction)
    importances, kind = importances_of(model, X_test, y_test, task=task, metric=metric, seed=seed)
    if importances:
        figures["importance.png"] = plots.importance_png(list(importances), list(importances.values()),
                                                         f"Feature importance ({kind})")
    return FinalFit(model=model, test_score=metrics[metric], test_metrics=metrics, importances=importances,
                    importance_kind=kind, figures=figures, fit_seconds=fit_seconds, learning_curve=curve,
                    input_example=X_train.head(5))
