"""The ``evaluation`` process end to end on Adult (API and CLI): fairness by sex and race with CIs,
the mitigation breakpoint and its options, the production-readiness approval, bad input."""

from __future__ import annotations

import json

import joblib
import pytest
from click.testing import CliRunner

import mlsitter
import realdata
from mlsitter.cli import main
from validation_fixtures import write_adult_case


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return write_adult_case(tmp_path_factory.mktemp("adult-eval"), "logistic")


def test_evaluation_reports_fairness_gaps_and_mitigates(case):
    handle = mlsitter.run("evaluation", approve="auto", model=case["model"], data=case["data"], target="class",
                          sensitive=["sex", "race"], n_resamples=200, costs="tp=100,fp=-30,tn=0,fn=0", recalibrate="isotonic")
    # the fairness breakpoint is answered by policy (approve = mitigate); readiness is a production decision
    assert handle.status == "waiting", handle.error
    assert "Production readiness" in handle.waiting["question"]
    assert handle.waiting["options"] == ["ready", "not-ready"]
    done = mlsitter.approve(handle.run_id, option="ready", by="reviewer", resume=True)
    assert done.status == "completed", done.error
    r = done.result
    assert r.ready and r.readiness_by == "reviewer"
    fair = {f["attribute"]: f for f in r.fairness}
    assert set(fair) == {"sex", "race"}
    sex = fair["sex"]
    assert sex["dp_ratio_low"] <= sex["dp_ratio"] <= sex["dp_ratio_high"] < 0.8  # well below parity, CI included
    assert sex["dp_ratio"] < 0.5 and 0 < sex["eo_difference"] < 1
    assert fair["race"]["dp_ratio_low"] <= fair["race"]["dp_ratio"] <= fair["race"]["dp_ratio_high"]
    gates = {g["name"]: g for g in r.gates}
    assert not gates["fairness-sex-dp-ratio"]["passed"] and gates["fairness-sex-dp-ratio"]["threshold"] == 0.8
    # the mitigated model was evaluated again and closes the demographic-parity gap
    assert r.fairness_decision == "mitigated" and r.mitigated_model
    after = {f["attribute"]: f for f in r.mitigated_fairness}
    assert after["sex"]["dp_ratio"] > 0.75 > sex["dp_ratio"]
    assert gates["fairness-sex-dp-ratio-mitigated"]["passed"]
    mitigated = joblib.load(r.mitigated_model)
    assert set(mitigated.predict(realdata.adult("test").head(50).drop(columns="class"))) <= {">50K", "<=50K"}
    # the other analyses
    assert 0.85 < r.metrics["roc_auc"]["value"] < 0.95
    assert r.metrics["roc_auc"]["low"] < r.metrics["roc_auc"]["value"] < r.metrics["roc_auc"]["high"]
    assert r.ece is not None and r.recalibrated_model.endswith(".joblib")
    assert r.business["uplift"] > 0 and 0 < r.business["best_threshold"] < 1
    assert r.worst_slices and r.worst_slices[0]["error"] > 1 - r.metrics["accuracy"]["value"]  # worse than overall
    assert {x["perturbation"] for x in r.robustness} == {"numeric_noise", "category_swap", "missing_values"}
    assert any("untrusted" in w or "unpickling" in w for w in r.warnings)
    html = open(r.report, encoding="utf-8").read()
    assert "Fairness (Fairlearn)" in html and "ThresholdOptimizer" in html and "data:image/png;base64" in html
    summary = json.load(open(r.summary))
    assert summary["fairness"][0]["attribute"] == "sex"


