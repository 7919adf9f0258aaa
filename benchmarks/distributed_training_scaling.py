"""Scaling of data-parallel training on Ray Train (TorchTrainer, gloo, CPU): the same MLP on the same encoded
bank-marketing rows trained with 1 and with 2 workers (1 CPU each) in the same run, and one process of plain torch
(the distributed-training probe epoch: the same loop, no Ray) as the floor.

Reported per configuration: the median epoch time of the slowest worker (training loop only), the fit's wall time
(worker start-up, gloo group, checkpoints included) and the CPU-seconds of the loops; then the speed-up of 2 workers
over 1 and the efficiency (speed-up / 2). The global batch is the same in every configuration (split across the
workers), so every configuration does the same optimisation steps on the same rows.

Run: .venv/bin/python benchmarks/distributed_training_scaling.py [--rows 41188] [--epochs 3] [--batch-size 256]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).parents[1] / "tests" / "data" / "bank_marketing" / "bank-additional-full.csv.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=41188)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    from mlsitter.ml.distributed import MlpSpec, connect, encode_tables, probe_epoch, run_chunk
    from mlsitter.ml.modeling._training_data import load_and_prepare

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores")
    prep = load_and_prepare(str(DATA), target="y", drop=["duration"], seed=0,
                            sample_rows=args.rows if args.rows < 41188 else 0)
    arrays = encode_tables(prep.X_train, prep.y_train, prep.X_test, prep.y_test, prep.classes, val_fraction=0.2,
                           seed=0)
    spec = MlpSpec(arrays.X_train.shape[1], len(arrays.classes), (64, 32))
    print(f"rows: train {len(arrays.y_train):,}, validation {len(arrays.y_val):,}; {spec.n_features} features; "
          f"batch {args.batch_size}; {args.epochs} epochs per configuration")
    probes = [probe_epoch(arrays.X_train, arrays.y_train, spec, batch_size=args.batch_size, threads=1, seed=0)
              for _ in range(args.epochs)]
    plain = statistics.median(p.epoch_seconds for p in probes)
    print(f"plain torch, one process, 1 thread: {plain:.3f} s per epoch (median of {len(probes)})")
    started = time.perf_counter()
    cluster = connect()
    print(f"Ray cluster {cluster.address}: {cluster.cpus:g} CPUs (start {time.perf_counter() - started:.1f} s)")
    data = {"X_train": arrays.X_train, "y_train": arrays.y_train, "X_val": arrays.X_val, "y_val": arrays.y_val}
    measured = {}
    with tempfile.TemporaryDirectory() as storage:
        for workers in (1, 2):
            chunk = run_chunk(data, spec, start_checkpoint="", start_epoch=0, end_epoch=args.epochs, workers=workers,
                              cpus_per_worker=1, batch_size=args.batch_size, seed=0, patience=0, min_delta=0.0,
                              max_failures=0, storage=storage)
            epoch = statistics.median(e.epoch_seconds for e in chunk.epochs)
            measured[workers] = epoch
            print(f"{workers} worker(s): {epoch:.3f} s per epoch (median), fit {chunk.wall_seconds:.1f} s wall, "
                  f"{sum(e.cpu_seconds for e in chunk.epochs):.1f} CPU-s in the loops, final validation loss "
                  f"{chunk.epochs[-1].val_loss:.4f}")
    speedup = measured[1] / measured[2]
    print(f"speed-up 2 vs 1 workers: {speedup:.2f}x, efficiency {speedup / 2:.0%}; 1 Ray worker vs plain torch: "
          f"{measured[1] / plain:.2f}x the epoch time")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    sys.exit(main())
