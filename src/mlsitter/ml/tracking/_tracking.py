"""MLflow tracking with an embedded default: SQLite store and artifact root under the mlsitter home.

A user-set ``MLFLOW_TRACKING_URI`` is honoured; otherwise runs go to
``sqlite:///$MLSITTER_HOME/mlflow.db`` with artifacts in ``$MLSITTER_HOME/mlruns`` (no server).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from mlsitter.hashing import tree_sha256
from mlsitter.naming import stable_name

EXPERIMENT_DEFAULT = "mlsitter"
TAG_RUN_ID = "mlsitter.run_id"
TAG_STEP = "mlsitter.step"
TAG_DATASET_VERSION = "mlsitter.dataset_version"
TAG_CODE_VERSION = "mlsitter.code_version"
TAG_PROCESS = "mlsitter.process"
#: What logging and registering import: worth loading ahead (``Context.prefetch``) while the last fits run.
MODULES = ("mlflow", "mlflow.sklearn", "mlflow.models", "mlflow.store.tracking.sqlalchemy_store",
           "mlflow.store.model_registry.sqlalchemy_store")


def mlsitter_home() -> Path:
    """The mlsitter home folder, resolved as the runtime does: ``$MLSITTER_HOME`` or ``./.mlsitter``."""
    return Path(os.environ.get("MLSITTER_HOME") or ".mlsitter").resolve()


def default_tracking_uri() -> str:
    """The embedded SQLite tracking URI under the mlsitter home."""
    return f"sqlite:///{mlsitter_home() / 'mlflow.db'}"


_SET_BY_US: set[str] = set()


def tracking_uri() -> str:
    """The tracking URI in effect: ``MLFLOW_TRACKING_URI`` if the user set one, else the embedded one.

    ``mlflow.set_tracking_uri`` also exports the variable, so a value this module set is not taken as the user's.
    """
    user = os.environ.get("MLFLOW_TRACKING_URI")
    return user if user and user not in _SET_BY_US else default_tracking_uri()


def artifact_root() -> str:
    """Artifact root for experiments created by mlsitter on the embedded store."""
    return (mlsitter_home() / "mlruns").as_uri()


def _quiet_mlflow() -> None:
    for name in ("mlflow", "alembic", "mlflow.store.db.utils", "mlflow.sklearn"):
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def configure(experiment: str = EXPERIMENT_DEFAULT) -> str:
    """Point MLflow at the tracking URI in effect and make sure ``experiment`` exists; returns its id."""
    import warnings

    import mlflow

    _quiet_mlflow()
    uri = tracking_uri()
    if uri == default_tracking_uri():
        mlsitter_home().mkdir(parents=True, exist_ok=True)
    if os.environ.get("MLFLOW_TRACKING_URI") != uri:
        _SET_BY_US.add(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = mlflow.get_experiment_by_name(experiment)
        if found is not None:
            return found.experiment_id
        location = artifact_root() if uri.startswith("sqlite:") else None
        try:
            return mlflow.create_experiment(experiment, artifact_location=location)
        except Exception:  # created meanwhile by a concurrent task
            again = mlflow.get_experiment_by_name(experiment)
            if again is None:
                raise
            return again.experiment_id


def content_hash_of_frame(frame: Any) -> str:
    """A stable content hash (sha256) of a pandas frame: values, column names and dtypes."""
    import pandas as pd

    digest = hashlib.sha256()
    digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return "sha256:" + digest.hexdigest()


def directory_hash(path: str | Path, exclude: Iterable[str] = ("registered_model_meta",)) -> str:
    """sha256 over every file under ``path`` (relative name + bytes, sorted); ``exclude`` names are skipped."""
    return "sha256:" + tree_sha256(path, exclude)


def code_version(source_file: str | Path) -> str:
    """``git:<commit>`` of the repository holding ``source_file`` (``+dirty`` hash if it changed), else ``sha256:`` of the file."""
    source = Path(source_file).resolve()
    text_hash = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=source.parent, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", str(source)], cwd=source.parent, capture_output=True, text=True,
            timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"sha256:{text_hash}"
    return f"git:{commit}" + (f"+dirty.{text_hash}" if dirty else "")


@stable_name("ml.tracking.LoggedRun")
@dataclass
class LoggedRun:
    """What a tracking task logged: the MLflow run, the model URI and the model artifact's content hash."""

    mlflow_run_id: str
    experiment_id: str
    model_uri: str
    artifact_sha256: str
    logging_seconds: float
    artifact_uri: str = ""
    tags: dict[str, str] = field(default_factory=dict)


