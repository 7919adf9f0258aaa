"""Fixtures of the serving tests: the prepared Titanic registry in each test's home, and servers that
are stopped (process groups) even when a test fails."""

from __future__ import annotations

import pytest

import serving_models


@pytest.fixture(scope="session")
def titanic_registry(tmp_path_factory):
    return serving_models.registry_home(tmp_path_factory)


@pytest.fixture
def registry(titanic_registry, mlsitter_home):
    serving_models.use_registry(titanic_registry, mlsitter_home)
    return mlsitter_home


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
