"""Group fairness with Fairlearn: metrics by group (MetricFrame), demographic parity and equalized
odds difference and ratio with bootstrap CIs, and mitigation by Fairlearn's ThresholdOptimizer.

Point values are Fairlearn's own; the intervals recompute the same group rates for a whole matrix of
Poisson bootstrap weights at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlsitter.errors import DataError, SpecError
from mlsitter.ml.metrics._bootstrap import Estimate, bootstrap_samples, estimate, safe_divide
from mlsitter.naming import ADDED_LATER, stable_name


@stable_name("ml.evaluation.FairnessResult")
@dataclass
class FairnessResult:
    """Fairness of binary predictions across the groups of one sensitive attribute."""

    attribute: str
    groups: list[dict[str, Any]]
    dp_difference: Estimate
    dp_ratio: Estimate
    eo_difference: Estimate
    eo_ratio: Estimate
    excluded_groups: list[str] = field(default_factory=list)
    binning: str = field(default="", metadata=ADDED_LATER)  # how a continuous attribute was binned (edges)
    eo_excluded_groups: list[str] = field(default_factory=list, metadata=ADDED_LATER)  # too few positives or negatives for TPR / FPR

    def summary(self) -> dict[str, Any]:
        return {
            "attribute": self.attribute, **({"binning": self.binning} if self.binning else {}),
            **{f"{k}{s}": getattr(getattr(self, k), a) for k in ("dp_difference", "dp_ratio", "eo_difference", "eo_ratio")
               for s, a in (("", "value"), ("_low", "low"), ("_high", "high"))},
        }


def _group_labels(values: pd.Series | np.ndarray) -> np.ndarray:
    return pd.Series(values).astype("string").fillna("(missing)").to_numpy(dtype=object)


#: a numeric sensitive attribute with more distinct values than this is binned (age, income)
MAX_GROUPS = 10


@stable_name("ml.evaluation.SensitiveGroups")
@dataclass
class SensitiveGroups:
    """Group label per row; for a binned continuous attribute, the edges and how they were chosen."""

    labels: np.ndarray
    edges: list[float] = field(default_factory=list)
    binning: str = ""


def _edge_text(x: float) -> str:
    return f"{x:.4g}"


def sensitive_groups(values: pd.Series | np.ndarray, attribute: str, *, max_groups: int = MAX_GROUPS,
                     bins: int = 5) -> SensitiveGroups:
    """Groups of a sensitive attribute; a continuous one is binned at its quantile edges (stated in ``binning``).

    Fairness over 55 one-year age groups compares rates on a handful of rows each, and the max/min over
    that many noisy rates is a statistic of the noise; ``bins`` quantile bins give groups of similar size.
    """
    series = pd.Series(values)
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if not numeric or series.nunique(dropna=True) <= max_groups:
        return SensitiveGroups(_group_labels(series))
    x = series.to_numpy(dtype=np.float64)
    finite = x[np.isfinite(x)]
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))
    if np.all(np.equal(np.mod(finite, 1), 0)):  # integer-valued (age in years): whole-number edges
        edges = np.unique(np.round(edges))
    text = ", ".join(_edge_text(e) for e in edges)
    return SensitiveGroups(binned_labels(x, list(edges)), [float(e) for e in edges],
                           f"{attribute} binned into {len(edges) + 1} groups at quantile edges {text}")


def binned_labels(values: Any, edges: list[float]) -> np.ndarray:
    """Bin labels ('< 30', '30 to < 41', '>= 41') of numeric ``values`` at ``edges``; NaN is '(missing)'."""
    x = np.asarray(values, dtype=np.float64)
    names = ([f"< {_edge_text(edges[0])}"] + [f"{_edge_text(a)} to < {_edge_text(b)}" for a, b in zip(edges[:-1], edges[1:])]
             + [f">= {_edge_text(edges[-1])}"])
    labels = np.array(names, dtype=object)[np.searchsorted(edges, np.nan_to_num(x), side="right")]
    labels[~np.isfinite(x)] = "(missing)"
    return labels


def fairness_by_group(
    y_true: np.ndarray, y_pred: np.ndarray, sensitive: pd.Series | np.ndarray, attribute: str, *,
    min_group_size: int = 1, n_resamples: int = 1000, level: float = 0.95, seed: int = 0,
) -> FairnessResult:
    """MetricFrame by group plus DP/EO difference and ratio (Fairlearn definitions) with bootstrap CIs.

    Groups with fewer than ``min_group_size`` rows are shown in the table but left out of the gaps,
    because a rate on a handful of rows says nothing (they are listed in ``excluded_groups``). The size counts
    the events each metric divides by: selection rates need ``min_group_size`` rows, but a true-positive rate
    needs that many positives and a false-positive rate that many negatives, so equalized odds is measured
    only over groups with both (the others are listed in ``eo_excluded_groups``; NaN below two such groups).
    """
    from fairlearn.metrics import (
        MetricFrame, count, demographic_parity_difference, demographic_parity_ratio,
        equalized_odds_difference, equalized_odds_ratio, false_positive_rate, selection_rate, true_positive_rate,
    )
    from sklearn.metrics import accuracy_score

    yt = np.asarray(y_true).astype(int)
    yp = np.asarray(y_pred).astype(int)
    grouping = sensitive_groups(sensitive, attribute)
    groups = grouping.labels
    if not (len(yt) == len(yp) == len(groups)):
        raise DataError(f"y_true, y_pred and sensitive attribute {attribute!r} differ in length: {len(yt)}, {len(yp)}, {len(groups)}")
    frame = MetricFrame(
        metrics={"count": count, "selection_rate": selection_rate, "true_positive_rate": true_positive_rate,
                 "false_positive_rate": false_positive_rate, "accuracy": accuracy_score},
        y_true=yt, y_pred=yp, sensitive_features=pd.Series(groups, name=attribute),
    )
    table = frame.by_group.reset_index()
    sizes = dict(zip(table[attribute], table["count"]))
    kept = [g for g, c in sizes.items() if c >= min_group_size]
    excluded = [g for g in sizes if g not in kept]
    if len(kept) < 2:
        raise DataError(
            f"sensitive attribute {attribute!r} needs at least two groups with >= {min_group_size} rows to measure a gap; "
            f"found group sizes {sizes}"
        )
    mask = np.isin(groups, kept)
    yk, pk, gk = yt[mask], yp[mask], groups[mask]
    eo_kept = event_groups(yk, gk, kept, min_group_size)
    eo_mask = np.isin(gk, eo_kept)
    measurable = len(eo_kept) >= 2
    point = {
        "dp_difference": demographic_parity_difference(yk, pk, sensitive_features=gk),
        "dp_ratio": demographic_parity_ratio(yk, pk, sensitive_features=gk),
        "eo_difference": equalized_odds_difference(yk[eo_mask], pk[eo_mask], sensitive_features=gk[eo_mask])
        if measurable else float("nan"),
        "eo_ratio": equalized_odds_ratio(yk[eo_mask], pk[eo_mask], sensitive_features=gk[eo_mask])
        if measurable else float("nan"),
    }
    eo_cols = np.isin(np.array(kept, dtype=object), eo_kept)
    onehot = (gk[:, None] == np.array(kept, dtype=object)[None, :]).astype(np.float64)
    sel, tp, fp = onehot * pk[:, None], onehot * (yk * pk)[:, None], onehot * ((1 - yk) * pk)[:, None]
    pos = onehot * yk[:, None]

    def gaps(w: np.ndarray) -> np.ndarray:
        n_g, n_pos = w @ onehot, w @ pos
        with np.errstate(all="ignore"):
            rate = safe_divide(w @ sel, n_g)
            tpr = np.where(eo_cols, safe_divide(w @ tp, n_pos), np.nan)
            fpr = np.where(eo_cols, safe_divide(w @ fp, n_g - n_pos), np.nan)
            dp_diff = np.nanmax(rate, 1) - np.nanmin(rate, 1)
            dp_ratio = safe_divide(np.nanmin(rate, 1), np.nanmax(rate, 1))
            eo_diff = np.maximum(np.nanmax(tpr, 1) - np.nanmin(tpr, 1), np.nanmax(fpr, 1) - np.nanmin(fpr, 1))
            eo_ratio = np.minimum(safe_divide(np.nanmin(tpr, 1), np.nanmax(tpr, 1)),
                                  safe_divide(np.nanmin(fpr, 1), np.nanmax(fpr, 1)))
        return np.column_stack([dp_diff, dp_ratio, eo_diff, eo_ratio])

    samples = bootstrap_samples(gaps, len(yk), n_resamples, seed) if n_resamples else np.empty((0, 4))
    names = ["dp_difference", "dp_ratio", "eo_difference", "eo_ratio"]
    ests = {k: estimate(point[k], samples[:, j] if len(samples) else samples, level, (0.0, 1.0)) for j, k in enumerate(names)}
    records = table.rename(columns={attribute: "group"}).to_dict("records")
    for r in records:
        r["group"] = str(r["group"])
        r["count"] = int(r["count"])
    return FairnessResult(attribute, records, excluded_groups=[str(g) for g in excluded], binning=grouping.binning,
                          eo_excluded_groups=[str(g) for g in kept if g not in eo_kept], **ests)


def event_groups(y: np.ndarray, groups: np.ndarray, kept: list[Any], min_events: int) -> list[Any]:
    """The groups of ``kept`` with at least ``min_events`` positives and as many negatives: those whose
    true- and false-positive rates rest on enough events to compare."""
    y = np.asarray(y).astype(int)
    out = []
    for g in kept:
        rows = groups == g
        positives = int(y[rows].sum())
        if positives >= min_events and int(rows.sum()) - positives >= min_events:
            out.append(g)
    return out


def fairness_figure(results: list[FairnessResult]) -> Any:
    """Selection rate and true-positive rate by group, one panel per sensitive attribute."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 4), squeeze=False)
    for ax, res in zip(axes[0], results):
        names = [g["group"] for g in res.groups]
        x = np.arange(len(names))
        ax.bar(x - 0.2, [g["selection_rate"] for g in res.groups], width=0.4, label="selection rate")
        ax.bar(x + 0.2, [g["true_positive_rate"] for g in res.groups], width=0.4, label="true positive rate")
        ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{res.attribute}: DP ratio {res.dp_ratio.value:.2f}, EO diff {res.eo_difference.value:.2f}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


