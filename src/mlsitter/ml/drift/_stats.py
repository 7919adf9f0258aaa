"""Per-feature drift of one window against the reference profile: Kolmogorov-Smirnov and Wasserstein for
numeric features, chi-square and Jensen-Shannon for categorical ones, PSI for both (scipy and statsmodels
do the statistics). A feature drifts only when its test is significant after multiple-testing correction
*and* its effect size passes its threshold, so a large window does not turn noise into alerts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from mlsitter.errors import SpecError
from mlsitter.ml.drift._profile import (
    CATEGORICAL, FeatureProfile, ReferenceProfile, _category_counts, _numeric_values, bin_counts, columns_of,
    each_column, groups, one_blas_thread)
from mlsitter.naming import stable_name

EFFECTS = {"numeric": ("wasserstein", "ks", "psi"), "categorical": ("jensenshannon", "psi")}
CORRECTIONS = {"bh": "fdr_bh", "bonferroni": "bonferroni", "none": ""}
PSI_FLOOR = 1e-4  # share given to an empty bin so PSI stays finite (the common convention)


@stable_name("ml.drift.Thresholds")
@dataclass(frozen=True)
class Thresholds:
    """Significance level, correction, and which effect size decides each kind with its threshold."""

    alpha: float = 0.05
    correction: str = "bh"  # bh | bonferroni | none
    numeric_effect: str = "wasserstein"  # normalised Wasserstein | ks (the D statistic) | psi
    categorical_effect: str = "jensenshannon"  # Jensen-Shannon distance | psi
    ks: float = 0.1
    wasserstein: float = 0.1  # Wasserstein distance / reference standard deviation
    jensenshannon: float = 0.1
    psi: float = 0.2

    def __post_init__(self) -> None:
        if self.correction not in CORRECTIONS:
            raise SpecError(f"correction {self.correction!r}: expected one of {', '.join(CORRECTIONS)}")
        for kind, effect in (("numeric", self.numeric_effect), ("categorical", self.categorical_effect)):
            if effect not in EFFECTS[kind]:
                raise SpecError(f"{kind}_effect {effect!r}: expected one of {', '.join(EFFECTS[kind])}")

    def effect_of(self, kind: str) -> tuple[str, float]:
        effect = self.categorical_effect if kind == CATEGORICAL else self.numeric_effect
        return effect, float(getattr(self, effect))


@stable_name("ml.drift.FeatureDrift")
@dataclass
class FeatureDrift:
    """One feature in one window: the test, its statistics, the corrected decision and the data to plot it."""

    name: str
    kind: str
    test: str  # ks | chi2
    statistic: float
    p_value: float
    psi: float
    wasserstein: float | None = None
    wasserstein_norm: float | None = None
    jensenshannon: float | None = None
    effect: str = ""
    effect_value: float = 0.0
    effect_threshold: float = 0.0
    p_adjusted: float = 1.0
    significant: bool = False
    drifted: bool = False
    reference_count: int = 0
    current_count: int = 0
    current_missing: int = 0
    bins: list[str] = field(default_factory=list)  # bin or category labels, for the plots
    reference_share: list[float] = field(default_factory=list)
    current_share: list[float] = field(default_factory=list)

    def decision(self) -> str:
        if self.drifted:
            return "drift"
        return "significant, effect below threshold" if self.significant else "no drift"


@stable_name("ml.drift.WindowDrift")
@dataclass
class WindowDrift:
    """All features of one window, corrected together; plus the prediction column's drift when there is one."""

    label: str
    rows: int
    features: list[FeatureDrift]
    prediction: FeatureDrift | None = None
    correction: str = "bh"

    @property
    def drifted(self) -> list[str]:
        return [f.name for f in self.features if f.drifted]

    @property
    def share(self) -> float:
        return len(self.drifted) / len(self.features) if self.features else 0.0


def psi(reference: np.ndarray, current: np.ndarray, floor: float = PSI_FLOOR) -> float:
    """Population stability index of two count vectors over the same bins (empty shares raised to ``floor``)."""
    p = np.maximum(np.asarray(reference, dtype=float) / max(float(np.sum(reference)), 1.0), floor)
    q = np.maximum(np.asarray(current, dtype=float) / max(float(np.sum(current)), 1.0), floor)
    return float(np.sum((q - p) * np.log(q / p)))


def _bin_labels(edges: np.ndarray) -> list[str]:
    cuts = [f"{e:.4g}" for e in edges]
    return [f"< {cuts[0]}" if cuts else "all"] + [f"{a} - {b}" for a, b in zip(cuts, cuts[1:])] + \
        ([f">= {cuts[-1]}"] if cuts else [])


def compare_numeric(ref: FeatureProfile, values: np.ndarray, *, max_sample: int, seed: int) -> FeatureDrift:
    """KS (p-value), Wasserstein (raw and over the reference's standard deviation) and PSI on the reference bins."""
    from scipy.stats import ks_2samp, wasserstein_distance

    counts = bin_counts(values, ref.edges)
    sample = values
    if values.size > max_sample:
        sample = np.random.default_rng(seed).choice(values, size=max_sample, replace=False)
    sample = np.sort(sample)  # once: both tests sort again, which is quick on sorted values (same results)
    if sample.size == 0:
        stat, p, wd = math.nan, math.nan, math.nan
    else:
        test = ks_2samp(ref.sample, sample)
        stat, p = float(test.statistic), float(test.pvalue)
        wd = float(wasserstein_distance(ref.sample, sample))
    scale = _scale(ref, sample)
    return FeatureDrift(ref.name, ref.kind, "ks", stat, p, psi(ref.counts, counts), wd, wd / scale,
                        reference_count=ref.count, current_count=int(values.size),
                        bins=_bin_labels(ref.edges), reference_share=_shares(ref.counts), current_share=_shares(counts))


