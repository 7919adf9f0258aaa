"""Operations on a running deployment (router + champion + candidate servers), shared by the deploy
process, ``mlsitter rollback`` and the processes that remediate: start or reattach to its servers, change
the split, drain a side and stop it, promote the candidate, roll it back. Each one saves the state file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from mlsitter.errors import MlsitterError
from mlsitter.ml.serving._processes import ServerRecord, free_port, is_alive, start_process, stop_process
from mlsitter.ml.serving._state import DeploymentState, admin_headers, admin_token_path, save_state

CHAMPION, CANDIDATE, ROUTER = "champion", "candidate", "router"


class DeploymentError(MlsitterError):
    """A deployment operation could not be done (router unreachable, a side would not drain)."""


def live(state: DeploymentState, role: str) -> ServerRecord | None:
    """The recorded server of ``role`` when its process still runs."""
    record = state.servers.get(role)
    return record if record is not None and is_alive(record) else None


def ensure_server(state: DeploymentState, role: str, model: str, version: int, *, host: str = "127.0.0.1",
                  port: int = 0, sample: float = 1.0, timeout: float = 180.0) -> tuple[ServerRecord, bool]:
    """(the server of ``role`` serving ``model/version``, whether it was started now): a live recorded one
    is reattached to; otherwise a new process starts (a stale record of another version is stopped first)."""
    record = live(state, role)
    if record is not None and (record.model, record.version) == (model, version):
        return record, False
    if record is not None:
        stop_process(record)
    port = port or free_port(host)
    log = state.directory / f"{role}-{model}-{version}-{int(time.time())}.log"
    record = start_process(["server", f"{model}/{version}", "--host", host, "--port", str(port), "--role", role,
                            "--log-dir", str(state.log_dir), "--sample", str(sample)],
                           role=role, host=host, port=port, log=log, model=model, version=version, timeout=timeout)
    state.servers[role] = record
    save_state(state)
    return record, True


def ensure_router(state: DeploymentState, *, host: str = "127.0.0.1", port: int = 0,
                  timeout: float = 120.0) -> tuple[ServerRecord, bool]:
    """(the deployment's router, whether it was started now), routing everything to the champion."""
    record = live(state, ROUTER)
    if record is not None:
        return record, False
    champion = state.servers[CHAMPION]
    port = port or free_port(host)
    log = state.directory / f"router-{int(time.time())}.log"
    record = start_process(["router", "--host", host, "--port", str(port), "--log-dir", str(state.log_dir),
                            "--champion", champion.url, "--champion-version", champion.label,
                            "--admin-token-file", str(admin_token_path(state))],
                           role=ROUTER, host=host, port=port, log=log, timeout=timeout)
    state.servers[ROUTER] = record
    state.weight, state.shadow = 0.0, False
    save_state(state)
    return record, True


def _router_url(state: DeploymentState) -> str:
    record = live(state, ROUTER)
    if record is None:
        raise DeploymentError(f"deployment {state.deployment!r} has no running router")
    return record.url


def traffic(state: DeploymentState) -> dict[str, Any]:
    """The router's current split and requests in flight per side."""
    import httpx

    return httpx.get(_router_url(state) + "/admin/traffic", timeout=10.0).json()  # type: ignore[no-any-return]


def set_traffic(state: DeploymentState, weight: float, shadow: bool = False) -> dict[str, Any]:
    """Give the candidate ``weight`` of the units (and mirror everything to it when ``shadow``); returns the
    router's new config (``changed_at``, ``shares``). Without a live candidate only the champion serves."""
    import httpx

    champion = state.servers[CHAMPION]
    candidate = live(state, CANDIDATE)
    body = {"champion": {"url": champion.url, "version": champion.label},
            "candidate": {"url": candidate.url, "version": candidate.label} if candidate else None,
            "weight": weight if candidate else 0.0, "shadow": bool(shadow and candidate)}
    response = httpx.put(_router_url(state) + "/admin/traffic", json=body, headers=admin_headers(state), timeout=10.0)
    if response.status_code != 200:
        raise DeploymentError(f"the router refused the traffic change {body}: {response.text}")
    state.weight, state.shadow = float(body["weight"]), bool(body["shadow"])  # type: ignore[arg-type]
    save_state(state)
    return response.json()  # type: ignore[no-any-return]


def drain(state: DeploymentState, version: str, timeout: float = 30.0) -> None:
    """Wait until the router has no request (live or shadow copy) in flight to ``version`` (``name/N``)."""
    deadline = time.monotonic() + timeout
    while True:
        busy = traffic(state).get("busy", {}).get(version, 0)
        if not busy:
            return
        if time.monotonic() > deadline:
            raise DeploymentError(f"{busy} request(s) to {version} still in flight after {timeout:.0f} s")
        time.sleep(0.02)


def stop_role(state: DeploymentState, role: str) -> bool:
    """Stop the server of ``role`` and forget it; False when none was running."""
    record = state.servers.pop(role, None)
    save_state(state)
    return stop_process(record) if record is not None else False


def rollback(state: DeploymentState) -> dict[str, Any]:
    """Take the candidate out: weight 0 and no shadow, drain it, stop it. Aliases are not touched."""
    stopped = state.servers.get(CANDIDATE)
    config = set_traffic(state, 0.0, False) if live(state, ROUTER) and CHAMPION in state.servers else {}
    if live(state, ROUTER) and stopped is not None:
        drain(state, stopped.label)
    stop_role(state, CANDIDATE)
    return {"stopped": stopped.label if stopped else None, "shares": config.get("shares", {}),
            "changed_at": config.get("changed_at", time.time())}


def promote(state: DeploymentState) -> dict[str, Any]:
    """Make the candidate's server the champion's: all traffic to it, then the old champion drained and stopped."""
    import httpx

    candidate = live(state, CANDIDATE)
    if candidate is None:
        raise DeploymentError(f"deployment {state.deployment!r} has no running candidate to promote")
    old = state.servers.get(CHAMPION)
    body = {"champion": {"url": candidate.url, "version": candidate.label}, "candidate": None, "weight": 0.0,
            "shadow": False}
    response = httpx.put(_router_url(state) + "/admin/traffic", json=body, headers=admin_headers(state), timeout=10.0)
    if response.status_code != 200:
        raise DeploymentError(f"the router refused the promotion {body}: {response.text}")
    state.servers[CHAMPION] = ServerRecord(CHAMPION, candidate.pid, candidate.started, candidate.host, candidate.port,
                                           candidate.model, candidate.version, candidate.log)
    state.servers.pop(CANDIDATE, None)
    state.weight, state.shadow = 0.0, False
    save_state(state)
    if old is not None and (old.pid, old.started) != (candidate.pid, candidate.started):
        drain(state, old.label)
        stop_process(old)
    config = response.json()
    return {"shares": config["shares"], "changed_at": config["changed_at"], "stopped": old.label if old else None}


def stop_all(state: DeploymentState) -> list[str]:
    """Stop every server of the deployment (router first); the labels of those that were running."""
    stopped = []
    for role in (ROUTER, CANDIDATE, CHAMPION):
        record = state.servers.get(role)
        if record is not None and stop_role(state, role):
            stopped.append(record.label)
    return stopped


