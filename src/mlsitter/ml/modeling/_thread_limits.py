"""Cap native thread pools (OpenMP/BLAS) during model fitting.

HistGradientBoosting and BLAS start one thread per core; on a small shared machine the oversubscription
made a 3-fold CV six times slower than one thread. ``MLSITTER_ML_THREADS`` (default 1) sets the cap.
"""

from __future__ import annotations

import functools
import os
from typing import Callable, TypeVar

from threadpoolctl import threadpool_limits

F = TypeVar("F", bound=Callable)


def ml_threads() -> int:
    """Threads a native pool may use: ``MLSITTER_ML_THREADS``, else 1."""
    try:
        return max(1, int(os.environ.get("MLSITTER_ML_THREADS", "1")))
    except ValueError:
        return 1


def limit_threads(fn: F) -> F:
    """Run ``fn`` with native thread pools capped at :func:`ml_threads`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=ml_threads()):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
