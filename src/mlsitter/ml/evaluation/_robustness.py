"""Robustness to realistic input corruption: noise on numeric columns, swapped categories and
injected missing values; reports the metric under each perturbation and how much it drops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
from mlsitter.naming import ADDED_LATER, stable_name


@stable_name("ml.evaluation.PerturbationResult")
@dataclass
class PerturbationResult:
    """Metric on the clean data vs on one perturbed copy."""

    perturbation: str
    severity: float
    metric: str
    clean: float
    perturbed: float
    columns: int
    error: str = ""
    note: str = field(default="", metadata=ADDED_LATER)

    @property
    def drop(self) -> float:
        """How much worse the perturbed metric is (positive = worse), on the metric's own scale."""
        return self.clean - self.perturbed

    @property
    def status(self) -> str:
        """'not run' when the perturbation touched no column (it tested nothing), 'failed' when the model
        raised on the perturbed data, else 'ran'."""
        return "not run" if self.columns == 0 else "failed" if self.error else "ran"


#: an integer column with at most this many distinct values (and few relative to its rows) is read as codes
MAX_CODES = 20


def is_integer_coded(values: pd.Series) -> bool:
    """Whether an integer column holds category codes (e.g. 1-4 for an education level) rather than
    quantities: at most ``MAX_CODES`` distinct values, each seen on average at least 5 times."""
    if not pd.api.types.is_integer_dtype(values) or pd.api.types.is_bool_dtype(values):
        return False
    distinct = int(values.nunique(dropna=True))
    return 2 <= distinct <= MAX_CODES and distinct * 5 <= values.notna().sum()


def categorical_columns(frame: pd.DataFrame) -> list[str]:
    """Text, boolean, categorical and integer-coded columns: the ones category swaps apply to."""
    return [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])
            or pd.api.types.is_bool_dtype(frame[c]) or is_integer_coded(frame[c])]


def add_numeric_noise(frame: pd.DataFrame, severity: float, rng: np.random.Generator) -> tuple[pd.DataFrame, int]:
    """Gaussian noise with sd = severity x column sd on every numeric column that is not integer-coded."""
    out = frame.copy()
    coded = set(categorical_columns(frame))
    cols = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and c not in coded]
    for c in cols:
        values = frame[c].astype(float)
        sd = float(values.std()) or 1.0
        noisy = values + rng.normal(0.0, severity * sd, len(values))
        if pd.api.types.is_integer_dtype(frame[c]):
            noisy = noisy.round()
            out[c] = noisy.astype(frame[c].dtype) if not noisy.isna().any() else noisy
        else:
            out[c] = noisy
    return out, len(cols)


def swap_categories(frame: pd.DataFrame, severity: float, rng: np.random.Generator) -> tuple[pd.DataFrame, int]:
    """Replace a share ``severity`` of each categorical (or integer-coded) column's values by an observed category."""
    out = frame.copy()
    cols = categorical_columns(frame)
    used = 0
    for c in cols:
        observed = frame[c].dropna().unique()
        if len(observed) < 2:
            continue
        used += 1
        mask = rng.random(len(frame)) < severity
        replacement = rng.choice(observed, size=int(mask.sum()))
        col = out[c].astype(object)
        col[mask] = replacement
        keep_dtype = isinstance(frame[c].dtype, pd.CategoricalDtype) or pd.api.types.is_numeric_dtype(frame[c])
        out[c] = col.astype(frame[c].dtype) if keep_dtype else col
    return out, used


def inject_missing(frame: pd.DataFrame, severity: float, rng: np.random.Generator) -> tuple[pd.DataFrame, int]:
    """Set a share ``severity`` of the cells of every column to missing."""
    out = frame.copy()
    for c in frame.columns:
        mask = rng.random(len(frame)) < severity
        if pd.api.types.is_integer_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]):
            out[c] = out[c].astype(float)
        out.loc[mask, c] = np.nan
    return out, frame.shape[1]


PERTURBATIONS: dict[str, Callable[[pd.DataFrame, float, np.random.Generator], tuple[pd.DataFrame, int]]] = {
    "numeric_noise": add_numeric_noise,
    "category_swap": swap_categories,
    "missing_values": inject_missing,
}


def robustness_report(
    model: Any, X: pd.DataFrame, y_true: np.ndarray, score: Callable[[Any, pd.DataFrame, np.ndarray], float],
    metric: str, *, severities: dict[str, float] | None = None, seed: int = 0,
) -> list[PerturbationResult]:
    """Evaluate ``score(model, X', y)`` for each perturbation X' of X (higher score = better).

    A model that cannot handle a perturbation (e.g. it raises on missing values) is reported with the
    error message and a perturbed score of NaN: that itself is a robustness finding. A perturbation that
    touched no column is not scored: its result says "not run" and why, never a pass.
    """
    severities = severities or {"numeric_noise": 0.1, "category_swap": 0.05, "missing_values": 0.05}
    clean = float(score(model, X, y_true))
    rng = np.random.default_rng(seed)
    out: list[PerturbationResult] = []
    for name, severity in severities.items():
        perturbed, n_cols = PERTURBATIONS[name](X, severity, rng)
        if n_cols == 0:
            out.append(PerturbationResult(name, severity, metric, clean, float("nan"), 0,
                                          note=f"not run: the data has no column {name} applies to"))
            continue
        try:
            value = float(score(model, perturbed, y_true))
            err = ""
        except Exception as exc:  # the model's own failure on corrupted input is the measurement
            value, err = float("nan"), f"{type(exc).__name__}: {exc}"[:300]
        out.append(PerturbationResult(name, severity, metric, clean, value, n_cols, err))
    return out
