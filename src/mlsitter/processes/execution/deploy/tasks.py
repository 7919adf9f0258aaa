"""Task functions of the ``deploy`` process: each does one operation on the registry or the running
deployment (``mlsitter.ml.serving``) and returns a small result the journal keeps."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from mlsitter.errors import DataError, InputError
from mlsitter.naming import stable_name
from mlsitter.runtime import task


@stable_name("deploy.Versions")
@dataclass
class Versions:
    """The candidate and the champion it is compared with (none on a first deploy)."""

    model: str
    candidate: int
    candidate_sha256: str
    champion: int | None


@stable_name("deploy.Validation")
@dataclass
class Validation:
    """What the candidate showed before it got any traffic."""

    artifact_sha256: str
    schema: list[dict[str, Any]]
    fixture_rows: int
    smoke_ok: int
    smoke_errors: list[str]
    p99_ms: float
    p50_ms: float
    predictions: list[Any] = field(default_factory=list)


@task(name="deploy.resolve_versions")
def resolve_versions(model: str, deployment: str = "") -> Versions:
    """The version ``model`` names and the version the ``champion`` alias points at (if any). Deploying the
    champion itself is a first deploy when the deployment does not serve it yet, and refused when it does."""
    from mlsitter.ml.serving import CHAMPION as CHAMPION_ROLE
    from mlsitter.ml.serving import live, load_state
    from mlsitter.ml.tracking import CHAMPION, resolve_model

    found = resolve_model(model)
    champion: int | None = None
    try:
        champion = resolve_model(f"{found.name}@{CHAMPION}").version
    except InputError:
        champion = None
    if champion == found.version:
        name = deployment or found.name
        state = load_state(name)
        serving = live(state, CHAMPION_ROLE) if state else None
        if serving is not None and serving.version == found.version:
            raise InputError(f"{model} is {found.name}/{found.version}, which is already the serving champion of "
                             f"{name!r}; deploy another version (or mlsitter rollback {found.name})")
        champion = None
    return Versions(found.name, found.version, found.artifact_sha256, champion)


def fixture_records(path: str, columns: tuple[str, ...], limit: int) -> list[dict[str, Any]]:
    """Rows of a fixture table as JSON-like records with the model's input columns (NaN as None)."""
    import pandas as pd

    from mlsitter.ml.io import read_table

    frame = read_table(path) if not isinstance(path, pd.DataFrame) else path
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"fixture table {path!r} lacks the model's input column(s) {', '.join(missing)}; it has "
                        f"{', '.join(map(str, frame.columns))}")
    frame = frame[list(columns)].head(limit)
    return frame.astype(object).where(frame.notna(), None).to_dict("records")  # type: ignore[no-any-return]


@task(name="deploy.validate_candidate")
def validate_candidate(model: str, version: int, fixtures: str, smoke_rows: int = 50) -> Validation:
    """Load the candidate through the registry (hash checked), check the fixture rows against its input
    schema, predict them one by one (smoke) and measure single-record latency in process."""
    from mlsitter.ml.serving import load_served_model, validate_records

    served = load_served_model(f"{model}/{version}")
    records = fixture_records(fixtures, served.schema.names, smoke_rows)
    rows, _ = validate_records(served.schema, records)
    served.predict_rows(rows[:1])  # warm-up: first calls pay lazy imports
    timings, errors, predictions = [], [], []
    for i, row in enumerate(rows):
        started = time.perf_counter()
        try:
            predictions.append(served.predict_rows([row])[0].prediction)
        except Exception as exc:
            errors.append(f"fixture row {i}: {type(exc).__name__}: {exc}")
        timings.append((time.perf_counter() - started) * 1000)
    import numpy as np

    return Validation(served.artifact_sha256, served.schema.to_dict(), len(rows), len(rows) - len(errors), errors[:10],
                      float(np.percentile(timings, 99)), float(np.percentile(timings, 50)), predictions[:20])


