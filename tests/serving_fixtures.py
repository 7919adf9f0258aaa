"""Fixtures the serving and deploy tests share (imported by their conftest files): the prepared Titanic
registry in each test's home, servers and deployments that are stopped even when a test fails, fixture
rows, a champion served behind its router, and a driver that resumes a run through its timers."""

from __future__ import annotations

import time

import pytest

import mlsitter
import serving_models


@pytest.fixture(scope="session")
def titanic_registry(tmp_path_factory):
    return serving_models.registry_home(tmp_path_factory)


@pytest.fixture
def registry(titanic_registry, mlsitter_home):
    """This test's home with the Titanic registry; every deployment's servers are stopped at the end."""
    serving_models.use_registry(titanic_registry, mlsitter_home)
    yield mlsitter_home
    from mlsitter.ml.serving import load_state, serving_home, stop_all

    for path in sorted(serving_home().glob("*.json")):
        state = load_state(path.stem)
        if state is not None:
            stop_all(state)


@pytest.fixture
def servers(registry):
    """Start servers with ``servers(args, role=..., ...)``; every one is stopped at the end of the test."""
    from mlsitter.ml.serving import free_port, start_process, stop_process

    started = []

    def start(kind_args, *, role, model="", version=0, port=None, timeout=180.0):
        port = port or free_port()
        args = [kind_args[0], *kind_args[1:], "--host", "127.0.0.1", "--port", str(port),
                "--log-dir", str(registry / "log")]
        if kind_args[0] == "server":
            args += ["--role", role]
        record = start_process(args, role=role, host="127.0.0.1", port=port, log=registry / f"{role}-{port}.log",
                               model=model, version=version, timeout=timeout)
        started.append(record)
        return record

    yield start
    for record in started:
        stop_process(record)


@pytest.fixture
def fixtures_csv(tmp_path):
    path = tmp_path / "fixtures.csv"
    frame = serving_models.titanic_frame()
    # passengers outside their forties: the smoke rows do not show the failing candidate, the canary must
    frame[~frame["Age"].between(40, 49.99)][serving_models.FEATURES].head(40).to_csv(path, index=False)
    return str(path)


@pytest.fixture
def champion(registry, fixtures_csv):
    """titanic/1 deployed alone (a first deploy) behind its router; returns the router's URL."""
    first = mlsitter.run("deploy", approve="auto+production", model="titanic@champion", fixtures=fixtures_csv,
                         latency_budget_ms=5000.0)  # a shared 2-core test machine: the budget is not under test here
    assert first.status == "completed", first.error
    assert first.result.status == "promoted" and first.result.champion is None
    return first.result.router


def drive(handle, limit: float = 180.0):
    """Resume a run through its timers (as `mlsitter worker` would) until it ends or waits on a person."""
    deadline = time.monotonic() + limit
    while handle.status == "waiting" and (handle.waiting or {}).get("kind") == "timer":
        assert time.monotonic() < deadline, "the run kept waiting on timers"
        time.sleep(max(0.0, handle.wake_at - time.time()) + 0.05)
        handle = mlsitter.resume(handle.run_id)
    return handle


# The canary settings the deploy tests share: short stages, a generous latency budget for a loaded machine.
CANARY = dict(latency_budget_ms=5000.0, stages="25,50,100", stage_seconds=5.0, min_requests=10, min_labelled=10,
              max_extensions=2, max_p99_increase_ms=120.0, max_accuracy_drop=0.1)


def canary_load(router: str, **kw):
    """A bounded load of Titanic records through ``router`` (stop it with ``.stop()``)."""
    from mlsitter.ml.serving import LoadGenerator

    rows, labels = serving_models.records(400, seed=3)
    options = dict(labels=labels, concurrency=4, rate=40, max_requests=4000, max_seconds=120)
    return LoadGenerator(router, rows, **{**options, **kw}).start()


def alias_version(alias: str) -> int:
    """The registry version ``titanic@alias`` names."""
    from mlsitter.ml.tracking import resolve_model

    return resolve_model(f"titanic@{alias}").version
