"""Counterfactual probes: for a row, the smallest change in one feature that flips the model's
decision (numeric: nearest value on a quantile grid; categorical: any other observed category).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from mlsitter.naming import stable_name


@stable_name("ml.explain.CounterfactualProbe")
@dataclass
class CounterfactualProbe:
    """One single-feature change that flips the decision for one row."""

    row: int
    feature: str
    original: Any
    changed_to: Any
    change: float | None  # numeric distance; None for a category swap
    original_score: float
    new_score: float


def _scores(model: Any, X: pd.DataFrame) -> np.ndarray:
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)[:, -1]
    return np.asarray(model.predict(X), dtype=np.float64)


def counterfactual_probes(
    model: Any, X: pd.DataFrame, rows: list[int], features: list[str], *, threshold: float = 0.5,
    grid_size: int = 41, max_categories: int = 30,
) -> list[CounterfactualProbe]:
    """For each row and feature, the nearest candidate value whose prediction crosses ``threshold``.

    All candidates for one row are scored in one batch; features with no flipping value are omitted.
    """
    probes: list[CounterfactualProbe] = []
    candidates: dict[str, np.ndarray] = {}
    for f in features:
        col = X[f]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            grid = np.unique(np.nanquantile(col.astype(float), np.linspace(0.0, 1.0, grid_size)))
            if pd.api.types.is_integer_dtype(col):
                grid = np.unique(np.round(grid))
            candidates[f] = grid
        else:
            candidates[f] = col.dropna().value_counts().index[:max_categories].to_numpy(dtype=object)
    for r in rows:
        base_row = X.iloc[[r]]
        base_score = float(_scores(model, base_row)[0])
        base_side = base_score >= threshold
        batch, meta = [], []
        for f in features:
            current = base_row[f].iloc[0]
            for value in candidates[f]:
                if pd.isna(current) and pd.isna(value) or (not pd.isna(current) and value == current):
                    continue
                batch.append(value)
                meta.append(f)
        if not batch:
            continue
        probe_frame = pd.concat([base_row] * len(batch), ignore_index=True)
        for i, (f, v) in enumerate(zip(meta, batch)):
            probe_frame.at[i, f] = v
        for f in features:
            if f in probe_frame:
                probe_frame[f] = probe_frame[f].astype(X[f].dtype, errors="ignore")
        scores = _scores(model, probe_frame)
        for f in features:
            current = base_row[f].iloc[0]
            idx = [i for i, m in enumerate(meta) if m == f and (scores[i] >= threshold) != base_side]
            if not idx:
                continue
            numeric = isinstance(candidates[f][0], (int, float, np.number)) and not pd.isna(current)
            if numeric:
                best = min(idx, key=lambda i: abs(float(batch[i]) - float(current)))
                change: float | None = float(batch[best]) - float(current)
            else:
                best = max(idx, key=lambda i: abs(scores[i] - base_score))
                change = None
            original = current.item() if hasattr(current, "item") else current
            to = batch[best].item() if hasattr(batch[best], "item") else batch[best]
            probes.append(CounterfactualProbe(int(r), f, original, to, change, base_score, float(scores[best])))
    return probes
