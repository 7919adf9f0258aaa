"""Test-wide fixtures: every test gets its own empty mlsitter home, journal-key folder and MLflow environment."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

_MLFLOW_TEMPLATE: list[Path] = []


def _mlflow_template(tmp_root: Path) -> Path:
    """An empty MLflow database with every migration applied, made once per test process.

    A fresh home's first MLflow call otherwise runs MLflow's ~50 schema migrations (2-20 s, by load), and most
    tests start from a fresh home; a copy of a migrated file is what MLflow would have built."""
    if not _MLFLOW_TEMPLATE:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        folder = tmp_root / "mlflow-template"
        folder.mkdir(parents=True, exist_ok=True)
        SqlAlchemyStore(f"sqlite:///{folder / 'mlflow.db'}", str(folder / "mlruns")).engine.dispose()
        _MLFLOW_TEMPLATE.append(folder / "mlflow.db")
    return _MLFLOW_TEMPLATE[0]


def seed_mlflow_db(home: Path, tmp_root: Path) -> None:
    """Give ``home`` a migrated, empty MLflow database unless it has one."""
    target = home / "mlflow.db"
    if not target.exists():
        home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_mlflow_template(tmp_root), target)


@pytest.fixture(autouse=True)
def mlsitter_home(tmp_path, tmp_path_factory, monkeypatch):
    home = tmp_path / "mlsitter-home"
    seed_mlflow_db(home, tmp_path_factory.getbasetemp())
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
