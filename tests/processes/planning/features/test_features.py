"""The features process: pipeline from data + spec, leakage, serving skew, selection, review loop."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import mlsitter
import realdata
from mlsitter.errors import SpecError
from mlsitter.ml.features._pipeline import load_feature_pipeline, parse_feature_spec
from planning_helpers import cli, plain, titanic_csv

BANK = "bank_marketing/bank-additional-full.csv"


def test_bank_duration_is_flagged_and_kept_out_and_serving_matches():
    # a fixed run seed, so a fixed 2,000-row sample: on 8 seeds duration alone scored 0.807-0.846 against 0.716-0.795
    # for all other features together, so a random seed could draw a sample where it no longer dominates
    run = mlsitter.run("features", approve="auto", data=str(realdata.path(BANK)), target="y", sample_rows=2000,
                       max_iterations=2, skew_rows=50, seed=0)
    assert run.status == "completed", run.error
    result = run.result
    assert "duration" in result.leakage_suspects
    assert "duration" not in result.selected_columns
    finding = next(f for f in result.leakage_findings if f["column"] == "duration")
    assert finding["blocking"] and "after the outcome" in finding["detail"]
    assert result.skewed_features == []
    pipeline = load_feature_pipeline(result.pipeline)
    assert set(pipeline.input_columns) <= set(result.selected_columns)
    assert len(pipeline.feature_names) == result.output_features
    html = Path(result.report).read_text(encoding="utf-8")
    assert html.count("data:image/png;base64") >= 3 and "duration" in html
    report = json.loads(Path(result.report).with_suffix(".json").read_text())
    assert report["title"] == "Feature design"


def test_cli_bike_sharing_spec_with_datetime_and_ratio(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("datetime: [dteday]\nratios: ['temp/hum']\ndrop: [instant]\n", encoding="utf-8")
    code, out = cli("run", "features", "-i", f"data={realdata.path('bike_sharing/hour.csv')}", "-i", "target=cnt",
                    "-i", f"spec={spec}", "-i", "sample_rows=1500", "-i", "max_iterations=1", "-i", "skew_rows=50",
                    "--approve", "auto",
                    "--json")
    assert code == 0, out
    result = plain(out["result"])
    # casual + registered = cnt: the target is computed from them
    assert {"casual", "registered"} <= set(result["leakage_suspects"])
    assert not {"casual", "registered", "instant"} & set(result["selected_columns"])
    assert result["skewed_features"] == [] and result["task"] == "regression"
    names = load_feature_pipeline(result["pipeline"]).feature_names
    assert any(n.startswith("dt__dteday_") for n in names)


def test_a_skewed_serving_path_fails_the_gate_and_names_the_feature(tmp_path):
    serving = tmp_path / "serving.py"
    serving.write_text(
        "def transform(pipeline, record):\n"
        "    record = dict(record)\n"
        "    record['Age'] = None if record['Age'] is None else record['Age'] * 12  # months, not years\n"
        "    return pipeline.transform_record(record)\n", encoding="utf-8")
    run = mlsitter.run("features", approve="auto", data=str(titanic_csv(tmp_path)), target="Survived",
                       spec="drop: [PassengerId, Name, Ticket]\nkeep: [Age]", serving_code=f"{serving}:transform",
                       max_iterations=1, skew_rows=50)
    assert run.status == "failed"
    assert "serving-skew" in run.error and "num__Age" in run.error


def test_rejection_feedback_drops_and_pins_columns(tmp_path):
    data = str(titanic_csv(tmp_path))
    run = mlsitter.run("features", data=data, target="Survived", spec="drop: [PassengerId, Name, Ticket]",
                       max_iterations=1, skew_rows=50)
    assert run.status == "waiting"
    assert "Fare" in run.waiting["context"]["context"]["selected"]
    again = mlsitter.reject(run.run_id, feedback="drop: Fare; interaction: Age*Pclass", resume=True)
    assert again.status == "waiting" and again.waiting["context"]["attempt"] == 2
    assert "Fare" not in again.waiting["context"]["context"]["selected"]
    done = mlsitter.approve(run.run_id, resume=True)
    assert done.status == "completed", done.error
    assert "Fare" not in done.result.selected_columns and done.result.attempts == 2


def test_bad_specs_are_named():
    with pytest.raises(SpecError, match="unknown feature spec key"):
        parse_feature_spec({"numerc": ["a"]})
    with pytest.raises(SpecError, match="listed under both 'numeric' and 'categorical'"):
        parse_feature_spec({"numeric": ["a"], "categorical": ["a"]})
    with pytest.raises(SpecError, match="must look like 'a/b'"):
        parse_feature_spec({"ratios": ["a//b/c"]})
    with pytest.raises(SpecError, match="scale' must be one of"):
        parse_feature_spec("scale: log")
    with pytest.raises(SpecError, match="both pinned"):
        parse_feature_spec({"keep": ["a"], "drop": ["a"]})


def test_spec_naming_a_missing_column_fails_the_run(tmp_path):
    run = mlsitter.run("features", approve="auto", data=str(titanic_csv(tmp_path)), target="Survived",
                       spec="numeric: [Agee]")
    assert run.status == "failed" and "Agee" in run.error and "not in the data" in run.error
    run = mlsitter.run("features", approve="auto", data=str(titanic_csv(tmp_path)))
    assert run.status == "failed" and "no target" in run.error


def test_eda_leak_suspects_are_kept_out_unless_pinned(tmp_path):
    eda = tmp_path / "eda-report.json"
    eda.write_text(json.dumps({"title": "EDA", "analysis": {"target": {"leak_suspects": ["Fare"]}}}))
    common = dict(approve="auto", data=str(titanic_csv(tmp_path)), target="Survived", max_iterations=1,
                  skew_rows=20, eda_report=str(eda))
    run = mlsitter.run("features", spec="drop: [PassengerId, Name, Ticket]", **common)
    assert run.status == "completed", run.error
    assert "Fare" in run.result.leakage_suspects and "Fare" not in run.result.selected_columns
    pinned = mlsitter.run("features", spec="drop: [PassengerId, Name, Ticket]\nkeep: [Fare]", on_gate_fail="fail",
                          **common)
    assert pinned.status == "failed" and "leakage (Fare)" in pinned.error
