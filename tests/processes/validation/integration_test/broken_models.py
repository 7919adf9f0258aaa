"""Deliberately broken Titanic models for the integration-test tests, each a scikit-learn estimator (so the
reproducibility test can refit it) that breaks one contract: labels of the wrong type, NaN scores, a slow
answer; and any of them a server that never becomes ready. Pickled by value, so a server process loads them
without this module."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone


class Broken(ClassifierMixin, BaseEstimator):
    """The inner pipeline's answers; a subclass changes one thing. Where ``NEVER_READY=1`` (a server process
    started by the test that sets it) loading one never finishes, so that server never answers /ready;
    MLflow loads it back while logging it, where it must load."""

    def __init__(self, inner: Any = None) -> None:
        self.inner = inner

    def __setstate__(self, state: dict[str, Any]) -> None:
        import os

        if os.environ.get("NEVER_READY") == "1":
            time.sleep(3600)
        super().__setstate__(state)

    def fit(self, X: Any, y: Any) -> "Broken":
        self.inner_ = clone(self.inner).fit(X, y)
        self.classes_ = self.inner_.classes_
        return self

    def predict(self, X: Any) -> Any:
        return self.inner_.predict(X)

    def predict_proba(self, X: Any) -> Any:
        return self.inner_.predict_proba(X)


class LabelsAsText(Broken):
    """Answers the class as text ('0'/'1'): the response no longer has the target's type."""

    def predict(self, X: Any) -> Any:
        return np.asarray([str(v) for v in self.inner_.predict(X)], dtype=object)


class NaNScores(Broken):
    """Scores passengers who paid more than 30 as NaN (the labels stay right)."""

    def predict_proba(self, X: Any) -> Any:
        proba = np.asarray(self.inner_.predict_proba(X), dtype=float)
        proba[np.asarray(X["Fare"].fillna(0) > 30)] = np.nan
        return proba


class SlowByQuarterSecond(Broken):
    """The same answers, a quarter of a second later per call."""

    def predict_proba(self, X: Any) -> Any:
        time.sleep(0.25)
        return self.inner_.predict_proba(X)

