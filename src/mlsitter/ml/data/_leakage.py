"""Leakage checks: features that give the answer away, columns recorded after the outcome, target
encodings fitted outside folds, rows shared by train and test, and training rows from the future.

A feature is *blocking* when on its own it predicts the target near perfectly, when a few numeric
columns reconstruct a regression target exactly (bike sharing: ``casual + registered = cnt``), or when
on its own it predicts better than all the other features together *and* its name says it is
measured during or after the outcome (duration, outcome, result, response, ...). Bank
marketing's ``duration``, known only after the call whose outcome is the target, is the textbook
case. A dominant feature without such a name (Titanic's ``Sex``) is a warning to review, not a block.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import re

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.preprocessing import TargetEncoder
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from mlsitter.ml.metrics._metric_catalog import default_success_metric, metric_info
from mlsitter.ml.modeling._problem_type import ProblemType
from mlsitter.ml.modeling._thread_limits import limit_threads
from mlsitter.naming import stable_name


@stable_name("ml.data.LeakageFinding")
@dataclass
class LeakageFinding:
    """One leakage finding; ``blocking`` findings must be resolved before a model is trained."""

    check: str
    column: str
    value: float
    threshold: float
    detail: str
    blocking: bool = True


@stable_name("ml.data.LeakageReport")
@dataclass
class LeakageReport:
    """All findings plus the per-feature single-feature scores they were based on."""

    findings: list[LeakageFinding] = field(default_factory=list)
    single_feature_scores: dict[str, float] = field(default_factory=dict)
    rest_scores: dict[str, float] = field(default_factory=dict)
    score_name: str = ""

    @property
    def blocking(self) -> list[LeakageFinding]:
        return [f for f in self.findings if f.blocking]

    def suspect_columns(self) -> list[str]:
        return sorted({f.column for f in self.blocking if f.column})


POST_OUTCOME_WORDS = ("duration", "outcome", "result", "response", "closed", "paid",
                      "resolved", "after", "ended", "churned", "returned", "refund", "settled", "elapsed")


def has_post_outcome_name(column: str) -> bool:
    """Whether a column's name says it is measured during or after the outcome (e.g. ``duration``)."""
    tokens = [t for t in re.split(r"[^a-z]+", str(column).lower()) if t]
    return any(t in POST_OUTCOME_WORDS for t in tokens)


def _codes(series: pd.Series) -> np.ndarray:
    """A single column as a numeric vector a tree can split (categories -> codes, NaN kept)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return series.astype("int64").where(series.notna()).astype(float).to_numpy()
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return series.astype(float).to_numpy()
    codes = series.astype("category").cat.codes.astype(float)
    return codes.where(codes >= 0).to_numpy()


def _splitter(problem: ProblemType, folds: int, seed: int):
    if problem.task == "classification":
        return StratifiedKFold(folds, shuffle=True, random_state=seed)
    return KFold(folds, shuffle=True, random_state=seed)


def _score_name(problem: ProblemType) -> str:
    """The sklearn scorer the leakage probes use: the catalogue's success metric for the problem."""
    return metric_info(default_success_metric(problem.task, problem.n_classes)).scorer


def single_feature_scores(frame: pd.DataFrame, y: np.ndarray, problem: ProblemType, columns: list[str],
                          folds: int = 3, seed: int = 0) -> dict[str, float]:
    """Cross-validated score of a shallow tree on each column alone (ROC AUC, balanced accuracy or R²);
    for a complete numeric column and a binary target, at least the column's own ranking AUC."""
    scoring = _score_name(problem)
    cv = _splitter(problem, folds, seed)
    model = (DecisionTreeClassifier(max_depth=4, min_samples_leaf=20, random_state=seed)
             if problem.task == "classification"
             else DecisionTreeRegressor(max_depth=6, min_samples_leaf=10, random_state=seed))
    scores = {}
    for column in columns:
        x = _codes(frame[column]).reshape(-1, 1)
        scores[column] = float(np.mean(cross_val_score(model, x, y, cv=cv, scoring=scoring)))
        if problem.is_binary and pd.api.types.is_numeric_dtype(frame[column]) and frame[column].notna().all():
            # a numeric column is itself a ranking score: its AUC (either direction) needs no fitting
            auc = float(roc_auc_score(y, frame[column].astype(float)))
            scores[column] = max(scores[column], auc, 1.0 - auc)
    return scores


def _as_model_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = out[column].astype("int64").where(out[column].notna()).astype(float)
        elif not (pd.api.types.is_numeric_dtype(out[column]) or pd.api.types.is_bool_dtype(out[column])):
            if out[column].nunique() > 250:  # beyond what HistGradientBoosting takes as categorical
                out[column] = _codes(out[column])
            else:
                out[column] = out[column].astype("category")
    return out


def rest_score(frame: pd.DataFrame, y: np.ndarray, problem: ProblemType, without: str, folds: int = 3,
               seed: int = 0) -> float:
    """Cross-validated score of gradient boosting on every column except ``without``."""
    X = _as_model_frame(frame.drop(columns=[without]))
    model = (HistGradientBoostingClassifier(max_iter=80, categorical_features="from_dtype", random_state=seed)
             if problem.task == "classification"
             else HistGradientBoostingRegressor(max_iter=80, categorical_features="from_dtype", random_state=seed))
    return float(np.mean(cross_val_score(model, X, y, cv=_splitter(problem, folds, seed),
                                         scoring=_score_name(problem))))


