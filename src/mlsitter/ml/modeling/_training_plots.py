"""Plots of a training run as PNG bytes: learning curve, confusion matrix or residuals, feature
importance, and the optimisation history of the HPO study."""

from __future__ import annotations

from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mlsitter.report import figure_png  # noqa: E402


def learning_curve_png(pipeline: Any, X: pd.DataFrame, y: pd.Series, *, scoring: Any, task: str, seed: int,
                       folds: int = 3, metric_name: str = "score") -> tuple[bytes, dict[str, list[float]]]:
    """Train/validation score against training-set size (3 sizes x ``folds`` folds)."""
    from sklearn.model_selection import KFold, StratifiedKFold, learning_curve

    cv = (StratifiedKFold if task == "classification" else KFold)(n_splits=folds, shuffle=True, random_state=seed)
    order = stratified_order(np.asarray(y), seed) if task == "classification" else np.arange(len(y))
    # learning_curve fits on the first rows of each training fold: in this order every such prefix holds each
    # class in its share (a shuffled prefix of 66 rows can miss a 7 % class, and its scores were NaN)
    sizes, train, valid = learning_curve(pipeline, X.iloc[order], np.asarray(y)[order], train_sizes=[0.25, 0.5, 1.0],
                                         cv=cv, scoring=scoring, shuffle=False, n_jobs=1)
    fig, ax = plt.subplots(figsize=(6, 4))
    for scores, label in ((train, "train"), (valid, "validation")):
        mean, std = scores.mean(axis=1), scores.std(axis=1)
        ax.plot(sizes, mean, marker="o", label=label)
        ax.fill_between(sizes, mean - std, mean + std, alpha=0.2)
    ax.set_xlabel("training rows")
    ax.set_ylabel(metric_name)
    ax.set_title("Learning curve")
    ax.legend()
    data = {"sizes": [int(s) for s in sizes], "train": [float(v) for v in train.mean(axis=1)],
            "validation": [float(v) for v in valid.mean(axis=1)]}
    return figure_png(fig), data


def stratified_order(y: np.ndarray, seed: int) -> np.ndarray:
    """A seeded row order in which each class is spread evenly, so that every prefix is (nearly) stratified."""
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(len(y))
    _, codes = np.unique(y[shuffled], return_inverse=True)
    counts = np.bincount(codes)
    rank = np.zeros(len(y))
    for code, count in enumerate(counts):
        members = np.flatnonzero(codes == code)
        rank[members] = (np.arange(count) + 0.5) / count
    return shuffled[np.argsort(rank, kind="stable")]


def confusion_matrix_png(y_true: Any, y_pred: Any, classes: Sequence[Any]) -> bytes:
    """Confusion matrix on the test split (counts, row-normalised colour)."""
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(y_true, y_pred, labels=list(classes))
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.6 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, f"{count:,}", ha="center", va="center", color="white" if share[i, j] > 0.5 else "black", fontsize=8)
    labels = [str(c) for c in classes]
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title("Confusion matrix (test)")
    return figure_png(fig)


def residuals_png(y_true: Any, y_pred: Any) -> bytes:
    """Residuals against predictions, and predicted against actual, on the test split."""
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.scatter(y_pred, y_true - y_pred, s=6, alpha=0.4)
    left.axhline(0, color="black", linewidth=1)
    left.set_xlabel("predicted")
    left.set_ylabel("residual (actual - predicted)")
    left.set_title("Residuals (test)")
    right.scatter(y_true, y_pred, s=6, alpha=0.4)
    low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    right.plot([low, high], [low, high], color="black", linewidth=1)
    right.set_xlabel("actual")
    right.set_ylabel("predicted")
    right.set_title("Predicted vs actual (test)")
    return figure_png(fig)


def importance_png(names: Sequence[str], values: Sequence[float], title: str, top: int = 20) -> bytes:
    """Horizontal bar chart of the ``top`` most important features."""
    order = np.argsort(np.asarray(values))[::-1][:top][::-1]
    fig, ax = plt.subplots(figsize=(7, max(3.0, 0.3 * len(order) + 1)))
    ax.barh([str(names[i]) for i in order], [float(values[i]) for i in order], color="#3b82f6")
    ax.set_title(title)
    ax.set_xlabel("importance")
    return figure_png(fig)


def optimisation_history_png(numbers: Sequence[int], values: Sequence[float | None], greater_is_better: bool,
                             metric_name: str) -> bytes:
    """Each trial's CV score and the best score so far."""
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [n for n, v in zip(numbers, values) if v is not None]
    ys = [v for v in values if v is not None]
    ax.scatter(xs, ys, s=14, label="trial")
    best, running = [], None
    for v in ys:
        running = v if running is None else (max(running, v) if greater_is_better else min(running, v))
        best.append(running)
    ax.step(xs, best, where="post", color="black", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"CV {metric_name}")
    ax.set_title("Optimisation history")
    ax.legend()
    return figure_png(fig)
