"""Data-parallel training of the tabular MLP on Ray Train: ``TorchTrainer`` with the gloo backend, one
checkpoint per epoch, ``FailureConfig(max_failures)`` so a lost worker restarts the group from the last
checkpoint, metrics aggregated across workers with ``all_reduce``, and patience on the validation loss."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlsitter.ml.distributed._convergence import check_convergence
from mlsitter.ml.distributed._mlp import MlpSpec, build_mlp, build_optimizer, evaluate, shard, train_epoch
from mlsitter.naming import stable_name

CHECKPOINT_FILE = "checkpoint.pt"
STARTS_FILE = "worker-group-starts.jsonl"


@stable_name("ml.distributed.EpochRecord")
@dataclass
class EpochRecord:
    """One epoch, aggregated over the workers (losses are means over every worker's rows)."""

    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    rows: int
    workers: int
    epoch_seconds: float  # the slowest worker's training time of the epoch
    cpu_seconds: float  # summed over the workers
    worker_train_loss: list[float] = field(default_factory=list)


@stable_name("ml.distributed.TrainingChunk")
@dataclass
class TrainingChunk:
    """What one ``TorchTrainer.fit`` trained: its epochs, a checkpoint file per epoch, and every start of the
    worker group (more than one: workers failed and Ray Train resumed them from a checkpoint)."""

    start_epoch: int
    end_epoch: int
    epochs: list[EpochRecord]
    checkpoints: list[str]  # a checkpoint file per epoch in ``epochs``, in the same order
    starts: list[dict[str, Any]]
    converged: bool
    wall_seconds: float
    storage: str

    @property
    def recoveries(self) -> list[dict[str, Any]]:
        """The restarts after a worker failure, each with the epoch its checkpoint had reached."""
        return self.starts[1:]


@stable_name("ml.distributed.EpochProbe")
@dataclass
class EpochProbe:
    """One epoch on one process, measured: the base of the cost estimate and of the scaling figure."""

    epoch_seconds: float
    cpu_seconds: float
    rows: int
    threads: int


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint file's state: epoch, model and optimiser state, history of epochs."""
    import torch

    state: dict[str, Any] = torch.load(str(path), map_location="cpu", weights_only=False)
    return state


def checkpoint_weights(path: str | Path) -> dict[str, np.ndarray]:
    """The model weights of a checkpoint file as arrays."""
    return {k: v.numpy() for k, v in load_checkpoint(path)["model"].items()}


def probe_epoch(X: np.ndarray, y: np.ndarray, spec: MlpSpec, *, batch_size: int, threads: int,
                seed: int) -> EpochProbe:
    """Train one epoch on one process with ``threads`` threads and measure its wall and CPU time."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(seed)
        model = build_mlp(spec)
        optimizer = build_optimizer(model, spec)
        wall, cpu = time.perf_counter(), time.process_time()
        train_epoch(model, optimizer, X, y, batch_size=batch_size, seed=seed, epoch=0)
        return EpochProbe(time.perf_counter() - wall, time.process_time() - cpu, len(y), threads)
    finally:
        torch.set_num_threads(before)


def _record_start(folder: Path, epoch: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / STARTS_FILE).open("a") as fh:
        fh.write(json.dumps({"from_epoch": epoch, "at": time.time()}) + "\n")


def train_loop(config: dict[str, Any]) -> None:
    """The loop each Ray Train worker runs: resume from Ray's latest checkpoint (after a failure) or the given
    one, train its shard, aggregate the epoch's metrics, report a checkpoint every epoch (rank 0 writes it)."""
    import tempfile

    import ray
    import ray.train
    import ray.train.torch
    import torch
    import torch.distributed as dist

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    torch.set_num_threads(config["threads"])
    torch.manual_seed(config["seed"])
    data = ray.get(config["data"])
    spec = MlpSpec(**config["spec"])
    model = build_mlp(spec)
    optimizer = build_optimizer(model, spec)
    latest = ray.train.get_checkpoint()
    state: dict[str, Any] | None = None
    if latest is not None:
        with latest.as_directory() as folder:
            state = load_checkpoint(Path(folder) / CHECKPOINT_FILE)
    elif config["start_checkpoint"]:
        state = load_checkpoint(config["start_checkpoint"])
    history: list[dict[str, Any]] = []
    epoch = 0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history, epoch = list(state["history"]), int(state["epoch"])
    if rank == 0:
        _record_start(Path(config["starts_dir"]), epoch)
    net = ray.train.torch.prepare_model(model)  # DistributedDataParallel over gloo when world > 1
    per_worker = len(data["y_train"]) // world  # equal shards: every worker takes the same number of steps
    mine = shard(per_worker * world, rank, world)
    X, y = data["X_train"][mine], data["y_train"][mine]
    val = shard(len(data["y_val"]), rank, world)
    Xv, yv = data["X_val"][val], data["y_val"][val]
    batch = max(1, config["batch_size"] // world)
    while epoch < config["end_epoch"]:
        wall, cpu = time.perf_counter(), time.process_time()
        loss, rows = train_epoch(net, optimizer, X, y, batch_size=batch, seed=config["seed"] * 1009 + rank,
                                 epoch=epoch)
        seconds, cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
        val_loss, correct, val_rows = evaluate(model, Xv, yv)
        totals = torch.tensor([loss, rows, val_loss, correct, val_rows, cpu_seconds], dtype=torch.float64)
        slowest = torch.tensor([seconds], dtype=torch.float64)
        local = [torch.tensor([loss / max(rows, 1)], dtype=torch.float64) for _ in range(world)]
        if world > 1:
            dist.all_reduce(totals, op=dist.ReduceOp.SUM)
            dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
            dist.all_gather(local, torch.tensor([loss / max(rows, 1)], dtype=torch.float64))
        t = totals.tolist()
        epoch += 1
        record = EpochRecord(epoch, t[0] / max(t[1], 1), t[2] / max(t[4], 1), t[3] / max(t[4], 1), int(t[1]), world,
                             float(slowest[0]), t[5], [float(v[0]) for v in local])
        history.append(asdict(record))
        done = config["patience"] > 0 and check_convergence([h["val_loss"] for h in history], config["patience"],
                                                            config["min_delta"]).converged
        metrics = {k: v for k, v in asdict(record).items() if k != "worker_train_loss"}
        with tempfile.TemporaryDirectory() as folder:
            if rank == 0:
                torch.save({"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                            "history": history, "spec": config["spec"]}, Path(folder) / CHECKPOINT_FILE)
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder))
            else:
                ray.train.report(metrics)
        if done:
            break


def run_chunk(data: dict[str, np.ndarray], spec: MlpSpec, *, start_checkpoint: str, start_epoch: int, end_epoch: int,
              workers: int, cpus_per_worker: int, batch_size: int, seed: int, patience: int, min_delta: float,
              max_failures: int, storage: str) -> TrainingChunk:
    """Train epochs ``start_epoch+1 .. end_epoch`` with ``workers`` Ray Train workers from ``start_checkpoint``
    ('' for a fresh network); each epoch's checkpoint lands under ``storage``."""
    import ray
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from mlsitter.ml.distributed._cluster import connect

    connect()
    started = time.perf_counter()
    name = f"epochs-{start_epoch + 1:03d}-{end_epoch:03d}-{uuid.uuid4().hex[:8]}"
    folder = Path(storage).resolve() / name
    config = {"data": ray.put(data), "spec": asdict(spec), "start_checkpoint": start_checkpoint,
              "end_epoch": end_epoch, "threads": cpus_per_worker, "batch_size": batch_size, "seed": seed,
              "patience": patience, "min_delta": min_delta, "starts_dir": str(folder)}
    trainer = TorchTrainer(
        train_loop, train_loop_config=config, torch_config=TorchConfig(backend="gloo"),
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=False, resources_per_worker={"CPU": cpus_per_worker}),
        run_config=RunConfig(name=name, storage_path=str(Path(storage).resolve()),
                             failure_config=FailureConfig(max_failures=max_failures),
                             checkpoint_config=CheckpointConfig(num_to_keep=None)))
    result = trainer.fit()
    if result.error is not None:
        raise result.error
    by_epoch: dict[int, str] = {}
    for checkpoint, metrics in result.best_checkpoints or []:
        by_epoch[int(metrics["epoch"])] = str(Path(checkpoint.path) / CHECKPOINT_FILE)
    last = load_checkpoint(by_epoch[max(by_epoch)])
    epochs = [EpochRecord(**h) for h in last["history"] if h["epoch"] > start_epoch]
    starts = [json.loads(line) for line in (folder / STARTS_FILE).read_text().splitlines() if line.strip()]
    converged = patience > 0 and check_convergence([h["val_loss"] for h in last["history"]], patience,
                                                   min_delta).converged
    return TrainingChunk(start_epoch, int(last["epoch"]), epochs, [by_epoch[e.epoch] for e in epochs], starts,
                         converged, time.perf_counter() - started, str(folder))