OTHER_GROUPS = "(other small groups)"


def combined_groups(frame: pd.DataFrame, attributes: list[str], edges: dict[str, list[float]] | None = None) -> pd.Series:
    """One group label per row from several sensitive columns (intersectional groups, e.g. 'Female | Black');
    a continuous attribute with ``edges`` is binned at them first."""
    edges = edges or {}
    parts = [pd.Series(binned_labels(frame[a], edges[a]), index=frame.index, dtype="string") if edges.get(a)
             else frame[a].astype("string").fillna("(missing)") for a in attributes]
    out = parts[0]
    for p in parts[1:]:
        out = out + " | " + p
    return out.astype(object)


def fit_groups(groups: pd.Series, y: np.ndarray, min_group_size: int) -> tuple[list[str], str]:
    """Groups big enough to get their own thresholds (both labels present); the rest share one group.

    Returns (kept groups, the label the rest map to): ThresholdOptimizer needs both labels in every group.
    """
    frame = pd.DataFrame({"g": groups.to_numpy(), "y": y.astype(int)})
    stats = frame.groupby("g")["y"].agg(["size", "sum"])
    ok = stats[(stats["size"] >= min_group_size) & (stats["sum"] > 0) & (stats["sum"] < stats["size"])]
    kept = [str(g) for g in ok.index]
    if not kept:
        raise DataError(f"no sensitive group has >= {min_group_size} rows with both outcomes; cannot fit ThresholdOptimizer")
    rest = stats.drop(index=ok.index)
    if len(rest) and rest["size"].sum() >= min_group_size and 0 < rest["sum"].sum() < rest["size"].sum():
        return kept, OTHER_GROUPS
    largest = str(ok["size"].idxmax())
    return kept, largest


