"""Stability of a global importance ranking: recompute mean |SHAP| on bootstrap resamples of the
explained rows and measure how well each resample's ranking agrees with the full one (Spearman).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlsitter.ml.metrics._bootstrap import bootstrap_samples
from mlsitter.naming import stable_name


@stable_name("ml.explain.RankStability")
@dataclass
class RankStability:
    """Agreement of bootstrap importance rankings with the full-data ranking."""

    mean_spearman: float
    p05_spearman: float
    top_k: int
    top_k_agreement: float  # share of resamples whose top-k set equals the full top-k set
    n_resamples: int


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks along the last axis (0 = smallest); ties broken by position, fine for continuous values."""
    return np.argsort(np.argsort(values, axis=-1, kind="mergesort"), axis=-1).astype(np.float64)


def rank_stability(abs_values: np.ndarray, *, n_resamples: int = 200, top_k: int = 5, seed: int = 0) -> RankStability:
    """``abs_values``: rows x features |SHAP|. Spearman of each resample's mean |SHAP| vs the full mean."""
    abs_values = np.abs(np.asarray(abs_values, dtype=np.float64))
    n, p = abs_values.shape
    full = abs_values.mean(axis=0)
    if p < 2:
        return RankStability(1.0, 1.0, min(top_k, p), 1.0, n_resamples)
    boot = bootstrap_samples(lambda w: (w @ abs_values) / w.sum(axis=1, keepdims=True), n, n_resamples, seed)
    rf = _ranks(full)
    rb = _ranks(boot)
    rf_c = rf - rf.mean()
    rb_c = rb - rb.mean(axis=1, keepdims=True)
    rho = (rb_c @ rf_c) / np.sqrt((rb_c**2).sum(axis=1) * (rf_c**2).sum())
    k = min(top_k, p)
    top_full = set(np.argsort(-full)[:k].tolist())
    top_boot = np.argsort(-boot, axis=1)[:, :k]
    agree = np.mean([set(row.tolist()) == top_full for row in top_boot])
    return RankStability(float(rho.mean()), float(np.quantile(rho, 0.05)), k, float(agree), n_resamples)
