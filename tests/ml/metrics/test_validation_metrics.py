"""Metrics with bootstrap CIs, calibration, slices, robustness and business value (ml/ building blocks)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from mlsitter.errors import DataError, SpecError
from mlsitter.ml.metrics._bootstrap import bootstrap_samples
from mlsitter.ml.evaluation._business_value import business_value, parse_cost_matrix
from mlsitter.ml.metrics._calibration import expected_calibration_error
from mlsitter.ml.metrics._metrics import (
    _tie_groups, binary_metrics, multiclass_metrics, regression_metrics, weighted_average_precision, weighted_roc_auc,
)
from mlsitter.ml.evaluation._robustness import robustness_report
from mlsitter.ml.evaluation._slices import wilson_interval, worst_slices


@pytest.fixture
def scores():
    rng = np.random.default_rng(0)
    y = rng.random(4000) < 0.3
    s = np.round(np.clip(0.35 * y + 0.65 * rng.random(4000), 0, 1), 2)  # rounded: many ties
    return y, s


def test_vectorised_auc_and_ap_equal_sklearn_with_weights(scores):
    y, s = scores
    order, ends = _tie_groups(s)
    w = np.random.default_rng(1).poisson(1.0, (5, len(y))).astype(float)
    auc = weighted_roc_auc(w, y.astype(float), order, ends)
    ap = weighted_average_precision(w, y.astype(float), order, ends)
    for i in range(5):
        assert auc[i] == pytest.approx(skm.roc_auc_score(y, s, sample_weight=w[i]), abs=1e-12)
        assert ap[i] == pytest.approx(skm.average_precision_score(y, s, sample_weight=w[i]), abs=1e-12)


def test_binary_metrics_points_are_sklearn_and_cis_bracket_them(scores):
    y, s = scores
    result = binary_metrics(y, s >= 0.5, s, n_resamples=200, seed=0)
    v = result.values
    assert v["roc_auc"].value == pytest.approx(skm.roc_auc_score(y, s))
    assert v["f1"].value == pytest.approx(skm.f1_score(y, s >= 0.5))
    assert v["brier"].value == pytest.approx(skm.brier_score_loss(y, s))
    for name, est in v.items():
        assert est.low <= est.value <= est.high, name
        assert est.high - est.low < 0.1, name
    # the interval is the sampling spread: on 4x the rows it is about half as wide
    y4, s4 = np.tile(y, 4), np.tile(s, 4)
    wide = v["accuracy"].high - v["accuracy"].low
    narrow = binary_metrics(y4, s4 >= 0.5, s4, n_resamples=200).values["accuracy"]
    assert 0.35 < (narrow.high - narrow.low) / wide < 0.7


def test_regression_and_multiclass_metrics():
    rng = np.random.default_rng(0)
    y = rng.normal(10, 2, 2000)
    p = y + rng.normal(0, 1, 2000)
    r = regression_metrics(y, p, n_resamples=100).values
    assert r["mae"].value == pytest.approx(skm.mean_absolute_error(y, p))
    assert r["r2"].value == pytest.approx(skm.r2_score(y, p))
    assert "mape" in r and r["rmse"].low < r["rmse"].value < r["rmse"].high
    assert "mape" not in regression_metrics(np.r_[0.0, y], np.r_[0.5, p], n_resamples=0).values  # undefined with y == 0
    yc = rng.integers(0, 3, 2000)
    pc = np.where(rng.random(2000) < 0.7, yc, rng.integers(0, 3, 2000))
    m = multiclass_metrics(yc, pc, n_resamples=100).values
    assert m["f1_macro"].value == pytest.approx(skm.f1_score(yc, pc, average="macro"))
    assert m["accuracy"].low < m["accuracy"].value < m["accuracy"].high


def test_metric_inputs_are_checked():
    with pytest.raises(DataError, match="same length"):
        binary_metrics(np.array([1, 0]), np.array([1, 0, 1]))
    with pytest.raises(DataError, match="empty"):
        regression_metrics(np.array([]), np.array([]))


def test_bootstrap_chunks_cover_all_resamples():
    samples = bootstrap_samples(lambda w: w.sum(axis=1, keepdims=True), 1000, 250, seed=0, max_cells=10_000)
    assert samples.shape == (250, 1)
    assert abs(samples.mean() - 1000) < 10


def test_calibration_error_detects_miscalibration():
    rng = np.random.default_rng(0)
    p = rng.random(5000)
    y = rng.random(5000) < p
    good = expected_calibration_error(y, p, n_resamples=100)
    bad = expected_calibration_error(y, p**3, n_resamples=100)
    assert good.ece.value < 0.03 < bad.ece.low
    assert sum(b.count for b in good.bins) == 5000
    with pytest.raises(SpecError, match="n_bins"):
        expected_calibration_error(y, p, n_bins=1)


def test_worst_slices_find_the_bad_group():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"group": rng.choice(["a", "b", "c"], 3000), "x": rng.normal(size=3000)})
    err = (rng.random(3000) < np.where(frame["group"] == "c", 0.4, 0.1)).astype(float)
    top = worst_slices(frame, err)[0]
    assert (top.feature, top.slice) == ("group", "c")
    assert top.ci_low < top.error < top.ci_high and top.size > 900
    low, high = wilson_interval(0, 20)
    assert low == pytest.approx(0.0, abs=1e-12) and 0 < high < 0.2


def test_robustness_reports_drop_and_model_failures():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=1000), "b": rng.normal(size=1000), "c": rng.choice(["x", "y"], 1000)})
    y = (X["a"] + rng.normal(0, 0.5, 1000)) > 0
    model = LogisticRegression().fit(X[["a", "b"]], y)

    def score(m, XX, yy):
        return skm.accuracy_score(yy, m.predict(XX[["a", "b"]]))

    out = {r.perturbation: r for r in robustness_report(model, X, y, score, "accuracy", severities={"numeric_noise": 1.0, "missing_values": 0.1}, seed=7)}
    assert out["numeric_noise"].drop > 0.05  # heavy noise hurts
    assert out["missing_values"].error and np.isnan(out["missing_values"].perturbed)  # LogisticRegression rejects NaN


def test_business_value_picks_the_best_threshold():
    rng = np.random.default_rng(0)
    y = rng.random(3000) < 0.2
    s = np.clip(0.5 * y + 0.5 * rng.random(3000), 0, 1)
    costs = parse_cost_matrix("tp=100, fp=-20, tn=0, fn=0")
    res = business_value(y, s, costs)
    brute = max(((costs.tp * (y & (s >= t)).sum() + costs.fp * (~y & (s >= t)).sum()) / len(y)) for t in np.unique(s))
    assert res.value_at_best == pytest.approx(brute)
    assert res.value_at_best >= res.baseline_value and res.uplift_per_decision > 0
    assert parse_cost_matrix('{"tp": 1, "fp": -1, "tn": 0, "fn": -2}').fn == -2
    with pytest.raises(SpecError, match="missing"):
        parse_cost_matrix("tp=1,fp=2")
