"""The state file of a deployment, ``$MLSITTER_HOME/serving/<deployment>.json``: the servers it runs
(pid, start time, host, port, model version, role) and the traffic split, written atomically so a
resumed deploy run, ``mlsitter rollback`` or a dashboard reading it never sees half a file."""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlsitter.errors import InputError
from mlsitter.ml.serving._processes import ServerRecord
from mlsitter.naming import stable_name

_DEPLOYMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def serving_home() -> Path:
    """Where deployments keep their state files and logs (under the mlsitter home)."""
    from mlsitter.ml.tracking._tracking import mlsitter_home

    return mlsitter_home() / "serving"


def check_deployment_name(name: str) -> str:
    """A deployment name usable as a file name: letters, digits, ``_ . -``; InputError otherwise."""
    if not isinstance(name, str) or not _DEPLOYMENT.match(name):
        raise InputError(f"deployment name {name!r} is invalid: expected 1-128 letters, digits, '_', '.' or '-'")
    return name


@stable_name("ml.serving.DeploymentState")
@dataclass
class DeploymentState:
    """What one deployment runs now."""

    deployment: str
    model: str
    servers: dict[str, ServerRecord] = field(default_factory=dict)  # role -> server (router, champion, candidate)
    weight: float = 0.0
    shadow: bool = False
    run_id: str = ""
    updated_at: float = 0.0

    @property
    def directory(self) -> Path:
        return serving_home() / self.deployment

    @property
    def log_dir(self) -> Path:
        """The prediction and feedback logs of every server of this deployment."""
        return self.directory / "log"

    def to_dict(self) -> dict[str, Any]:
        return {"deployment": self.deployment, "model": self.model, "weight": self.weight, "shadow": self.shadow,
                "run_id": self.run_id, "updated_at": self.updated_at,
                "servers": {role: s.to_dict() for role, s in self.servers.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DeploymentState":
        return cls(data["deployment"], data["model"], {r: ServerRecord(**s) for r, s in data["servers"].items()},
                   float(data.get("weight", 0.0)), bool(data.get("shadow", False)), data.get("run_id", ""),
                   float(data.get("updated_at", 0.0)))


def admin_token_path(state: DeploymentState) -> Path:
    """The router's admin token (0600, beside the logs): who can read it may change the split."""
    path = state.directory / "admin.token"
    if not path.is_file():
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path


def admin_headers(state: DeploymentState) -> dict[str, str]:
    """The ``Authorization`` header a change of the router's split must carry."""
    return {"Authorization": f"Bearer {admin_token_path(state).read_text(encoding='ascii').strip()}"}


def state_path(deployment: str) -> Path:
    return serving_home() / f"{check_deployment_name(deployment)}.json"


def load_state(deployment: str) -> DeploymentState | None:
    """The deployment's state, or None when it has never been deployed."""
    path = state_path(deployment)
    if not path.is_file():
        return None
    return DeploymentState.from_dict(json.loads(path.read_text(encoding="utf-8")))


def require_state(deployment: str) -> DeploymentState:
    """The deployment's state; InputError naming it when it was never deployed."""
    state = load_state(deployment)
    if state is None:
        raise InputError(f"no deployment named {deployment!r}; deploy it first (mlsitter run deploy ...)")
    return state


def save_state(state: DeploymentState) -> DeploymentState:
    """Write the state atomically (a temporary file in the same folder, then a rename)."""
    path = state_path(state.deployment)
    path.parent.mkdir(parents=True, exist_ok=True)
    state.updated_at = time.time()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(state.to_dict(), handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return state