@limit_threads
def check_feature_leakage(frame: pd.DataFrame, y: np.ndarray, problem: ProblemType, near_perfect: float = 0.97,
                          top_k: int = 3, folds: int = 3, seed: int = 0,
                          declared_post_outcome: list[str] | None = None) -> LeakageReport:
    """Single-feature power, dominance over all other features, and user-declared post-outcome columns."""
    columns = list(frame.columns)
    report = LeakageReport(score_name=_score_name(problem))
    report.single_feature_scores = single_feature_scores(frame, y, problem, columns, folds, seed)
    for column, score in report.single_feature_scores.items():
        if score >= near_perfect:
            report.findings.append(LeakageFinding(
                "near-perfect single feature", column, score, near_perfect,
                f"{column} alone scores {report.score_name}={score:.3f} (>= {near_perfect}): it very likely "
                "encodes the target"))
    ranked = sorted(report.single_feature_scores, key=report.single_feature_scores.get, reverse=True)
    if len(columns) > 1:
        # the top-k single features, and every column whose name suggests a post-outcome value
        to_check = list(dict.fromkeys([*ranked[:top_k], *[c for c in ranked if has_post_outcome_name(c)]]))
        for column in to_check:
            rest = rest_score(frame, y, problem, column, folds, seed)
            report.rest_scores[column] = rest
            alone = report.single_feature_scores[column]
            if alone >= rest and alone < near_perfect:
                named = has_post_outcome_name(column)
                why = ("and its name says it is measured during or after the outcome" if named else
                       "; review whether it is known at prediction time")
                report.findings.append(LeakageFinding(
                    "dominant single feature", column, alone, rest,
                    f"{column} alone ({report.score_name}={alone:.3f}) predicts better than all "
                    f"{len(columns) - 1} other features together ({rest:.3f}) {why}", blocking=named))
    if problem.task == "regression":
        report.findings.extend(reconstructed_target(frame, y))
    for column in declared_post_outcome or []:
        if column in frame.columns:
            report.findings.append(LeakageFinding(
                "declared post-outcome", column, 1.0, 0.0, f"{column} is declared as recorded after the outcome"))
    return report


@limit_threads
def reconstructed_target(frame: pd.DataFrame, y: np.ndarray, max_columns: int = 3,
                         min_r2: float = 0.999) -> list[LeakageFinding]:
    """Up to ``max_columns`` numeric columns whose linear combination reproduces a regression target
    (cross-validated R² >= ``min_r2``): the target is computed from them, so they leak it."""
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and frame[c].notna().all()]
    chosen: list[str] = []
    best = -np.inf
    cv = KFold(3, shuffle=True, random_state=0)
    for _ in range(min(max_columns, len(numeric))):
        trial = {c: float(np.mean(cross_val_score(LinearRegression(), frame[chosen + [c]].astype(float), y,
                                                  cv=cv, scoring="r2")))
                 for c in numeric if c not in chosen}
        column = max(trial, key=trial.get)
        if trial[column] <= best + 1e-6:
            break
        chosen.append(column)
        best = trial[column]
        if best >= min_r2:
            return [LeakageFinding("target reconstructed from features", c, best, min_r2,
                                   f"a linear combination of {chosen} reproduces the target (R²={best:.5f})")
                    for c in chosen]
    return []


def post_outcome_by_time(frame: pd.DataFrame, outcome_time_column: str, min_share: float = 0.5) -> list[LeakageFinding]:
    """Datetime columns whose values fall at or after the outcome time in most rows (recorded too late)."""
    outcome = pd.to_datetime(frame[outcome_time_column], errors="coerce")
    findings = []
    for column in frame.columns:
        if column == outcome_time_column or not pd.api.types.is_datetime64_any_dtype(frame[column]):
            continue
        both = frame[column].notna() & outcome.notna()
        if not both.any():
            continue
        share = float((frame.loc[both, column] >= outcome[both]).mean())
        if share >= min_share:
            findings.append(LeakageFinding("post-outcome timestamp", column, share, min_share,
                                           f"{share:.0%} of {column} values are at or after {outcome_time_column}"))
    return findings


def target_encoding_gap(frame: pd.DataFrame, y: np.ndarray, problem: ProblemType, columns: list[str],
                        seed: int = 0) -> dict[str, dict[str, float]]:
    """For each target-encoded column: the score of its encoding fitted on all rows (leaky, in-sample)
    versus cross-fitted (as the pipeline does). A large gap is what fitting outside folds would leak."""
    if not columns or problem.task == "classification" and not problem.is_binary:
        return {}
    out = {}
    for column in columns:
        x = frame[[column]].astype(str)
        kind = "continuous" if problem.task == "regression" else "binary"
        naive = TargetEncoder(target_type=kind).fit(x, y).transform(x)[:, 0]
        crossed = TargetEncoder(target_type=kind, cv=KFold(5, shuffle=True, random_state=seed)).fit_transform(x, y)[:, 0]
        metric = roc_auc_score if problem.is_binary else r2_score
        out[column] = {"in_sample": float(metric(y, naive)), "cross_fitted": float(metric(y, crossed))}
    return out


def row_overlap(train: pd.DataFrame, test: pd.DataFrame) -> int:
    """Number of test rows whose feature values appear identically in the training rows."""
    columns = list(test.columns)
    left = pd.util.hash_pandas_object(train[columns].astype(str), index=False)
    right = pd.util.hash_pandas_object(test[columns].astype(str), index=False)
    return int(right.isin(set(left.to_numpy())).sum())


def time_split_leakage(train_times: pd.Series, test_times: pd.Series) -> int:
    """Training rows dated at or after the first test row: in a time split these see the future."""
    train = pd.to_datetime(train_times, errors="coerce")
    first_test = pd.to_datetime(test_times, errors="coerce").min()
    return int((train >= first_test).sum())


