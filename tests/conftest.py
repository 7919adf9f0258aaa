"""Test-wide fixtures: every test gets its own empty mlsitter home, journal-key folder and MLflow environment."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

def _template(name: str, tmp_root: Path) -> Path:
    """An empty MLflow or Optuna database with its schema built, made once per test session (the first worker
    to need it builds it under a lock; the others copy it, without importing either library).

    A fresh home's first MLflow call otherwise runs MLflow's ~50 schema migrations (2-20 s, by load), and
    Optuna's first study builds its tables; most tests start from a fresh home, and a copy of the built file is
    what either library would have made."""
    import fcntl

    root = tmp_root.parent if os.environ.get("PYTEST_XDIST_WORKER") else tmp_root  # shared by xdist workers
    folder = root / "db-templates"
    path = folder / name
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            building = folder / f"building-{name}"
            if name == "mlflow.db":
                from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

                SqlAlchemyStore(f"sqlite:///{building}", str(folder / "mlruns")).engine.dispose()
            else:
                import optuna

                optuna.storages.RDBStorage(f"sqlite:///{building}").engine.dispose()
            building.rename(path)
    return path


def seed_databases(home: Path, tmp_root: Path, names: tuple[str, ...] = ("mlflow.db", "optuna.db")) -> None:
    """Give ``home`` a built, empty MLflow and Optuna database unless it has them."""
    home.mkdir(parents=True, exist_ok=True)
    for name in names:
        if not (home / name).exists():
            shutil.copyfile(_template(name, tmp_root), home / name)


@pytest.fixture(autouse=True)
def mlsitter_home(tmp_path, tmp_path_factory, monkeypatch):
    home = tmp_path / "mlsitter-home"
    seed_databases(home, tmp_path_factory.getbasetemp())
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


# The test files that take longest (seconds on one loaded 2-core worker, bare-clone `make test` of 2026-12-02), run
# first: `--dist loadfile` hands files to workers in collection order, so starting the longest ones first keeps one
# long file from starting last and running alone at the end (the suite's wall time is its slowest worker's).
LONGEST_FILES = (
    "processes/execution/distributed_training/test_distributed_training.py",  # 300
    "processes/execution/deploy/test_deploy.py",  # 190
    "processes/execution/distributed_training/test_distributed_training_recovery.py",  # 180
    "processes/execution/training/test_training.py",  # 170
    "processes/execution/deploy/test_deploy_refusals.py",  # 165
    "processes/planning/scoping/test_scoping.py",  # 105
    "processes/validation/integration_test/test_integration_test.py",  # 100
    "processes/lifecycle/lifecycle/test_lifecycle.py",  # 95
    "processes/planning/features/test_features.py",  # 90
    "ml/serving/test_servers.py",  # 90
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest files first, the rest in their usual order (the sort is stable, so every worker collects alike)."""
    here = Path(__file__).parent
    missing = [name for name in LONGEST_FILES if not (here / name).is_file()]
    if missing:
        raise pytest.UsageError(f"tests/conftest.py LONGEST_FILES names files that are gone: {', '.join(missing)}")
    rank = {str(here / name): i for i, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(str(item.path), len(rank)))
