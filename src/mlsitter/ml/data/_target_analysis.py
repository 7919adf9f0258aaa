"""Target analysis: class balance or distribution, each feature's association with the target, and
leakage suspicion (a feature that alone predicts the target too well).

Single-feature power is the cross-validated score of an out-of-fold per-bin target mean (numeric
features cut into quantile bins, categorical features by value): fast, model-free and honest
because each row is predicted from the other folds only. For a numeric feature and a binary target
it is at least the ROC AUC of the raw values (a monotone threshold needs no fitting).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import polars as pl

from mlsitter.errors import DataError
from mlsitter.ml.data._correlation import category_codes, correlation_ratio, cramers_v
from mlsitter.ml.io._frames import as_pandas, as_polars, sample_rows
from mlsitter.naming import ADDED_LATER, stable_name


@stable_name("ml.data.FeaturePower")
@dataclass
class FeaturePower:
    """How strongly one feature relates to the target, and whether it looks like a leak."""

    feature: str
    association: float
    association_method: str
    single_feature_score: float
    drop_column_loss: float | None = None
    leak: str = ""


@stable_name("ml.data.TargetAnalysis")
@dataclass
class TargetAnalysis:
    """Target kind, balance/distribution, per-feature power (strongest first) and leak suspects."""

    target: str
    task: str
    score_name: str
    classes: dict[str, int] = field(default_factory=dict)
    minority_pct: float | None = None
    imbalance_ratio: float | None = None
    distribution: dict[str, float] = field(default_factory=dict)
    features: list[FeaturePower] = field(default_factory=list)
    leak_suspects: list[str] = field(default_factory=list)
    full_model_score: float | None = None
    rows_used: int = 0
    suspects: list[dict[str, Any]] = field(default_factory=list, metadata=ADDED_LATER)
    leak_threshold: float | None = field(default=None, metadata=ADDED_LATER)


def target_task(series: pl.Series, kind: str) -> str:
    """'classification' for boolean/categorical targets or integers with <= 20 values, else 'regression'."""
    if kind in ("boolean", "categorical", "text", "id") and not series.dtype.is_float():
        return "classification"
    if series.dtype.is_integer() and series.n_unique() <= 20:
        return "classification"
    return "regression"


def _codes(series: pl.Series, kind: str, bins: int) -> np.ndarray:
    """Bin codes for a numeric feature (quantile bins, null = own bin) or value codes for a categorical one."""
    if kind == "numeric" or (series.dtype.is_numeric() and series.n_unique() > bins):
        x = series.cast(pl.Float64).fill_nan(None).to_numpy()
        finite = x[np.isfinite(x)]
        if finite.size == 0:
            return np.zeros(len(x), dtype=np.int64)
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)))[1:-1]
        codes = np.searchsorted(edges, np.nan_to_num(x, nan=0.0), side="right").astype(np.int64)
        codes[~np.isfinite(x)] = edges.size + 1
        return codes
    codes, k = category_codes(series)
    codes[codes < 0] = k
    return codes


def out_of_fold_means(codes: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0, smoothing: float = 10.0) -> np.ndarray:
    """Each row predicted by the smoothed target mean of its bin in the other folds; y is (n,) or (n, classes)."""
    y2 = y.reshape(len(y), -1).astype(float)
    k = int(codes.max()) + 1
    fold = np.random.default_rng(seed).integers(0, folds, len(codes))
    pred = np.zeros_like(y2)
    for f in range(folds):
        train, test = fold != f, fold == f
        if not test.any():
            continue
        prior = y2[train].mean(axis=0)
        counts = np.bincount(codes[train], minlength=k).astype(float)
        for j in range(y2.shape[1]):
            sums = np.bincount(codes[train], weights=y2[train, j], minlength=k)
            pred[test, j] = ((sums + smoothing * prior[j]) / (counts + smoothing))[codes[test]]
    return pred


def _rank_auc(col: pl.Series, y: np.ndarray) -> float:
    """ROC AUC of the raw values in either direction (what a monotone threshold on the feature reaches)."""
    from sklearn.metrics import roc_auc_score

    x = col.cast(pl.Float64).fill_nan(None).to_numpy()
    ok = np.isfinite(x)
    if ok.sum() < 10 or len(np.unique(y[ok])) < 2:
        return 0.5
    auc = float(roc_auc_score(y[ok], x[ok]))
    return max(auc, 1.0 - auc)


def _score(y: np.ndarray, pred: np.ndarray, task: str) -> float:
    from sklearn.metrics import r2_score, roc_auc_score

    if task == "regression":
        return float(r2_score(y, pred.ravel()))
    if y.ndim == 1 or y.shape[1] == 1:
        return float(roc_auc_score(y.ravel(), pred.ravel()))
    return float(roc_auc_score(y, pred, average="macro", multi_class="ovr"))


def analyze_target(
    frame: Any,
    target: str,
    kinds: Mapping[str, str],
    *,
    max_rows: int = 100_000,
    bins: int = 50,
    near_perfect: float = 0.95,
    near_perfect_r2: float = 0.90,
    suspect_score: float = 0.78,
    suspect_drop: float = 0.10,
    max_candidates: int = 3,
    leakage_rows: int = 20_000,
    top_suspects: int = 5,
    seed: int = 0,
) -> TargetAnalysis:
    """Balance, per-feature association and leak suspects for ``target``.

    A feature is a likely leak when, on its own, it scores >= ``near_perfect`` (ROC AUC, for
    classification) or >= ``near_perfect_r2`` (R^2, for regression), or when it scores >= ``suspect_score`` alone *and* removing
    it from a gradient-boosting model on all features costs >= ``suspect_drop`` of that score (it
    carries signal no other feature has, as a value recorded after the outcome would), or when a numeric
    target is a linear combination of a few numeric features (cross-validated R² >= 0.999: a ``total``
    that adds ``fare``, ``tip`` and ``tolls``). ``suspects`` lists the ``top_suspects`` strongest features
    with their score and the threshold, flagged or not, so a near miss is visible.
    """
    df = as_polars(frame)
    if target not in df.columns:
        from mlsitter.ml.io._ingest import require_columns

        require_columns(df, [target], "target")
    df = df.filter(pl.col(target).is_not_null())
    if df.height < 10:
        raise DataError(f"target {target!r}: only {df.height} rows have a target value; need at least 10")
    df = sample_rows(df, max_rows, seed)
    y_series = df[target]
    task = target_task(y_series, kinds.get(target, "categorical"))
    result = TargetAnalysis(target=target, task=task, score_name="roc_auc" if task == "classification" else "r2", rows_used=df.height)

    if task == "classification":
        counts = y_series.cast(pl.String).value_counts(sort=True)
        result.classes = {str(v): int(c) for v, c in counts.iter_rows()}
        values = list(result.classes.values())
        result.minority_pct = 100.0 * min(values) / sum(values)
        result.imbalance_ratio = max(values) / max(min(values), 1)
        labels = list(result.classes)
        y_codes = np.searchsorted(np.array(sorted(labels)), y_series.cast(pl.String).to_numpy())
        ordered = sorted(labels)
        if len(labels) == 2:
            positive = ordered.index(labels[-1])  # the rarer class is the positive one
            y = (y_codes == positive).astype(float)
        else:
            y = np.eye(len(labels))[y_codes]
        y_cat = (y_codes.astype(np.int64), len(labels))
    else:
        yv = y_series.cast(pl.Float64).to_numpy()
        result.distribution = {
            "mean": float(np.mean(yv)), "std": float(np.std(yv)), "min": float(np.min(yv)),
            "p50": float(np.median(yv)), "max": float(np.max(yv)),
        }
        y = yv
        y_cat = None

    features = [c for c in df.columns if c != target and kinds.get(c) in ("numeric", "categorical", "boolean", "datetime")]
    powers: list[FeaturePower] = []
    for feature in features:
        kind = kinds[feature]
        col = df[feature]
        if kind == "datetime":
            col = col.cast(pl.Int64, strict=False)
            kind = "numeric"
        codes = _codes(col, kind, bins)
        score = _score(y, out_of_fold_means(codes, y, seed=seed), task)
        if kind == "numeric" and task == "classification" and y.ndim == 1:
            score = max(score, _rank_auc(col, y))
        if kind == "numeric" and y_cat is not None:
            assoc, method = correlation_ratio(*y_cat, col.cast(pl.Float64).fill_nan(None).fill_null(np.nan).to_numpy()), "correlation_ratio"
        elif kind == "numeric":
            pair = pl.DataFrame({"a": col.cast(pl.Float64), "b": pl.Series(y)}).drop_nulls()
            assoc, method = abs(float(pair.select(pl.corr("a", "b", method="spearman")).item() or 0.0)), "abs_spearman"
        elif y_cat is not None:
            fc, fk = category_codes(col)
            assoc, method = cramers_v(fc, fk, *y_cat), "cramers_v"
        else:
            fc, fk = category_codes(col)
            assoc, method = correlation_ratio(fc, fk, y), "correlation_ratio"
        powers.append(FeaturePower(feature, float(np.nan_to_num(assoc)), method, score))
    powers.sort(key=lambda p: -p.single_feature_score)

    perfect = near_perfect if task == "classification" else near_perfect_r2
    for p in powers:
        if p.single_feature_score >= perfect:
            p.leak = f"alone it reaches {result.score_name} {p.single_feature_score:.3f} (>= {perfect}): near-perfect"
    if task == "regression":  # an exact relation explains a feature better than the drop-column model below
        _flag_reconstruction(powers, sample_rows(df, leakage_rows, seed), target, kinds)
    candidates = [p for p in powers if not p.leak and p.single_feature_score >= suspect_score][:max_candidates]
    if candidates and len(features) >= 2:
        small = sample_rows(df, leakage_rows, seed)
        full = _model_score(small, features, target, task, seed)
        result.full_model_score = full
        for p in candidates:
            dropped = _model_score(small, [f for f in features if f != p.feature], target, task, seed)
            p.drop_column_loss = full - dropped
            if p.drop_column_loss >= suspect_drop:
                p.leak = (
                    f"alone it reaches {result.score_name} {p.single_feature_score:.3f} and removing it drops the all-feature "
                    f"model from {full:.3f} to {dropped:.3f}: it carries signal no other feature has (known only after the outcome?)"
                )
    result.features = powers
    result.leak_suspects = [p.feature for p in powers if p.leak]
    result.leak_threshold = perfect
    result.suspects = [{"feature": p.feature, "score": round(p.single_feature_score, 4), "threshold": perfect,
                        "flagged": bool(p.leak), "reason": p.leak or f"alone {result.score_name} {p.single_feature_score:.3f}, "
                                                                    f"below {perfect}"}
                       for p in sorted(powers, key=lambda p: (not p.leak, -p.single_feature_score))[:top_suspects]]
    return result


def _flag_reconstruction(powers: list[FeaturePower], df: pl.DataFrame, target: str, kinds: Mapping[str, str]) -> None:
    """Flag the numeric features a linear fit combines into the target (an additive or near-deterministic relation)."""
    from mlsitter.ml.data._leakage import reconstructed_target

    numeric = [p.feature for p in powers if kinds.get(p.feature) == "numeric"]
    if not numeric:
        return
    frame = as_pandas(df.select([pl.col(c).cast(pl.Float64) for c in [*numeric, target]]).drop_nulls())
    if len(frame) < 30:
        return
    findings = reconstructed_target(frame[numeric], frame[target].to_numpy(), max_columns=4)
    by_name = {p.feature: p for p in powers}
    for finding in findings:
        power = by_name[finding.column]
        if not power.leak:
            power.leak = f"{finding.detail}: it is computed with the target, or the target from it"


def _model_score(df: pl.DataFrame, features: list[str], target: str, task: str, seed: int) -> float:
    """Cross-validated score (3 folds) of a histogram gradient-boosting model on ``features``.

    One OpenMP thread: on a shared machine more threads than free cores make the fit many times slower.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _cv_score(df, features, target, task, seed)


