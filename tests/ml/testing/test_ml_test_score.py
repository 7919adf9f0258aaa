"""The ML Test Score from plain evidence records: 28 tests in four sections of seven, 1 for an automated check
repeated across runs, 0.5 for one run or a person's documented approval, 0 for nothing, and the final score
the minimum section sum; plus the contract-test measurements that need no server."""

from __future__ import annotations

import math

import pytest

from mlsitter.errors import InputError
from mlsitter.ml.testing import (
    RUBRIC, ApprovalRecord, GateRecord, ModelEvidence, RunEvidence, changed_rows, check_predictions, contract_test,
    ml_test_score, pass_rate, response_problems)


def _run(run_id, process, *, gates=(), steps=(), approvals=(), status="completed"):
    return RunEvidence(run_id, process, status, 0.0, tuple(steps),
                       tuple(GateRecord(name, 1.0, ">=", 0.5, True, "fail", tuple(cp), str(i))
                             for i, (name, cp) in enumerate(gates)),
                       tuple(approvals), (("report.html", f"sha-{run_id}"),))


def test_the_rubric_has_the_papers_28_tests_in_four_sections_of_seven_each_with_a_supplier():
    assert len(RUBRIC) == 28 and len({t.id for t in RUBRIC}) == 28
    for section in ("data", "model", "infrastructure", "monitoring"):
        assert len([t for t in RUBRIC if t.section == section]) == 7
    assert all(t.signals and t.supplier and t.rule for t in RUBRIC)


def test_one_run_scores_half_two_runs_score_one_and_the_score_is_the_lowest_section():
    one = [_run("a", "features", gates=[("leakage", []), ("serving-skew", [])])]
    score = ml_test_score(one)
    assert score.row("data-7").score == 0.5 and score.row("monitor-3").score == 0.5
    assert "1 run(s) only" in score.row("data-7").missing and "features" in score.row("data-7").missing
    two = one + [_run("b", "features", gates=[("leakage (Fare)", [])])]
    score = ml_test_score(two)
    assert score.row("data-7").score == 1.0 and score.row("data-7").runs == 2
    assert {e.run_id for e in score.row("data-7").evidence} == {"a", "b"}
    assert "report sha256 sha-" in score.row("data-7").evidence[0].describe()
    assert score.sections["data"] == 1.0 and score.sections["monitoring"] == 0.5
    assert score.score == 0.0 and score.weakest in ("model", "infrastructure")
    assert ml_test_score(two, repeated=3).row("data-7").score == 0.5


def test_a_persons_approval_is_half_a_policy_approval_is_nothing_and_cancelled_runs_do_not_count():
    person = ApprovalRecord("Register titanic?", True, "alice", "os", ("registration",), (), ("sha-card",), "7")
    policy = ApprovalRecord("Register titanic?", True, "policy:auto", "policy", ("registration",), (), (), "7")
    assert ml_test_score([_run("a", "training", approvals=[policy])]).row("model-1").score == 0.0
    row = ml_test_score([_run("a", "training", approvals=[person])]).row("model-1")
    assert row.score == 0.5 and "done by hand" in row.missing and "alice" in row.evidence[0].describe()
    cancelled = [_run(r, "features", gates=[("leakage", [])], status="cancelled") for r in "ab"]
    assert ml_test_score(cancelled).row("data-7").score == 0.0


def test_checkpoints_registry_lineage_and_removing_evidence():
    runs = [_run("a", "evaluation", gates=[("demographic_parity_difference-sex", ["fairness"])]),
            _run("b", "evaluation", gates=[("equalized_odds_difference-sex", ["fairness"])]),
            _run("t", "training", steps=["training.register"])]
    model = ModelEvidence("titanic", 3, mlsitter_run_id="t", code_version="abc123")
    every = ml_test_score(runs, model=model)
    assert every.row("model-7").score == 1.0
    assert every.row("model-1").score == 0.5 and every.row("model-1").runs == 1
    lineage_only = ml_test_score([_run("t", "training")], model=model).row("model-1")
    assert lineage_only.score == 0.5
    assert "registry: titanic/3 code_version = abc123" in lineage_only.evidence[0].describe()
    fewer = ml_test_score(runs[1:], model=model)
    assert changed_rows(every, fewer) == {"model-7": (1.0, 0.5)}
    empty = ml_test_score([])
    assert empty.score == 0.0 and all(r.missing.startswith("no run shows") for r in empty.rows)
    with pytest.raises(InputError, match="repeated must be at least 1"):
        ml_test_score(runs, repeated=0)


def test_contract_measurements_name_what_is_wrong():
    assert contract_test("x", "", None, "<=", 1).passed is False
    assert contract_test("x", "", math.nan, "<=", 1).passed is False
    assert contract_test("x", "", 0.5, "<=", 1).passed and pass_rate([]) == 1.0
    ok = {"request_id": "r", "model": "titanic", "version": 1, "prediction": 1, "score": 0.7}
    assert response_problems(ok, label="titanic/1", labels=[0, 1]) == []
    assert response_problems({**ok, "score": None}, label="titanic/1", labels=[0, 1]) == []
    bad = response_problems({**ok, "prediction": "1", "version": 2}, label="titanic/1", labels=[0, 1])
    assert any("not titanic/1" in p for p in bad) and any("prediction '1' is a str" in p for p in bad)
    entries = [{"outcome": "ok", "output": 1, "score": 0.9, "request_id": "a"},
               {"outcome": "ok", "output": 1, "score": None, "request_id": "b"},
               {"outcome": "ok", "output": "1", "score": 0.2, "request_id": "c"},
               {"outcome": "error", "request_id": "d"}]
    check = check_predictions(entries, labels=[0, 1])
    assert (check.read, check.in_range, check.finite, check.errors) == (3, 2, 2, 1)
    assert check_predictions([{"outcome": "ok", "output": float("inf")}], labels=None).finite == 0


def test_reproduction_golden_quality_and_pinned_requirements(tmp_path):
    import numpy as np
    from importlib import metadata
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    from mlsitter.ml.metrics import get_metric
    from mlsitter.ml.testing import golden_quality, reproduce_training, requirement_mismatches

    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    auc = get_metric("roc_auc", "classification")
    same = reproduce_training(RandomForestClassifier(n_estimators=10), X[:150], y[:150], X[150:], y[150:], metric=auc,
                              seed=3, classes=[0, 1])
    assert same.difference == 0.0 and same.first is not None and same.seed == 3
    refused = reproduce_training(object(), X[:150], y[:150], X[150:], y[150:], metric=auc, seed=3, classes=[0, 1])
    assert refused.difference is None and "could not be refitted" in refused.detail
    value, left_out = golden_quality(auc, [0, 1, 1, 0], [0, 1, 1, 0], [0.1, 0.9, float("nan"), None], [0, 1])
    assert (value, left_out) == (1.0, 2)
    r2 = get_metric("r2", "regression")
    assert golden_quality(r2, [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [None] * 3, None) == (1.0, 0)
    numpy = metadata.version("numpy")
    (tmp_path / "requirements.txt").write_text(f"mlflow\nnumpy=={numpy}\nscikit-learn==0.0.1\nnot-a-package-xyz==1.0\n")
    checked, differing = requirement_mismatches(tmp_path)
    assert checked == 3 and len(differing) == 2
    assert any(d.startswith("scikit-learn: model pinned 0.0.1, installed") for d in differing)
    assert "not-a-package-xyz==1.0 is not installed" in differing
    assert requirement_mismatches(tmp_path / "none")[1][0].endswith("has no requirements.txt")
    assert np.isfinite(same.first)
