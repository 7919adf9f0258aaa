"""Processes of ``crash_campaign.py`` and ``load_campaign.py``; loaded by file path (``file.py:name``).

``crash-campaign``: a task making a numpy array (an ``.npy`` artifact), a ``ctx.map`` over 8 chunks of
it, a task building a pandas frame (a Parquet artifact through the codec), a ``ctx.artifact`` JSON
summary, a child run (``ctx.call`` of ``crash-child``, which fits a least-squares model) and a final task.
``load-steps``: N small journaled tasks in a loop, for many runners on one store.

Every task execution appends ``KEY ATTEMPT START_TIME PID start`` to the run's side-effect file
(``log``) before its work and ``KEY ATTEMPT END_TIME PID end`` after it, so the campaign counts real
executions and compares them with the journal. KEY is the step's journal position (``c:`` in the child).

A cooperative pause point: ``MLSITTER_CRASH_PAUSE=POINT:MARKER`` makes the task at POINT (``step``,
``map``, ``artifact``, ``child``) write the MARKER file and wait there, so the campaign can make sure a
SIGKILL lands at each named point (``artifact`` does not wait: the kill follows while the codec
writes the returned frame as Parquet); the bulk of the kills land at random instants instead.
"""

from __future__ import annotations

import os
import time
from typing import Any

from mlsitter import Context, process

MAP_ITEMS = 8
PAUSE_S = 60.0  # long enough that the campaign's SIGKILL always comes first


def record(log: str, key: str, phase: str) -> int:
    """Append one execution line for ``key``; return the attempt (executions of ``key`` so far, this one included)."""
    with open(log, "a+") as fh:
        fh.seek(0)
        attempt = sum(1 for line in fh if line.split()[:1] == [key] and line.rstrip().endswith(" start"))
        if phase == "start":
            attempt += 1
        fh.write(f"{key} {attempt} {time.time():.6f} {os.getpid()} {phase}\n")
        fh.flush()
        os.fsync(fh.fileno())
    return attempt


def pause_at(point: str, *, wait: bool = True) -> None:
    """At ``point``, when the campaign asked for it (``MLSITTER_CRASH_PAUSE=point:marker``), write the
    marker and wait there for the kill (or, with ``wait=False``, go on: the kill follows within milliseconds)."""
    wanted, _, marker = os.environ.get("MLSITTER_CRASH_PAUSE", "").partition(":")
    if wanted != point or not marker:
        return
    with open(marker, "w") as fh:
        fh.write(f"{point} {os.getpid()}\n")
    if wait:
        time.sleep(PAUSE_S)


def make_data(key: str, log: str, seed: int, rows: int) -> Any:
    """A seeded rows x 8 float array: the codec stores it as an .npy artifact."""
    import numpy as np

    record(log, key, "start")
    data = np.random.default_rng(seed).normal(size=(rows, 8))
    pause_at("step")
    record(log, key, "end")
    return data


def chunk_stats(i: int, key: str, log: str, data: Any, work_s: float) -> dict[str, float]:
    """Statistics of every 8th row from ``i``: one item of the map."""
    import numpy as np

    record(log, f"{key}.{i}", "start")
    chunk = data[i::MAP_ITEMS]
    if i == 3:
        pause_at("map")
    time.sleep(work_s)  # the item's share of wall time, so a random kill often finds a map in flight
    stats = {"i": float(i), "mean": float(chunk.mean()), "norm": float(np.linalg.norm(chunk)),
             "max": float(chunk.max())}
    record(log, f"{key}.{i}", "end")
    return stats


def build_table(key: str, log: str, data: Any, stats: list[dict[str, float]]) -> Any:
    """A frame of the data with each row's chunk statistics: the codec writes it as a Parquet artifact."""
    import pandas as pd

    record(log, key, "start")
    frame = pd.DataFrame(data, columns=[f"x{j}" for j in range(data.shape[1])])
    frame["chunk"] = [i % MAP_ITEMS for i in range(len(frame))]
    frame["chunk_mean"] = frame["chunk"].map({int(s["i"]): s["mean"] for s in stats})
    frame["label"] = frame["chunk"].map(lambda c: f"chunk-{c}")
    record(log, key, "end")
    pause_at("artifact", wait=False)  # the frame is returned now; the kill lands while the codec writes its Parquet
    return frame


