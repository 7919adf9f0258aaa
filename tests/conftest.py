"""Test-wide fixtures: every test gets its own empty mlsitter home, journal-key folder and MLflow environment."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def mlsitter_home(tmp_path, monkeypatch):
    home = tmp_path / "mlsitter-home"
    monkeypatch.setenv("MLSITTER_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # journal keys: never the user's own folder
    for name in ("MLSITTER_JOURNAL_KEY", "MLSITTER_JOURNAL_KEY_FILE", "MLSITTER_DB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    user_uri = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    yield home
    # mlflow.set_tracking_uri exports the URI into os.environ; do not let one test's store leak into the next.
    for key, value in user_uri.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