class MitigatedModel:
    """A fitted ThresholdOptimizer that predicts from a frame holding the sensitive columns itself."""

    def __init__(self, optimizer: Any, sensitive: list[str], positive_label: Any, negative_label: Any, seed: int = 0,
                 groups: list[str] | None = None, fallback_group: str = "",
                 edges: dict[str, list[float]] | None = None) -> None:
        self.optimizer = optimizer
        self.sensitive = list(sensitive)
        self.positive_label = positive_label
        self.negative_label = negative_label
        self.seed = seed
        self.groups = list(groups or [])
        self.fallback_group = fallback_group
        self.edges = dict(edges or {})  # bin edges of continuous sensitive attributes, fixed on the fitting half
        self.classes_ = np.array([negative_label, positive_label], dtype=object)

    def group_of(self, X: pd.DataFrame) -> pd.Series:
        g = combined_groups(X, self.sensitive, getattr(self, "edges", None))  # models pickled before binning have none
        return g.where(g.isin(self.groups), self.fallback_group)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        flags = self.optimizer.predict(X, sensitive_features=self.group_of(X).to_numpy(), random_state=self.seed)
        return np.where(np.asarray(flags).astype(bool), self.positive_label, self.negative_label)


@stable_name("ml.evaluation.MitigationResult")
@dataclass
class MitigationResult:
    """ThresholdOptimizer fitted on one half of the data; both models judged on the other half."""

    constraint: str
    attributes: list[str]
    n_fit: int
    n_holdout: int
    holdout_index: list[int]
    model: MitigatedModel
    groups: list[str] = field(default_factory=list)


