"""Every confidence interval the project reports contains its own estimate, on data built to stress it:
small samples, skewed values, extreme-value statistics (gaps over many small groups), near-perfect models."""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import pandas as pd
import pytest

from mlsitter.ml.evaluation._fairness import fairness_by_group, sensitive_groups
from mlsitter.ml.evaluation._slices import worst_slices
from mlsitter.ml.experiments import _ab_stats as ab
from mlsitter.ml.metrics._bootstrap import bias_corrected_interval, estimate
from mlsitter.ml.metrics._calibration import expected_calibration_error
from mlsitter.ml.metrics._metrics import binary_metrics, multiclass_metrics, regression_metrics
from mlsitter.ml.modeling._model_comparison import corrected_interval

SEEDS = range(3)


def _classified(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Labels, scores from a model of varying skill, predictions, and a continuous age."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 73, n)
    y = rng.random(n) < 0.15 + 0.01 * (age - 18) * (seed % 3) / 2
    skill = [0.3, 1.5, 6.0][seed % 3]  # poor, fair, near-perfect
    score = 1 / (1 + np.exp(-(skill * (y - 0.5) + rng.normal(0, 1, n))))
    return y, score, score >= 0.5, age


def intervals(seed: int) -> Iterator[tuple[str, float, float, float]]:
    """(name, estimate, low, high) of every interval the project reports, on one constructed sample."""
    rng = np.random.default_rng(100 + seed)
    n = [60, 400, 1000][seed % 3]
    y, score, pred, age = _classified(seed, n)
    for name, e in binary_metrics(y, pred, score, n_resamples=200, seed=seed).values.items():
        yield f"binary {name}", e.value, e.low, e.high
    k = rng.integers(0, 3, n)
    proba = rng.dirichlet(np.ones(3), n)
    proba[np.arange(n), k] += [0.1, 1.0, 4.0][seed % 3]
    proba /= proba.sum(1, keepdims=True)
    for name, e in multiclass_metrics(k, proba.argmax(1), proba, np.arange(3), n_resamples=200, seed=seed).values.items():
        yield f"multiclass {name}", e.value, e.low, e.high
    t = rng.lognormal(1, 1, n)
    for name, e in regression_metrics(t, t * rng.lognormal(0, 0.5, n), n_resamples=200, seed=seed).values.items():
        yield f"regression {name}", e.value, e.low, e.high
    ece = expected_calibration_error(y, score, n_resamples=200, seed=seed).ece
    yield "calibration ECE", ece.value, ece.low, ece.high
    decades = np.array([f"{a // 10 * 10}s" for a in age], dtype=object)  # a categorical attribute, 6 groups
    for sensitive, label in ((age, "age binned"), (decades, "age decades as categories")):
        fair = fairness_by_group(y, pred, sensitive, "age", n_resamples=200, seed=seed)
        for key in ("dp_difference", "dp_ratio", "eo_difference", "eo_ratio"):
            e = getattr(fair, key)
            yield f"fairness {label} {key}", e.value, e.low, e.high
    frame = pd.DataFrame({"age": age, "band": rng.choice(list("abc"), n)})
    for s in worst_slices(frame, (pred != y).astype(float), min_size=10):
        yield f"slice {s.feature}={s.slice}", s.error, s.ci_low, s.ci_high
    for s in worst_slices(frame, np.abs(rng.standard_t(2, n)), task="regression", min_size=10):
        yield f"regression slice {s.feature}={s.slice}", s.error, s.ci_low, s.ci_high
    a, b = rng.lognormal(0, 1.5, n), rng.lognormal(0.1, 1.5, n)
    sa, sb = ab.summarise(a), ab.summarise(b)
    tests = [ab.two_proportion_ztest(int(y[: n // 2].sum()), n // 2, int(y[n // 2:].sum()), n - n // 2),
             ab.welch_ttest(sa, sb), ab.bootstrap_difference(a, b, n_resamples=300, seed=seed),
             ab.cuped(a, a * 0.5 + rng.normal(size=n), b, b * 0.5 + rng.normal(size=n))[0].adjusted]
    for test in tests:
        yield f"A/B {test.test}", test.difference, test.ci_low, test.ci_high
    lift = ab.relative_lift(sa, sb)
    yield "A/B relative lift", lift.lift, lift.ci_low, lift.ci_high
    cv = rng.normal(0.8, 0.02, 10)
    low, high = corrected_interval(list(cv), 800, 200)
    yield "model comparison CV mean", float(cv.mean()), low, high


@pytest.mark.parametrize("seed", SEEDS)
def test_every_reported_interval_contains_its_estimate(seed: int) -> None:
    seen = 0
    for name, value, low, high in intervals(seed):
        if np.isnan(low) and np.isnan(high):
            continue  # an undefined interval (e.g. a rate with no events) is shown as missing, not as a range
        seen += 1
        assert low <= value <= high, f"{name}: estimate {value} outside its CI [{low}, {high}] (seed {seed})"
    assert seen > 40


def test_a_biased_bootstrap_gets_an_interval_around_the_estimate() -> None:
    rng = np.random.default_rng(0)
    resamples = rng.normal(0.30, 0.05, 500)  # the bootstrap of a max/min ratio sits far below its plug-in value
    assert np.quantile(resamples, 0.975) < 0.513
    low, high = bias_corrected_interval(0.513, resamples, bounds=(0.0, 1.0))
    assert low <= 0.513 <= high and high - low == pytest.approx(np.quantile(resamples, 0.975) - np.quantile(resamples, 0.025), rel=0.05)
    # an unbiased bootstrap keeps (about) its percentile interval
    e = estimate(float(np.median(resamples)), resamples)
    assert e.low == pytest.approx(np.quantile(resamples, 0.025), abs=1e-3)
    assert e.high == pytest.approx(np.quantile(resamples, 0.975), abs=1e-3)


def test_the_bootstrap_difference_of_an_ab_test_is_bias_corrected() -> None:
    # 6 heavy-tailed units per variant: some resamples draw no unit of a variant (an undefined mean), which a plain
    # percentile interval turned into NaN bounds; the shared BC interval leaves them out and contains the estimate
    rng = np.random.default_rng(3)
    a, b = rng.lognormal(0, 2, 6), rng.lognormal(0.5, 2, 6)
    with np.errstate(invalid="ignore"):
        res = ab.bootstrap_difference(a, b, n_resamples=400, seed=1)
    assert np.isfinite([res.ci_low, res.ci_high]).all()
    assert res.difference == pytest.approx(b.mean() - a.mean()) and res.ci_low <= res.difference <= res.ci_high


def test_continuous_sensitive_attribute_is_binned_with_stated_edges() -> None:
    y, _, pred, age = _classified(1, 3000)
    grouping = sensitive_groups(age, "age")
    assert len(grouping.edges) == 4 and all(float(e).is_integer() for e in grouping.edges)
    assert "quantile edges" in grouping.binning and str(int(grouping.edges[0])) in grouping.binning
    fair = fairness_by_group(y, pred, age, "age", n_resamples=100)
    assert len(fair.groups) == 5 and fair.binning == grouping.binning
    assert min(g["count"] for g in fair.groups) > 400  # quintiles, not 55 one-year groups
    assert fair.summary()["binning"] == grouping.binning
    # a coded categorical attribute with few values is left as it is
    assert sensitive_groups(np.array([1, 2, 2, 1]), "sex").binning == ""
    assert list(sensitive_groups(np.array([1, 2, 2, 1]), "sex").labels) == ["1", "2", "2", "1"]


def test_mitigation_groups_a_continuous_attribute_by_the_same_bins() -> None:
    from sklearn.linear_model import LogisticRegression

    from mlsitter.ml.evaluation._fairness import mitigate_with_threshold_optimizer

    rng = np.random.default_rng(4)
    X = pd.DataFrame({"age": rng.integers(18, 73, 1200), "x": rng.normal(size=1200)})
    y = (X["x"] + 0.03 * (X["age"] - 45) + rng.normal(0, 1, 1200) > 0).to_numpy(int)
    model = LogisticRegression().fit(X, y)
    res = mitigate_with_threshold_optimizer(model, X, y, ["age"], seed=0)
    assert len(res.model.edges["age"]) == 4 and len(res.groups) <= 5  # quintiles, not one-year groups
    assert set(res.model.group_of(X)) <= set(res.groups)
    assert set(np.unique(res.model.predict(X))) <= {0, 1}
