"""Compare candidate models honestly: repeated (stratified) K-fold CV with confidence intervals, the
Nadeau-Bengio corrected resampled t-test between the best and every other model, fit/predict latency
and serialized size, and a recommendation that respects the charter's constraints.

Why corrected: CV folds share training rows, so fold scores are correlated and the naive paired
t-test is far too confident. Nadeau & Bengio (2003) inflate the variance by ``1/k + n_test/n_train``.
"""

from __future__ import annotations

import pickle
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import clone
from sklearn.metrics import get_scorer
from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

from mlsitter.ml.modeling._candidates import Candidate
from mlsitter.ml.metrics._metric_catalog import MetricInfo
from mlsitter.ml.modeling._thread_limits import limit_threads
from mlsitter.naming import stable_name


@stable_name("ml.modeling.CorrectedTTest")
@dataclass
class CorrectedTTest:
    """Nadeau-Bengio corrected resampled t-test of ``a`` better than ``b`` (one-sided)."""

    mean_difference: float
    t: float
    p_value: float
    df: int


def corrected_resampled_ttest(a: list[float], b: list[float], n_train: int, n_test: int,
                              greater_is_better: bool = True) -> CorrectedTTest:
    """Paired fold scores of two models on the same splits -> one-sided p-value that ``a`` is better."""
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if not greater_is_better:
        diff = -diff
    k = len(diff)
    mean = float(diff.mean())
    var = float(diff.var(ddof=1))
    corrected = (1.0 / k + n_test / n_train) * var
    if corrected <= 0:
        t = np.inf if mean > 0 else (-np.inf if mean < 0 else 0.0)
    else:
        t = mean / np.sqrt(corrected)
    p = float(stats.t.sf(t, df=k - 1))
    return CorrectedTTest(mean, float(t), p, k - 1)


def corrected_interval(scores: list[float], n_train: int, n_test: int, level: float = 0.95) -> tuple[float, float]:
    """Confidence interval of the mean CV score with the Nadeau-Bengio variance correction."""
    s = np.asarray(scores, dtype=float)
    k = len(s)
    half = stats.t.ppf(0.5 + level / 2, df=k - 1) * np.sqrt((1.0 / k + n_test / n_train) * s.var(ddof=1))
    return float(s.mean() - half), float(s.mean() + half)


@stable_name("ml.modeling.CandidateResult")
@dataclass
class CandidateResult:
    """One candidate's CV scores, interval, timings and size."""

    name: str
    interpretable: bool
    scores: list[float]
    mean: float
    ci_low: float
    ci_high: float
    fit_seconds: float
    predict_ms_per_row: float
    single_row_latency_ms: float
    model_size_mb: float
    vs_best: CorrectedTTest | None = None
    admissible: bool = True
    excluded_because: list[str] = field(default_factory=list)


@stable_name("ml.modeling.Comparison")
@dataclass
class Comparison:
    """All candidates, the best by score, the recommended one and the significance tests behind it."""

    metric: str
    greater_is_better: bool
    folds: int
    repeats: int
    n_train: int
    n_test: int
    results: list[CandidateResult]
    best: str
    recommended: str
    recommendation_reasons: list[str]
    vs_baselines: dict[str, CorrectedTTest]

    def result(self, name: str) -> CandidateResult:
        return next(r for r in self.results if r.name == name)


def _single_row_latency(model, X: pd.DataFrame, repeats: int = 20) -> float:
    row = X.iloc[[0]]
    model.predict(row)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(row)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


