"""Is the success metric plausible? A dummy, a simple linear model and an untuned gradient-boosting
model cross-validated; the better one's learning curve extrapolated (inverse power law) to the full
data size; all turned into a 0-100 score with its reasons.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score, learning_curve
from sklearn.pipeline import Pipeline

from mlsitter.ml.features._pipeline import FeatureSpec, build_feature_pipeline, infer_roles
from mlsitter.ml.metrics._metric_catalog import MetricInfo
from mlsitter.ml.modeling._problem_type import ProblemType
from mlsitter.ml.modeling._thread_limits import limit_threads
from mlsitter.naming import stable_name


@stable_name("scoping.LearningCurve")
@dataclass
class LearningCurve:
    """Train sizes, mean validation scores (natural metric units) and the extrapolation."""

    sizes: list[int]
    scores: list[float]
    fit_params: list[float]
    extrapolated_at: int
    extrapolated_score: float


@stable_name("scoping.Feasibility")
@dataclass
class Feasibility:
    """Baseline scores, the learning curve and the feasibility score with its reasons."""

    metric: str
    threshold: float
    greater_is_better: bool
    dummy_score: float
    simple_model: str
    simple_scores: list[float]
    model_scores: dict[str, float]
    simple_mean: float
    simple_ci: tuple[float, float]
    curve: LearningCurve
    estimate: float
    plausible: bool
    score: float
    reasons: list[str] = field(default_factory=list)


def _power_law(n, a, b, c):
    return a - b * np.power(n, -c)


def extrapolate_curve(sizes: list[int], scores: list[float], at: int, greater_is_better: bool) -> tuple[list[float], float]:
    """Fit ``score = a - b n^-c`` (or ``a + b n^-c`` for errors) and evaluate it at ``at`` rows.

    With a flat or noisy curve the fit may fail; then the last observed score is the estimate."""
    n = np.asarray(sizes, dtype=float)
    s = np.asarray(scores, dtype=float) * (1 if greater_is_better else -1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params, _ = curve_fit(_power_law, n, s, p0=(s[-1], 1.0, 0.5),
                                  bounds=([-np.inf, -np.inf, 0.01], [np.inf, np.inf, 3.0]), maxfev=5000)
        value = float(_power_law(at, *params))
        # never extrapolate beyond what the curve's own asymptote and trend support
        value = min(value, float(params[0])) if params[1] > 0 else float(s[-1])
    except (RuntimeError, ValueError):
        params, value = np.array([s[-1], 0.0, 0.0]), float(s[-1])
    return [float(p) for p in params], value * (1 if greater_is_better else -1)


def simple_model_pipelines(frame: pd.DataFrame, target: str, problem: ProblemType, exclude: list[str],
                           seed: int = 0) -> dict[str, Pipeline]:
    """Default features (impute, one-hot, scale) + a linear model, and + untuned gradient boosting."""
    spec = FeatureSpec()
    roles = infer_roles(frame, target, spec, exclude)
    if problem.task == "classification":
        models = {"logistic regression": LogisticRegression(max_iter=2000),
                  "gradient boosting": HistGradientBoostingClassifier(max_iter=100, random_state=seed)}
    else:
        models = {"ridge regression": Ridge(alpha=1.0),
                  "gradient boosting": HistGradientBoostingRegressor(max_iter=100, random_state=seed)}
    return {name: Pipeline([("features", build_feature_pipeline(roles, spec, problem.task, seed)), ("model", m)])
            for name, m in models.items()}


@limit_threads
def assess_feasibility(frame: pd.DataFrame, y: np.ndarray, target: str, problem: ProblemType, metric: MetricInfo,
                       threshold: float, full_rows: int | None = None, exclude: list[str] | None = None,
                       folds: int = 5, seed: int = 0) -> Feasibility:
    """Cross-validate dummy and simple models, extrapolate the learning curve, score plausibility."""
    exclude = list(exclude or [])
    X = frame.drop(columns=[target])
    cv = (StratifiedKFold(folds, shuffle=True, random_state=seed) if problem.task == "classification"
          else KFold(folds, shuffle=True, random_state=seed))
    dummy = DummyClassifier(strategy="prior") if problem.task == "classification" else DummyRegressor()
    dummy_score = metric.from_scorer(np.mean(cross_val_score(dummy, X, y, cv=cv, scoring=metric.scorer)))
    candidates = simple_model_pipelines(frame, target, problem, exclude, seed)
    by_model = {name: [metric.from_scorer(v) for v in cross_val_score(p, X, y, cv=cv, scoring=metric.scorer)]
                for name, p in candidates.items()}
    pick = max if metric.greater_is_better else min
    best_name = pick(by_model, key=lambda k: float(np.mean(by_model[k])))
    pipe, scores = candidates[best_name], by_model[best_name]
    mean = float(np.mean(scores))
    half = 1.96 * float(np.std(scores, ddof=1)) / np.sqrt(len(scores))
    sizes, _, valid = learning_curve(pipe, X, y, cv=cv, scoring=metric.scorer,
                                     train_sizes=np.linspace(0.15, 1.0, 5), random_state=seed, shuffle=True)
    curve_scores = [metric.from_scorer(v) for v in valid.mean(axis=1)]
    at = int(full_rows or len(frame))
    at_train = int(at * (folds - 1) / folds)
    params, extrapolated = extrapolate_curve([int(s) for s in sizes], curve_scores, at_train, metric.greater_is_better)
    curve = LearningCurve([int(s) for s in sizes], curve_scores, params, at_train, extrapolated)
    better = max if metric.greater_is_better else min
    estimate = better(mean, extrapolated)
    reasons = [f"dummy {metric.name} = {dummy_score:.4f}"]
    reasons += [f"{name} {metric.name} = {np.mean(v):.4f}" for name, v in by_model.items()]
    reasons += [f"best quick model ({best_name}) {metric.name} = {mean:.4f} "
               f"(95% CI {mean - half:.4f} .. {mean + half:.4f}, {folds}-fold CV on {len(frame):,} rows)",
               f"learning curve extrapolated to {at_train:,} training rows: {extrapolated:.4f}"]
    sign = 1 if metric.greater_is_better else -1
    lower = mean - sign * half
    span = sign * (threshold - dummy_score)
    progress = sign * (estimate - dummy_score) / span if span > 0 else 1.0
    if not metric.meets(mean, dummy_score) or abs(mean - dummy_score) < 1e-9:
        reasons.append("the simple model does not beat the dummy: the features may carry no signal")
    if metric.meets(lower, threshold):
        score = 100.0
        reasons.append(f"even the CI's pessimistic end {lower:.4f} reaches the threshold {threshold}")
    elif metric.meets(estimate, threshold):
        score = 85.0
        reasons.append(f"the estimate {estimate:.4f} reaches the threshold {threshold}, but the CI does not clear it")
    else:
        score = round(80.0 * float(np.clip(progress, 0.0, 1.0)), 2)
        reasons.append(f"the estimate {estimate:.4f} falls short of the threshold {threshold}: "
                       f"{float(np.clip(progress, 0, 1)):.0%} of the way from the dummy; a stronger model "
                       "family or more data may be needed")
    return Feasibility(metric.name, threshold, metric.greater_is_better, float(dummy_score), best_name,
                       scores, {k: float(np.mean(v)) for k, v in by_model.items()}, mean, (mean - half, mean + half), curve, float(estimate),
                       bool(metric.meets(estimate, threshold)), float(score), reasons)
