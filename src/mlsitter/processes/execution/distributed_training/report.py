"""The ``distributed-training`` report (HTML, Markdown, JSON): the resource plan and its estimate against what
was measured, the epochs with their checkpoints, recoveries, convergence, gates, test scores and the measured
scaling efficiency."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlsitter.processes.execution.distributed_training.checkpoints import checkpoint_name
from mlsitter.runtime import task


@task(name="distributed-training.write_report")
def write_report(*, out_dir: str, model_name: str, prep: Any, plan: Any, history: list[dict[str, Any]],
                 recoveries: list[dict[str, Any]], convergence: Any, evaluation: Any, scaling: dict[str, float],
                 gates: list[dict[str, Any]], approved_by: str, steps: int, start_epoch: int) -> dict[str, str]:
    """Write the report files into ``out_dir``; their paths by format."""
    from mlsitter.report import Report

    report = Report(f"Distributed training: {model_name}",
                    f"MLP on {Path(prep.source).name or 'data'}: target {prep.target!r}, {plan.workers} Ray Train "
                    f"worker(s) x {plan.cpus_per_worker} CPU, gloo")
    report.section("Summary").metrics({
        **{f"test {k}": v for k, v in evaluation.test_metrics.items()},
        "best epoch": evaluation.best_epoch, "epochs trained": len(history),
        "scaling efficiency": scaling.get("efficiency", 0.0), "worker recoveries": len(recoveries),
    })
    report.bullets([f"Convergence: {convergence.reason}",
                    f"Dataset version: {prep.dataset_version}",
                    f"Rows: {prep.n_rows:,} (test {evaluation.test_rows:,})",
                    f"Steps: {steps} TorchTrainer fit(s) of up to {plan.epochs_per_step} epoch(s)"
                    + (f", starting from the checkpoint of epoch {start_epoch}" if start_epoch else ""),
                    f"Prior log-loss (class shares): {evaluation.prior_log_loss:.4f}"])
    report.section("Resource plan").table([
        {"item": "workers x CPUs", "value": f"{plan.workers} x {plan.cpus_per_worker}"},
        {"item": "cluster", "value": f"{plan.cluster} ({plan.cluster_cpus:g} CPUs)"},
        {"item": "probe epoch (one process)", "value": f"{plan.probe_epoch_seconds:.3f} s, "
                                                       f"{plan.probe_cpu_seconds:.3f} CPU-s"},
        {"item": "estimated cost", "value": f"{plan.estimated_cpu_seconds:,.1f} CPU-s for {plan.epochs} epoch(s)"},
        {"item": "measured (training loops)", "value": f"{scaling.get('measured_cpu_seconds', 0.0):,.1f} CPU-s for "
                                                       f"{len(history)} epoch(s)"},
        {"item": "budget", "value": f"{plan.budget_cpu_seconds:,.1f} CPU-s"
                                    + (f" (over it: launch approved by {approved_by})" if approved_by else "")},
    ])
    report.section("Scaling efficiency")
    if scaling:
        report.table([{"workers": 1, "epoch seconds": scaling["one_worker_epoch_seconds"], "speed-up": 1.0,
                       "efficiency": 1.0},
                      {"workers": int(scaling["workers"]), "epoch seconds": scaling["epoch_seconds"],
                       "speed-up": scaling["speedup"], "efficiency": scaling["efficiency"]}],
                     caption="one process (the probe epoch, the same loop) against the run's median epoch (its "
                             "slowest worker); efficiency = speed-up / workers")
    report.section("Gates").gates(gates)
    report.section("Epochs").table(
        [{"epoch": h["epoch"], "train loss": h["train_loss"], "validation loss": h["val_loss"],
          "validation accuracy": h["val_accuracy"], "seconds": h["epoch_seconds"], "CPU-s": h["cpu_seconds"],
          "per-worker train loss": ", ".join(f"{v:.4f}" for v in h["worker_train_loss"]),
          "checkpoint": checkpoint_name(h["epoch"])} for h in history], max_rows=500)
    if recoveries:
        report.note("; ".join(f"step {r['step']}: the worker group restarted from the checkpoint of epoch "
                              f"{r['from_epoch']}" for r in recoveries), "warn")
    report.section("Loss curves")
    for name, png in evaluation.figures.items():
        report.figure(png, caption=name.removesuffix(".png").replace("_", " "), name=name)
    files = report.write(out_dir, stem="distributed-training-report")
    return {"html": str(files.html), "markdown": str(files.markdown), "json": str(files.json)}
