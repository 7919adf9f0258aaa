"""A training run's learning curve on a rare positive class (bank marketing, 5 % subscribe): its smallest
training subsets used to hold no positive at all, so XGBoost was fitted on one class, answered two
probability columns for one known class, and sklearn set that fold's ROC AUC to NaN with a warning. Every
learning-curve score is now finite, and a model fitted on fewer classes is scored on all of them."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import realdata
from mlsitter.ml.metrics._scoring import get_metric, metric_scorer
from mlsitter.ml.modeling._model_families import EncodedTargetClassifier, build_pipeline, column_kinds
from mlsitter.ml.modeling._training_plots import learning_curve_png, stratified_order


@pytest.fixture(scope="module")
def rare():
    """300 real calls of 2008, 5 % of them subscribers (their share in those months): under the old shuffled
    prefixes, two of the three smallest training subsets held no subscriber."""
    import pandas as pd

    calls = realdata.bank(full=True).drop(columns=["duration"]).iloc[:30000]
    frame = pd.concat([calls[calls.y == "no"].sample(285, random_state=0), calls[calls.y == "yes"].sample(15, random_state=0)])
    return frame.drop(columns=["y"]), frame["y"].to_numpy()


def test_every_learning_curve_score_is_finite_on_a_rare_class(rare):
    X, y = rare
    classes = np.unique(y)
    pipeline = build_pipeline("xgboost", "classification", {"n_estimators": 20, "max_depth": 3}, column_kinds(X), 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, curve = learning_curve_png(pipeline, X, y, scoring=metric_scorer(get_metric("roc_auc", "classification"),
                                                                            "classification", classes),
                                      task="classification", seed=0, metric_name="roc_auc")
    scores = curve["train"] + curve["validation"]
    assert len(scores) == 6 and all(np.isfinite(scores)), curve
    assert not [w for w in caught if "Scoring failed" in str(w.message) or "Fitting failed" in str(w.message)]


def test_each_prefix_of_the_stratified_order_holds_every_class():
    y = np.array(["no"] * 372 + ["yes"] * 28)
    order = stratified_order(y, seed=3)
    assert sorted(order.tolist()) == list(range(400))  # a permutation of the rows
    for n in (20, 66, 100, 200):
        assert abs((y[order[:n]] == "yes").sum() - n * 28 / 400) <= 1


def test_a_model_fitted_on_one_class_is_scored_on_all_of_them():
    import xgboost as xgb

    X = np.arange(40, dtype=float).reshape(-1, 1)
    y = np.where(np.arange(40) < 20, "no", "yes")
    model = EncodedTargetClassifier(xgb.XGBClassifier(n_estimators=2, verbosity=0)).fit(X[:20], y[:20])
    assert list(model.classes_) == ["no"] and model.predict_proba(X).shape == (40, 1)  # one column per known class
    auc = metric_scorer(get_metric("roc_auc", "classification"), "classification", np.array(["no", "yes"]))(model, X, y)
    assert auc == pytest.approx(0.5)  # a constant answer ranks nobody: chance, not NaN
    with pytest.raises(ValueError, match="not among the target's"):
        metric_scorer(get_metric("roc_auc", "classification"), "classification", np.array(["a", "b"]))(model, X, y)
