"""Calibration of predicted probabilities: expected calibration error, reliability diagram, and an
optional recalibration (isotonic or sigmoid) fitted on one half of the data and judged on the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlsitter.errors import SpecError
from mlsitter.ml.metrics._bootstrap import Estimate, bootstrap_samples, estimate
from mlsitter.naming import stable_name


@stable_name("ml.metrics.ReliabilityBin")
@dataclass
class ReliabilityBin:
    """One probability bin: how many rows, mean predicted probability, observed positive rate."""

    low: float
    high: float
    count: int
    mean_predicted: float
    observed_rate: float


@stable_name("ml.metrics.CalibrationResult")
@dataclass
class CalibrationResult:
    """ECE (with CI), maximum calibration error and the bins behind the reliability diagram."""

    ece: Estimate
    mce: float
    n_bins: int
    bins: list[ReliabilityBin] = field(default_factory=list)


def _bin_index(score: np.ndarray, n_bins: int) -> np.ndarray:
    return np.minimum((score * n_bins).astype(int), n_bins - 1)


def expected_calibration_error(
    y_true: np.ndarray, y_score: np.ndarray, n_bins: int = 10, *, n_resamples: int = 200, seed: int = 0,
    level: float = 0.95,
) -> CalibrationResult:
    """ECE with equal-width bins: sum over bins of (bin share) x |observed rate - mean predicted|."""
    if n_bins < 2:
        raise SpecError(f"n_bins for calibration must be at least 2; got {n_bins}")
    yt = np.asarray(y_true).astype(np.float64)
    score = np.clip(np.asarray(y_score, dtype=np.float64), 0.0, 1.0)
    idx = _bin_index(score, n_bins)
    onehot = np.zeros((len(score), n_bins))
    onehot[np.arange(len(score)), idx] = 1.0
    ys, ps = onehot * yt[:, None], onehot * score[:, None]

    def ece_of(w: np.ndarray) -> np.ndarray:
        count, pos, pred = w @ onehot, w @ ys, w @ ps
        total = count.sum(axis=1)
        return np.abs(pos - pred).sum(axis=1) / total  # = sum_b n_b/N * |pos_b/n_b - pred_b/n_b|

    ones = np.ones((1, len(score)))
    point = float(ece_of(ones)[0])
    samples = bootstrap_samples(ece_of, len(score), n_resamples, seed) if n_resamples else np.empty(0)
    bins: list[ReliabilityBin] = []
    gaps = []
    count, pos, pred = onehot.sum(0), ys.sum(0), ps.sum(0)
    for b in range(n_bins):
        if count[b] == 0:
            continue
        rate, mean_p = pos[b] / count[b], pred[b] / count[b]
        gaps.append(abs(rate - mean_p))
        bins.append(ReliabilityBin(b / n_bins, (b + 1) / n_bins, int(count[b]), float(mean_p), float(rate)))
    return CalibrationResult(estimate(point, samples, level), float(max(gaps) if gaps else 0.0), n_bins, bins)


def reliability_figure(results: dict[str, CalibrationResult]) -> Any:
    """Reliability diagram: observed positive rate vs mean predicted probability, one line per model."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, (ax, hist) = plt.subplots(2, 1, figsize=(6, 6.5), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfectly calibrated")
    for label, res in results.items():
        xs = [b.mean_predicted for b in res.bins]
        ax.plot(xs, [b.observed_rate for b in res.bins], marker="o", label=f"{label} (ECE {res.ece.value:.3f})")
        hist.bar([(b.low + b.high) / 2 for b in res.bins], [b.count for b in res.bins], width=1 / res.n_bins, alpha=0.5, label=label)
    ax.set_ylabel("observed positive rate")
    ax.set_title("Reliability diagram")
    ax.legend(loc="upper left", fontsize=8)
    hist.set_xlabel("predicted probability")
    hist.set_ylabel("rows")
    fig.tight_layout()
    return fig


@stable_name("ml.metrics.RecalibrationResult")
@dataclass
class RecalibrationResult:
    """Before/after ECE on the held-out half; ``model`` is the recalibrated estimator."""

    method: str
    ece_before: float
    ece_after: float
    brier_before: float
    brier_after: float
    n_fit: int
    n_holdout: int
    model: Any = None


def recalibrate(
    model: Any, X: Any, y_true: np.ndarray, method: str = "isotonic", *, seed: int = 0, n_bins: int = 10,
) -> RecalibrationResult:
    """Fit a calibrator (``isotonic`` or ``sigmoid``) on the frozen model with half the rows; score the other half."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator
    from sklearn.metrics import brier_score_loss

    if method not in ("isotonic", "sigmoid"):
        raise SpecError(f"recalibration method must be 'isotonic' or 'sigmoid'; got {method!r}")
    yt = np.asarray(y_true).astype(bool)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(yt))
    fit_idx, hold_idx = perm[: len(perm) // 2], perm[len(perm) // 2:]
    classes = list(getattr(model, "classes_", [False, True]))
    positive = classes[-1]
    y_model = np.where(yt, positive, classes[0])
    calibrated = CalibratedClassifierCV(FrozenEstimator(model), method=method)
    calibrated.fit(X.iloc[fit_idx], y_model[fit_idx])
    before = model.predict_proba(X.iloc[hold_idx])[:, -1]
    after = calibrated.predict_proba(X.iloc[hold_idx])[:, -1]
    yh = yt[hold_idx]
    return RecalibrationResult(
        method=method,
        ece_before=expected_calibration_error(yh, before, n_bins, n_resamples=0).ece.value,
        ece_after=expected_calibration_error(yh, after, n_bins, n_resamples=0).ece.value,
        brier_before=float(brier_score_loss(yh, before)),
        brier_after=float(brier_score_loss(yh, after)),
        n_fit=len(fit_idx), n_holdout=len(hold_idx), model=calibrated,
    )
