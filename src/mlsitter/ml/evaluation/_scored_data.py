"""The scored evaluation table: a model's predictions beside the truth and the features, saved as
Parquet once and read back by every analysis (metrics, calibration, slices, fairness, explanations)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlsitter.errors import DataError, SpecError
from mlsitter.naming import stable_name

Y_TRUE, Y_PRED, Y_SCORE, LABEL = "__y_true", "__y_pred", "__y_score", "__label"


@stable_name("evaluation.ModelInfo")
@dataclass
class ModelInfo:
    """What was loaded, from where, and the warning shown for an untrusted file."""

    source: str
    kind: str
    description: str
    warning: str
    task: str  # binary | multiclass | regression
    classes: list[str]
    sha256: str


@stable_name("evaluation.ScoredData")
@dataclass
class ScoredData:
    """The evaluation table with the model's predictions, saved as Parquet for the later steps."""

    path: str
    n_rows: int
    task: str
    target: str
    positive_label: str
    negative_label: str
    feature_columns: list[str]
    columns: list[str]
    class_balance: dict[str, int] = field(default_factory=dict)


def file_sha256(path: str) -> str:
    """The content hash of a model file ('' when ``path`` is no file, e.g. a registry reference)."""
    p = Path(path)
    if not p.is_file():
        return ""
    h = hashlib.sha256()
    with p.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_task(model: Any) -> str:
    """binary / multiclass / regression, from the fitted estimator's interface."""
    classes = getattr(model, "classes_", None)
    if classes is not None and hasattr(model, "predict_proba"):
        return "binary" if len(classes) == 2 else "multiclass"
    if classes is not None:
        return "binary" if len(classes) == 2 else "multiclass"
    return "regression"


def load_quiet(model: str) -> Any:
    """The estimator behind ``model`` (registry reference or file), without the untrusted-file warning."""
    from mlsitter.ml.modeling._model_loading import load_model

    return load_model(model, warn=False).model


def feature_frame(model: Any, frame: Any, target: str) -> Any:
    """The columns the model was fitted on (``feature_names_in_``), else every column but the target."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return frame.drop(columns=[target])
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise DataError(f"the evaluation data lacks column(s) {missing} that the model was trained on; "
                        f"its columns are {list(frame.columns)}")
    return frame[list(names)]


def positive_of(classes: list[Any], positive_label: str) -> tuple[Any, Any]:
    """(positive, negative) class of a binary model; ``positive_label`` picks by its text, else the last class."""
    if positive_label:
        match = [c for c in classes if str(c) == str(positive_label)]
        if not match:
            raise SpecError(f"positive_label {positive_label!r} is not a class of the model; its classes are {[str(c) for c in classes]}")
        pos = match[0]
    else:
        pos = classes[-1]
    neg = [c for c in classes if c is not pos and str(c) != str(pos)][0]
    return pos, neg


def read_scored(scored: ScoredData) -> Any:
    """The scored table as pandas, string columns back to object with NaN for missing values."""
    import pandas as pd

    frame = pd.read_parquet(scored.path)
    for c in frame.columns:
        if isinstance(frame[c].dtype, pd.StringDtype):
            frame[c] = frame[c].astype(object).where(frame[c].notna(), np.nan)
    return frame
