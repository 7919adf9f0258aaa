"""Classification and regression metrics, each with a bootstrap confidence interval.

Point values come from scikit-learn; the intervals come from the same formulas written for a whole
matrix of Poisson bootstrap weights at once (see :mod:`mlsitter.ml.metrics._bootstrap`), so 1,000 resamples
cost a few matrix products rather than 1,000 calls per metric.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn import metrics as skm

from mlsitter.errors import DataError
from mlsitter.ml.metrics._bootstrap import Estimate, bootstrap_samples, estimate, safe_divide
from mlsitter.naming import stable_name

CLASSIFICATION_METRICS = (
    "accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier",
)
REGRESSION_METRICS = ("mae", "rmse", "r2", "mape")
#: metrics where a larger value is worse
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "mae", "rmse", "mape"})


@stable_name("ml.metrics.MetricSet")
@dataclass
class MetricSet:
    """Metrics of one model on one dataset: name -> estimate with CI."""

    task: str
    n_rows: int
    n_resamples: int
    values: dict[str, Estimate] = field(default_factory=dict)

    def table(self) -> list[dict[str, float | str]]:
        return [{"metric": k, "value": e.value, "ci_low": e.low, "ci_high": e.high} for k, e in self.values.items()]

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {k: e.as_dict() for k, e in self.values.items()}


def _check_lengths(*arrays: np.ndarray | None) -> int:
    lengths = {len(a) for a in arrays if a is not None}
    if len(lengths) != 1:
        raise DataError(f"y_true, y_pred and y_score must have the same length; got lengths {sorted(lengths)}")
    n = lengths.pop()
    if n == 0:
        raise DataError("cannot compute metrics on an empty dataset (0 rows)")
    return n


# ---------------------------------------------------------------------------------------- binary
def _tie_groups(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ascending sort order of the scores and the end index (exclusive) of each group of equal scores."""
    order = np.argsort(score, kind="mergesort")
    s = score[order]
    ends = np.flatnonzero(np.diff(s) != 0) + 1
    return order, np.append(ends, len(s))


