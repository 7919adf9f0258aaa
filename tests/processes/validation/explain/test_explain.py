"""The ``explain`` process end to end on Adult: SHAP with the fitting explainer, stability gate,
counterfactuals, and the model card's refine loop (rejection feedback changes the next version)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import mlsitter
from mlsitter.cli import main
from validation_fixtures import adult_samples, lightgbm_pipeline, write_adult_case

SECTIONS = ("Model details", "Intended use", "Factors", "Metrics", "Evaluation data", "Training data",
            "Quantitative analyses", "Ethical considerations", "Caveats and recommendations")


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return write_adult_case(tmp_path_factory.mktemp("adult-explain"), "lightgbm")


def test_model_card_opens_as_html_and_feedback_changes_the_next_version(case, mlsitter_home):
    h = mlsitter.run("explain", model=case["model"], data=case["data"], target="class", sensitive=["sex", "race"],
                     max_rows=800, n_resamples=100, rows=[0, 5])
    assert h.status == "waiting", h.error
    assert "model card version 1" in h.waiting["question"]
    card_v1 = next(a for a in h.waiting["artifacts"] if a["name"] == "model-card-v1.html")
    stored = next(mlsitter_home.rglob(f"{card_v1['sha256']}*"))  # the content-addressed artifact the reviewer opens
    html_v1 = stored.read_text(encoding="utf-8")
    assert html_v1.startswith("<!doctype html>") and all(f"<h2>{s}</h2>" in html_v1 for s in SECTIONS)
    assert "demographic parity ratio" in html_v1 and "credit decisions" not in html_v1

    h = mlsitter.reject(h.run_id, feedback="Intended use: research on census income only, not for credit decisions\n"
                                          "Say that the data is the 1994 US census extract.", resume=True)
    assert h.status == "waiting" and "model card version 2" in h.waiting["question"]
    h = mlsitter.approve(h.run_id, by="model-owner", resume=True)
    assert h.status == "completed", h.error
    r = h.result
    assert r.model_card_version == 2
    html_v2 = open(r.model_card_html, encoding="utf-8").read()
    assert "not for credit decisions" in html_v2 and "1994 US census" in html_v2
    md = open(r.model_card_markdown, encoding="utf-8").read()
    assert "## Intended use" in md and "research on census income only" in md

    assert r.explainer == "tree"
    top = [x["feature"] for x in r.importance[:5]]
    assert {"relationship", "marital-status", "capital-gain", "age", "education-num"} & set(top)
    assert r.stability["mean_spearman"] >= 0.8 and r.gates[0]["name"] == "explanation-stability"
    assert {x["row"] for x in r.local} == {0, 5}
    assert all(c["row"] in (0, 5) for c in r.counterfactuals)
    for c in r.counterfactuals:
        assert (c["score_before"] >= 0.5) != (c["score_after"] >= 0.5)
    assert r.permutation_importance[0]["importance"] > 0
    report = open(r.report, encoding="utf-8").read()
    assert "Partial dependence" in report and "Counterfactual probes" in report


def test_card_from_an_evaluation_run_and_from_the_cli(case):
    ev = mlsitter.run("evaluation", approve="auto+production", model=case["model"], data=case["data"], target="class",
                      sensitive=["sex"], n_resamples=30)
    assert ev.status == "completed", ev.error
    res = CliRunner().invoke(main, ["run", "explain", "-i", f"model={case['model']}", "-i", f"data={case['data']}",
                                    "-i", "target=class", "-i", "sensitive=sex", "-i", f"evaluation={ev.result.summary}",
                                    "-i", "max_rows=300", "-i", "n_resamples=50", "--approve", "auto", "--json"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    run_id = json.loads(res.stdout)["run_id"]
    result = mlsitter.get(run_id).result
    card = open(result.model_card_markdown, encoding="utf-8").read()
    assert f"{ev.result.metrics['roc_auc']['value']:.4f}" in card  # metrics on the card are the evaluation's
    assert "fairness-sex-dp-ratio" in card  # failed evaluation gates listed under caveats


def test_bad_explain_inputs(case):
    h = mlsitter.run("explain", approve="auto", model=case["model"], data=case["data"], target="class", rows=[10_000_000])
    assert h.status == "failed" and "outside the data" in h.error
    h = mlsitter.run("explain", approve="auto", model=case["model"], data=case["data"], target="class",
                     evaluation="missing-summary.json")
    assert h.status == "failed" and "does not exist" in h.error


def test_explain_a_registered_model(tmp_path):
    from mlsitter.ml.tracking import _tracking as tracking
    from mlsitter.ml.tracking._registry import register_model

    train, test = adult_samples(1500)
    model = lightgbm_pipeline(train)
    X = train.drop(columns="class")
    logged = tracking.log_model_run(model=model, input_example=X.head(3), params={}, metrics={"roc_auc": 0.9},
                                    step_metrics={}, tags={tracking.TAG_RUN_ID: "train-run-1", tracking.TAG_STEP: "final"},
                                    figures={}, files={}, run_name="adult")
    register_model("adult-income", model_uri=logged.model_uri, mlflow_run_id=logged.mlflow_run_id,
                   artifact_sha256=logged.artifact_sha256, mlsitter_run_id="train-run-1", dataset_version="adult-v1",
                   code_version="git:abc", process="training", metrics={"roc_auc": 0.9})
    test.to_csv(tmp_path / "test.csv", index=False)
    h = mlsitter.run("explain", approve="auto", model="adult-income@challenger", data=str(tmp_path / "test.csv"),
                     target="class", max_rows=300, n_resamples=50)
    assert h.status == "completed", h.error
    assert h.result.warnings == []  # a registered model is hash-checked: no untrusted-file warning
    card = open(h.result.model_card_markdown, encoding="utf-8").read()
    assert "adult-income" in card and "adult-v1" in card and "train-run-1" in card
