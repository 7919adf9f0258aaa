"""Registered Titanic models for the serving and deploy tests: a good logistic-regression pipeline and
three bad candidates (one raises on passengers in their forties, one is 200 ms slower, one predicts the
opposite class). The bad ones are pickled by value, so a server process loads them without this module."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

import realdata

FEATURES = ["Pclass", "Sex", "Age", "SibSp", "Parch", "Fare", "Embarked"]
TARGET = "Survived"


def titanic_frame() -> Any:
    frame = realdata.titanic()
    return frame[FEATURES + [TARGET]]


def titanic_pipeline(C: float = 1.0) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = ["Pclass", "Age", "SibSp", "Parch", "Fare"]
    categorical = ["Sex", "Embarked"]
    prep = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
         categorical),
    ])
    frame = titanic_frame()
    return Pipeline([("prep", prep), ("model", LogisticRegression(C=C, max_iter=500))]).fit(
        frame[FEATURES], frame[TARGET])


class Wrapped:
    """The pipeline's answers as they are; the bad candidates below change one thing."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.classes_ = inner.classes_

    def predict(self, X: Any) -> Any:
        return self.inner.predict(X)

    def predict_proba(self, X: Any) -> Any:
        return self.inner.predict_proba(X)


class RaisesInTheForties(Wrapped):
    """Raises on any record of a passenger aged 40-49 (about a tenth of Titanic's passengers)."""

    def _check(self, X: Any) -> None:
        if X["Age"].between(40, 49.99).any():
            raise ValueError("cannot score passengers in their forties")

    def predict(self, X: Any) -> Any:
        self._check(X)
        return self.inner.predict(X)

    def predict_proba(self, X: Any) -> Any:
        self._check(X)
        return self.inner.predict_proba(X)


class SlowerBy200ms(Wrapped):
    """The same answers as the pipeline, 200 ms later."""

    def predict(self, X: Any) -> Any:
        time.sleep(0.2)
        return self.inner.predict(X)


class PredictsTheOpposite(Wrapped):
    """Predicts the other class, with the scores swapped to match."""

    def predict(self, X: Any) -> Any:
        return np.asarray(self.classes_)[1 - np.searchsorted(self.classes_, self.inner.predict(X))]

    def predict_proba(self, X: Any) -> Any:
        return self.inner.predict_proba(X)[:, ::-1]


def register(name: str, model: Any, *, alias: str = "challenger", run_id: str = "test-run") -> Any:
    """Log ``model`` to MLflow with a Titanic input example and register it under ``name`` with ``alias``."""
    import sys

    import cloudpickle

    from mlsitter.ml.tracking import _tracking as tracking
    from mlsitter.ml.tracking._registry import register_model

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    example = titanic_frame()[FEATURES].head(20)
    logged = tracking.log_model_run(model=model, input_example=example, params={}, metrics={}, step_metrics={},
                                    tags={tracking.TAG_RUN_ID: f"{run_id}-{time.time_ns()}", tracking.TAG_STEP: "s"},
                                    figures={}, files={}, run_name=name)
    return register_model(name, model_uri=logged.model_uri, mlflow_run_id=logged.mlflow_run_id,
                          artifact_sha256=logged.artifact_sha256, mlsitter_run_id=logged.tags[tracking.TAG_RUN_ID],
                          dataset_version="titanic", process="test", alias=alias)


def records(n: int | None = None, seed: int = 0) -> tuple[list[dict[str, Any]], list[int]]:
    """Titanic passengers as JSON records (NaN as null) and their true labels."""
    frame = titanic_frame()
    if n is not None:
        frame = frame.sample(n, random_state=seed, replace=n > len(frame))
    rows = frame[FEATURES].astype(object).where(frame[FEATURES].notna(), None).to_dict("records")
    return rows, [int(v) for v in frame[TARGET]]


# -- one registry per test session, copied into each test's home ---------------------------------------------
VERSIONS = {"good": 1, "good-too": 2, "raises": 3, "slow": 4, "opposite": 5}


def registry_home(tmp_path_factory: Any) -> Any:
    """A mlsitter home whose registry holds ``titanic`` versions 1-5 (see VERSIONS; 1 is the champion),
    built once per test session (a lock file keeps parallel builders apart)."""
    import fcntl
    import os

    base = tmp_path_factory.getbasetemp()
    home = base / "serving-registry"
    with open(base / "serving-registry.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (home / "ready").exists():
            previous = os.environ.get("MLSITTER_HOME")
            os.environ["MLSITTER_HOME"] = str(home)
            try:
                good = titanic_pipeline()
                register("titanic", good, alias="champion")
                register("titanic", titanic_pipeline(C=0.3))
                register("titanic", RaisesInTheForties(good), alias="raises")
                register("titanic", SlowerBy200ms(good), alias="slow")
                register("titanic", PredictsTheOpposite(good), alias="opposite")
            finally:
                if previous is None:
                    os.environ.pop("MLSITTER_HOME", None)
                else:
                    os.environ["MLSITTER_HOME"] = previous
            (home / "ready").write_text("ok")
    return home


def use_registry(source: Any, home: Any) -> None:
    """Copy the prepared registry into this test's (empty) mlsitter home."""
    import shutil

    shutil.copytree(source, home, dirs_exist_ok=True, ignore=shutil.ignore_patterns("ready", "serving"))
