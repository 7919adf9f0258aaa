"""Feature selection on raw columns: mutual information, permutation importance, correlation pruning,
iterated until the cross-validated feature-quality score stops improving. Pinned columns stay.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.feature_selection import mutual_info_classif, mutual_info_regression
from sklearn.inspection import permutation_importance
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline

from mlsitter.ml.features._pipeline import FeatureSpec, build_feature_pipeline, infer_roles
from mlsitter.ml.metrics._metric_catalog import default_success_metric, metric_info
from mlsitter.ml.modeling._problem_type import ProblemType
from mlsitter.ml.modeling._thread_limits import limit_threads
from mlsitter.naming import stable_name


def quality_scoring(problem: ProblemType) -> str:
    """The sklearn scorer of feature quality: the catalogue's success metric (ROC AUC for binary, balanced
    accuracy for multiclass, R²)."""
    return metric_info(default_success_metric(problem.task, problem.n_classes)).scorer


def model_pipeline(frame: pd.DataFrame, target: str, spec: FeatureSpec, problem: ProblemType, columns: list[str],
                   seed: int = 0) -> Pipeline:
    """The feature pipeline restricted to ``columns`` followed by gradient boosting."""
    restricted = FeatureSpec(**{**spec.__dict__, "drop": [c for c in frame.columns
                                                          if c not in columns and c != target]})
    restricted.keep = [c for c in spec.keep if c in columns]
    for key in ("numeric", "categorical", "ordinal", "target_encode", "datetime", "text"):
        setattr(restricted, key, [c for c in getattr(spec, key) if c in columns])
    restricted.ratios = [r for r in spec.ratios if all(p.strip() in columns for p in r.split("/"))]
    restricted.interactions = [r for r in spec.interactions if all(p.strip() in columns for p in r.split("*"))]
    roles = infer_roles(frame, target, restricted)
    model = (HistGradientBoostingClassifier(max_iter=60, random_state=seed) if problem.task == "classification"
             else HistGradientBoostingRegressor(max_iter=60, random_state=seed))
    return Pipeline([("features", build_feature_pipeline(roles, restricted, problem.task, seed)), ("model", model)])


def mutual_information(frame: pd.DataFrame, y: np.ndarray, problem: ProblemType, seed: int = 0) -> dict[str, float]:
    """Mutual information (nats) between each raw column and the target; categories as discrete codes."""
    encoded = pd.DataFrame(index=frame.index)
    discrete = []
    for column in frame.columns:
        series = frame[column]
        if pd.api.types.is_datetime64_any_dtype(series):
            encoded[column] = series.astype("int64").where(series.notna()).astype(float)
            discrete.append(False)
        elif pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            encoded[column] = series.astype(float)
            discrete.append(False)
        else:
            encoded[column] = series.astype("category").cat.codes
            discrete.append(True)
    encoded = encoded.fillna(encoded.median(numeric_only=True)).fillna(0.0)
    fn = mutual_info_classif if problem.task == "classification" else mutual_info_regression
    values = fn(encoded.to_numpy(), y, discrete_features=np.array(discrete), random_state=seed)
    return {c: float(v) for c, v in zip(frame.columns, values)}


def correlated_pairs(frame: pd.DataFrame, threshold: float = 0.95) -> list[tuple[str, str, float]]:
    """Pairs of numeric columns whose absolute Spearman correlation is at least ``threshold``."""
    numeric = frame.select_dtypes("number")
    if numeric.shape[1] < 2:
        return []
    corr = numeric.corr(method="spearman").abs()
    cols = list(corr.columns)
    return [(a, b, float(corr.loc[a, b])) for i, a in enumerate(cols) for b in cols[i + 1:]
            if np.isfinite(corr.loc[a, b]) and corr.loc[a, b] >= threshold]


@stable_name("ml.features.SelectionRound")
@dataclass
class SelectionRound:
    """One iteration: the columns used, their quality score and what was removed and why."""

    iteration: int
    columns: list[str]
    quality: float
    removed: dict[str, str]
    permutation: dict[str, float]


@stable_name("ml.features.SelectionResult")
@dataclass
class SelectionResult:
    """The selected columns, the per-round history and the last importance figures."""

    selected: list[str]
    quality: float
    converged: bool
    rounds: list[SelectionRound] = field(default_factory=list)
    mutual_information: dict[str, float] = field(default_factory=dict)
    correlated: list[tuple[str, str, float]] = field(default_factory=list)


@limit_threads
def select_features(frame: pd.DataFrame, y: np.ndarray, target: str, spec: FeatureSpec, problem: ProblemType,
                    columns: list[str], max_iterations: int = 3, tolerance: float = 0.002, folds: int = 3,
                    correlation_threshold: float = 0.95, seed: int = 0) -> SelectionResult:
    """Iterate: score the columns by CV, prune correlated and non-contributing ones (permutation importance
    <= 0 on a holdout), until the quality changes by less than ``tolerance`` or nothing is removed."""
    scoring = quality_scoring(problem)
    cv = (StratifiedKFold(folds, shuffle=True, random_state=seed) if problem.task == "classification"
          else KFold(folds, shuffle=True, random_state=seed))
    mi = mutual_information(frame[columns], y, problem, seed)
    pinned = set(spec.keep)
    current = list(columns)
    rounds: list[SelectionRound] = []
    converged = False
    previous = -np.inf
    corr = correlated_pairs(frame[columns], correlation_threshold)
    for iteration in range(1, max_iterations + 1):
        pipe = model_pipeline(frame, target, spec, problem, current, seed)
        quality = float(np.mean(cross_val_score(pipe, frame[current], y, cv=cv, scoring=scoring)))
        stratify = y if problem.task == "classification" else None
        X_tr, X_te, y_tr, y_te = train_test_split(frame[current], y, test_size=0.3, random_state=seed,
                                                  stratify=stratify)
        pipe.fit(X_tr, y_tr)
        perm = permutation_importance(pipe, X_te, y_te, scoring=scoring, n_repeats=3, random_state=seed, n_jobs=1)
        importance = {c: float(v) for c, v in zip(current, perm.importances_mean)}
        removed: dict[str, str] = {}
        if rounds and quality < previous - tolerance:
            # the last pruning hurt: restore it and stop
            last = rounds[-1]
            rounds.append(SelectionRound(iteration, current, quality, {}, importance))
            current = last.columns
            quality = last.quality
            converged = True
            break
        for a, b, rho in corr:
            if a in current and b in current:
                loser = b if mi.get(a, 0) >= mi.get(b, 0) else a
                if loser not in pinned:
                    removed[loser] = f"Spearman |rho|={rho:.3f} with {a if loser == b else b}"
        for column, value in importance.items():
            if column not in removed and column not in pinned and value <= 0 and len(current) - len(removed) > 1:
                removed[column] = f"permutation importance {value:.4f} <= 0"
        rounds.append(SelectionRound(iteration, list(current), quality, removed, importance))
        if abs(quality - previous) < tolerance or not removed:
            converged = True
            break
        previous = quality
        current = [c for c in current if c not in removed]
    if not converged:
        # out of iterations: the last removals were never scored, so keep the last scored column set
        current = list(rounds[-1].columns)
    final = next(r for r in reversed(rounds) if r.columns == current)
    return SelectionResult(selected=current, quality=final.quality, converged=converged, rounds=rounds,
                           mutual_information=mi, correlated=corr)
