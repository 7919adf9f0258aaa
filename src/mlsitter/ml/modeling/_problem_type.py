"""What kind of learning problem a target column makes: binary, multiclass or regression.

Every planning step needs the same answer (which metric, which CV splitter, which estimators), so it
is decided once here from the target's values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlsitter.errors import DataError
from mlsitter.naming import stable_name


@stable_name("ml.modeling.ProblemType")
@dataclass(frozen=True)
class ProblemType:
    """The task (``classification``/``regression``), the class labels and the positive class."""

    task: str
    n_classes: int
    classes: tuple[str, ...]
    positive_class: str | None

    @property
    def is_binary(self) -> bool:
        return self.task == "classification" and self.n_classes == 2


_POSITIVE_HINTS = ("1", "yes", "true", "y", ">50k", "survived", "bad", "positive", "2")


def infer_problem_type(target: pd.Series, task: str | None = None, positive_class: str | None = None,
                       max_classes: int = 20) -> ProblemType:
    """Decide the task from the target: few distinct values or non-numeric -> classification."""
    values = target.dropna()
    if values.empty:
        raise DataError(f"target column {target.name!r} has no non-missing values")
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    n_unique = int(values.nunique())
    if task is None:
        if not numeric or n_unique <= 2:
            task = "classification"
        elif n_unique <= max_classes and np.allclose(values, np.round(values)) and n_unique / len(values) < 0.05:
            task = "classification"
        else:
            task = "regression"
    if task == "regression":
        if not numeric:
            raise DataError(f"target column {target.name!r} is not numeric (dtype {values.dtype}); "
                            "a regression target must be numeric")
        return ProblemType("regression", 0, (), None)
    if task != "classification":
        raise DataError(f"task must be 'classification' or 'regression', got {task!r}")
    classes = tuple(sorted(str(v) for v in values.astype(str).unique()))
    if len(classes) < 2:
        raise DataError(f"target column {target.name!r} has a single class {classes[0]!r}; need at least two")
    if positive_class is not None and str(positive_class) not in classes:
        raise DataError(f"positive class {positive_class!r} is not a value of target {target.name!r}; "
                        f"its values are {list(classes)}")
    if positive_class is None and len(classes) == 2:
        counts = values.astype(str).value_counts()
        hinted = [c for c in classes if c.strip().lower() in _POSITIVE_HINTS]
        positive_class = hinted[0] if len(hinted) == 1 else str(counts.idxmin())
    return ProblemType("classification", len(classes), classes, None if positive_class is None else str(positive_class))


def encode_target(target: pd.Series, problem: ProblemType) -> np.ndarray:
    """Target as model input: 0/1 with 1 = positive class (binary), class index, or floats (regression)."""
    if problem.task == "regression":
        return target.astype(float).to_numpy()
    as_str = target.astype(str)
    if problem.is_binary:
        return (as_str == problem.positive_class).astype(int).to_numpy()
    return as_str.map({c: i for i, c in enumerate(problem.classes)}).to_numpy()
