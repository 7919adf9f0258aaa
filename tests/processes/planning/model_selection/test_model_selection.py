"""The model-selection process: candidates on the same repeated CV, corrected tests, constraints, review."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mlsitter
import realdata
from mlsitter.errors import SpecError
from mlsitter.ml.modeling._candidates import parse_candidate_names
from mlsitter.ml.handoffs._charter import Charter, CharterMetric, write_charter
from planning_helpers import cli, plain, titanic_csv, write_sample

BIKE = "bike_sharing/hour.csv"


def test_bike_sharing_boosting_beats_the_baselines_significantly():
    run = mlsitter.run("model-selection", approve="auto", data=str(realdata.path(BIKE)), target="cnt",
                       exclude="casual,registered,instant", sample_rows=1500, cv_folds=3, cv_repeats=2,
                       candidates="tree,lightgbm,xgboost")
    assert run.status == "completed", run.error
    result = run.result
    assert result.metric == "r2" and result.recommended in ("lightgbm", "xgboost")
    assert result.p_values_vs_baselines["dummy"] < 0.05 and result.p_values_vs_baselines["linear"] < 0.05
    # the beats-* gates record the p-value itself, however small (not "0" after rounding to 8 decimals)
    gates = {e.data["name"]: e.data["value"] for e in mlsitter.Store().events(run.run_id, types=("gate.evaluated",))}
    for baseline in ("dummy", "linear"):
        assert gates[f"beats-{baseline}"] == pytest.approx(result.p_values_vs_baselines[baseline], rel=1e-3)
        assert gates[f"beats-{baseline}"] > 0
    names = {c["name"] for c in result.candidates}
    assert names == {"dummy", "linear", "tree", "lightgbm", "xgboost"}
    for c in result.candidates:
        assert c["latency_ms"] > 0 and c["size_mb"] > 0 and c["ci_low"] <= c["mean"] <= c["ci_high"]
    html = Path(result.report).read_text(encoding="utf-8")
    assert html.count("data:image/png;base64") >= 2 and "Nadeau-Bengio" in html


def test_cli_adult_charter_requiring_interpretability(tmp_path):
    data = write_sample(realdata.adult(), tmp_path / "adult.csv", 1500)
    charter = Charter(name="adult-income", objective="o", decision="d", target="class", task="classification",
                      metric=CharterMetric("roc_auc", 0.8, True, "roc_auc"), positive_class=">50K",
                      constraints={"interpretability": "required"}, excluded_columns={"fnlwgt": "survey weight"})
    path, _ = write_charter(charter, tmp_path)
    code, out = cli("run", "model-selection", "-i", f"data={data}", "-i", f"charter={path}", "-i", "cv_folds=3",
                    "-i", "candidates=tree,lightgbm", "--approve", "auto", "--json")
    assert code == 0, out
    result = plain(out["result"])
    assert result["recommended"] in ("linear", "tree") and result["metric"] == "roc_auc"
    lgbm = next(c for c in result["candidates"] if c["name"] == "lightgbm")
    assert lgbm["admissible"] is False
    assert result["p_values_vs_baselines"]["dummy"] < 0.05
    assert result["recommended_score"] >= 0.8  # the charter's success gate passed


def test_rejection_feedback_changes_metric_and_candidates(tmp_path):
    run = mlsitter.run("model-selection", data=str(titanic_csv(tmp_path)), target="Survived", exclude="PassengerId,Name,Ticket",
                       cv_folds=3, cv_repeats=1, candidates="tree,hist_gb")
    assert run.status == "waiting"
    assert "hist_gb" in run.waiting["context"]["context"]["candidates"]
    again = mlsitter.reject(run.run_id, feedback="metric: accuracy; exclude: hist_gb", resume=True)
    assert again.status == "waiting" and again.waiting["context"]["attempt"] == 2
    assert "hist_gb" not in again.waiting["context"]["context"]["candidates"]
    done = mlsitter.approve(run.run_id, resume=True)
    assert done.status == "completed", done.error
    assert done.result.metric == "accuracy" and done.result.attempts == 2


def test_no_signal_fails_the_beats_dummy_gate(tmp_path):
    frame = realdata.titanic().drop(columns=["PassengerId", "Name", "Ticket", "Cabin"])
    frame["Survived"] = np.random.default_rng(0).permutation(frame["Survived"].to_numpy())
    data = tmp_path / "shuffled.csv"
    frame.to_csv(data, index=False)
    # a pinned run seed fixes the CV folds: on shuffled labels the gate's t-test still passes by chance at
    # rate alpha, so an unpinned seed made this test fail about once in twenty runs
    run = mlsitter.run("model-selection", approve="auto", data=str(data), target="Survived", cv_folds=3,
                       cv_repeats=1, candidates="tree", on_gate_fail="fail", seed=0)
    assert run.status == "failed" and "beats-dummy" in run.error


def test_bad_candidates_and_metric_are_named(tmp_path):
    with pytest.raises(SpecError, match="unknown candidate.*'svm'.*lightgbm"):
        parse_candidate_names("lightgbm, svm")
    run = mlsitter.run("model-selection", approve="auto", data=str(titanic_csv(tmp_path)), target="Survived",
                       metric="rmse", cv_folds=3)
    assert run.status == "failed" and "metric rmse is for regression" in run.error
    run = mlsitter.run("model-selection", approve="auto", data=str(titanic_csv(tmp_path)), target="Survived",
                       exclude="Nmae")
    assert run.status == "failed" and "Nmae" in run.error


def test_knn_above_twenty_thousand_rows_is_skipped_with_a_stated_reason():
    from sklearn.preprocessing import StandardScaler

    from mlsitter.ml.modeling._candidates import build_candidates, skipped_candidates

    names = ["dummy", "linear", "knn"]
    assert skipped_candidates(names, 20_000, 10) == {}
    skipped = skipped_candidates(names, 20_001, 10)
    assert skipped == {"knn": "skipped: 20,001 rows > 20,000 (k-NN scans every training row for each prediction)"}
    assert [c.name for c in build_candidates(StandardScaler(), "binary", names, 20_001, 10)] == ["dummy", "linear"]
    assert [c.name for c in build_candidates(StandardScaler(), "binary", names, 500, 10)] == names
    assert "101 columns > 100" in skipped_candidates(names, 500, 101)["knn"]
