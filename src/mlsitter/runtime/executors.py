"""Executors run task functions: ``inline`` (this process) or ``process`` (a local pool).

The interface is one method, ``submit(fn, kwargs) -> Future``; a Ray executor plugs in here.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import sys
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Callable, Protocol

from mlsitter.errors import InputError
from mlsitter.runtime.definitions import function_target, load_target


class Executor(Protocol):
    name: str

    def submit(self, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Future: ...

    def close(self) -> None: ...


class InlineExecutor:
    """Runs each task at once in the calling thread; the default."""

    name = "inline"

    def submit(self, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(**kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def close(self) -> None:
        return None


class ProcessExecutor:
    """A pool of worker processes for CPU-heavy ``map``; task functions must be importable.

    Workers start from a fork server (or spawn), never by forking the runner: a runner that has
    used OpenMP (LightGBM, HistGradientBoosting) would hand its children a broken thread pool. Each
    task travels as ``module:function`` (or ``file.py:function``) plus pickled arguments, so
    functions from a user's process file load in the worker too.
    """

    name = "process"

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers or int(os.environ.get("MLSITTER_WORKERS", os.cpu_count() or 2))
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Future:
        if self._pool is None:
            method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
            self._pool = ProcessPoolExecutor(self.max_workers, mp_context=multiprocessing.get_context(method),
                                             initializer=_die_with_parent)
        return self._pool.submit(_call_target, function_target(fn), pickle.dumps(kwargs, pickle.HIGHEST_PROTOCOL))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _die_with_parent() -> None:
    """Pool workers end when their runner dies (even by SIGKILL) instead of lingering as orphans."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def _call_target(target: str, arguments: bytes) -> Any:
    """Worker side: import the task function first, then unpickle its arguments (which may hold
    instances of classes from the same user file) and call it."""
    fn = load_target(target, prefer_process=False)
    return fn(**pickle.loads(arguments))


EXECUTORS = {"inline": InlineExecutor, "process": ProcessExecutor}


def make_executor(name: str) -> Executor:
    try:
        return EXECUTORS[name]()
    except KeyError:
        raise InputError(f"unknown executor {name!r}; expected one of {', '.join(EXECUTORS)}") from None