def _group_cumsums(w: np.ndarray, positive: np.ndarray, order: np.ndarray, ends: np.ndarray,
                   block: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative weight of positives and of negatives at the end of each tie group (ascending score).

    Positives and negatives are gathered separately (no multiply pass), in blocks of resamples that
    stay in cache.
    """
    is_pos = positive[order] > 0
    pos_cols, neg_cols = order[is_pos], order[~is_pos]
    # index of the last positive / negative at or before each group end (-1: none yet)
    k_pos = np.cumsum(is_pos)[ends - 1] - 1
    k_neg = (ends - 1) - np.cumsum(is_pos)[ends - 1]
    out_p = np.empty((len(w), len(ends)))
    out_n = np.empty((len(w), len(ends)))
    for start in range(0, len(w), block):
        rows = w[start:start + block]
        for cols, k, out in ((pos_cols, k_pos, out_p), (neg_cols, k_neg, out_n)):
            if len(cols) == 0:
                out[start:start + block] = 0.0
                continue
            cum = np.cumsum(rows[:, cols], axis=1)
            out[start:start + block] = np.where(k >= 0, cum[:, np.maximum(k, 0)], 0.0)
    return out_p, out_n


def weighted_auc_and_ap(cum_p: np.ndarray, cum_n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC AUC (ties count half) and average precision (sklearn's step-wise PR AUC) per row of weights,
    from the cumulative positive/negative weight at the end of each tie group (ascending score)."""
    pos_g = np.diff(cum_p, axis=1, prepend=0.0)
    neg_g = np.diff(cum_n, axis=1, prepend=0.0)
    total_p, total_n = cum_p[:, -1], cum_n[:, -1]
    # AUC: each positive beats the negatives below its group and ties half of its own group
    below = cum_n - 0.5 * neg_g
    auc = safe_divide(np.einsum("ij,ij->i", pos_g, below), total_p * total_n)
    # AP: thresholds from the top; at group g everything from g upwards is predicted positive
    tp = total_p[:, None] - cum_p
    tp += pos_g
    predicted = total_n[:, None] - cum_n
    predicted += neg_g
    predicted += tp
    np.divide(tp, predicted, out=tp, where=predicted > 0)
    ap = safe_divide(np.einsum("ij,ij->i", pos_g, tp), total_p)
    return auc, ap


def weighted_roc_auc(w: np.ndarray, positive: np.ndarray, order: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """ROC AUC for each row of weights ``w``: weighted Mann-Whitney statistic with ties counted half."""
    return weighted_auc_and_ap(*_group_cumsums(w, positive, order, ends))[0]


def weighted_average_precision(w: np.ndarray, positive: np.ndarray, order: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Average precision (sklearn's step-wise PR AUC) for each row of weights ``w``."""
    return weighted_auc_and_ap(*_group_cumsums(w, positive, order, ends))[1]


def _confusion_rates(w: np.ndarray, yt: np.ndarray, yp: np.ndarray) -> dict[str, np.ndarray]:
    tp = w @ (yt & yp).astype(np.float64)
    fp = w @ (~yt & yp).astype(np.float64)
    fn = w @ (yt & ~yp).astype(np.float64)
    tn = w @ (~yt & ~yp).astype(np.float64)
    recall = safe_divide(tp, tp + fn)
    specificity = safe_divide(tn, tn + fp)
    return {
        "accuracy": safe_divide(tp + tn, tp + tn + fp + fn),
        "balanced_accuracy": (recall + specificity) / 2.0,
        "precision": safe_divide(tp, tp + fp),
        "recall": recall,
        "f1": safe_divide(2 * tp, 2 * tp + fp + fn),
    }


def binary_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None = None, *,
    n_resamples: int = 1000, level: float = 0.95, seed: int = 0,
) -> MetricSet:
    """Binary classification metrics (labels as booleans, ``y_score`` = P(positive)) with bootstrap CIs.

    Without scores (e.g. a randomised fairness post-processor) only the label metrics are returned.
    """
    yt = np.asarray(y_true).astype(bool)
    yp = np.asarray(y_pred).astype(bool)
    score = None if y_score is None else np.asarray(y_score, dtype=np.float64)
    n = _check_lengths(yt, yp, score)
    point: dict[str, float] = {
        "accuracy": skm.accuracy_score(yt, yp),
        "balanced_accuracy": skm.balanced_accuracy_score(yt, yp),
        "precision": skm.precision_score(yt, yp, zero_division=np.nan),
        "recall": skm.recall_score(yt, yp, zero_division=np.nan),
        "f1": skm.f1_score(yt, yp, zero_division=np.nan),
    }
    both_classes = 0 < yt.sum() < n
    if score is not None:
        if both_classes:
            point["roc_auc"] = skm.roc_auc_score(yt, score)
            point["pr_auc"] = skm.average_precision_score(yt, score)
        clipped = np.clip(score, 1e-15, 1 - 1e-15)
        point["log_loss"] = skm.log_loss(yt, np.column_stack([1 - clipped, clipped]), labels=[False, True])
        point["brier"] = skm.brier_score_loss(yt, score)
    names = list(point)
    order = ends = None
    if score is not None:
        loss = -np.where(yt, np.log(clipped), np.log(1 - clipped))
        sq = (score - yt) ** 2
        if both_classes:
            order, ends = _tie_groups(score)
    positive = yt.astype(np.float64)

    def statistic(w: np.ndarray) -> np.ndarray:
        out = _confusion_rates(w, yt, yp)
        if score is not None:
            total = w.sum(axis=1)
            if order is not None:
                parts = [weighted_auc_and_ap(*_group_cumsums(w[i:i + 128], positive, order, ends))
                         for i in range(0, len(w), 128)]  # blocks of resamples that stay in cache
                out["roc_auc"] = np.concatenate([p[0] for p in parts])
                out["pr_auc"] = np.concatenate([p[1] for p in parts])
            out["log_loss"] = safe_divide(w @ loss, total)
            out["brier"] = safe_divide(w @ sq, total)
        return np.column_stack([out[k] for k in names])

    return _metric_set("binary", names, point, statistic, n, n_resamples, level, seed)


# ------------------------------------------------------------------------------------ multiclass
def multiclass_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None = None, classes: np.ndarray | None = None, *,
    n_resamples: int = 1000, level: float = 0.95, seed: int = 0,
) -> MetricSet:
    """Accuracy, balanced accuracy, macro precision/recall/F1 and log loss for more than two classes."""
    yt = np.asarray(y_true)
    yp = np.asarray(y_pred)
    n = _check_lengths(yt, yp, proba)
    labels = np.asarray(classes) if classes is not None else np.unique(np.concatenate([yt, yp]))
    k = len(labels)
    index = {c: i for i, c in enumerate(labels)}
    ti = np.array([index.get(v, -1) for v in yt])
    pi = np.array([index.get(v, -1) for v in yp])
    if (ti < 0).any():
        raise DataError(f"y_true has labels the model does not know: {sorted(set(yt[ti < 0].tolist()))[:5]}")
    cell = np.zeros((n, k * k))
    cell[np.arange(n), ti * k + pi] = 1.0
    point = {
        "accuracy": skm.accuracy_score(yt, yp),
        "balanced_accuracy": skm.balanced_accuracy_score(yt, yp),
        "precision_macro": skm.precision_score(yt, yp, average="macro", zero_division=0),
        "recall_macro": skm.recall_score(yt, yp, average="macro", zero_division=0),
        "f1_macro": skm.f1_score(yt, yp, average="macro", zero_division=0),
    }
    loss = None
    if proba is not None:
        p = np.clip(np.asarray(proba, dtype=np.float64), 1e-15, 1.0)
        point["log_loss"] = skm.log_loss(yt, p / p.sum(axis=1, keepdims=True), labels=labels)
        loss = -np.log((p / p.sum(axis=1, keepdims=True))[np.arange(n), ti])
    names = list(point)

    def statistic(w: np.ndarray) -> np.ndarray:
        cm = (w @ cell).reshape(len(w), k, k)
        diag = np.einsum("bii->bi", cm)
        support = cm.sum(axis=2)
        predicted = cm.sum(axis=1)
        recall = safe_divide(diag, support)
        precision = np.nan_to_num(safe_divide(diag, predicted))
        f1 = np.nan_to_num(safe_divide(2 * diag, support + predicted))
        present = support > 0
        out = {
            "accuracy": safe_divide(diag.sum(axis=1), cm.sum(axis=(1, 2))),
            "balanced_accuracy": np.nansum(recall, axis=1) / np.maximum(present.sum(axis=1), 1),
            "precision_macro": precision.mean(axis=1),
            "recall_macro": np.nan_to_num(recall).mean(axis=1),
            "f1_macro": f1.mean(axis=1),
        }
        if loss is not None:
            out["log_loss"] = safe_divide(w @ loss, w.sum(axis=1))
        return np.column_stack([out[m] for m in names])

    return _metric_set("multiclass", names, point, statistic, n, n_resamples, level, seed)


# ------------------------------------------------------------------------------------ regression
def regression_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, *, n_resamples: int = 1000, level: float = 0.95, seed: int = 0,
) -> MetricSet:
    """MAE, RMSE, R² and (where no target is zero) MAPE, with bootstrap CIs."""
    yt = np.asarray(y_true, dtype=np.float64)
    yp = np.asarray(y_pred, dtype=np.float64)
    n = _check_lengths(yt, yp)
    if not (np.isfinite(yt).all() and np.isfinite(yp).all()):
        raise DataError("regression metrics need finite targets and predictions; found NaN or infinite values")
    err = yp - yt
    point = {
        "mae": skm.mean_absolute_error(yt, yp),
        "rmse": float(np.sqrt(skm.mean_squared_error(yt, yp))),
        "r2": skm.r2_score(yt, yp) if n > 1 else float("nan"),
    }
    has_mape = bool(np.all(np.abs(yt) > 0))
    if has_mape:
        point["mape"] = skm.mean_absolute_percentage_error(yt, yp)
    names = list(point)
    abs_err, sq_err, y2 = np.abs(err), err**2, yt**2
    ape = np.abs(err) / np.abs(yt) if has_mape else None

    def statistic(w: np.ndarray) -> np.ndarray:
        total = w.sum(axis=1)
        sse = w @ sq_err
        sst = w @ y2 - safe_divide((w @ yt) ** 2, total)
        out = {"mae": safe_divide(w @ abs_err, total), "rmse": np.sqrt(safe_divide(sse, total)), "r2": 1 - safe_divide(sse, sst)}
        if ape is not None:
            out["mape"] = safe_divide(w @ ape, total)
        return np.column_stack([out[m] for m in names])

    return _metric_set("regression", names, point, statistic, n, n_resamples, level, seed)


def _metric_set(kind: str, names: list[str], point: dict[str, float], statistic: Any, n: int, n_resamples: int,
                level: float, seed: int) -> MetricSet:
    """Point estimates plus bootstrap intervals of ``statistic`` (one column per metric name)."""
    samples = bootstrap_samples(statistic, n, n_resamples, seed) if n_resamples > 0 else np.empty((0, len(names)))
    result = MetricSet(kind, n, n_resamples)
    for j, name in enumerate(names):
        result.values[name] = estimate(point[name], samples[:, j] if len(samples) else samples, level)
    return result
