"""The ``distributed-training`` process: encode the table, join the Ray cluster, measure one epoch to estimate
the cost of the plan (workers x CPUs per worker) and ask a ``spend`` approval when it exceeds the budget, then
train data-parallel on Ray Train in journaled steps of epochs, one checkpoint artifact per epoch. A failed worker
resumes from Ray's last checkpoint (FailureConfig); a killed runner resumes from the last journaled one, so
finished epochs are never trained again. Gates on convergence and on beating the prior, MLflow tracking,
registration as ``challenger`` and a report with the measured scaling efficiency."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

from mlsitter import Context, Doc, Interval, process
from mlsitter.errors import GateFailedError, SpecError
from mlsitter.naming import stable_name
from mlsitter.processes.common.gates import gate_rows
from mlsitter.processes.common.model_files import record_model_files
from mlsitter.processes.common.training_setup import prepare_data, process_code_version
from mlsitter.processes.execution.distributed_training import tasks as steps
from mlsitter.processes.execution.distributed_training.checkpoints import checkpoint_name
from mlsitter.processes.execution.distributed_training.report import write_report
from mlsitter.processes.vocabulary import DatasetVersion, DropColumns, Seed, TestData, TestSize


@stable_name("distributed-training.ResourcePlan")
@dataclass
class ResourcePlan:
    """What a launch reserves and what it is estimated to cost, from one measured epoch."""

    workers: int
    cpus_per_worker: int
    epochs: int
    epochs_per_step: int
    probe_epoch_seconds: float
    probe_cpu_seconds: float
    estimated_cpu_seconds: float  # the probe epoch's CPU-seconds x epochs: the compute, before Ray's overhead
    budget_cpu_seconds: float
    cluster: str
    cluster_cpus: float

    @property
    def over_budget(self) -> bool:
        return self.estimated_cpu_seconds > self.budget_cpu_seconds


@stable_name("distributed-training.Progress")
@dataclass
class Progress:
    """The epochs this run trained (across its steps), their checkpoint artifacts and the worker recoveries."""

    history: list[dict[str, Any]]
    checkpoints: list[Any]
    recoveries: list[dict[str, Any]]
    steps: int
    start_epoch: int


@stable_name("distributed-training.DistributedTrainingResult")
@dataclass
class DistributedTrainingResult:
    """The registered version, how training went (epochs, recoveries, scaling) and where everything is."""

    model_name: str
    version: int
    alias: str
    workers: int
    cpus_per_worker: int
    epochs_trained: int
    last_epoch: int
    best_epoch: int
    converged: bool
    best_val_loss: float
    test_metrics: dict[str, float]
    estimated_cpu_seconds: float
    measured_cpu_seconds: float
    scaling: dict[str, float]
    recoveries: list[dict[str, Any]]
    last_checkpoint: str
    mlflow_run_id: str
    model_uri: str
    report: str
    spend_approved_by: str = ""
    gates: list[dict[str, Any]] = field(default_factory=list)


def parse_hidden(text: str) -> tuple[int, ...]:
    """``"64,32"`` -> (64, 32): the widths of the hidden layers."""
    try:
        widths = tuple(int(p) for p in str(text).replace(";", ",").split(",") if p.strip())
    except ValueError:
        widths = ()
    if not widths or any(not 1 <= w <= 4096 for w in widths):
        raise SpecError(f"hidden {text!r} must be comma-separated layer widths from 1 to 4096, e.g. '64,32'")
    return widths


def scaling_figures(probe: Any, history: list[dict[str, Any]], workers: int) -> dict[str, float]:
    """Speed-up and efficiency of ``workers`` workers against one process, from measured epoch times: the probe
    epoch (one process, the same loop) against the median epoch of the run (its slowest worker)."""
    if not history:
        return {}
    epoch = statistics.median(h["epoch_seconds"] for h in history)
    speedup = probe.epoch_seconds / epoch if epoch else 0.0
    return {"one_worker_epoch_seconds": probe.epoch_seconds, "workers": float(workers), "epoch_seconds": epoch,
            "speedup": speedup, "efficiency": speedup / workers,
            "measured_cpu_seconds": sum(h["cpu_seconds"] for h in history)}


@process("distributed-training", phase="execution",
         description="Data-parallel training on Ray Train (TorchTrainer, gloo) with a resource plan and spend "
                     "approval, a checkpoint per epoch, recovery from failures, convergence gate and registration")
def distributed_training(
    ctx: Context,
    data: Annotated[str, Doc("the training table: a CSV, Parquet or JSON file")],
    target: Annotated[str, Doc("the class column to predict")],
    workers: Annotated[int, Interval(1, 64), Doc("Ray Train workers (data-parallel replicas)")] = 2,
    cpus_per_worker: Annotated[int, Interval(1, 64), Doc("CPUs reserved by each worker (its torch threads)")] = 1,
    epochs: Annotated[int, Interval(1, 10000), Doc("epochs at most (patience may stop sooner)")] = 20,
    epochs_per_step: Annotated[int, Interval(1, 10000), Doc("epochs per journaled step (one TorchTrainer.fit); "
                                                            "a killed runner redoes at most this many")] = 5,
    batch_size: Annotated[int, Interval(1, 65536), Doc("global batch size, split across the workers")] = 64,
    hidden: Annotated[str, Doc("widths of the hidden layers, comma-separated")] = "64,32",
    dropout: Annotated[float, Interval(0, 0.9), Doc("dropout after each hidden layer")] = 0.1,
    learning_rate: Annotated[float, Interval(1e-6, 1.0), Doc("Adam's learning rate")] = 1e-3,
    patience: Annotated[int, Interval(1, 1000), Doc("epochs without improvement of the validation loss before "
                                                    "training stops (the convergence gate)")] = 3,
    min_delta: Annotated[float, Interval(0, 1), Doc("relative improvement of the validation loss that still "
                                                    "counts as one")] = 0.001,
    max_failures: Annotated[int, Interval(0, 100), Doc("worker-group failures Ray Train recovers from a "
                                                       "checkpoint (FailureConfig)")] = 2,
    budget: Annotated[float, Interval(0, None), Doc("CPU-seconds a launch may be estimated to cost before it "
                                                    "needs a 'spend' approval")] = 3600.0,
    val_fraction: Annotated[float, Interval(0.05, 0.5), Doc("share of the training rows held out for the "
                                                            "validation loss")] = 0.2,
    seed: Seed = 0,
    test_size: TestSize = 0.2,
    test_data: TestData = "",
    drop: DropColumns = None,
    dataset_version: DatasetVersion = "",
    sample_rows: Annotated[int, Interval(0, None), Doc("train on a seeded sample of this many rows (0: every "
                                                       "row)")] = 0,
    model_name: Annotated[str, Doc("registry name of the model (default: <file stem>-<target>)")] = "",
    resume_from: Annotated[str, Doc("id of an earlier distributed-training run: start from the latest "
                                    "checkpoint its journal holds")] = "",
) -> DistributedTrainingResult:
    """Train a tabular network data-parallel on Ray Train and register it as ``challenger``."""
    from mlsitter.ml.distributed import MlpSpec, check_convergence
    from mlsitter.ml.tracking import CHALLENGER, default_model_name, validate_model_name

    layers = parse_hidden(hidden)
    name = validate_model_name(model_name or default_model_name(data, target))
    cluster = ctx.task(steps.connect, workers=workers, cpus_per_worker=cpus_per_worker)  # a wrong address fails first
    prep = ctx.task(prepare_data, data=data, target=target, drop=list(drop or []), test_size=test_size, seed=seed,
                    metric="auto", dataset_version=dataset_version, sample_rows=sample_rows, test_data=test_data)
    arrays = ctx.task(steps.encode, prep=prep, val_fraction=val_fraction, seed=seed)
    spec = MlpSpec(int(arrays.X_train.shape[1]), len(arrays.classes), layers, dropout, learning_rate)
    probe = ctx.task(steps.probe, arrays=arrays, spec=spec, batch_size=batch_size, threads=cpus_per_worker, seed=seed)
    plan = ResourcePlan(workers, cpus_per_worker, epochs, epochs_per_step, probe.epoch_seconds, probe.cpu_seconds,
                        probe.cpu_seconds * epochs, budget, cluster.address, cluster.cpus)
    approved_by = approve_spend(ctx, plan)
    start = ctx.task(steps.previous_checkpoint, run_id=resume_from) if resume_from else None
    if start and start["epoch"] >= epochs:
        raise SpecError(f"run {resume_from!r} already trained {start['epoch']} epoch(s); epochs={epochs} leaves "
                        "nothing to train: give more epochs")
    progress = train(ctx, arrays=arrays, spec=spec, plan=plan, start=start, batch_size=batch_size, seed=seed,
                     patience=patience, min_delta=min_delta, max_failures=max_failures)
    history = progress.history
    convergence = check_convergence([h["val_loss"] for h in history], patience, min_delta)
    best = convergence.best_epoch - 1
    results = [ctx.gate("converged", None if convergence.recent_improvement is None else
                        round(convergence.recent_improvement, 6), "<=", min_delta, on_fail="ask",
                        checkpoint="model-quality", context={"reason": convergence.reason})]
    evaluation = ctx.task(steps.evaluate, arrays=arrays, spec=spec, checkpoint=progress.checkpoints[best].path,
                          best_epoch=history[best]["epoch"], history=history, test_frame=prep.X_test)
    results.append(ctx.gate("beats-prior-log-loss", round(evaluation.test_metrics["log_loss"], 6), "<",
                            round(evaluation.prior_log_loss, 6), on_fail="ask", checkpoint="model-quality"))
    gates = gate_rows(results)
    scaling = scaling_figures(probe, history, workers)
    code = ctx.task(process_code_version)
    files = ctx.task(write_report, out_dir=str(ctx.workdir), model_name=name, prep=prep, plan=plan, history=history,
                     recoveries=progress.recoveries, convergence=convergence, evaluation=evaluation, scaling=scaling,
                     gates=gates, approved_by=approved_by, steps=progress.steps, start_epoch=progress.start_epoch)
    report = ctx.artifact("distributed-training-report.html", Path(files["html"]))
    ctx.artifact("distributed-training-report.md", Path(files["markdown"]))
    ctx.artifact("distributed-training-report.json", Path(files["json"]))
    params = {**{k: v for k, v in asdict(plan).items() if k not in ("cluster",)}, "batch_size": batch_size,
              "hidden": hidden, "dropout": dropout, "learning_rate": learning_rate, "patience": patience,
              "min_delta": min_delta, "max_failures": max_failures, "target": target, "backend": "gloo"}
    logged = ctx.task(steps.log_to_mlflow, mlsitter_run_id=ctx.run_id, model_name=name, evaluation=evaluation,
                      plan=params, history=history, scaling=scaling, dataset_version=prep.dataset_version,
                      code_version=code, gates=gates, report=files["html"])
    registered = ctx.task(steps.register, name=name, model_uri=logged.model_uri, mlflow_run_id=logged.mlflow_run_id,
                          artifact_sha256=logged.artifact_sha256, mlsitter_run_id=ctx.run_id,
                          dataset_version=prep.dataset_version, code_version=code, process="distributed-training",
                          metrics={f"test_{k}": v for k, v in evaluation.test_metrics.items()}, alias=CHALLENGER)
    ctx.log("info", f"registered {registered.name} version {registered.version} as {CHALLENGER}")
    record_model_files(ctx, registered)
    return DistributedTrainingResult(
        registered.name, registered.version, CHALLENGER, workers, cpus_per_worker, len(history),
        history[-1]["epoch"], history[best]["epoch"], convergence.converged, convergence.best_loss,
        evaluation.test_metrics, plan.estimated_cpu_seconds, scaling.get("measured_cpu_seconds", 0.0), scaling,
        progress.recoveries, progress.checkpoints[-1].path, logged.mlflow_run_id, logged.model_uri, report.path,
        approved_by, gates)


def approve_spend(ctx: Context, plan: ResourcePlan) -> str:
    """Ask a ``spend`` approval when the estimate exceeds the budget ('' when none was needed); a refusal ends
    the run before anything is launched."""
    if not plan.over_budget:
        return ""
    answer = ctx.breakpoint(
        f"Launch {plan.workers} worker(s) x {plan.cpus_per_worker} CPU for up to {plan.epochs} epochs? Estimated "
        f"{plan.estimated_cpu_seconds:,.1f} CPU-seconds, over the budget of {plan.budget_cpu_seconds:,.1f}.",
        context=asdict(plan), tags=("spend",))
    if not answer.approved:
        raise GateFailedError(f"launch not approved by {answer.by}: estimated {plan.estimated_cpu_seconds:,.1f} "
                              f"CPU-seconds over the budget of {plan.budget_cpu_seconds:,.1f}"
                              + (f" ({answer.feedback})" if answer.feedback else ""))
    return answer.by


def train(ctx: Context, *, arrays: Any, spec: Any, plan: ResourcePlan, start: dict[str, Any] | None, batch_size: int,
          seed: int, patience: int, min_delta: float, max_failures: int) -> Progress:
    """Steps of ``epochs_per_step`` epochs until the plan's epochs or convergence; every epoch's checkpoint is
    journaled as an artifact, and the next step starts from the last one, so a resumed run skips finished steps."""
    checkpoint, epoch = (start["path"], start["epoch"]) if start else ("", 0)
    first = epoch
    history: list[dict[str, Any]] = []
    refs: list[Any] = []
    recoveries: list[dict[str, Any]] = []
    steps_run = 0
    while epoch < plan.epochs:
        chunk = ctx.task(steps.train_epochs, arrays=arrays, spec=spec, start_checkpoint=checkpoint, start_epoch=epoch,
                         end_epoch=min(epoch + plan.epochs_per_step, plan.epochs), workers=plan.workers,
                         cpus_per_worker=plan.cpus_per_worker, batch_size=batch_size, seed=seed, patience=patience,
                         min_delta=min_delta, max_failures=max_failures, storage=str(ctx.workdir / "ray"))
        steps_run += 1
        for record, path in zip(chunk.epochs, chunk.checkpoints):
            refs.append(ctx.artifact(checkpoint_name(record.epoch), path))
            history.append(asdict(record))
        for restart in chunk.recoveries:
            recoveries.append({**restart, "step": steps_run})
            origin = (f"the checkpoint of epoch {restart['from_epoch']}" if restart["from_epoch"] else
                      "the start (the failure came before a checkpoint was reported)")
            ctx.log("warning", f"a Ray Train worker failed in epochs {chunk.start_epoch + 1}-{chunk.end_epoch}: the "
                               f"worker group restarted from {origin} (FailureConfig max_failures={max_failures})")
        checkpoint, epoch = refs[-1].path, chunk.end_epoch
        ctx.log("info", f"epoch {epoch}: validation loss {history[-1]['val_loss']:.4f}, checkpoint "
                        f"{checkpoint_name(epoch)} journaled")
        if chunk.converged:
            break
    return Progress(history, refs, recoveries, steps_run, first)
