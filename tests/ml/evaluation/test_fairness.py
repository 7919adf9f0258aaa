"""Fairness building blocks on a model trained on Adult: Fairlearn's numbers, CIs, mitigation."""

from __future__ import annotations

import numpy as np
import pytest
from fairlearn.metrics import demographic_parity_ratio, equalized_odds_difference

from mlsitter.errors import DataError, SpecError
from mlsitter.ml.evaluation._fairness import fairness_by_group, mitigate_with_threshold_optimizer
from validation_fixtures import adult_samples, logistic_pipeline


@pytest.fixture(scope="module")
def adult_model():
    train, test = adult_samples()
    model = logistic_pipeline(train)
    X = test.drop(columns="class")
    y = (test["class"].str.rstrip(".") == ">50K").to_numpy()
    pred = model.predict(X) == ">50K"
    return model, X, y, pred


def test_gaps_are_fairlearns_with_sensible_cis(adult_model):
    _, X, y, pred = adult_model
    res = fairness_by_group(y, pred, X["sex"], "sex", n_resamples=200, seed=0)
    assert res.dp_ratio.value == pytest.approx(demographic_parity_ratio(y, pred, sensitive_features=X["sex"]))
    assert res.eo_difference.value == pytest.approx(equalized_odds_difference(y, pred, sensitive_features=X["sex"]))
    # a model trained on Adult selects women far less often than men
    assert res.dp_ratio.high < 0.6 and res.dp_ratio.low < res.dp_ratio.value < res.dp_ratio.high
    groups = {g["group"]: g for g in res.groups}
    assert groups["Female"]["selection_rate"] < groups["Male"]["selection_rate"]
    assert sum(g["count"] for g in res.groups) == len(y)
    race = fairness_by_group(y, pred, X["race"], "race", min_group_size=30, n_resamples=200)
    assert race.excluded_groups  # tiny groups are listed, not silently used for the gap
    assert 0 <= race.dp_ratio.low <= race.dp_ratio.value <= race.dp_ratio.high <= 1


def test_threshold_optimizer_narrows_the_gap_on_held_out_rows(adult_model):
    model, X, y, pred = adult_model
    mit = mitigate_with_threshold_optimizer(model, X, y, ["sex"], "demographic_parity", positive_label=">50K", seed=0)
    hold = np.asarray(mit.holdout_index)
    after = mit.model.predict(X.iloc[hold]) == ">50K"
    before = fairness_by_group(y[hold], pred[hold], X["sex"].iloc[hold], "sex", n_resamples=0)
    fixed = fairness_by_group(y[hold], after, X["sex"].iloc[hold], "sex", n_resamples=0)
    assert fixed.dp_ratio.value > 0.75 > before.dp_ratio.value
    intersectional = mitigate_with_threshold_optimizer(model, X, y, ["sex", "race"], positive_label=">50K", seed=0)
    assert len(intersectional.groups) >= 3  # small intersections share one threshold group instead of failing


def test_fairness_input_errors(adult_model):
    model, X, y, pred = adult_model
    with pytest.raises(DataError, match="at least two groups"):
        fairness_by_group(y, pred, X["sex"], "sex", min_group_size=10_000)
    with pytest.raises(SpecError, match="constraint"):
        mitigate_with_threshold_optimizer(model, X, y, ["sex"], "parity", positive_label=">50K")
    with pytest.raises(DataError, match="not columns"):
        mitigate_with_threshold_optimizer(model, X, y, ["gender"], positive_label=">50K")
