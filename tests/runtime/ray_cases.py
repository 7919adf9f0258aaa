"""Small processes for the Ray executor tests; they run unchanged on the inline executor."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from mlsitter import Context, process, task

if TYPE_CHECKING:
    import numpy as np


def scaled(i: int, weights: np.ndarray, offset: int) -> int:
    """A map task with a big common argument (``weights``, 800 KB: it goes through the object store once)."""
    return int(i * i + offset + weights[i % len(weights)])


def total(values: list[int]) -> int:
    return sum(values)


@process("ray-map")
def ray_map(ctx: Context, n: int = 200) -> dict:
    import numpy as np  # here, so that the other cases' workers need not import it

    weights = np.arange(100_000, dtype=np.float64) % 7
    values = ctx.map(scaled, range(n), weights=weights, offset=3)
    summed = ctx.task(total, values=values)
    both = ctx.parallel([(total, {"values": values[:10]}), (total, {"values": values[10:20]})])
    return {"values": values, "total": summed, "parts": both}


@task(retries=2, backoff=0.0)
def pid_then_square(i: int, marker: str) -> int:
    """Item 3, on its first attempt, writes its worker's pid to ``marker`` and waits there to be killed."""
    if i == 3 and not os.path.exists(marker):
        with open(marker + ".tmp", "w") as fh:
            fh.write(str(os.getpid()))
        os.replace(marker + ".tmp", marker)
        time.sleep(60)
    time.sleep(0.02)
    return i * i


@process("ray-crash")
def ray_crash(ctx: Context, marker: str, n: int = 20) -> list:
    return ctx.map(pid_then_square, range(n), marker=marker)


def slow_count(i: int, counter: str) -> int:
    """Side effect: append the index to ``counter`` (tests count executions)."""
    time.sleep(0.25)
    with open(counter, "a") as fh:
        fh.write(f"{i}\n")
    return i * 10


@process("ray-slow")
def ray_slow(ctx: Context, counter: str, n: int = 16) -> list:
    return ctx.map(slow_count, range(n), counter=counter)
