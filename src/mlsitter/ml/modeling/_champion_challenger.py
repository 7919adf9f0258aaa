"""Champion against challenger on the same rows: DeLong's test for ROC AUC, a paired bootstrap for any
other metric. Both are one-sided (is the challenger better?) and paired (the same holdout rows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from mlsitter.errors import InputError
from mlsitter.naming import stable_name


@stable_name("ml.modeling.PairedComparison")
@dataclass
class PairedComparison:
    """Both scores on the same rows, their difference, its CI and the one-sided p-value (challenger better)."""

    metric: str
    test: str  # delong | paired-bootstrap
    champion: float
    challenger: float
    difference: float  # challenger - champion, oriented so that larger is better
    ci_low: float
    ci_high: float
    p_value: float
    n: int


def _midranks(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return np.asarray(rankdata(x, method="average"), dtype=float)


def delong_test(y_true: Any, champion_scores: Any, challenger_scores: Any, confidence: float = 0.95) -> PairedComparison:
    """DeLong et al. (1988) for two correlated ROC AUCs, in Sun & Xu's (2014) midrank form."""
    from scipy.stats import norm

    y = np.asarray(y_true).astype(int)
    scores = np.vstack([np.asarray(champion_scores, float), np.asarray(challenger_scores, float)])
    if scores.shape[1] != len(y):
        raise InputError(f"DeLong: {len(y)} labels but {scores.shape[1]} scores; expected one score per row")
    pos, neg = scores[:, y == 1], scores[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    if m < 2 or n < 2:
        raise InputError(f"DeLong needs at least two rows of each class; got {m} positive and {n} negative")
    aucs, v01, v10 = np.zeros(2), np.zeros((2, m)), np.zeros((2, n))
    for k in range(2):
        tx, ty, tz = _midranks(pos[k]), _midranks(neg[k]), _midranks(np.concatenate([pos[k], neg[k]]))
        aucs[k] = (tz[:m].sum() - m * (m + 1) / 2) / (m * n)
        v01[k] = (tz[:m] - tx) / n
        v10[k] = 1.0 - (tz[m:] - ty) / m
    cov = np.cov(v01) / m + np.cov(v10) / n
    diff = float(aucs[1] - aucs[0])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    se = float(np.sqrt(max(var, 1e-24)))
    z = norm.ppf(0.5 + confidence / 2)
    p = float(norm.sf(diff / se)) if var > 1e-24 else (0.0 if diff > 0 else 1.0)
    return PairedComparison("roc_auc", "delong", float(aucs[0]), float(aucs[1]), diff, float(diff - z * se), float(diff + z * se),
                            p, len(y))


def paired_bootstrap_test(y_true: Any, champion_pred: Any, challenger_pred: Any, metric: Callable[[Any, Any], float],
                          name: str, greater_is_better: bool = True, n_resamples: int = 2000, seed: int = 0,
                          confidence: float = 0.95) -> PairedComparison:
    """Resample rows with replacement, score both models on each resample; p = share of resamples where the
    challenger is not better (one-sided), with a percentile CI of the difference."""
    y, a, b = np.asarray(y_true), np.asarray(champion_pred), np.asarray(challenger_pred)
    if not len(y) == len(a) == len(b) or len(y) < 2:
        raise InputError(f"paired bootstrap: expected as many predictions as labels (>= 2), got {len(y)}, {len(a)}, {len(b)}")
    sign = 1.0 if greater_is_better else -1.0
    base_a, base_b = float(metric(y, a)), float(metric(y, b))
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_resamples)
    for i in range(n_resamples):
        idx = rng.integers(0, len(y), len(y))
        diffs[i] = sign * (float(metric(y[idx], b[idx])) - float(metric(y[idx], a[idx])))
    low, high = np.nanpercentile(diffs, [50 * (1 - confidence), 50 * (1 + confidence)])
    p = float((np.sum(diffs <= 0) + 1) / (np.sum(~np.isnan(diffs)) + 1))
    return PairedComparison(name, "paired-bootstrap", base_a, base_b, sign * (base_b - base_a), float(low), float(high),
                            p, len(y))