def _pip_requirements(model: Any) -> list[str]:
    """Requirements of the model's libraries, pinned to the installed versions (skips slow inference)."""
    from importlib.metadata import PackageNotFoundError, version

    import sys

    wanted = ["scikit-learn", "pandas", "numpy", "cloudpickle"]
    wanted += [name for name in ("lightgbm", "xgboost") if name in sys.modules]  # loaded = possibly used by the model
    pins = []
    for name in wanted:
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            continue
    return pins


@contextlib.contextmanager
def _skip_requirement_check() -> Iterator[None]:
    """Skip MLflow's check that the running environment satisfies the model's requirements while logging.

    Our pins are read from the installed distributions (``_pip_requirements``), so the check cannot find a
    mismatch; it would still map every installed file to its package (0.6-0.8 s in each fresh process), once
    when the model is saved and again when MLflow loads it back to validate the input example.
    """
    from unittest import mock

    import mlflow.pyfunc
    import mlflow.utils.environment

    with contextlib.ExitStack() as stack:
        for module in (mlflow.utils.environment, mlflow.pyfunc):
            if hasattr(module, "warn_dependency_requirement_mismatches"):
                stack.enter_context(mock.patch.object(module, "warn_dependency_requirement_mismatches",
                                                      lambda requirements: None))
        yield


def find_logged_run(mlsitter_run_id: str, step: str, experiment: str = EXPERIMENT_DEFAULT) -> str | None:
    """The id of a FINISHED MLflow run already logged for this mlsitter run and step (idempotent retries)."""
    import mlflow

    exp_id = configure(experiment)
    found = mlflow.search_runs(
        experiment_ids=[exp_id],
        filter_string=f"tags.`{TAG_RUN_ID}` = '{mlsitter_run_id}' and tags.`{TAG_STEP}` = '{step}'",
        output_format="list",
    )
    for run in found:
        if run.info.status == "FINISHED":
            return run.info.run_id
        mlflow.delete_run(run.info.run_id)
    return None


def log_model_run(
    *,
    model: Any,
    input_example: Any,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    step_metrics: Mapping[str, Iterable[tuple[int, float]]],
    tags: Mapping[str, str],
    figures: Mapping[str, bytes],
    files: Mapping[str, str | Path],
    run_name: str,
    experiment: str = EXPERIMENT_DEFAULT,
) -> LoggedRun:
    """Log one training run to MLflow: params, final and stepped metrics, tags, PNG plots, files and the model.

    The model is logged with its signature (inferred from ``input_example``) and an input example; the
    returned ``artifact_sha256`` is the content hash the registry checks before every load.
    """
    import warnings

    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    exp_id = configure(experiment)
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        with mlflow.start_run(experiment_id=exp_id, run_name=run_name, tags=dict(tags)) as active:
            mlflow.log_params({k: _param_text(v) for k, v in params.items()})
            mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
            client = mlflow.MlflowClient()
            from mlflow.entities import Metric

            stamp = int(time.time() * 1000)
            batch = [
                Metric(key=key, value=float(value), timestamp=stamp, step=int(step))
                for key, series in step_metrics.items() for step, value in series
            ]
            for i in range(0, len(batch), 900):
                client.log_batch(active.info.run_id, metrics=batch[i:i + 900])
            with tempfile.TemporaryDirectory() as tmp:
                for name, png in figures.items():
                    (Path(tmp) / name).write_bytes(png)
                if figures:
                    mlflow.log_artifacts(tmp, artifact_path="plots")
            for path in files.values():
                mlflow.log_artifact(str(path), artifact_path="reports")
            prediction = model.predict(input_example)
            with _skip_requirement_check():
                info = mlflow.sklearn.log_model(
                    model,
                    name="model",
                    signature=infer_signature(input_example, prediction),
                    input_example=input_example,
                    serialization_format="cloudpickle",
                    pip_requirements=_pip_requirements(model),
                )
            local = mlflow.artifacts.download_artifacts(info.model_uri)
            sha = directory_hash(local)
            mlflow.set_tag("mlsitter.model_sha256", sha)
            artifact_uri = active.info.artifact_uri
    return LoggedRun(
        mlflow_run_id=active.info.run_id,
        experiment_id=exp_id,
        model_uri=info.model_uri,
        artifact_sha256=sha,
        logging_seconds=time.perf_counter() - started,
        artifact_uri=artifact_uri,
        tags=dict(tags),
    )


def _param_text(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 6000 else text[:5997] + "..."
