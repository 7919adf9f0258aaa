"""The four planning processes chained as a user runs them: the charter from scoping feeds features,
model-selection and experiment-plan; the feature pipeline from features feeds model-selection, and the
approved selection (with that pipeline) feeds training."""

from __future__ import annotations

import json
import math
from pathlib import Path

from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

import mlflow
import pandas as pd

import mlsitter
from mlsitter.ml.tracking import _tracking as tracking
from mlsitter.ml.handoffs._charter import load_charter
from mlsitter.ml.handoffs._handoff import TUNABLE
from mlsitter.ml.tracking._registry import load_registered_model
from planning_helpers import bank_csv, write_yaml
from test_scoping import BANK_BRIEF


def test_scoping_features_model_selection_experiment_plan_on_bank(tmp_path):
    data = str(bank_csv(tmp_path, rows=1500))
    brief = write_yaml(tmp_path / "brief.yaml", BANK_BRIEF)
    scope = mlsitter.run("scoping", approve="auto", brief=str(brief), data=data, cv_folds=3)
    assert scope.status == "completed", scope.error
    charter = scope.result.charter
    assert "duration" in load_charter(charter).excluded_columns

    feats = mlsitter.run("features", approve="auto", data=data, charter=charter, max_iterations=1, skew_rows=30)
    assert feats.status == "completed", feats.error
    assert feats.result.target == "y" and "duration" in feats.result.excluded_columns
    assert "duration" not in feats.result.selected_columns and feats.result.skewed_features == []

    select = mlsitter.run("model-selection", approve="auto", data=data, charter=charter, pipeline=feats.result.pipeline,
                          cv_folds=3, cv_repeats=1, candidates="lightgbm")
    assert select.status == "completed", select.error
    assert select.result.metric == "roc_auc"  # from the charter
    report = json.loads(Path(select.result.report).with_suffix(".json").read_text())
    assert "beats-dummy" in json.dumps(report)

    # training picks up the recommendation: family, metric and the designed feature pipeline
    handoff = json.loads(Path(select.result.selection).read_text())
    assert handoff["recommended"] == select.result.recommended
    assert handoff["pipeline"] == str(Path(feats.result.pipeline).resolve())
    trained = mlsitter.run("training", approve="auto", data=data, charter=charter, selection=select.result.selection,
                           trials=2, folds=2, parallel=1, model_name="bank-from-selection")
    assert trained.status == "completed", trained.error
    result = trained.result
    assert result.family == TUNABLE[handoff["recommended"]] and result.metric == "roc_auc"
    assert result.feature_pipeline == handoff["pipeline"]
    tracking.configure()
    tags = mlflow.get_run(result.mlflow_run_id).data.tags
    assert tags["mlsitter.feature_pipeline"].startswith(handoff["pipeline"] + " sha256:")
    assert tags["mlsitter.model_selection"] == f"run {select.run_id}: {handoff['recommended']}"
    model = load_registered_model("bank-from-selection@challenger")
    assert model.steps[0][0] == "features"  # the designed pipeline, refitted with the model, not the family's own
    raw = pd.read_csv(data, sep=";").drop(columns=["y"]).head(5)  # serving takes raw rows, extra columns included
    assert model.predict_proba(raw).shape == (5, 2)

    plan = mlsitter.run("experiment-plan", approve="auto", charter=charter, data=data, mde=0.03, daily_traffic=500)
    assert plan.status == "completed", plan.error
    p = plan.result.baseline
    expected = NormalIndPower().solve_power(effect_size=proportion_effectsize(p + 0.03, p), alpha=0.05, power=0.8)
    assert plan.result.metric == "y=yes" and plan.result.n_control == math.ceil(expected)