def child_fit(key: str, log: str, seed: int, rows: int) -> Any:
    """Least-squares coefficients of a seeded linear problem (an array result)."""
    import numpy as np

    record(log, key, "start")
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4))
    y = x @ np.array([1.0, -2.0, 0.5, 3.0]) + rng.normal(scale=0.1, size=rows)
    pause_at("child")
    coef = np.linalg.lstsq(x, y, rcond=None)[0]
    record(log, key, "end")
    return coef


def child_summary(key: str, log: str, coef: Any) -> dict[str, float]:
    record(log, key, "start")
    summary = {"coef_sum": round(float(coef.sum()), 6), "coef_max": round(float(coef.max()), 6)}
    record(log, key, "end")
    return summary


def finish(key: str, log: str, table: Any, child: dict[str, float], checksum: float) -> dict[str, Any]:
    record(log, key, "start")
    result = {"rows": int(len(table)), "table_sum": round(float(table["chunk_mean"].sum()), 6),
              "checksum": round(checksum, 6), **child}
    record(log, key, "end")
    return result


@process("crash-child")
def crash_child(ctx: Context, log: str, seed: int = 0, rows: int = 2000) -> dict[str, float]:
    coef = ctx.task(child_fit, key="c:1", log=log, seed=seed, rows=rows)
    summary: dict[str, float] = ctx.task(child_summary, key="c:2", log=log, coef=coef)
    return summary


@process("crash-campaign")
def crash_campaign(ctx: Context, log: str, seed: int = 0, rows: int = 20000, work_s: float = 0.05) -> dict[str, Any]:
    data = ctx.task(make_data, key="1", log=log, seed=seed, rows=rows)
    stats = ctx.map(chunk_stats, range(MAP_ITEMS), key="2", log=log, data=data, work_s=work_s)
    table = ctx.task(build_table, key="3", log=log, data=data, stats=stats)
    norms = [s["norm"] for s in stats]
    ctx.artifact("summary.json", {"seed": seed, "rows": rows, "norms": norms})
    child = ctx.call("crash-child", log=log, seed=seed + 1, rows=rows // 10)
    result: dict[str, Any] = ctx.task(finish, key="6", log=log, table=table, child=child, checksum=sum(norms))
    return result


def load_step(i: int, payload: str) -> str:
    """A small real task: a SHA-256 chain over the payload."""
    import hashlib

    digest = payload.encode()
    for _ in range(50):
        digest = hashlib.sha256(digest + i.to_bytes(4, "little")).digest()
    return digest.hex()[:16]


@process("load-steps")
def load_steps(ctx: Context, steps: int = 20, payload: str = "mlsitter") -> dict[str, Any]:
    digests = [ctx.task(load_step, i=i, payload=payload) for i in range(steps)]
    return {"steps": len(digests), "last": digests[-1]}


# -- the oracle: the same process body without the runtime -------------------------------------------
class PlainContext:
    """Runs a process body as a plain program (each task a direct call): what a durable run must return."""

    def task(self, fn: Any, /, **kwargs: Any) -> Any:
        return fn(**kwargs)

    def map(self, fn: Any, items: Any, /, **common: Any) -> list[Any]:
        return [fn(item, **common) for item in items]

    def artifact(self, name: str, value: Any) -> None:
        return None

    def call(self, process_name: str, /, **inputs: Any) -> Any:
        children = {"crash-child": crash_child}
        return children[process_name](self, **inputs)  # type: ignore[arg-type]


def expected_result(log: str, seed: int, rows: int) -> dict[str, Any]:
    """The result of ``crash-campaign`` computed without journal, crash or replay (side effects go to ``log``)."""
    return crash_campaign(PlainContext(), log=log, seed=seed, rows=rows, work_s=0.0)  # type: ignore[arg-type]
