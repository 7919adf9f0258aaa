"""Data availability, personal-data detection and feasibility on real data."""

from __future__ import annotations

import numpy as np
import pytest

import realdata
from mlsitter.errors import DataError
from mlsitter.processes.planning.scoping.data_availability import assess_availability
from mlsitter.processes.planning.scoping.feasibility import assess_feasibility, extrapolate_curve
from mlsitter.ml.metrics._metric_catalog import metric_info
from mlsitter.ml.data._pii import find_pii_columns
from mlsitter.ml.modeling._problem_type import encode_target, infer_problem_type


def test_titanic_personal_data_and_sensitive_columns():
    frame = realdata.titanic()
    kinds = {f.column: f.kind for f in find_pii_columns(frame)}
    assert kinds["Name"] == "person name" and kinds["PassengerId"] == "identifier"
    assert "Sex" not in kinds and "Survived" not in kinds
    availability = assess_availability(frame, "Survived", fairness_attributes=["Sex", "Religion"])
    assert availability.class_counts == {"0": 549, "1": 342}
    assert "Sex" in availability.sensitive_attributes and availability.sensitive_missing == ["Religion"]
    assert availability.score < 100 and any("Religion" in r for r in availability.reasons)


def test_bike_time_span_and_regression_summary():
    frame = realdata.bike_hour()
    availability = assess_availability(frame, "cnt", time_column="dteday")
    assert availability.problem.task == "regression"
    assert availability.time_span_days == pytest.approx(730.0)
    assert availability.target_summary["max"] == 977.0


def test_missing_target_is_a_data_error():
    with pytest.raises(DataError, match="target column 'income' is not in the data"):
        assess_availability(realdata.titanic(), "income")


def test_learning_curve_extrapolation_follows_a_power_law():
    sizes = [100, 200, 400, 800, 1600]
    scores = [0.9 - 0.5 * n ** -0.5 for n in sizes]
    _, value = extrapolate_curve(sizes, scores, 10_000, True)
    assert value == pytest.approx(0.9 - 0.5 * 10_000 ** -0.5, abs=1e-3)


def test_german_credit_feasibility_of_an_unreachable_target():
    frame = realdata.german_credit()
    problem = infer_problem_type(frame["class"])
    y = encode_target(frame["class"], problem)
    hard = assess_feasibility(frame, y, "class", problem, metric_info("roc_auc"), 0.99, folds=3)
    assert not hard.plausible and hard.score < 80 and hard.dummy_score == pytest.approx(0.5)
    assert 0.7 < hard.simple_mean < 0.85 and hard.simple_ci[0] < hard.simple_mean < hard.simple_ci[1]
    assert len(hard.curve.sizes) == 5 and np.all(np.diff(hard.curve.sizes) > 0)
    assert any("falls short of the threshold 0.99" in r for r in hard.reasons)
