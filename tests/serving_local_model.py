"""A model class pickled by reference to this module, which only the test process can import: a server
process started for it fails to load it (a candidate that fails to start)."""

from __future__ import annotations

from typing import Any


class OnlyImportableInTests:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.classes_ = inner.classes_

    def predict(self, X: Any) -> Any:
        return self.inner.predict(X)

    def predict_proba(self, X: Any) -> Any:
        return self.inner.predict_proba(X)
