"""One metric catalogue: training/AutoML (computed metrics) and scoping/model selection (sklearn scorers,
charter names) read the same rows, so a metric's direction, spelling and value agree on both sides."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import get_scorer

from mlsitter.errors import SpecError
from mlsitter.ml.metrics import _metric_catalog as catalog
from mlsitter.ml.metrics import _scoring as scoring
from mlsitter.ml.metrics._metric_catalog import (ALIASES, METRICS, charter_metric_names, default_success_metric,
                                                 default_training_metric, find_metric, get_metric, metric_info)


def test_scoring_reads_the_catalogue_rows():
    assert scoring.METRICS is catalog.METRICS and scoring.get_metric is catalog.get_metric
    assert scoring.Metric is catalog.Metric and scoring.ALIASES is catalog.ALIASES


@pytest.mark.parametrize("spelling", sorted({*METRICS, *ALIASES, *charter_metric_names()}))
def test_every_spelling_names_one_row_with_one_direction(spelling):
    row = find_metric(spelling)
    assert row is not None and find_metric(spelling.upper()) is row
    computed, named = get_metric(spelling, row.task), metric_info(spelling)
    assert computed is row and named.task == row.task
    assert named.greater_is_better == computed.greater_is_better
    assert named.scorer.startswith("neg_") == (not row.greater_is_better)  # sklearn negates lower-is-better scorers
    get_scorer(named.scorer)  # a scorer sklearn knows


def test_other_spellings_come_from_the_table():
    assert ALIASES == {"pr_auc": "average_precision", "roc_auc_ovr": "roc_auc"}
    assert metric_info("pr_auc").name == "average_precision"
    # ROC AUC: one metric, a binary spelling and the one-vs-rest spelling a multiclass brief uses
    assert (metric_info("roc_auc").scorer, metric_info("roc_auc").binary_only) == ("roc_auc", True)
    assert (metric_info("roc_auc_ovr").scorer, metric_info("roc_auc_ovr").binary_only) == ("roc_auc_ovr", False)
    assert get_metric("roc_auc_ovr", "classification").name == "roc_auc"
    assert "roc_auc_ovr" in charter_metric_names() and "pr_auc" not in charter_metric_names()


def test_unknown_names_list_the_known_ones():
    with pytest.raises(SpecError, match="unknown metric 'auc'; expected one of: .*roc_auc, roc_auc_ovr"):
        metric_info("auc")
    with pytest.raises(SpecError, match="unknown metric 'auc' for classification; expected one of: .*f1_macro"):
        get_metric("auc", "classification")
    with pytest.raises(SpecError, match="'rmse' is a regression metric"):
        get_metric("rmse", "classification")


def test_the_two_default_rules():
    # what a model is tuned on (training, AutoML, HPO) and what planning states success in (model selection)
    assert [default_training_metric("classification", k) for k in (2, 3)] == ["roc_auc", "log_loss"]
    assert [default_success_metric("classification", k) for k in (2, 3)] == ["roc_auc", "balanced_accuracy"]
    assert default_training_metric("regression") == default_success_metric("regression") == "r2"
    for name in ("roc_auc", "log_loss", "balanced_accuracy", "r2"):
        assert name in METRICS


def _value_by_scorer(name, model, X, y):
    info = metric_info(name)
    return info.from_scorer(get_scorer(info.scorer)(model, X, y))


@pytest.mark.parametrize("n_classes", [2, 3])
def test_computed_value_equals_the_sklearn_scorer_value(n_classes):
    X, y = make_classification(400, 6, n_informative=4, n_classes=n_classes, random_state=0)
    model = LogisticRegression(max_iter=500).fit(X, y)
    proba = model.predict_proba(X)
    for row in METRICS.values():
        if row.task != "classification" or (row.binary_only and n_classes != 2):
            continue
        spelling = row.multiclass_name if n_classes != 2 and row.multiclass_name else row.name
        assert scoring.score(row, y, proba, model.classes_) == pytest.approx(
            _value_by_scorer(spelling, model, X, y), rel=1e-9, abs=1e-12), spelling
    X, y = make_regression(300, 4, noise=5.0, random_state=0)
    y = y - y.min() + 10.0  # positive, so MAPE is defined
    reg = LinearRegression().fit(X, y)
    for row in METRICS.values():
        if row.task == "regression":
            assert scoring.score(row, y, reg.predict(X)) == pytest.approx(_value_by_scorer(row.name, reg, X, y), rel=1e-9)


def test_binary_only_rows_are_skipped_for_multiclass_test_metrics():
    from mlsitter.ml.modeling._final_fit import test_metrics

    y = np.array(["a", "b", "c"] * 20)
    proba = np.tile([0.5, 0.3, 0.2], (60, 1))
    names = set(test_metrics("classification", y, proba, ["a", "b", "c"]))
    assert names == {m.name for m in METRICS.values() if m.task == "classification" and not m.binary_only}
    assert "roc_auc" in names and "f1" not in names
