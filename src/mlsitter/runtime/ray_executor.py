"""The Ray executor (``--executor ray``): each task a Ray task on ``$RAY_ADDRESS`` or a local cluster.

Ray is imported when the executor first submits, never by ``import mlsitter``. Ray's own retries are
off (``max_retries=0``): a worker that dies fails the attempt with :class:`WorkerLostError` and the
task's mlsitter policy decides whether it runs again, so one retry policy holds on every executor.
The runner stays the only journal writer: workers return values, the runner journals them as they land.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pickle
import socket
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable

from mlsitter.errors import InputError
from mlsitter.runtime.definitions import function_target, load_target

ADDRESS_ENV = "RAY_ADDRESS"
CONNECT_TIMEOUT_S = 5.0
"""How long the check before a run waits for the Ray head to answer."""
SHARE_MIN_BYTES = 100 * 1024
"""Common arguments of a map at least this big go to the object store once; smaller ones travel with each
task (Ray itself sends arguments under 100 KiB inline)."""


class WorkerLostError(RuntimeError):
    """The Ray worker running a task died (killed, out of memory, node lost): a failure the task may retry."""


@dataclass(frozen=True, slots=True)
class Shared:
    """A value put in Ray's object store once, passed to many tasks by reference."""

    ref: Any


def check_ray() -> None:
    """Refuse, in one line and within ``CONNECT_TIMEOUT_S``, a Ray executor that cannot start here."""
    if importlib.util.find_spec("ray") is None:
        raise InputError("the ray executor needs Ray, which is not installed; expected: pip install 'mlsitter[ray]'")
    address = os.environ.get(ADDRESS_ENV, "").strip()
    if address in ("", "auto", "local"):
        return
    host, port = _host_port(address)
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__)
        raise InputError(
            f"{ADDRESS_ENV}={address}: no Ray cluster answers at {host}:{port} ({reason}, waited at most "
            f"{CONNECT_TIMEOUT_S:g} s); expected the address of a running Ray head ('ray start --head' prints it), "
            f"or {ADDRESS_ENV} unset to start a local cluster"
        ) from None


def start_local_ray(num_cpus: int, temp_dir: str | None = None) -> Any:
    """``ray.init`` of a local cluster on 127.0.0.1 without the dashboard, tried twice: on a loaded machine
    the first start can outlast Ray's fixed 30 s wait for its own agents, and the second finds them warm."""
    import ray

    options: dict[str, Any] = {"num_cpus": num_cpus, "include_dashboard": False, "_node_ip_address": "127.0.0.1",
                               "logging_level": logging.WARNING}
    if temp_dir:
        options["_temp_dir"] = temp_dir
    try:
        return ray.init(**options)
    except Exception as exc:  # Ray raises a bare Exception("The current node timed out during startup...")
        if "timed out during startup" not in str(exc):
            raise
        ray.shutdown()
        return ray.init(**options)


def _host_port(address: str) -> tuple[str, int]:
    bare = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = bare.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise InputError(f"{ADDRESS_ENV}={address!r} is not an address; expected host:port, e.g. 127.0.0.1:6379")
    return host.strip("[]"), int(port)


class RayExecutor:
    """Tasks as Ray tasks: connects to ``$RAY_ADDRESS`` (or starts a local cluster on 127.0.0.1 with
    ``$MLSITTER_WORKERS`` CPUs) at the first task, or uses the Ray this process already initialised."""

    name = "ray"

    def __init__(self) -> None:
        self._remote: Any = None
        self._owns_ray = False
        self._targets: dict[Callable[..., Any], str] = {}

    def _connect(self) -> Any:
        if self._remote is not None:
            return self._remote
        check_ray()
        import ray

        if not ray.is_initialized():
            address = os.environ.get(ADDRESS_ENV, "").strip() or None
            if address:
                ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
            else:
                start_local_ray(int(os.environ.get("MLSITTER_WORKERS", os.cpu_count() or 2)))
            self._owns_ray = True
        self._remote = ray.remote(max_retries=0)(_run_on_worker)
        return self._remote

    def share(self, values: dict[str, Any]) -> dict[str, Any]:
        """``values`` with each big one replaced by a :class:`Shared` reference, put in the object store once."""
        self._connect()
        import ray

        out: dict[str, Any] = {}
        for key, value in values.items():
            blob = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
            out[key] = Shared(ray.put(blob)) if len(blob) >= SHARE_MIN_BYTES else value
        return out

    def submit(self, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Future[Any]:
        remote = self._connect()
        own = {k: v for k, v in kwargs.items() if not isinstance(v, Shared)}
        shared = [(k, v.ref) for k, v in kwargs.items() if isinstance(v, Shared)]
        # The shared references travel inside a list, so Ray does not fetch them before the call: each
        # worker fetches and unpickles one once per map (see _shared_value), not once per task.
        target = self._targets.get(fn)
        if target is None:
            target = self._targets[fn] = function_target(fn)
        ref = remote.remote(target, pickle.dumps(own, pickle.HIGHEST_PROTOCOL), shared)
        out: Future[Any] = Future()
        ref.future().add_done_callback(lambda done: _settle(out, done))
        return out

    def close(self) -> None:
        if self._owns_ray:
            import ray

            ray.shutdown()
            self._owns_ray = False
        self._remote = None


def _settle(out: Future[Any], done: Future[Any]) -> None:
    """Pass a Ray result on as the task's own: its exception unwrapped, a lost worker as WorkerLostError."""
    failure = done.exception()
    if failure is None:
        out.set_result(done.result())
    else:
        out.set_exception(_translate(failure))


def _translate(failure: BaseException) -> BaseException:
    from ray import exceptions as rx

    if isinstance(failure, rx.RayTaskError) and isinstance(failure.cause, Exception):
        return failure.cause
    lost = (rx.WorkerCrashedError, rx.NodeDiedError, rx.LocalRayletDiedError, rx.ObjectLostError,
            rx.OutOfMemoryError)
    if isinstance(failure, lost):
        first = str(failure).strip().splitlines()[0] if str(failure).strip() else ""
        return WorkerLostError(f"the Ray worker running the task died ({type(failure).__name__}: {first})")
    return failure


_TARGETS: dict[str, Callable[..., Any]] = {}
_SHARED: OrderedDict[str, Any] = OrderedDict()


def _run_on_worker(target: str, own: bytes, shared: list[tuple[str, Any]]) -> Any:
    """Worker side: import the task function first, then unpickle its arguments (which may hold instances
    of classes from the same user file) and call it."""
    fn = _TARGETS.get(target)
    if fn is None:
        fn = _TARGETS[target] = load_target(target, prefer_process=False)
    kwargs = pickle.loads(own)
    for key, ref in shared:
        kwargs[key] = _shared_value(ref)
    return fn(**kwargs)


def _shared_value(ref: Any) -> Any:
    """A shared argument, fetched and unpickled once per worker while its map runs (the last two are kept)."""
    import ray

    key = ref.hex()
    if key not in _SHARED:
        _SHARED[key] = pickle.loads(ray.get(ref))
        while len(_SHARED) > 2:
            _SHARED.popitem(last=False)
    return _SHARED[key]
