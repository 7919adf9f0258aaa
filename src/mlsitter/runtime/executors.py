"""Executors run task functions: ``inline`` (this process), ``process`` (a local pool) or ``ray``.

The interface is ``submit(fn, kwargs) -> Future``, plus ``share(values)``, which may swap a map's common
arguments for handles that travel cheaply to each task (Ray's object store); the others keep them as they are.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Callable, Protocol

from mlsitter.errors import InputError
from mlsitter.runtime.definitions import function_target, load_target


class Executor(Protocol):
    name: str

    def submit(self, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Future[Any]: ...

    def share(self, values: dict[str, Any]) -> dict[str, Any]: ...

    def close(self) -> None: ...


class _NoSharing:
    """Arguments travel with each task as they are."""

    def share(self, values: dict[str, Any]) -> dict[str, Any]:
        return values


class InlineExecutor(_NoSharing):
    """Runs each task at once in the calling thread; the default."""

    name = "inline"

    def submit(self, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(**kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def close(self) -> None:
        return None


class ProcessExecutor(_NoSharing):
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

    def submit(self, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Future[Any]:
        if self._pool is None:
            method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
            self._pool = ProcessPoolExecutor(self.max_workers, mp_context=multiprocessing.get_context(method),
                                             initializer=_exit_with_runner, initargs=(os.getpid(),))
        return self._pool.submit(_call_target, function_target(fn), pickle.dumps(kwargs, pickle.HIGHEST_PROTOCOL))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _exit_with_runner(runner_pid: int) -> None:
    """Pool workers end soon after their runner dies (even by SIGKILL) instead of lingering: a
    daemon thread checks every second that the runner is still there (and not a zombie)."""
    import threading
    import time

    def runner_gone() -> bool:
        try:
            with open(f"/proc/{runner_pid}/stat", "rb") as fh:
                return fh.read().split(b") ", 1)[1][:1] == b"Z"
        except FileNotFoundError:
            return True
        except (OSError, IndexError):  # no /proc (not Linux): ask the kernel
            try:
                os.kill(runner_pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
            return False

    def watch() -> None:
        while not runner_gone():
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="mlsitter-runner-watch", daemon=True).start()


def _call_target(target: str, arguments: bytes) -> Any:
    """Worker side: import the task function first, then unpickle its arguments (which may hold
    instances of classes from the same user file) and call it."""
    fn = load_target(target, prefer_process=False)
    return fn(**pickle.loads(arguments))


def _ray() -> Executor:
    from mlsitter.runtime.ray_executor import RayExecutor  # Ray itself is imported at the first task

    return RayExecutor()


EXECUTORS: dict[str, Callable[[], Executor]] = {"inline": InlineExecutor, "process": ProcessExecutor, "ray": _ray}


def check_executor(name: str) -> None:
    """Refuse, before a run is created, an unknown executor or one that cannot start here, in one line."""
    if name not in EXECUTORS:
        raise InputError(f"unknown executor {name!r}; expected one of {', '.join(EXECUTORS)}")
    if name == "ray":
        from mlsitter.runtime.ray_executor import check_ray

        check_ray()


def make_executor(name: str) -> Executor:
    check_executor(name)
    return EXECUTORS[name]()
