"""The scoping process: brief validation, availability, feasibility, risks, charter, sign-off loop."""

from __future__ import annotations

from pathlib import Path

import pytest

import mlsitter
from mlsitter.errors import SpecError
from mlsitter.processes.planning.scoping.brief import load_brief, parse_brief
from mlsitter.ml.handoffs._charter import load_charter
from planning_helpers import bank_csv, cli, german_csv, plain, titanic_csv, write_yaml

BANK_BRIEF = {
    "name": "bank-term-deposit",
    "objective": "Find clients likely to subscribe to a term deposit",
    "decision": "Which clients the call centre phones in the next campaign",
    "target": "y",
    "positive_class": "yes",
    "success_metric": {"name": "roc_auc", "threshold": 0.75},
    "constraints": {"max_latency_ms": 50, "interpretability": "preferred", "fairness_attributes": ["age", "marital"]},
}


def test_brief_errors_name_every_missing_and_contradictory_field():
    with pytest.raises(SpecError) as err:
        parse_brief({"target": "y", "task": "regression", "success_metric": {"name": "roc_auc", "threshold": 1.5},
                     "constraints": {"interpretability": "maybe", "fairness_attributes": ["y"]}, "colour": 1})
    message = str(err.value)
    for expected in ("'objective' is missing", "'decision' is missing", "outside the range of roc_auc",
                     "roc_auc is a classification metric but 'task' is regression", "interpretability",
                     "'constraints.fairness_attributes'", "unknown field(s) ['colour']"):
        assert expected in message


def test_brief_unknown_metric_lists_known_ones_and_missing_file(tmp_path):
    with pytest.raises(SpecError, match="unknown; expected one of .*'roc_auc'"):
        parse_brief({**BANK_BRIEF, "success_metric": {"name": "auc", "threshold": 0.8}})
    with pytest.raises(SpecError, match="does not exist"):
        load_brief(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("objective: [unclosed", encoding="utf-8")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_brief(bad)


def test_scoping_on_bank_flags_duration_and_writes_a_charter(tmp_path):
    brief = write_yaml(tmp_path / "brief.yaml", BANK_BRIEF)
    out = tmp_path / "out" / "charter.json"
    run = mlsitter.run("scoping", approve="auto", brief=str(brief), data=str(bank_csv(tmp_path)), cv_folds=3,
                       charter_out=str(out))
    assert run.status == "completed", run.error
    result = run.result
    charter = load_charter(result.charter)
    assert charter.target == "y" and charter.task == "classification" and charter.positive_class == "yes"
    assert charter.metric.name == "roc_auc" and charter.metric.threshold == 0.75
    assert "duration" in charter.excluded_columns and "leakage" in charter.excluded_columns["duration"]
    assert {"age", "marital"} <= set(charter.sensitive_attributes)
    assert any(r["kind"] == "leakage" for r in charter.risks)
    assert 0 < result.feasibility_score <= 100 and 0.6 < result.estimate < 0.95
    assert load_charter(out).to_dict() == charter.to_dict()
    assert load_charter(out.with_suffix(".yaml")).to_dict() == charter.to_dict()
    html = Path(result.report).read_text(encoding="utf-8")
    assert html.count("data:image/png;base64") >= 2 and "Learning curve" in html


def test_scoping_cli_on_titanic_excludes_personal_data(tmp_path):
    brief = write_yaml(tmp_path / "brief.yaml", {
        "objective": "Understand who survived", "decision": "Lifeboat policy review", "target": "Survived",
        "success_metric": {"name": "accuracy", "threshold": 0.75}})
    code, out = cli("run", "scoping", "-i", f"brief={brief}", "-i", f"data={titanic_csv(tmp_path)}",
                    "-i", "cv_folds=3", "--approve", "auto", "--json")
    assert code == 0, out
    result = plain(out["result"])
    assert {"Name", "PassengerId"} <= set(result["excluded_columns"])
    assert "Sex" in result["sensitive_attributes"]
    assert any(r["kind"] == "privacy" for r in result["risks"])
    assert load_charter(result["charter"]).metric.name == "accuracy"


def test_rejection_feedback_revises_the_charter(tmp_path):
    brief = write_yaml(tmp_path / "brief.yaml", {
        "objective": "Screen credit applications", "decision": "Refer risky applicants to a human",
        "target": "class", "positive_class": "2", "success_metric": {"name": "roc_auc", "threshold": 0.7},
        "constraints": {"fairness_attributes": ["a9"]}})
    run = mlsitter.run("scoping", brief=str(brief), data=str(german_csv(tmp_path)), cv_folds=3)
    assert run.status == "waiting"
    again = mlsitter.reject(run.run_id, feedback="metric: balanced_accuracy; threshold: 0.6; exclude: a2; "
                                                 "sensitive: a13", resume=True)
    assert again.status == "waiting" and again.waiting["context"]["attempt"] == 2
    done = mlsitter.approve(run.run_id, resume=True)
    assert done.status == "completed", done.error
    result = done.result
    assert result.attempts == 2 and result.metric == "balanced_accuracy" and result.threshold == 0.6
    charter = load_charter(result.charter)
    assert charter.excluded_columns["a2"] == "excluded by reviewer"
    assert {"a9", "a13"} <= set(charter.sensitive_attributes)
    first_attempt = Path(result.charter).parent.parent / "attempt-1" / "charter.json"
    assert load_charter(first_attempt).metric.name == "roc_auc"


def test_unknown_feedback_key_and_wrong_metric_fail_clearly(tmp_path):
    data = str(german_csv(tmp_path))
    brief = write_yaml(tmp_path / "brief.yaml", {
        "objective": "o", "decision": "d", "target": "class", "success_metric": {"name": "rmse", "threshold": 1}})
    run = mlsitter.run("scoping", approve="auto", brief=str(brief), data=data, cv_folds=3)
    assert run.status == "failed" and "metric rmse is for regression" in run.error
    ok = write_yaml(tmp_path / "ok.yaml", {
        "objective": "o", "decision": "d", "target": "class", "success_metric": {"name": "accuracy", "threshold": 0.7}})
    run = mlsitter.run("scoping", brief=str(ok), data=data, cv_folds=3)
    failed = mlsitter.reject(run.run_id, feedback="metrc: f1", resume=True)
    assert failed.status == "failed" and "'metrc' is not understood" in failed.error
    missing = write_yaml(tmp_path / "m.yaml", {**BANK_BRIEF, "target": "nope"})
    run = mlsitter.run("scoping", approve="auto", brief=str(missing), data=data)
    assert run.status == "failed" and "target column 'nope' is not in the data" in run.error
