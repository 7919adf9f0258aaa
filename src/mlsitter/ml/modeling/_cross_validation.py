"""Cross-validation that keeps per-fold scores and out-of-fold predictions, with a per-fold hook
(used by HPO to report intermediate scores and stop pruned trials early)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
from sklearn.base import clone

from mlsitter.ml.metrics._scoring import CLASSIFICATION, Metric, align_proba, score
from mlsitter.naming import stable_name


@stable_name("ml.modeling.CVResult")
@dataclass
class CVResult:
    """Fold scores, their mean/std, out-of-fold predictions (the mean over
    repeats; NaN where no fold ran) and fit time."""

    fold_scores: list[float]
    mean: float
    std: float
    oof: np.ndarray
    fit_seconds: float
    stopped_early: bool = False
    size_bytes: int = 0
    rows_scored: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


def split_indices(y: Any, task: str, folds: int, seed: int, holdout: float | None = None,
                  repeats: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """K-fold (stratified for classification), repeated ``repeats`` times with fresh shuffles, or one holdout
    split; reproducible from ``seed``."""
    from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold, train_test_split

    index = np.arange(len(y))
    if holdout:
        strat = np.asarray(y) if task == CLASSIFICATION else None
        fit, val = train_test_split(index, test_size=holdout, random_state=seed, stratify=strat)
        return [(np.sort(fit), np.sort(val))]
    # one repeat splits exactly as (Stratified)KFold(shuffle=True, random_state=seed)
    splitter = RepeatedStratifiedKFold if task == CLASSIFICATION else RepeatedKFold
    return list(splitter(n_splits=folds, n_repeats=max(1, repeats), random_state=seed).split(index, np.asarray(y)))


def predict_scores(model: Any, X: pd.DataFrame, task: str) -> np.ndarray:
    """Class probabilities (classification) or predicted values (regression)."""
    if task == CLASSIFICATION:
        return np.asarray(model.predict_proba(X), dtype=np.float64)
    return np.asarray(model.predict(X), dtype=np.float64)


def cross_validate(
    pipeline: Any,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    task: str,
    metric: Metric,
    splits: list[tuple[np.ndarray, np.ndarray]],
    classes: np.ndarray | None = None,
    on_fold: Callable[[int, float, list[float]], bool] | None = None,
) -> CVResult:
    """Fit a clone of ``pipeline`` per split; ``on_fold(i, score, scores_so_far)`` returning True stops early."""
    import time

    y_arr = np.asarray(y)
    width = len(classes) if task == CLASSIFICATION and classes is not None else 0
    oof_sum = np.zeros((len(y_arr), width) if width else len(y_arr))
    seen = np.zeros(len(y_arr))
    scores: list[float] = []
    started = time.perf_counter()
    stopped = False
    model = None
    for i, (fit_idx, val_idx) in enumerate(splits):
        model = clone(pipeline).fit(X.iloc[fit_idx], y_arr[fit_idx])
        pred = predict_scores(model, X.iloc[val_idx], task)
        if width:  # a fold lacked a class: align columns to all classes
            pred = align_proba(pred, model.classes_, classes)
        oof_sum[val_idx] += pred
        seen[val_idx] += 1
        scores.append(score(metric, y_arr[val_idx], pred, classes))
        if on_fold is not None and on_fold(i, scores[-1], list(scores)) and i < len(splits) - 1:
            stopped = True
            break
    import pickle

    size = len(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)) if model is not None else 0
    scored = seen > 0
    with np.errstate(invalid="ignore", divide="ignore"):  # rows a stopped run never scored stay NaN
        oof = oof_sum / (seen[:, None] if width else seen)
    return CVResult(
        fold_scores=scores, mean=float(np.mean(scores)), std=float(np.std(scores)), oof=oof,
        fit_seconds=time.perf_counter() - started, stopped_early=stopped, size_bytes=size, rows_scored=scored,
    )