@limit_threads
def compare_candidates(X: pd.DataFrame, y: np.ndarray, task: str, metric: MetricInfo, candidates: list[Candidate],
                       folds: int = 5, repeats: int = 2, seed: int = 0, alpha: float = 0.05,
                       max_latency_ms: float | None = None, max_model_size_mb: float | None = None,
                       interpretability: str = "none", prefer_simpler: bool = True) -> Comparison:
    """Cross-validate every candidate on the same repeated splits, test, time, size and recommend."""
    splitter = (RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
                if task == "classification" else RepeatedKFold(n_splits=folds, n_repeats=repeats, random_state=seed))
    splits = list(splitter.split(X, y))
    scorer = get_scorer(metric.scorer)
    n_test = int(np.mean([len(te) for _, te in splits]))
    n_train = len(X) - n_test
    results: list[CandidateResult] = []
    for cand in candidates:
        scores, fit_s, pred_s, pred_rows = [], 0.0, 0.0, 0
        for train_idx, test_idx in splits:
            model = clone(cand.estimator)
            start = time.perf_counter()
            model.fit(X.iloc[train_idx], y[train_idx])
            fit_s += time.perf_counter() - start
            start = time.perf_counter()
            scores.append(metric.from_scorer(scorer(model, X.iloc[test_idx], y[test_idx])))
            pred_s += time.perf_counter() - start
            pred_rows += len(test_idx)
        final = clone(cand.estimator).fit(X, y)
        low, high = corrected_interval(scores, n_train, n_test)
        results.append(CandidateResult(
            cand.name, cand.interpretable, scores, float(np.mean(scores)), low, high, fit_s / len(splits),
            pred_s / pred_rows * 1000, _single_row_latency(final, X), len(pickle.dumps(final)) / 1e6))
    sign = 1 if metric.greater_is_better else -1
    best = max(results, key=lambda r: sign * r.mean)
    for r in results:
        if r is not best:
            r.vs_best = corrected_resampled_ttest(best.scores, r.scores, n_train, n_test, metric.greater_is_better)
    recommended, reasons = recommend(results, best, sign, alpha, max_latency_ms, max_model_size_mb, interpretability,
                                     n_train, n_test, metric.greater_is_better, prefer_simpler)
    vs_baselines = {r.name: corrected_resampled_ttest(recommended.scores, r.scores, n_train, n_test,
                                                      metric.greater_is_better)
                    for r in results if r.name in ("dummy", "linear") and r.name != recommended.name}
    return Comparison(metric.name, metric.greater_is_better, folds, repeats, n_train, n_test, results, best.name,
                      recommended.name, reasons, vs_baselines)


def recommend(results: list[CandidateResult], best: CandidateResult, sign: int, alpha: float,
              max_latency_ms: float | None, max_model_size_mb: float | None, interpretability: str,
              n_train: int, n_test: int, greater_is_better: bool,
              prefer_simpler: bool = True) -> tuple[CandidateResult, list[str]]:
    """Best admissible model; with interpretability 'preferred' an interpretable one not significantly
    worse than the best admissible wins; with 'required' only interpretable ones are admissible; with
    ``prefer_simpler`` the linear baseline wins when the best is not significantly better than it."""
    reasons = []
    for r in results:
        if max_latency_ms is not None and r.single_row_latency_ms > max_latency_ms:
            r.excluded_because.append(f"single-row latency {r.single_row_latency_ms:.2f} ms > {max_latency_ms} ms")
        if max_model_size_mb is not None and r.model_size_mb > max_model_size_mb:
            r.excluded_because.append(f"size {r.model_size_mb:.2f} MB > {max_model_size_mb} MB")
        if interpretability == "required" and not r.interpretable:
            r.excluded_because.append("not interpretable (charter requires interpretability)")
        if r.name == "dummy":
            r.excluded_because.append("baseline only")
        r.admissible = not r.excluded_because
    admissible = [r for r in results if r.admissible]
    if not admissible:
        reasons.append("no candidate meets every constraint; recommending the best model regardless")
        return best, reasons
    top = max(admissible, key=lambda r: sign * r.mean)
    reasons.append(f"{top.name} has the best mean score among candidates meeting the constraints ({top.mean:.4f})")
    if top is not best:
        reasons.append(f"{best.name} scores higher ({best.mean:.4f}) but {'; '.join(best.excluded_because)}")
    linear = next((r for r in admissible if r.name == "linear"), None)
    if prefer_simpler and linear is not None and top is not linear:
        test = corrected_resampled_ttest(top.scores, linear.scores, n_train, n_test, greater_is_better)
        if test.p_value >= alpha:
            reasons.append(f"{top.name} is not significantly better than the linear baseline (corrected t-test "
                           f"p={test.p_value:.3f} >= {alpha}): the simpler linear model is recommended")
            return linear, reasons
    if interpretability == "preferred" and not top.interpretable:
        simple = [r for r in admissible if r.interpretable]
        if simple:
            alt = max(simple, key=lambda r: sign * r.mean)
            test = corrected_resampled_ttest(top.scores, alt.scores, n_train, n_test, greater_is_better)
            if test.p_value >= alpha:
                reasons.append(f"interpretability is preferred and {alt.name} is not significantly worse than "
                               f"{top.name} (corrected t-test p={test.p_value:.3f} >= {alpha})")
                return alt, reasons
            reasons.append(f"interpretability is preferred, but the best interpretable model {alt.name} is "
                           f"significantly worse (p={test.p_value:.3g} < {alpha})")
    return top, reasons