def _scale(ref: FeatureProfile, sample: np.ndarray) -> float:
    """The reference's standard deviation; for a constant reference the pooled one (else 1), so a feature that
    was constant and now varies gets a finite, large effect."""
    std, mean = ref.summary.get("std", 0.0), ref.summary.get("mean", 0.0)
    if std > 1e-9 * (abs(mean) + 1.0):
        return float(std)
    pooled = float(np.std(np.concatenate([ref.sample, sample])))
    return pooled if pooled > 1e-9 * (abs(mean) + 1.0) else 1.0


def _shares(counts: Any) -> list[float]:
    arr = np.asarray(counts, dtype=float)
    total = float(arr.sum())
    return [float(v) for v in (arr / total if total else arr)]


def compare_categorical(ref: FeatureProfile, current: dict[str, int]) -> FeatureDrift:
    """Chi-square on the reference-vs-current contingency table, Jensen-Shannon distance and PSI of the shares,
    over every category either side has (missing values are a category)."""
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import chi2_contingency

    cats = list(ref.categories) + [c for c in current if c not in ref.categories]
    table = np.array([[ref.categories.get(c, 0) for c in cats], [current.get(c, 0) for c in cats]], dtype=float)
    if len(cats) < 2:
        stat, p = 0.0, 1.0
    else:
        test = chi2_contingency(table)
        stat, p = float(test.statistic), float(test.pvalue)
    shares = table / table.sum(axis=1, keepdims=True)
    js = float(jensenshannon(shares[0], shares[1]))
    return FeatureDrift(ref.name, ref.kind, "chi2", stat, p, psi(table[0], table[1]), jensenshannon=js,
                        reference_count=int(table[0].sum()), current_count=int(table[1].sum()),
                        bins=cats[:30], reference_share=[float(v) for v in shares[0][:30]],
                        current_share=[float(v) for v in shares[1][:30]])


def compare_feature(ref: FeatureProfile, frame: pl.DataFrame, *, max_sample: int, seed: int = 0,
                    what: str = "current") -> FeatureDrift:
    """Compare one column of ``frame`` with its reference profile (statistics only; no decision yet)."""
    if ref.kind == CATEGORICAL:
        out = compare_categorical(ref, _category_counts(frame.get_column(ref.name)))
    else:
        out = compare_numeric(ref, _numeric_values(frame, ref.name, what), max_sample=max_sample, seed=seed)
    out.current_missing = int(frame.get_column(ref.name).null_count())
    return out


def decide(features: list[FeatureDrift], thresholds: Thresholds) -> None:
    """Correct the p-values together (statsmodels ``multipletests``) and set each feature's decision: drift when
    significant after correction and its effect size at or above its threshold."""
    from statsmodels.stats.multitest import multipletests

    raw = np.array([1.0 if math.isnan(f.p_value) else f.p_value for f in features])
    method = CORRECTIONS[thresholds.correction]
    adjusted = multipletests(raw, alpha=thresholds.alpha, method=method)[1] if method and raw.size else raw
    for f, p in zip(features, adjusted):
        effect, limit = thresholds.effect_of(f.kind)
        value = {"wasserstein": f.wasserstein_norm, "ks": f.statistic, "psi": f.psi,
                 "jensenshannon": f.jensenshannon}[effect]
        f.effect, f.effect_threshold = effect, limit
        f.effect_value = float(value) if value is not None and not math.isnan(value) else 0.0
        f.p_adjusted = float(p)
        f.significant = bool(p < thresholds.alpha)
        f.drifted = f.significant and f.effect_value >= limit


def compare_window(profile: ReferenceProfile, table: Any, thresholds: Thresholds, *, label: str = "current",
                   seed: int = 0, prediction: str = "") -> WindowDrift:
    """Every feature of one window (a polars frame or a Parquet path, read a group of columns at a time) against
    the reference, corrected together; the prediction column apart."""
    what = f"window {label}"
    t = columns_of(table)
    features: list[FeatureDrift] = []
    order = {c: i for i, c in enumerate(profile.features)}
    with one_blas_thread():
        for group in groups(list(profile.features)):
            part = t.read(group)
            features += each_column(lambda c: compare_feature(profile.features[c], part,
                                                              max_sample=profile.max_sample, seed=seed + order[c],
                                                              what=what), group)
        decide(features, thresholds)
        pred = None
        if profile.prediction is not None and prediction and prediction in t.columns:
            pred = compare_feature(profile.prediction, t.read([prediction]), max_sample=profile.max_sample,
                                   seed=seed - 1, what=what)
            decide([pred], thresholds)
    return WindowDrift(label, t.height, features, pred, thresholds.correction)
