"""A registered model loaded for serving: only through the registry (its content hash checked), with
its input schema, answering predictions and scores for a batch of validated rows."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from mlsitter.ml.serving._schema import InputSchema, read_schema, rows_to_frame
from mlsitter.naming import stable_name


@stable_name("ml.serving.Prediction")
@dataclass(frozen=True)
class Prediction:
    """One record's answer: the predicted value and, for a classifier, the score of its positive class."""

    prediction: Any
    score: float | None


@stable_name("ml.serving.ServedModel")
@dataclass
class ServedModel:
    """The fitted model with its registry identity and input schema."""

    name: str
    version: int
    artifact_sha256: str
    schema: InputSchema
    model: Any

    @property
    def label(self) -> str:
        """``name/version``, as logs and metrics name the version."""
        return f"{self.name}/{self.version}"

    def predict_rows(self, rows: list[tuple[Any, ...]]) -> list[Prediction]:
        """Predictions (and positive-class scores for classifiers) of validated rows, in order."""
        frame = rows_to_frame(self.schema, rows)
        labels = self.model.predict(frame)
        scores: Any = None
        if hasattr(self.model, "predict_proba"):
            proba = self.model.predict_proba(frame)
            scores = proba[:, -1] if proba.shape[1] == 2 else proba.max(axis=1)
        out = []
        for i, value in enumerate(labels):
            item = value.item() if hasattr(value, "item") else value
            out.append(Prediction(item, None if scores is None else float(scores[i])))
        return out


def load_served_model(ref: str) -> ServedModel:
    """Load ``name@alias`` / ``name/version`` through the registry (hash-checked) with its signature's schema.

    Unknown names, aliases or versions raise InputError naming what the registry has."""
    import mlflow

    from mlsitter.ml.tracking._registry import load_registered_model, resolve_model

    found = resolve_model(ref)
    model = load_registered_model(f"{found.name}/{found.version}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = mlflow.artifacts.download_artifacts(found.model_uri)
    return ServedModel(found.name, found.version, found.artifact_sha256, read_schema(local), model)