def test_fairness_breakpoint_options_change_the_path(case):
    common = dict(model=case["model"], data=case["data"], target="class", sensitive=["sex"], n_resamples=50)
    first = mlsitter.run("evaluation", **common)
    assert first.status == "waiting" and first.waiting["options"] == ["mitigate", "accept", "reject"]
    assert "sex" in first.waiting["question"]
    accepted = mlsitter.approve(first.run_id, option="accept", feedback="known gap, tracked in the charter", resume=True)
    assert accepted.status == "waiting" and "fairness: accepted" in accepted.waiting["question"]
    final = mlsitter.reject(first.run_id, feedback="not ready until the gap is fixed", resume=True)
    assert final.status == "completed" and final.result.ready is False
    assert final.result.fairness_decision == "accepted" and final.result.mitigated_model == ""

    second = mlsitter.run("evaluation", **common)
    rejected = mlsitter.reject(second.run_id, feedback="reject: the gap is too large", resume=True)
    assert rejected.status == "failed" and "rejected" in rejected.error

    third = mlsitter.run("evaluation", min_dp_ratio=0.2, max_eo_difference=0.5, approve="auto+production", **common)
    assert third.status == "completed" and third.result.fairness_decision == "passed"  # looser gates, configurable


def test_evaluation_from_the_cli_and_on_regression(case, tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["run", "evaluation", "-i", f"model={case['model']}", "-i", f"data={case['data']}",
                               "-i", "target=class", "-i", "sensitive=sex,race", "-i", "n_resamples=50",
                               "--approve", "auto+production", "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["status"] == "completed"

    from sklearn.ensemble import HistGradientBoostingRegressor

    bike = realdata.bike_hour().sample(1500, random_state=0)
    features = ["season", "hr", "workingday", "weathersit", "temp", "hum", "windspeed"]
    model = HistGradientBoostingRegressor(max_iter=60).fit(bike[features], bike["cnt"])
    joblib.dump(model, tmp_path / "bike.joblib")
    bike[features + ["cnt"]].to_csv(tmp_path / "bike.csv", index=False)
    h = mlsitter.run("evaluation", approve="auto+production", model=str(tmp_path / "bike.joblib"),
                     data=str(tmp_path / "bike.csv"), target="cnt", n_resamples=50)
    assert h.status == "completed", h.error
    assert h.result.task == "regression" and h.result.metrics["r2"]["value"] > 0.5
    assert h.result.fairness_decision == "not-measured" and h.result.ece is None


def test_bad_inputs_name_what_was_wrong(case, tmp_path):
    h = mlsitter.run("evaluation", approve="auto+production", model=case["model"], data=case["data"], target="income")
    assert h.status == "failed" and "target column 'income'" in h.error
    h = mlsitter.run("evaluation", approve="auto+production", model=case["model"], data=case["data"], target="class",
                     sensitive=["gender"], n_resamples=20)
    assert h.status == "failed" and "gender" in h.error
    h = mlsitter.run("evaluation", approve="auto+production", model=str(tmp_path / "nope.joblib"), data=case["data"], target="class")
    assert h.status == "failed" and "does not exist" in h.error
    h = mlsitter.run("evaluation", approve="auto+production", model=case["model"], data=case["data"], target="class",
                     targets="roc_auc=0.9")
    assert h.status == "failed" and "roc_auc>=0.85" in h.error


def test_sensitive_attributes_and_success_metric_come_from_the_charter(case, tmp_path):
    from mlsitter.ml.handoffs._charter import Charter, CharterMetric, write_charter

    charter, _ = write_charter(Charter(name="adult-income", objective="income screening", decision="offer", target="class",
                                       task="classification", metric=CharterMetric("roc_auc", 0.99, True, "roc_auc"),
                                       positive_class=">50K", sensitive_attributes=["sex"]), tmp_path)
    h = mlsitter.run("evaluation", approve="auto+production", model=case["model"], data=case["data"], target="class",
                     charter=str(charter), n_resamples=30)
    assert h.status == "completed", h.error
    assert [f["attribute"] for f in h.result.fairness] == ["sex"]
    gate = next(g for g in h.result.gates if g["name"] == "metric-roc_auc")
    assert gate["threshold"] == 0.99 and not gate["passed"] and gate["overridden"]  # 'ask' gate, overridden by policy
