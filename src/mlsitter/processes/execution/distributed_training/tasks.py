"""Task functions of the ``distributed-training`` process: each does one piece of the work with
:mod:`mlsitter.ml.distributed` (torch, Ray Train) or the registry, and returns a small result the journal keeps."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from mlsitter.errors import InputError
from mlsitter.naming import stable_name
from mlsitter.processes.execution.distributed_training.checkpoints import CHECKPOINT_PREFIX, latest_checkpoint
from mlsitter.runtime import task


@stable_name("distributed-training.Evaluation")
@dataclass
class Evaluation:
    """The servable model built from the best epoch's checkpoint and its scores on the test split."""

    model: Any
    input_example: Any
    best_epoch: int
    test_metrics: dict[str, float]
    test_rows: int
    prior_log_loss: float
    figures: dict[str, bytes] = field(default_factory=dict)


@task(name="distributed-training.encode")
def encode(prep: Any, val_fraction: float, seed: int) -> Any:
    """Split off the validation rows and encode every split for the network (one-hot, scaled, float32)."""
    from mlsitter.ml.distributed import encode_tables

    if prep.task != "classification":
        raise InputError(f"target {prep.target!r} is a {prep.task} target; distributed-training trains a "
                         "classifier: give a column with classes")
    return encode_tables(prep.X_train, prep.y_train, prep.X_test, prep.y_test, prep.classes,
                         val_fraction=val_fraction, seed=seed)


@task(name="distributed-training.connect", local=True)
def connect(workers: int, cpus_per_worker: int) -> Any:
    """Join the cluster (``RAY_ADDRESS`` or a local one) and check that it has the CPUs the plan asks for."""
    from mlsitter.ml.distributed import connect as join

    cluster = join()
    if workers * cpus_per_worker > cluster.cpus:
        raise InputError(f"{workers} worker(s) x {cpus_per_worker} CPU(s) need {workers * cpus_per_worker:g} CPUs; "
                         f"the cluster at {cluster.address} has {cluster.cpus:g}: lower workers or cpus_per_worker")
    return cluster


@task(name="distributed-training.probe")
def probe(arrays: Any, spec: Any, batch_size: int, threads: int, seed: int) -> Any:
    """Time one epoch on one process: the measured base of the cost estimate and of the scaling figure."""
    from mlsitter.ml.distributed import probe_epoch

    return probe_epoch(arrays.X_train, arrays.y_train, spec, batch_size=batch_size, threads=threads, seed=seed)


@task(name="distributed-training.previous_checkpoint", local=True)
def previous_checkpoint(run_id: str) -> dict[str, Any]:
    """The latest checkpoint another run journaled (its artifact path and epoch)."""
    found = latest_checkpoint(run_id)
    if found is None:
        raise InputError(f"run {run_id!r} journaled no checkpoint ({CHECKPOINT_PREFIX}NNN.pt artifacts); expected "
                         "the id of a distributed-training run that trained at least one epoch")
    return found


@task(name="distributed-training.train_epochs", local=True)
def train_epochs(arrays: Any, spec: Any, *, start_checkpoint: str, start_epoch: int, end_epoch: int, workers: int,
                 cpus_per_worker: int, batch_size: int, seed: int, patience: int, min_delta: float,
                 max_failures: int, storage: str) -> Any:
    """Train epochs ``start_epoch+1 .. end_epoch`` on Ray Train from ``start_checkpoint``: a checkpoint per epoch."""
    from mlsitter.ml.distributed import run_chunk

    data = {"X_train": arrays.X_train, "y_train": arrays.y_train, "X_val": arrays.X_val, "y_val": arrays.y_val}
    return run_chunk(data, spec, start_checkpoint=start_checkpoint, start_epoch=start_epoch, end_epoch=end_epoch,
                     workers=workers, cpus_per_worker=cpus_per_worker, batch_size=batch_size, seed=seed,
                     patience=patience, min_delta=min_delta, max_failures=max_failures, storage=storage)


