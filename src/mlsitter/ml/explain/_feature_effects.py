"""Model-agnostic feature effects on the original columns: permutation importance, partial
dependence and ICE curves (scikit-learn's inspection tools on the whole fitted pipeline).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from mlsitter.naming import stable_name


@stable_name("ml.explain.PermutationImportance")
@dataclass
class PermutationImportance:
    """Drop in the score when one column is shuffled (mean and sd over repeats)."""

    feature: str
    importance_mean: float
    importance_std: float


def permutation_importances(
    model: Any, X: pd.DataFrame, y: np.ndarray, *, scoring: str, n_repeats: int = 5, seed: int = 0,
) -> list[PermutationImportance]:
    """sklearn ``permutation_importance`` on the original columns, largest first."""
    from sklearn.inspection import permutation_importance

    res = permutation_importance(model, X, y, scoring=scoring, n_repeats=n_repeats, random_state=seed, n_jobs=1)
    out = [PermutationImportance(str(c), float(m), float(s)) for c, m, s in zip(X.columns, res.importances_mean, res.importances_std)]
    return sorted(out, key=lambda p: -p.importance_mean)


def is_numeric_feature(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column) and column.nunique() > 2


def partial_dependence_figure(model: Any, X: pd.DataFrame, features: list[str], *, ice_lines: int = 50, seed: int = 0) -> tuple[Any, list[dict[str, Any]]]:
    """PDP with ICE lines for numeric features, PDP bars for categorical ones; returns (figure, averages).

    A multiclass model is shown for its last class, as the SHAP explanation is. Datetime columns have no
    grid sklearn can vary (the model reads their parts), so they are left out.
    """
    import matplotlib.pyplot as plt
    from sklearn.inspection import PartialDependenceDisplay

    features = [f for f in features if not pd.api.types.is_datetime64_any_dtype(X[f])]
    numeric = [f for f in features if is_numeric_feature(X[f])]
    categorical = [f for f in features if f not in numeric]
    panels = len(numeric) + len(categorical)
    fig, axes = plt.subplots(1, max(panels, 1), figsize=(4.2 * max(panels, 1), 3.8), squeeze=False)
    curves: list[dict[str, Any]] = []
    classes = getattr(model, "classes_", None)
    extra: dict[str, Any] = {"target": classes[-1]} if classes is not None and len(classes) > 2 else {}
    Xc = X.copy()
    for c in categorical:
        Xc[c] = Xc[c].astype("string").fillna("(missing)").astype(object)
    for c in numeric:
        if pd.api.types.is_integer_dtype(Xc[c]):  # sklearn refuses integer columns for partial dependence
            Xc[c] = Xc[c].astype(np.float64)
    if numeric:
        disp = PartialDependenceDisplay.from_estimator(
            model, Xc, numeric, kind="both", subsample=ice_lines, grid_resolution=20, random_state=seed,
            ax=axes[0][: len(numeric)], centered=False, **extra,
        )
        for f, result in zip(numeric, disp.pd_results):
            curves.append({"feature": f, "kind": "numeric", "grid": [float(v) for v in result["grid_values"][0]],
                           "average": [float(v) for v in np.ravel(result["average"][0])]})
    if categorical:
        disp = PartialDependenceDisplay.from_estimator(
            model, Xc, categorical, kind="average", categorical_features=categorical, random_state=seed,
            ax=axes[0][len(numeric):], **extra,
        )
        for f, result in zip(categorical, disp.pd_results):
            curves.append({"feature": f, "kind": "categorical", "grid": [str(v) for v in result["grid_values"][0]],
                           "average": [float(v) for v in np.ravel(result["average"][0])]})
    fig.suptitle("Partial dependence (thick) and ICE (thin) for the top features")
    fig.tight_layout()
    return fig, curves
