"""Read a table, separate the target, and split train/test for training and AutoML, with clear errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from mlsitter.errors import DataError, SpecError
from mlsitter.ml.io._table_reader import read_table
from mlsitter.ml.metrics._metric_catalog import default_training_metric
from mlsitter.ml.metrics._scoring import CLASSIFICATION, REGRESSION, get_metric, infer_task
from mlsitter.ml.tracking._tracking import content_hash_of_frame
from mlsitter.naming import stable_name


@stable_name("ml.modeling.PreparedData")
@dataclass
class PreparedData:
    """Train/test features and target, the task, the metric and the dataset version they came from."""

    X_train: Any
    y_train: Any
    X_test: Any
    y_test: Any
    task: str
    classes: list[Any]
    metric: str
    dataset_version: str
    source: str
    target: str
    n_rows: int
    dropped_columns: list[str] = field(default_factory=list)
    minority_share: float | None = None


def read_frame(path: str, sample_rows: int = 0, seed: int = 0) -> pd.DataFrame:
    """The training table (see :func:`mlsitter.ml.io._table_reader.read_table`)."""
    return read_table(path, sample_rows=sample_rows, seed=seed)


def prepare(frame: pd.DataFrame, *, target: str, drop: Sequence[str] = (), test_size: float = 0.2, seed: int = 0,
            metric: str = "auto", task: str = "auto", dataset_version: str = "", source: str = "",
            test_frame: pd.DataFrame | None = None, exclude: Sequence[str] = (),
            inputs: Sequence[str] | None = None, inputs_of: str = "the model") -> PreparedData:
    """Check the target and drop list, infer the task, resolve the metric, and split (stratified for classes).

    With ``test_frame`` the test split is given (same columns), and ``frame`` is all training rows.
    ``exclude`` columns are dropped where present (a charter's exclusions); with ``inputs`` only those
    columns are kept as features, and any the data lacks raise a DataError naming ``inputs_of``.
    """
    from sklearn.model_selection import train_test_split

    n_given = 0
    if test_frame is not None:
        if list(test_frame.columns) != list(frame.columns):
            raise DataError(f"test data columns {list(test_frame.columns)} differ from the training data columns "
                            f"{list(frame.columns)}; expected the same columns in the same order")
        n_given = len(test_frame)
        frame = pd.concat([frame, test_frame], ignore_index=True)

    if target not in frame.columns:
        raise DataError(f"target column {target!r} is not in the data; columns are: {', '.join(map(str, frame.columns))}")
    missing = [c for c in drop if c not in frame.columns]
    if missing:
        raise DataError(f"columns to drop {missing} are not in the data; columns are: {', '.join(map(str, frame.columns))}")
    if target in drop:
        raise SpecError(f"the target {target!r} is also listed in drop; remove it from drop")
    if inputs is not None:
        absent = [c for c in inputs if c not in frame.columns]
        if absent:
            raise DataError(f"{inputs_of} reads column(s) {', '.join(map(str, absent))} that the data lacks; "
                            f"columns are: {', '.join(map(str, frame.columns))}")
    drop = list(dict.fromkeys([*drop, *(c for c in exclude if c in frame.columns and c != target),
                               *(c for c in frame.columns if inputs is not None and c not in inputs and c != target)]))
    if not 0.05 <= test_size <= 0.5:
        raise SpecError(f"test_size must be between 0.05 and 0.5; got {test_size}")
    version = dataset_version or content_hash_of_frame(frame)
    frame = frame.drop(columns=list(drop))
    is_test = np.arange(len(frame)) >= len(frame) - n_given if n_given else np.zeros(len(frame), dtype=bool)
    labelled = frame[target].notna().to_numpy()
    frame, is_test = frame[labelled].reset_index(drop=True), is_test[labelled]
    y = frame.pop(target)
    if task == "auto":
        task = infer_task(y)
    if task not in (CLASSIFICATION, REGRESSION):
        raise SpecError(f"task must be 'auto', 'classification' or 'regression'; got {task!r}")
    classes: list[Any] = []
    minority = None
    if task == CLASSIFICATION:
        y = y.astype(str) if not pd.api.types.is_numeric_dtype(y) else y
        counts = y.value_counts()
        if len(counts) < 2:
            raise DataError(f"target {target!r} has a single class {counts.index.tolist()}; expected at least two")
        if counts.min() < 10:
            raise DataError(f"target {target!r}: class {counts.idxmin()!r} has only {int(counts.min())} rows; "
                            "expected at least 10 per class to cross-validate")
        classes = sorted(counts.index.tolist())
        minority = float(counts.min() / counts.sum())
    else:
        y = y.astype(float)
    metric_name = default_training_metric(task, len(classes)) if metric in ("", "auto") else metric
    get_metric(metric_name, task)
    if len(frame) < 50:
        raise DataError(f"only {len(frame)} labelled rows; expected at least 50 to train and test a model")
    if n_given:
        X_train, X_test, y_train, y_test = frame[~is_test], frame[is_test], y[~is_test], y[is_test]
        unseen = sorted(set(map(str, y_test.unique())) - set(map(str, y_train.unique()))) if task == CLASSIFICATION else []
        if unseen:
            raise DataError(f"test data has classes {unseen} that the training data lacks")
    else:
        X_train, X_test, y_train, y_test = train_test_split(
            frame, y, test_size=test_size, random_state=seed, stratify=y if task == CLASSIFICATION else None)
    return PreparedData(
        X_train=X_train.reset_index(drop=True), y_train=y_train.reset_index(drop=True),
        X_test=X_test.reset_index(drop=True), y_test=y_test.reset_index(drop=True), task=task, classes=classes,
        metric=metric_name, dataset_version=version, source=source, target=target, n_rows=int(len(frame)),
        dropped_columns=list(drop), minority_share=minority,
    )


def load_and_prepare(data: str, *, target: str, drop: Sequence[str] = (), test_size: float = 0.2, seed: int = 0,
                     metric: str = "auto", task: str = "auto", dataset_version: str = "", sample_rows: int = 0,
                     test_data: str = "", exclude: Sequence[str] = (), inputs: Sequence[str] | None = None,
                     inputs_of: str = "the model") -> PreparedData:
    """``read_frame`` + ``prepare`` as one task (``test_data``: a fixed test split instead of a random one)."""
    frame = read_frame(data, sample_rows=sample_rows, seed=seed)
    test_frame = read_frame(test_data) if test_data else None
    return prepare(frame, target=target, drop=drop, test_size=test_size, seed=seed, metric=metric, task=task,
                   dataset_version=dataset_version, source=str(Path(data).resolve()), test_frame=test_frame,
                   exclude=exclude, inputs=inputs, inputs_of=inputs_of)


def class_balance(y: Any) -> dict[str, float]:
    """Share of each class, for reports."""
    counts = pd.Series(np.asarray(y)).value_counts(normalize=True)
    return {str(k): float(v) for k, v in counts.items()}
