"""MLflow tracking defaults, content hashes and code versions, and the HPO/search-space building blocks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlsitter.errors import SpecError


def test_embedded_default_and_user_tracking_uri(mlsitter_home, monkeypatch, tmp_path):
    from mlsitter.ml.tracking import _tracking as tracking
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.tracking_uri() == f"sqlite:///{mlsitter_home.resolve() / 'mlflow.db'}"
    assert tracking.artifact_root().endswith("/mlruns")
    tracking.configure()
    assert (mlsitter_home / "mlflow.db").exists()
    user = f"sqlite:///{tmp_path / 'team.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", user)
    assert tracking.tracking_uri() == user
    tracking.configure()
    assert (tmp_path / "team.db").exists()
    monkeypatch.delenv("MLSITTER_HOME")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.chdir(tmp_path)
    assert tracking.default_tracking_uri() == f"sqlite:///{tmp_path.resolve() / '.mlsitter' / 'mlflow.db'}"


def test_content_hashes(tmp_path):
    from mlsitter.ml.tracking._tracking import code_version, content_hash_of_frame, directory_hash

    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    assert content_hash_of_frame(frame) == content_hash_of_frame(frame.copy())
    changed = frame.copy()
    changed.loc[1, "a"] = 5
    assert content_hash_of_frame(changed) != content_hash_of_frame(frame)
    assert content_hash_of_frame(frame.astype({"a": "float64"})) != content_hash_of_frame(frame)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.pkl").write_bytes(b"abc")
    before = directory_hash(tmp_path / "m")
    (tmp_path / "m" / "registered_model_meta").write_text("written by the registry")
    assert directory_hash(tmp_path / "m") == before  # the registry's own note does not count
    (tmp_path / "m" / "model.pkl").write_bytes(b"abd")
    assert directory_hash(tmp_path / "m") != before
    script = tmp_path / "proc.py"
    script.write_text("x = 1\n")
    assert code_version(script).startswith("sha256:")  # outside any git repository
    import mlsitter.processes.execution.training.process as training

    assert code_version(training.__file__).startswith("git:")


def test_search_space_validation():
    from mlsitter.ml.modeling._search_space import build_space, check_family, default_space, parse_space

    space = build_space("lightgbm", "classification", {"num_leaves": {"type": "int", "low": 8, "high": 16}})
    assert space["num_leaves"].high == 16 and "class_weight" in space
    assert "alpha" in default_space("linear", "regression") and "C" in default_space("linear", "classification")
    assert check_family("XGB") == "xgboost"
    assert build_space("knn", "regression", '{"weights": ["uniform"]}')["weights"].choices == ("uniform",)
    bad = [
        ({"num_leavs": {"type": "int", "low": 8, "high": 16}}, "'num_leavs' is not a parameter of family 'lightgbm'"),
        ({"num_leaves": {"type": "integer", "low": 8, "high": 16}}, "has type 'integer'"),
        ({"num_leaves": {"type": "int", "low": 16, "high": 8}}, "low < high"),
        ({"learning_rate": {"type": "float", "low": 0, "high": 1, "log": True}}, "log scale, so low must be > 0"),
        ({"num_leaves": {"type": "int", "low": 8.5, "high": 16}}, "whole-number bounds"),
        ({"class_weight": {"type": "categorical", "choices": []}}, "non-empty 'choices'"),
        ({"num_leaves": {"type": "int", "low": 8, "high": 16, "step": 2}}, "unknown keys"),
        ({"num_leaves": 12}, "must be a mapping"),
    ]
    for spec, message in bad:
        with pytest.raises(SpecError, match=message):
            build_space("lightgbm", "classification", spec)
    with pytest.raises(SpecError, match="not valid JSON"):
        parse_space("{num_leaves: 3")
    with pytest.raises(SpecError, match="unknown model family 'svm'"):
        check_family("svm")


def test_metrics_table_and_unknown_metric():
    from mlsitter.ml.metrics._scoring import get_metric, infer_task, score

    with pytest.raises(SpecError, match="unknown metric 'auc'.*roc_auc"):
        get_metric("auc", "classification")
    with pytest.raises(SpecError, match="'rmse' is a regression metric"):
        get_metric("rmse", "classification")
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    classes = np.array(["a", "b"])
    assert score(get_metric("accuracy", "classification"), np.array(["a", "b", "b"]), proba, classes) == pytest.approx(2 / 3)
    assert score(get_metric("rmse", "regression"), np.array([1.0, 3.0]), np.array([2.0, 3.0])) == pytest.approx(np.sqrt(0.5))
    assert infer_task(pd.Series(["x", "y"])) == "classification"
    assert infer_task(pd.Series(np.linspace(0, 1, 50))) == "regression"


def test_ask_evaluate_tell_is_deterministic(mlsitter_home):
    import realdata
    from mlsitter.ml.modeling import _hpo as hpo
    from mlsitter.ml.modeling._search_space import build_space, space_to_dict

    frame = realdata.german_credit().sample(400, random_state=0)
    y = frame.pop("class")
    space = space_to_dict(build_space("linear", "classification"))

    def search(name: str) -> list:
        values = []
        for batch in range(3):
            asks = hpo.ask_trials(storage=hpo.storage_url(), study_name=name, direction="maximize", space=space, n=2,
                                  seed=batch, n_startup=2)
            outs = [hpo.evaluate_asked_trial(a, X=frame, y=y, family="linear", task="classification", metric="roc_auc",
                                             storage=hpo.storage_url(), study_name=name, direction="maximize", folds=3)
                    for a in asks]
            summary = hpo.tell_trials(storage=hpo.storage_url(), study_name=name, direction="maximize", outcomes=outs)
            values += [(o.params["C"], o.value) for o in outs]
        return values, summary

    first, summary = search("a")
    second, _ = search("b")
    assert first == second
    assert summary.n_complete + summary.n_pruned == 6 and summary.best_value > 0.6


def test_a_trial_worse_than_the_median_at_a_fold_is_pruned(mlsitter_home):
    import optuna

    import realdata
    from mlsitter.ml.modeling import _hpo as hpo
    from mlsitter.ml.modeling._search_space import build_space, space_to_dict

    frame = realdata.german_credit().sample(400, random_state=0)
    y = frame.pop("class")
    study = hpo.load_study(hpo.storage_url(), "p", "maximize")
    dist = {"n_neighbors": optuna.distributions.IntDistribution(3, 50, log=True)}
    for _ in range(5):  # five earlier trials that scored 0.99 at every fold
        study.add_trial(optuna.trial.create_trial(params={"n_neighbors": 10}, distributions=dist, value=0.99,
                                                  intermediate_values={0: 0.99, 1: 0.99, 2: 0.99}))
    space = space_to_dict(build_space("knn", "classification"))
    ask = hpo.ask_trials(storage=hpo.storage_url(), study_name="p", direction="maximize", space=space, n=1, seed=0)[0]
    out = hpo.evaluate_asked_trial(ask, X=frame, y=y, family="knn", task="classification", metric="roc_auc",
                                   storage=hpo.storage_url(), study_name="p", direction="maximize", folds=3)
    assert out.state == "pruned" and len(out.fold_scores) == 1  # stopped after the first fold
    summary = hpo.tell_trials(storage=hpo.storage_url(), study_name="p", direction="maximize", outcomes=[out])
    assert summary.n_pruned == 1 and summary.n_complete == 5


def test_training_and_planning_agree_on_the_task():
    """The same target is classification for scoping and for training (one rule decides)."""
    import numpy as np
    import pandas as pd

    from mlsitter.ml.modeling._problem_type import infer_problem_type
    from mlsitter.ml.metrics._scoring import infer_task

    rng = np.random.default_rng(0)
    for y in (pd.Series(rng.integers(0, 8, 60)), pd.Series(rng.integers(0, 3, 500)), pd.Series(rng.normal(size=80)),
              pd.Series(["a", "b"] * 20), pd.Series(rng.integers(0, 500, 400))):
        assert infer_task(y) == infer_problem_type(y).task


def test_logged_model_pins_installed_versions_and_serves_its_example(mlsitter_home, tmp_path):
    """The model's requirements are the installed versions (why MLflow's own environment scan is skipped), and
    the logged model loads back and predicts like the fitted one."""
    from importlib.metadata import version

    import mlflow
    from sklearn.linear_model import LogisticRegression

    from mlsitter.ml.tracking import _tracking as tracking
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80)})
    y = (X["a"] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    logged = tracking.log_model_run(model=model, input_example=X.head(3), params={"C": 1.0}, metrics={"acc": 1.0},
                                    step_metrics={}, tags={}, figures={}, files={}, run_name="pins")
    local = Path(mlflow.artifacts.download_artifacts(logged.model_uri, dst_path=str(tmp_path / "download")))
    requirements = (local / "requirements.txt").read_text().split()
    assert f"scikit-learn=={version('scikit-learn')}" in requirements
    assert f"numpy=={version('numpy')}" in requirements
    assert tracking.directory_hash(local) == logged.artifact_sha256
    loaded = mlflow.pyfunc.load_model(logged.model_uri)
    assert list(loaded.predict(X.head(5))) == list(model.predict(X.head(5)))
