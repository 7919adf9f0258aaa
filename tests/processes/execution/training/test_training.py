"""The `training` process end to end on real data (small samples), plus its pure helpers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import mlsitter
from mlsitter import Store
from mlsitter.errors import SpecError

import realdata


@pytest.fixture(scope="module")
def adult_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "adult.csv"
    realdata.adult().sample(1500, random_state=0).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def bike_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "bike_hour.csv"
    realdata.bike_hour().sample(1500, random_state=0).to_csv(path, index=False)
    return path


# -- pure helpers --------------------------------------------------------------------------------
def test_feedback_syntax_changes_settings_and_rejects_unknown_keys():
    from mlsitter.processes.execution.training.process import TrainingSettings, apply_feedback, parse_feedback

    assert parse_feedback("trials: 40\nfamily: xgboost") == {"trials": 40, "family": "xgboost"}
    assert parse_feedback("Too few trials; trials=12; timeout: 30s") == {"trials": 12, "timeout_s": 30.0}
    space = parse_feedback('family: lightgbm; space: {"num_leaves": {"type": "int", "low": 8, "high": 16}}')
    assert space["family"] == "lightgbm" and json.loads(space["search_space"])["num_leaves"]["high"] == 16
    assert parse_feedback("looks overfit to me") == {}
    base = TrainingSettings("lightgbm", "", 20, 0.0, 10, 5, "roc_auc")
    assert apply_feedback(base, ["trials: 5", "folds: 3"]).trials == 5
    with pytest.raises(SpecError, match="unknown setting 'learning'.*trials"):
        parse_feedback("learning: fast")
    with pytest.raises(SpecError, match="'trials' needs a number"):
        parse_feedback("trials: many")


def test_gap_measures_and_patience():
    from mlsitter.ml.modeling._hpo import is_converged
    from mlsitter.processes.execution.training.process import measure_gaps

    std, drop = measure_gaps("roc_auc", 0.90, [0.88, 0.92], 0.85)
    assert std == pytest.approx(0.02) and drop == pytest.approx(0.05)
    _, drop = measure_gaps("rmse", 10.0, [9.0, 11.0], 12.0)  # unbounded: relative to the CV mean
    assert drop == pytest.approx(0.2)
    assert measure_gaps("roc_auc", 0.80, [0.8], 0.85)[1] == 0.0  # a better test score is no gap
    assert is_converged([0.5, 0.6, 0.6, 0.59, None], patience=3, greater_is_better=True)
    assert not is_converged([0.5, 0.6, 0.6, 0.61], patience=3, greater_is_better=True)
    assert not is_converged([0.5, 0.4, 0.3], patience=0, greater_is_better=True)


# -- end to end ----------------------------------------------------------------------------------
INPUTS = dict(target="class", family="lightgbm", trials=4, folds=3, parallel=2, model_name="adult-income")


def test_api_run_on_adult_tracks_registers_and_is_reproducible(adult_csv):
    import mlflow

    from mlsitter.ml import registry, tracking

    first = mlsitter.run("training", approve="auto", data=str(adult_csv), **INPUTS)
    assert first.status == "completed", first.error
    r = first.result
    assert (r.model_name, r.version, r.alias, r.metric, r.trials_run) == ("adult-income", 1, "challenger", "roc_auc", 4)
    assert 0.8 < r.test_score <= 1.0 and r.cv_std >= 0
    assert r.dataset_version.startswith("sha256:") and r.code_version.startswith(("git:", "sha256:"))

    # MLflow: params, per-fold / per-trial / final metrics, lineage tags, plots and a model with signature
    tracking.configure()
    run = mlflow.get_run(r.mlflow_run_id)
    assert run.data.params["family"] == "lightgbm" and "best.num_leaves" in run.data.params
    assert run.data.metrics["test_roc_auc"] == pytest.approx(r.test_score)
    client = mlflow.MlflowClient()
    assert len(client.get_metric_history(r.mlflow_run_id, "cv_fold_roc_auc")) == 3
    assert len(client.get_metric_history(r.mlflow_run_id, "trial_roc_auc")) >= 1
    assert run.data.tags[tracking.TAG_RUN_ID] == first.run_id
    assert run.data.tags[tracking.TAG_DATASET_VERSION] == r.dataset_version
    plots = {Path(a.path).name for a in client.list_artifacts(r.mlflow_run_id, "plots")}
    assert {"learning_curve.png", "confusion_matrix.png", "importance.png"} <= plots
    info = mlflow.models.get_model_info(r.model_uri)
    assert info.signature is not None and info.saved_input_example_info is not None

    # registry lineage and hash-checked loading
    found = registry.lineage("adult-income@challenger")
    assert found["run"]["mlsitter_run_id"] == first.run_id
    assert found["dataset"]["dataset_version"] == r.dataset_version
    model = registry.load_registered_model("adult-income@challenger")
    assert set(model.predict(realdata.adult().head(5).drop(columns=["class"]))) <= {"<=50K", ">50K"}

    # same inputs and seed -> same metrics
    second = mlsitter.run("training", approve="auto", data=str(adult_csv), **INPUTS)
    assert second.status == "completed", second.error
    assert second.result.cv_mean == pytest.approx(r.cv_mean, abs=1e-12)
    assert second.result.test_metrics == pytest.approx(r.test_metrics, abs=1e-12)
    assert second.result.best_params == r.best_params
    assert second.result.version == 2


def test_reject_with_feedback_retrains_with_the_change(adult_csv):
    waiting = mlsitter.run("training", data=str(adult_csv), target="class", family="linear", trials=2, folds=3,
                           model_name="adult-linear")
    assert waiting.status == "waiting"
    resumed = mlsitter.reject(waiting.run_id, feedback="more search please\ntrials: 3\nfamily: random_forest",
                              resume=True)
    assert resumed.status == "waiting"
    done = mlsitter.approve(waiting.run_id, resume=True)
    assert done.status == "completed", done.error
    assert (done.result.trials_run, done.result.family, done.result.attempts) == (3, "random_forest", 2)
    from mlsitter.ml.tracking._registry import resolve_model

    assert resolve_model("adult-linear@challenger").mlsitter_run_id == waiting.run_id


def test_cli_run_on_bike_sharing_regression(bike_csv):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    cmd = [sys.executable, "-m", "mlsitter", "run", "training", "--input", f"data={bike_csv}", "--input", "target=cnt",
           "--input", "drop=casual,registered", "--input", "family=hist_gradient_boosting", "--input", "trials=2",
           "--input", "folds=3", "--input", "model_name=bike-cnt", "--approve", "auto"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    shown = subprocess.run([sys.executable, "-m", "mlsitter", "lineage", "bike-cnt@challenger", "--json"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    info = json.loads(shown.stdout)
    assert info["model"]["version"] == 1 and info["run"]["process"] == "training"
    assert info["model"]["metrics"]["test_r2"] > 0.5  # hour-of-day + weather explain most of the demand


def test_bad_metric_family_and_search_space_fail_with_clear_errors(adult_csv):
    from mlsitter.errors import InvalidInputError

    # an unknown name is refused before a run exists; a known one of the wrong task still fails the run
    with pytest.raises(InvalidInputError, match=r"'metric' parameter of training must be a str among \{.*'roc_auc'.*\}"
                                                r"\. Got 'rmsle' instead"):
        mlsitter.run("training", approve="auto", data=str(adult_csv), target="class", metric="rmsle")
    wrong_task = mlsitter.run("training", approve="auto", data=str(adult_csv), target="class", metric="r2")
    assert wrong_task.status == "failed" and "regression metric" in wrong_task.error
    with pytest.raises(InvalidInputError, match=r"'family' parameter of training must be a str among \{.*'lightgbm'.*"
                                                r"Got 'svm' instead"):
        mlsitter.run("training", approve="auto", data=str(adult_csv), target="class", family="svm")
    assert Store().count_runs(status="failed") == 1  # only the wrong-task run so far
    bad_space = mlsitter.run("training", approve="auto", data=str(adult_csv), target="class",
                             search_space='{"num_leaves": {"type": "int", "low": 64, "high": 8}}')
    assert bad_space.status == "failed" and "low < high" in bad_space.error
    bad_target = mlsitter.run("training", approve="auto", data=str(adult_csv), target="income")
    assert bad_target.status == "failed" and "target column 'income' is not in the data" in bad_target.error


def test_sigkill_during_hpo_then_resume_continues_the_study(adult_csv, mlsitter_home):
    import optuna
    from optuna.trial import TrialState

    from mlsitter.ml.modeling._hpo import storage_url

    trials = 10
    cmd = [sys.executable, "-m", "mlsitter", "run", "training", "-i", f"data={adult_csv}", "-i", "target=class",
           "-i", f"trials={trials}", "-i", "folds=2", "-i", "parallel=1", "-i", "patience=0", "-i", "model_name=killed",
           "--approve", "auto"]
    proc = subprocess.Popen(cmd, env={**os.environ, "MPLBACKEND": "Agg"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def finished_trials() -> list:
        try:
            studies = optuna.get_all_study_names(storage_url())
            if not studies:
                return []
            return optuna.load_study(study_name=studies[0], storage=storage_url()).get_trials(
                states=(TrialState.COMPLETE, TrialState.PRUNED))
        except Exception:
            return []

    end = time.time() + 120
    while len(finished_trials()) < 3 and time.time() < end:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {t.number: (t.params, t.value) for t in finished_trials()}
    assert 3 <= len(before) < trials, "the kill should land mid-search"

    store = Store()
    run = store.list_runs()[0]
    done = mlsitter.resume(run.run_id)
    assert done.status == "completed", done.error
    assert done.result.trials_run == trials

    study = optuna.load_study(study_name=f"mlsitter-{run.run_id}-a1", storage=storage_url())
    finished = {t.number: (t.params, t.value) for t in study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))}
    assert len(finished) == trials  # the study continued: no trial was redone or added beyond the budget
    for number, recorded in before.items():
        assert finished[number] == recorded  # trials finished before the kill kept their results
    assert len(study.get_trials(states=(TrialState.FAIL,))) <= 1  # at most the trial in flight at the kill
    resumed_at = store.events(run.run_id, types=("run.resumed",))[0].seq
    rerun = [e for e in store.events(run.run_id, after=resumed_at, types=("step.started",))
             if e.data["name"].endswith("evaluate_asked_trial")]
    assert len(rerun) <= trials - len(before)  # trials told before the kill did not run again


def test_prepare_with_a_given_test_split_and_bad_columns():
    from mlsitter.errors import DataError
    from mlsitter.ml.modeling._training_data import prepare

    frame = realdata.titanic().drop(columns=["PassengerId", "Name", "Ticket", "Cabin"])
    train, test = frame.iloc[:700], frame.iloc[700:]
    prep = prepare(train, target="Survived", test_frame=test)
    assert (len(prep.y_train), len(prep.y_test), prep.task, prep.metric) == (700, 191, "classification", "roc_auc")
    with pytest.raises(DataError, match="differ from the training data columns"):
        prepare(train, target="Survived", test_frame=test.drop(columns=["Fare"]))
    with pytest.raises(DataError, match="columns to drop \\['Cabin'\\]"):
        prepare(train, target="Survived", drop=["Cabin"])
    # a charter's exclusions go where present; a pipeline's inputs are the only features kept
    narrow = prepare(train, target="Survived", exclude=["Fare", "Cabin", "Survived"], inputs=["Age", "Sex", "Fare"])
    assert list(narrow.X_train.columns) == ["Sex", "Age"] and "Fare" in narrow.dropped_columns
    with pytest.raises(DataError, match="the pipeline reads column\\(s\\) Cabin that the data lacks"):
        prepare(train, target="Survived", inputs=["Age", "Cabin"], inputs_of="the pipeline")


def test_charter_sets_metric_target_gate_and_exclusions(adult_csv, tmp_path):
    import mlflow

    from mlsitter.ml.tracking import _tracking as tracking
    from mlsitter.ml.handoffs._charter import charter_from_dict, write_charter

    charter = charter_from_dict({
        "name": "income", "objective": "find high earners", "decision": "mailing list", "target": "class",
        "task": "classification",
        "metric": {"name": "roc_auc", "threshold": 0.995, "greater_is_better": True, "scorer": "roc_auc"},
        "excluded_columns": {"fnlwgt": "sampling weight, not a property of the person"},
    })
    path, _ = write_charter(charter, tmp_path)
    run = mlsitter.run("training", approve="gates-passed", data=str(adult_csv), target="class", charter=str(path),
                       trials=2, folds=2, model_name="adult-charter", max_cv_std=0.0)
    assert run.status == "waiting"  # folds never agree exactly (max_cv_std=0): the failed gate asks a person
    assert run.waiting["question"].startswith("Gate 'cv-stability' failed")
    # ... with the fold and test scores it asks about, as a table in the context and as a CSV file
    scores = run.waiting["context"]["scores"]
    assert [r["split"] for r in scores] == ["fold 1", "fold 2", "CV mean", "CV std", "test"]
    assert scores[3]["roc_auc"] > 0 and "roc_auc" in run.waiting["context"]["test_metrics"]
    (evidence,) = run.waiting["artifacts"]
    assert evidence["name"] == "cv-scores-1.csv" and evidence["media_type"] == "text/csv"
    import pandas as pd

    assert pd.read_csv(evidence["path"], float_precision="round_trip").to_dict("records") == scores
    gate = [e.data for e in Store().events(run.run_id, types=("gate.evaluated",)) if e.data["name"] == "target-roc_auc"]
    assert not gate  # not measured yet
    asked = []
    done = mlsitter.approve(run.run_id, feedback="folds of 600 rows vary", resume=True)
    while done.status == "waiting":  # the charter's 0.995 AUC is out of reach: its gate asks, then the registration
        asked.append(done.waiting)
        done = mlsitter.approve(run.run_id, resume=True)
    assert done.status == "completed", done.error
    gate = [e.data for e in Store().events(run.run_id, types=("gate.evaluated",)) if e.data["name"] == "target-roc_auc"][0]
    assert gate["threshold"] == 0.995 and not gate["passed"]
    target = next(q for q in asked if q["question"].startswith("Gate 'target-roc_auc' failed"))
    assert [a["name"] for a in target["artifacts"]] == ["cv-scores-1.csv"] and target["context"]["scores"] == scores
    tracking.configure()
    assert mlflow.get_run(done.result.mlflow_run_id).data.params["dropped_columns"] == "fnlwgt"
    bad = mlsitter.run("training", approve="auto", data=str(adult_csv), target="age", charter=str(path))
    assert bad.status == "failed" and "target differs between target input ('age'), charter ('class')" in bad.error


def test_selection_and_pipeline_inputs_refuse_bad_files(adult_csv, tmp_path):
    """A wrong hand-off file, a recommendation training cannot tune, and a pipeline whose columns the data
    lacks each fail with a message that names the problem."""
    import json

    from mlsitter.ml.handoffs._handoff import Selection, read_selection, write_selection
    from mlsitter.processes.execution.training.process import agreed_target

    with pytest.raises(SpecError, match="does not exist"):
        read_selection(tmp_path / "nope.json")
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"recommended": "lightgbm"}))
    with pytest.raises(SpecError, match="not a model-selection hand-off"):
        read_selection(foreign)
    tree = Selection("tree", "roc_auc", 0.8, "class", "classification", "", str(adult_csv), "run-1")
    with pytest.raises(SpecError, match="recommended 'tree', which training does not tune"):
        _ = read_selection(write_selection(tree, tmp_path)).family
    hgb = Selection("hist_gb", "roc_auc", 0.8, "class", "classification", "", str(adult_csv), "run-1")
    assert read_selection(write_selection(hgb, tmp_path / "hgb")).family == "hist_gradient_boosting"
    with pytest.raises(SpecError, match=r"differs between target input \('age'\), selection \('class'\)"):
        agreed_target("age", {"selection": "class", "charter": ""})

    run = mlsitter.run("training", approve="auto", data=str(adult_csv), selection=str(foreign), trials=2)
    assert run.status == "failed" and "not a model-selection hand-off" in run.error
    run = mlsitter.run("training", approve="auto", data=str(adult_csv), trials=2)
    assert run.status == "failed" and "no target" in run.error
    features = mlsitter.run("features", approve="auto", data=str(adult_csv), target="class", max_iterations=1,
                            skew_rows=20)
    assert features.status == "completed", features.error
    from mlsitter.ml.features._pipeline import load_feature_pipeline

    needed = load_feature_pipeline(features.result.pipeline).input_columns[0]
    narrow = tmp_path / "narrow.csv"
    realdata.adult().sample(300, random_state=1).drop(columns=[needed]).to_csv(narrow, index=False)
    run = mlsitter.run("training", approve="auto", data=str(narrow), pipeline=features.result.pipeline, trials=2)
    assert run.status == "failed" and f"reads column(s) {needed} that" in run.error