def mitigate_with_threshold_optimizer(
    model: Any, X: pd.DataFrame, y_true: np.ndarray, attributes: list[str], constraint: str = "demographic_parity",
    *, positive_label: Any = 1, seed: int = 0, min_group_size: int = 30,
) -> MitigationResult:
    """Post-process the (prefit) model with group-specific thresholds under a Fairlearn constraint.

    Several attributes give intersectional groups; groups too small (or with one outcome only) in the
    fitting half share one threshold group, because ThresholdOptimizer needs both outcomes per group.
    """
    from fairlearn.postprocessing import ThresholdOptimizer

    allowed = ("demographic_parity", "equalized_odds", "true_positive_rate_parity", "false_positive_rate_parity")
    if constraint not in allowed:
        raise SpecError(f"mitigation constraint must be one of {allowed}; got {constraint!r}")
    missing = [a for a in attributes if a not in X.columns]
    if missing:
        raise DataError(f"sensitive attributes {missing} are not columns of the data; columns are {list(X.columns)[:20]}")
    yt = np.asarray(y_true).astype(int)
    perm = np.random.default_rng(seed).permutation(len(yt))
    fit_idx, hold_idx = np.sort(perm[: len(perm) // 2]), np.sort(perm[len(perm) // 2:])
    Xf = X.iloc[fit_idx]
    edges = {a: grouping.edges for a in attributes if (grouping := sensitive_groups(Xf[a], a)).edges}
    kept, fallback = fit_groups(combined_groups(Xf, attributes, edges), yt[fit_idx], min_group_size)
    negative = [c for c in getattr(model, "classes_", [0, 1]) if c != positive_label]
    optimizer = ThresholdOptimizer(estimator=model, constraints=constraint, objective="accuracy_score",
                                   prefit=True, predict_method="predict_proba")
    wrapped = MitigatedModel(optimizer, attributes, positive_label, negative[0] if negative else 0, seed, kept, fallback,
                             edges)
    optimizer.fit(Xf, yt[fit_idx], sensitive_features=wrapped.group_of(Xf).to_numpy())
    return MitigationResult(constraint, list(attributes), len(fit_idx), len(hold_idx), hold_idx.tolist(), wrapped,
                            kept + ([fallback] if fallback == OTHER_GROUPS else []))
