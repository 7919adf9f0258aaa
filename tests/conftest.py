"""Test-wide fixtures: every test gets its own empty mlsitter home."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def mlsitter_home(tmp_path, monkeypatch):
    home = tmp_path / "mlsitter-home"
    monkeypatch.setenv("MLSITTER_HOME", str(home))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return home