@task(name="distributed-training.evaluate")
def evaluate(arrays: Any, spec: Any, checkpoint: str, best_epoch: int, history: list[dict[str, Any]],
             test_frame: Any) -> Evaluation:
    """Build the servable model from the best checkpoint and score it on the test split; draw the loss curves."""
    import numpy as np
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    from mlsitter.ml.distributed import checkpoint_weights, mlp_pipeline

    weights = checkpoint_weights(checkpoint)
    model = mlp_pipeline(arrays.encoder, spec, weights, arrays.classes)
    proba = model.named_steps["mlp"].predict_proba(arrays.X_test)
    labels = list(range(len(arrays.classes)))
    metrics = {"log_loss": float(log_loss(arrays.y_test, proba, labels=labels)),
               "accuracy": float(accuracy_score(arrays.y_test, proba.argmax(axis=1)))}
    if len(arrays.classes) == 2 and len(np.unique(arrays.y_test)) == 2:
        metrics["roc_auc"] = float(roc_auc_score(arrays.y_test, proba[:, 1]))
    return Evaluation(model, test_frame.head(5), best_epoch, metrics, len(arrays.y_test), arrays.prior_log_loss,
                      {"loss_curves.png": loss_figure(history, best_epoch)})


def loss_figure(history: list[dict[str, Any]], best_epoch: int) -> bytes:
    """Training and validation loss per epoch, the best epoch marked."""
    import matplotlib.pyplot as plt

    from mlsitter.figures import figure_to_png

    fig, ax = plt.subplots(figsize=(6, 3.2))
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["train_loss"] for h in history], marker="o", label="training (all workers)")
    ax.plot(epochs, [h["val_loss"] for h in history], marker="o", label="validation")
    ax.axvline(best_epoch, color="grey", linestyle=":", label=f"best epoch {best_epoch}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy")
    ax.legend()
    fig.tight_layout()
    png = figure_to_png(fig)
    plt.close(fig)
    return png


@task(name="distributed-training.log_to_mlflow", local=True)
def log_to_mlflow(*, mlsitter_run_id: str, model_name: str, evaluation: Evaluation, plan: dict[str, Any],
                  history: list[dict[str, Any]], scaling: dict[str, Any], dataset_version: str, code_version: str,
                  gates: list[dict[str, Any]], report: str) -> Any:
    """Log the plan, per-epoch and test metrics, the loss curves, the report and the model to MLflow (once)."""
    from mlsitter.ml.tracking import _tracking as tracking

    started = time.perf_counter()
    step = "distributed-training"
    existing = tracking.find_logged_run(mlsitter_run_id, step)
    if existing:
        import mlflow

        run = mlflow.get_run(existing)
        return tracking.LoggedRun(existing, run.info.experiment_id, run.data.tags.get("mlsitter.model_uri", ""),
                                  run.data.tags.get("mlsitter.model_sha256", ""), 0.0, run.info.artifact_uri)
    metrics = {**{f"test_{k}": v for k, v in evaluation.test_metrics.items()}, "best_epoch": evaluation.best_epoch,
               "epochs_trained": len(history), **{k: v for k, v in scaling.items() if isinstance(v, (int, float))}}
    step_metrics = {key: [(h["epoch"], h[key]) for h in history]
                    for key in ("train_loss", "val_loss", "val_accuracy", "epoch_seconds", "cpu_seconds")}
    tags = {tracking.TAG_RUN_ID: mlsitter_run_id, tracking.TAG_STEP: step, tracking.TAG_PROCESS: step,
            tracking.TAG_DATASET_VERSION: dataset_version, tracking.TAG_CODE_VERSION: code_version,
            "mlsitter.model_name": model_name,
            "mlsitter.gates": ", ".join(f"{g['name']}={'pass' if g['passed'] else 'fail'}" for g in gates)}
    logged = tracking.log_model_run(model=evaluation.model, input_example=evaluation.input_example, params=plan,
                                    metrics=metrics, step_metrics=step_metrics, tags=tags, figures=evaluation.figures,
                                    files={"html": report}, run_name=f"{model_name}-{mlsitter_run_id[:8]}-distributed")
    import mlflow

    mlflow.MlflowClient().set_tag(logged.mlflow_run_id, "mlsitter.model_uri", logged.model_uri)
    return type(logged)(**{**asdict(logged), "logging_seconds": time.perf_counter() - started})


@task(name="distributed-training.register", local=True)
def register(**kwargs: Any) -> Any:
    """Register the logged model as a new version with alias ``challenger``."""
    from mlsitter.ml.tracking import register_model

    return register_model(**kwargs)
