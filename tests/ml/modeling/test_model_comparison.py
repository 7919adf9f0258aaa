"""Corrected resampled t-test and intervals, and constraint-aware recommendations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mlsitter.ml.modeling._candidates import build_candidates, parse_candidate_names
from mlsitter.ml.features._pipeline import FeatureSpec, build_feature_pipeline, infer_roles
from mlsitter.ml.metrics._metric_catalog import metric_info
from mlsitter.ml.modeling._model_comparison import compare_candidates, corrected_interval, corrected_resampled_ttest
from mlsitter.ml.modeling._problem_type import encode_target, infer_problem_type
import realdata


def test_nadeau_bengio_statistic_by_hand():
    a = [0.81, 0.83, 0.80, 0.84, 0.82, 0.85]
    b = [0.79, 0.80, 0.80, 0.81, 0.80, 0.82]
    test = corrected_resampled_ttest(a, b, n_train=800, n_test=200)
    d = np.subtract(a, b)
    t = d.mean() / np.sqrt((1 / 6 + 200 / 800) * d.var(ddof=1))
    assert test.t == pytest.approx(t) and test.p_value == pytest.approx(stats.t.sf(t, 5)) and test.df == 5
    naive_t = d.mean() / np.sqrt(d.var(ddof=1) / 6)
    assert test.t < naive_t  # the correction makes the test more conservative


def test_lower_is_better_metrics_flip_the_difference():
    worse_errors, better_errors = [10.0, 11.0, 12.0], [8.0, 8.5, 9.0]
    assert corrected_resampled_ttest(better_errors, worse_errors, 80, 20, greater_is_better=False).mean_difference > 0


def test_corrected_interval_is_wider_than_naive():
    scores = [0.7, 0.72, 0.69, 0.74, 0.71]
    low, high = corrected_interval(scores, 400, 100)
    naive = stats.t.ppf(0.975, 4) * np.std(scores, ddof=1) / np.sqrt(5)
    assert high - low > 2 * naive


def test_latency_and_size_constraints_exclude_candidates():
    frame = realdata.german_credit().sample(600, random_state=0)
    problem = infer_problem_type(frame["class"])
    y = encode_target(frame["class"], problem)
    roles = infer_roles(frame, "class", FeatureSpec())
    features = build_feature_pipeline(roles, FeatureSpec(), problem.task)
    X = frame[roles.inputs()]
    cands = build_candidates(features, problem.task, parse_candidate_names("random_forest"), len(X), X.shape[1])
    comparison = compare_candidates(X, y, problem.task, metric_info("roc_auc"), cands, folds=3, repeats=1,
                                    max_model_size_mb=0.1, prefer_simpler=False)
    forest = comparison.result("random_forest")
    assert not forest.admissible and "size" in forest.excluded_because[0]
    assert comparison.recommended == "linear"
    assert {r.name for r in comparison.results} == {"dummy", "linear", "random_forest"}