def _cv_score(df: pl.DataFrame, features: list[str], target: str, task: str, seed: int) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import r2_score, roc_auc_score
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict

    x = as_pandas(df.select(features))
    for c in x.columns:
        if x[c].dtype == object or str(x[c].dtype) in ("category", "string", "bool"):
            codes = x[c].astype("category").cat.codes.astype(float)
            x[c] = codes.where(codes >= 0, np.nan).clip(upper=250)
        elif str(x[c].dtype).startswith("datetime"):
            x[c] = x[c].astype("int64").astype(float)
    y = df[target].to_numpy()
    if task == "classification":
        y = df[target].cast(pl.String).to_numpy()
        model = HistGradientBoostingClassifier(max_iter=60, random_state=seed)
        cv = StratifiedKFold(3, shuffle=True, random_state=seed)
        proba = cross_val_predict(model, x, y, cv=cv, method="predict_proba")
        classes = np.unique(y)
        if len(classes) == 2:
            counts = {c: int((y == c).sum()) for c in classes}
            positive = min(classes, key=lambda c: counts[c])
            col = list(classes).index(positive)
            return float(roc_auc_score((y == positive).astype(int), proba[:, col]))
        return float(roc_auc_score(y, proba, multi_class="ovr", average="macro"))
    model = HistGradientBoostingRegressor(max_iter=60, random_state=seed)
    pred = cross_val_predict(model, x, y.astype(float), cv=KFold(3, shuffle=True, random_state=seed))
    return float(r2_score(y.astype(float), pred))
