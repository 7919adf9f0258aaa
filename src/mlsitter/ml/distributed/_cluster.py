"""Connecting to a Ray cluster: the one named by ``RAY_ADDRESS`` (checked to answer first, so a wrong address
is one clear line instead of a long hang), or a local one on this machine."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from mlsitter.errors import InputError
from mlsitter.naming import stable_name


@stable_name("ml.distributed.ClusterInfo")
@dataclass
class ClusterInfo:
    """The cluster a training run used: its address and the CPUs it offers."""

    address: str
    cpus: float
    nodes: int
    local: bool


def _quiet_ray() -> None:
    """No usage report (there is no network), no dashboard, no metrics exporter noise."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_TRAIN_ENABLE_STATE_TRACKING", "0")
    os.environ.setdefault("RAY_TRAIN_METRICS_ENABLED", "0")


def check_address(address: str, timeout_s: float = 3.0) -> None:
    """Raise :class:`InputError` unless something accepts connections at ``address`` (``host:port``)."""
    if address == "auto":  # Ray looks for a cluster started on this machine and says so when there is none
        return
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"RAY_ADDRESS={address!r} is not HOST:PORT (e.g. 127.0.0.1:6379); unset it to start a "
                         "local cluster")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise InputError(f"RAY_ADDRESS={address!r}: no Ray cluster answers there ({reason}); start one with "
                         "'ray start --head' or unset RAY_ADDRESS to use a local cluster") from None


def connect(num_cpus: int | None = None) -> ClusterInfo:
    """Join the cluster ``RAY_ADDRESS`` names, or start a local one on this machine (Ray advertises the host's own
    address even when asked for 127.0.0.1); idempotent per process."""
    _quiet_ray()
    address = os.environ.get("RAY_ADDRESS", "").strip()
    import ray

    if not ray.is_initialized():
        if address and address not in ("local",):
            check_address(address)
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        else:
            os.environ.pop("RAY_ADDRESS", None)
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    resources = ray.cluster_resources()  # type: ignore[no-untyped-call]
    alive = [n for n in ray.nodes() if n.get("Alive")]  # type: ignore[no-untyped-call]
    return ClusterInfo(address=ray.get_runtime_context().gcs_address, cpus=float(resources.get("CPU", 0.0)),
                       nodes=len(alive), local=not address or address == "local")