@task(name="deploy.start_servers")
def start_servers(deployment: str, model: str, champion: int | None, candidate: int, router_port: int = 0,
                  sample: float = 1.0, run_id: str = "") -> dict[str, Any]:
    """Start (or reattach to) the champion's server, the candidate's and the router; the candidate gets no
    traffic yet. On a first deploy the candidate serves alone. Returns what runs and what was started now."""
    from concurrent.futures import ThreadPoolExecutor

    from mlsitter.ml.serving import (
        CANDIDATE, CHAMPION, DeploymentState, ensure_router, ensure_server, load_state, save_state, set_traffic,
        stop_role)

    state = load_state(deployment) or DeploymentState(deployment, model)
    state.run_id = run_id
    save_state(state)
    started: list[str] = []
    wanted = [(CHAMPION, champion if champion is not None else candidate)]
    if champion is not None:
        wanted.append((CANDIDATE, candidate))
    elif CANDIDATE in state.servers:
        stop_role(state, CANDIDATE)
    with ThreadPoolExecutor(max_workers=2) as pool:  # two model servers load at the same time
        futures = {role: pool.submit(ensure_server, state, role, model, version, sample=sample)
                   for role, version in wanted}
        for role, future in futures.items():
            record, new = future.result()
            state.servers[role] = record
            started += [record.label + f" ({role})"] if new else []
    save_state(state)
    router, new = ensure_router(state, port=router_port)
    started += ["router"] if new else []
    config = set_traffic(state, 0.0, False)
    return {"servers": {role: s.to_dict() for role, s in state.servers.items()}, "started": started,
            "router": router.url, "shares": config["shares"], "at": config["changed_at"], "deployment": deployment,
            "phase": "started"}


@task(name="deploy.set_traffic")
def change_traffic(deployment: str, weight: float, shadow: bool, phase: str) -> dict[str, Any]:
    """Give the candidate ``weight`` of the units (``shadow``: mirror everything to it); the router's answer
    with when it changed and each version's share (what the serving history reads)."""
    from mlsitter.ml.serving import load_state, set_traffic

    state = load_state(deployment)
    if state is None:
        raise InputError(f"deployment {deployment!r} has no state file; it was never started")
    config = set_traffic(state, weight, shadow)
    return {"at": config["changed_at"], "shares": config["shares"], "weight": config["weight"],
            "shadow": config["shadow"], "phase": phase, "deployment": deployment}


@task(name="deploy.analyze_window")
def analyze(deployment: str, phase: str, start: float, champion: str, candidate: str,
            thresholds: dict[str, Any]) -> Any:
    """The window from ``start`` to now, candidate against champion, from the servers' logs. A candidate that
    is no longer running (``mlsitter rollback``) gives the verdict ``aborted``."""
    from mlsitter.ml.serving import CANDIDATE, AnalysisThresholds, analyze_window, live, load_state

    state = load_state(deployment)
    assert state is not None
    result = analyze_window(state.log_dir, phase=phase, start=start, end=time.time(), champion=champion,
                            candidate=candidate, thresholds=AnalysisThresholds(**thresholds))
    running = live(state, CANDIDATE)
    if running is None or running.label != candidate:
        result.verdict, result.reason = "aborted", f"the candidate {candidate} is no longer serving (rolled back " \
                                                   "outside this run)"
    return result


@task(name="deploy.rollback")
def roll_back(deployment: str, reason: str) -> dict[str, Any]:
    """Candidate weight to 0, drained, stopped; aliases untouched. Returns the new shares and when."""
    from mlsitter.ml.serving import load_state, rollback

    state = load_state(deployment)
    if state is None:
        return {"at": time.time(), "shares": {}, "stopped": None, "reason": reason, "deployment": deployment}
    done = rollback(state)
    return {"at": done["changed_at"], "shares": done["shares"], "stopped": done["stopped"], "reason": reason,
            "deployment": deployment, "phase": "rolled-back"}


@task(name="deploy.promote")
def promote(deployment: str, model: str, candidate: int, champion: int | None) -> dict[str, Any]:
    """Move the ``champion`` alias to the candidate (the old champion keeps ``previous-champion``, the
    rollback target), send all traffic to the candidate's server and stop the old champion's."""
    from mlsitter.ml.serving import CANDIDATE, load_state
    from mlsitter.ml.serving import promote as promote_server
    from mlsitter.ml.tracking import CHAMPION
    from mlsitter.ml.tracking import promote as move_alias

    state = load_state(deployment)
    assert state is not None
    if champion is not None:
        move_alias(f"{model}/{champion}", PREVIOUS_CHAMPION)
    move_alias(f"{model}/{candidate}", CHAMPION)
    if CANDIDATE in state.servers:
        done = promote_server(state)
    else:  # a first deploy: the candidate already serves as the champion
        from mlsitter.ml.serving import traffic

        config = traffic(state)
        done = {"shares": config["shares"], "changed_at": config["changed_at"], "stopped": None}
    return {"at": done["changed_at"], "shares": done["shares"], "stopped": done["stopped"], "deployment": deployment,
            "phase": "promoted", "champion": f"{model}/{candidate}"}


PREVIOUS_CHAMPION = "previous-champion"
