"""Leakage checks and training-serving skew on real data and small frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import realdata
from mlsitter.ml.features._pipeline import FeatureSpec, fit_feature_pipeline
from mlsitter.ml.data._leakage import (check_feature_leakage, post_outcome_by_time, row_overlap, target_encoding_gap,
                                 time_split_leakage)
from mlsitter.ml.modeling._problem_type import encode_target, infer_problem_type
from mlsitter.ml.features._serving_skew import compare_offline_serving


def test_bank_duration_dominates_and_is_blocking():
    frame = realdata.bank().sample(2000, random_state=1)
    problem = infer_problem_type(frame["y"])
    report = check_feature_leakage(frame.drop(columns=["y"]), encode_target(frame["y"], problem), problem)
    assert report.suspect_columns() == ["duration"]
    assert report.single_feature_scores["duration"] > report.rest_scores["duration"]


def test_titanic_sex_is_a_warning_not_a_block():
    frame = realdata.titanic().drop(columns=["PassengerId", "Name", "Ticket"])
    problem = infer_problem_type(frame["Survived"])
    report = check_feature_leakage(frame.drop(columns=["Survived"]), encode_target(frame["Survived"], problem),
                                   problem)
    assert report.suspect_columns() == []


def test_row_overlap_time_leakage_and_post_outcome_timestamps():
    train = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    test = pd.DataFrame({"a": [3, 4], "b": ["z", "w"]})
    assert row_overlap(train, test) == 1
    days = pd.Series(pd.date_range("2024-01-01", periods=4))
    assert time_split_leakage(days, pd.Series([days[2]])) == 2
    frame = pd.DataFrame({"decided": pd.date_range("2024-01-01", periods=5),
                          "closed": pd.date_range("2024-01-03", periods=5),
                          "opened": pd.date_range("2023-12-01", periods=5)})
    assert [f.column for f in post_outcome_by_time(frame, "decided")] == ["closed"]


def test_target_encoding_fitted_outside_folds_would_leak():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"code": rng.integers(0, 400, 2000).astype(str)})
    y = rng.integers(0, 2, 2000)  # no signal at all
    problem = infer_problem_type(pd.Series(y))
    gap = target_encoding_gap(frame, y, problem, ["code"])["code"]
    assert gap["in_sample"] > 0.6 and abs(gap["cross_fitted"] - 0.5) < 0.05


def test_pipeline_cross_fits_target_encoding_and_serves_identically(tmp_path):
    frame = realdata.adult().sample(1500, random_state=0)
    problem = infer_problem_type(frame["class"])
    y = encode_target(frame["class"], problem)
    fitted, train_features = fit_feature_pipeline(frame, y, "class", FeatureSpec(target_encode=["native-country"]),
                                                  problem.task)
    te = [i for i, n in enumerate(fitted.feature_names) if n.startswith("te__")]
    assert te and not np.allclose(train_features[:, te], fitted.transform(frame)[:, te])  # cross-fitted in fit
    path = fitted.save(tmp_path / "pipe.pkl")
    assert compare_offline_serving(path, frame, rows=40, offline=fitted).skewed == []

    def cents(pipeline, record):
        record = dict(record, **{"capital-gain": record["capital-gain"] * 100})
        return pipeline.transform_record(record)

    skew = compare_offline_serving(path, frame, rows=40, offline=fitted, serving_transform=cents)
    assert skew.names() == ["num__capital-gain"] and skew.skewed[0].source_columns == ["capital-gain"]


def test_time_split_cuts_on_a_timestamp_so_no_training_row_is_from_the_test_period():
    from mlsitter.ml.data._data_split import split_train_test

    frame = realdata.bike_hour()  # 24 rows per day share one dteday
    split = split_train_test(frame, "cnt", test_size=0.2, time_column="dteday")
    assert split.kind == "time" and len(split.train) + len(split.test) == len(frame)
    assert split.train["dteday"].max() < split.test["dteday"].min()
    assert time_split_leakage(split.train["dteday"], split.test["dteday"]) == 0
