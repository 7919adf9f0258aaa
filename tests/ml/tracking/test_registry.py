"""The model registry: aliases, lineage, hash-checked loading, and the `mlsitter lineage` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlsitter.errors import InputError, SpecError


def _logged_iris(mlsitter_run_id: str = "run-1"):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from mlsitter.ml.tracking import _tracking as tracking
    X, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    logged = tracking.log_model_run(
        model=model, input_example=X.head(3), params={"C": 1.0}, metrics={"accuracy": 0.97},
        step_metrics={"fold_accuracy": [(0, 0.96), (1, 0.98)]},
        tags={tracking.TAG_RUN_ID: mlsitter_run_id, tracking.TAG_STEP: "s"}, figures={}, files={}, run_name="iris")
    return logged, X


def _register(logged, version_of: str = "ds-1"):
    from mlsitter.ml.tracking._registry import register_model

    return register_model("iris", model_uri=logged.model_uri, mlflow_run_id=logged.mlflow_run_id,
                          artifact_sha256=logged.artifact_sha256, mlsitter_run_id=logged.tags["mlsitter.run_id"],
                          dataset_version=version_of, code_version="git:abc", process="training",
                          metrics={"accuracy": 0.97})


def test_register_aliases_lineage_and_load():
    from mlsitter.ml.tracking import _registry as registry
    logged, X = _logged_iris("run-1")
    first = _register(logged)
    assert (first.version, first.aliases) == (1, ["challenger"])
    second = _register(_logged_iris("run-2")[0], "ds-2")
    assert second.version == 2 and registry.resolve_model("iris@challenger").version == 2
    promoted = registry.promote("iris/1")
    assert "champion" in promoted.aliases
    assert registry.resolve_model("iris").version == 2  # no suffix: the latest version
    line = registry.lineage("iris@champion")
    assert line["run"]["mlsitter_run_id"] == "run-1" and line["dataset"]["dataset_version"] == "ds-1"
    assert line["model"]["metrics"] == {"accuracy": 0.97}
    assert list(registry.load_registered_model("iris@champion").predict(X.head(2))) == [0, 0]
    # registering the same logged model again for the same run returns the existing version
    assert _register(logged).version == 1


def test_tampered_artifact_is_never_unpickled():
    import mlflow

    from mlsitter.ml.tracking import _registry as registry
    logged, _ = _logged_iris()
    _register(logged)
    local = Path(mlflow.artifacts.download_artifacts(logged.model_uri))
    (local / "model.pkl").write_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.")  # a malicious pickle
    with pytest.raises(registry.ModelIntegrityError, match="does not match the recorded"):
        registry.load_registered_model("iris@challenger")


def test_registration_checks_the_hash_it_was_given():
    from mlsitter.ml.tracking import _registry as registry
    logged, _ = _logged_iris()
    with pytest.raises(registry.ModelIntegrityError):
        registry.register_model("iris", model_uri=logged.model_uri, mlflow_run_id=logged.mlflow_run_id,
                                artifact_sha256="sha256:" + "0" * 64, mlsitter_run_id="r", dataset_version="d")


def test_bad_references_give_clear_errors():
    from mlsitter.ml.tracking import _registry as registry
    for ref in ("", "iris@", "a b", "iris/0", "iris/x"):
        with pytest.raises(SpecError):
            registry.parse_model_ref(ref)
    assert registry.parse_model_ref("iris@champion").alias == "champion"
    assert registry.parse_model_ref("iris/3").version == 3
    with pytest.raises(InputError, match="no registered model named 'nope'"):
        registry.resolve_model("nope@champion")
    _register(_logged_iris()[0])
    with pytest.raises(InputError, match=r"has versions \[1\] and aliases \['challenger'\]"):
        registry.resolve_model("iris@champion")


def test_lineage_command_prints_text_and_json():
    from mlsitter.cli import main

    _register(_logged_iris("run-9")[0], "sha256:feed")
    runner = CliRunner()
    text = runner.invoke(main, ["lineage", "iris@challenger"])
    assert text.exit_code == 0, text.output
    assert "iris version 1" in text.output and "run-9" in text.output and "sha256:feed" in text.output
    as_json = runner.invoke(main, ["lineage", "iris/1", "--json"])
    assert json.loads(as_json.output)["run"]["mlsitter_run_id"] == "run-9"
    assert "upstream" not in json.loads(as_json.output) and "<- features" not in text.output
    missing = runner.invoke(main, ["lineage", "ghost"])
    assert missing.exit_code != 0 and "no registered model named 'ghost'" in missing.output


def test_lineage_names_the_feature_pipeline_and_the_model_selection_a_model_was_trained_from():
    import mlflow

    from mlsitter.cli import main

    logged = _logged_iris("run-7")[0]
    client = mlflow.MlflowClient()  # the tags training sets on its MLflow run (from reconcile_inputs)
    client.set_tag(logged.mlflow_run_id, "mlsitter.feature_pipeline", "/runs/f/pipeline.skops sha256:beef")
    client.set_tag(logged.mlflow_run_id, "mlsitter.model_selection", "run 20261202-ms: lightgbm")
    _register(logged)
    text = CliRunner().invoke(main, ["lineage", "iris@challenger"])
    assert text.exit_code == 0, text.output
    assert "<- features /runs/f/pipeline.skops sha256:beef" in text.output
    assert "<- selection run 20261202-ms: lightgbm" in text.output
    upstream = json.loads(CliRunner().invoke(main, ["lineage", "iris/1", "--json"]).output)["upstream"]
    assert upstream == {"feature_pipeline": "/runs/f/pipeline.skops sha256:beef",
                        "model_selection": "run 20261202-ms: lightgbm"}
