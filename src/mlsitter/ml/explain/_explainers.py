"""SHAP explanations with the explainer that fits the model: TreeExplainer for tree ensembles,
LinearExplainer for linear models, and a sampled KernelExplainer with a background set otherwise.

A scikit-learn Pipeline is split into its preprocessing and its final estimator; SHAP explains the
estimator on the transformed features, and the values are also summed back to the original columns
(one-hot columns of ``sex`` add up to ``sex``) for global importance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlsitter.errors import DataError
from mlsitter.naming import stable_name

TREE_MODULES = ("lightgbm", "xgboost", "catboost")
TREE_CLASSES = ("DecisionTree", "RandomForest", "ExtraTrees", "GradientBoosting", "HistGradientBoosting", "IsolationForest")


@stable_name("ml.explain.ShapExplanation")
@dataclass
class ShapExplanation:
    """SHAP values (rows x transformed features) for the positive class / regression output."""

    explainer: str
    values: np.ndarray
    base_value: float
    data: np.ndarray
    feature_names: list[str]
    row_index: np.ndarray
    groups: dict[str, list[int]] = field(default_factory=dict)  # original column -> transformed positions

    def grouped_values(self) -> tuple[list[str], np.ndarray]:
        """SHAP values summed per original column (a column's one-hot parts add up)."""
        names = list(self.groups)
        if not names:
            return self.feature_names, self.values
        return names, np.column_stack([self.values[:, idx].sum(axis=1) for idx in self.groups.values()])

    def importance(self, grouped: bool = True) -> pd.DataFrame:
        """Global importance: mean |SHAP| per feature, largest first."""
        names, vals = self.grouped_values() if grouped else (self.feature_names, self.values)
        imp = np.abs(vals).mean(axis=0)
        return pd.DataFrame({"feature": names, "mean_abs_shap": imp}).sort_values("mean_abs_shap", ascending=False, ignore_index=True)


def split_pipeline(model: Any) -> tuple[Any | None, Any]:
    """(preprocessing, final estimator) of a Pipeline; (None, model) for a bare estimator."""
    steps = getattr(model, "steps", None)
    if steps and len(steps) > 1:
        return model[:-1], model[-1]
    if steps:
        return None, steps[0][1]
    return None, model


def explainer_kind(estimator: Any) -> str:
    """'tree', 'linear' or 'kernel' for an estimator, from its class and module."""
    module = type(estimator).__module__.split(".")[0]
    name = type(estimator).__name__
    if module in TREE_MODULES or any(name.startswith(t) for t in TREE_CLASSES):
        return "tree"
    if module == "sklearn" and ".linear_model" in type(estimator).__module__:
        return "linear"
    return "kernel"


def _step_names(step: Any, names_in: list[str], out: Any) -> list[str]:
    """Names of one fitted step's output: its own ``get_feature_names_out``, else a frame's columns, else the
    input names when the width is unchanged (a one-to-one step), else positional names."""
    width = int(np.shape(out)[1])
    for call in (lambda: step.get_feature_names_out(names_in), lambda: step.get_feature_names_out()):
        try:
            names = [str(n) for n in call()]
        except Exception:  # a step without feature names (e.g. a FunctionTransformer with no feature_names_out)
            continue
        if len(names) == width:
            return names
    if isinstance(out, pd.DataFrame):
        return [str(c) for c in out.columns]
    if width == len(names_in):
        return list(names_in)
    return [f"x{i}" for i in range(width)]


def _transform_named(step: Any, X: Any, names: list[str]) -> tuple[Any, list[str]]:
    """``step.transform(X)`` and its output names, walking a (nested) Pipeline one step at a time."""
    if step is None or (isinstance(step, str) and step == "passthrough"):
        return X, names
    if hasattr(step, "steps"):
        for _, inner in step.steps:
            X, names = _transform_named(inner, X, names)
        return X, names
    out = step.transform(X)
    if hasattr(out, "toarray"):
        out = out.toarray()
    return out, _step_names(step, names, out)


def transform_features(model: Any, X: pd.DataFrame) -> tuple[Any, np.ndarray | pd.DataFrame, list[str]]:
    """The final estimator, X after the pipeline's preprocessing, and the transformed feature names.

    The preprocessing runs step by step, so names survive a step that cannot name its output.
    """
    pre, est = split_pipeline(model)
    if pre is None:
        return est, X, [str(c) for c in X.columns]
    Xt, names = _transform_named(pre, X, [str(c) for c in X.columns])
    if isinstance(Xt, pd.DataFrame):
        return est, Xt, names
    return est, np.asarray(Xt, dtype=np.float64), names


#: how scikit-learn names the missing-value indicator of a column (``SimpleImputer(add_indicator=True)``)
MISSING_INDICATOR = "missingindicator_"


def _indicated(base: str, columns: list[str]) -> str | None:
    """The column a missing-value indicator feature (``missingindicator_<col>``) flags, else None."""
    column = base.removeprefix(MISSING_INDICATOR)
    return column if base not in columns and column != base and column in columns else None


def original_column_groups(feature_names: list[str], columns: list[str]) -> dict[str, list[int]]:
    """Map each original column to the transformed features made from it (longest matching name wins); a
    column's missing-value indicator is one of its features, so importance shows one row per column."""
    by_length = sorted(columns, key=len, reverse=True)
    groups: dict[str, list[int]] = {}
    for j, name in enumerate(feature_names):
        base = name.split("__", 1)[-1]
        base = _indicated(base, columns) or base
        owner = next((c for c in by_length if base == c or base.startswith(f"{c}_")), base)
        groups.setdefault(owner, []).append(j)
    return groups


def feature_label(name: str, columns: list[str]) -> str:
    """A transformed feature's name as lists of them show it: a missing-value indicator reads
    ``<feature> (missing)`` (``num__age (missing)``), every other name is kept."""
    prefix, sep, base = name.rpartition("__")
    column = _indicated(base, columns)
    return f"{prefix}{sep}{column} (missing)" if column else name


def _positive_output(values: np.ndarray, base: Any) -> tuple[np.ndarray, float]:
    if isinstance(values, list):  # older SHAP: one array per class
        values = values[-1]
        base = np.ravel(np.asarray(base, dtype=np.float64))[-1:]
    values = np.asarray(values)
    base = np.asarray(base, dtype=np.float64)
    if values.ndim == 3:  # (rows, features, classes): explain the positive (last) class
        values = values[:, :, -1]
        base = base[..., -1] if base.ndim else base
    return values.astype(np.float64), float(np.ravel(base)[0]) if base.size else 0.0


def _predict_fn(estimator: Any) -> Any:
    if hasattr(estimator, "predict_proba"):
        return lambda a: estimator.predict_proba(a)[:, -1]
    return estimator.predict


def explain_with_shap(
    model: Any, X: pd.DataFrame, *, max_rows: int = 10_000, background_rows: int = 100, kernel_rows: int = 200,
    kernel_samples: int = 200, seed: int = 0,
) -> ShapExplanation:
    """Compute SHAP values for up to ``max_rows`` rows (``kernel_rows`` for the slow kernel explainer)."""
    import shap

    if len(X) == 0:
        raise DataError("cannot explain an empty dataset (0 rows)")
    rng = np.random.default_rng(seed)
    est, Xt, names = transform_features(model, X)
    kind = explainer_kind(est)
    n_rows = min(len(X), kernel_rows if kind == "kernel" else max_rows)
    rows = np.sort(rng.choice(len(X), size=n_rows, replace=False)) if n_rows < len(X) else np.arange(len(X))
    data = Xt.iloc[rows] if isinstance(Xt, pd.DataFrame) else Xt[rows]
    bg_idx = rng.choice(len(X), size=min(background_rows, len(X)), replace=False)
    background = Xt.iloc[bg_idx] if isinstance(Xt, pd.DataFrame) else Xt[bg_idx]
    if kind == "tree":
        try:
            explainer = shap.TreeExplainer(est)
            values, base = _positive_output(explainer.shap_values(data, check_additivity=False), explainer.expected_value)
        except Exception:  # a tree model SHAP's tree code does not support: fall back to the kernel explainer
            kind = "kernel"
    if kind == "linear":
        explainer = shap.LinearExplainer(est, shap.maskers.Independent(background, max_samples=background_rows))
        values, base = _positive_output(explainer.shap_values(data), explainer.expected_value)
    if kind == "kernel":
        if len(rows) > kernel_rows:
            rows = np.sort(rng.choice(len(X), size=kernel_rows, replace=False))
            data = Xt.iloc[rows] if isinstance(Xt, pd.DataFrame) else Xt[rows]
        summary = shap.sample(background, min(50, len(background)), random_state=seed)
        explainer = shap.KernelExplainer(_predict_fn(est), summary)
        values, base = _positive_output(explainer.shap_values(data, nsamples=kernel_samples, silent=True), explainer.expected_value)
    plain = data.to_numpy() if isinstance(data, pd.DataFrame) else np.asarray(data)
    columns = [str(c) for c in X.columns]
    groups = original_column_groups(names, columns)
    return ShapExplanation(kind, values, base, plain, [feature_label(n, columns) for n in names], rows, groups)


def _explanation(expl: ShapExplanation, grouped: bool, max_rows: int) -> Any:
    import shap

    take = slice(0, min(max_rows, len(expl.values)))
    if grouped and expl.groups:
        names, vals = expl.grouped_values()
        data = np.column_stack([expl.data[:, idx[0]] if len(idx) == 1 else np.full(len(expl.data), np.nan)
                                for idx in expl.groups.values()])
        for j, idx in enumerate(expl.groups.values()):
            if len(idx) > 1:  # one-hot group: colour by which of its parts is active
                data[:, j] = np.argmax(expl.data[:, idx], axis=1)
    else:
        names, vals, data = expl.feature_names, expl.values, expl.data
    try:
        data = data.astype(np.float64)
    except (TypeError, ValueError):
        data = None
    return shap.Explanation(values=vals[take], base_values=np.full(len(vals[take]), expl.base_value),
                            data=None if data is None else data[take], feature_names=names)


def beeswarm_figure(expl: ShapExplanation, max_display: int = 15, max_rows: int = 2000) -> Any:
    """SHAP beeswarm (summary) plot of the original columns."""
    import matplotlib.pyplot as plt
    import shap

    plt.figure(figsize=(8, 6))
    shap.plots.beeswarm(_explanation(expl, True, max_rows), max_display=max_display, show=False)
    fig = plt.gcf()
    fig.tight_layout()
    return fig


def dependence_figure(expl: ShapExplanation, feature: str, max_rows: int = 2000) -> Any:
    """SHAP dependence plot: a transformed feature's value against its SHAP value."""
    import matplotlib.pyplot as plt

    j = expl.feature_names.index(feature)
    take = min(max_rows, len(expl.values))
    fig, ax = plt.subplots(figsize=(6, 4))
    x = expl.data[:take, j].astype(np.float64)
    ax.scatter(x, expl.values[:take, j], s=5, alpha=0.4)
    ax.axhline(0, color="grey", lw=1)
    ax.set_xlabel(feature)
    ax.set_ylabel(f"SHAP value of {feature}")
    ax.set_title(f"Dependence: {feature}")
    fig.tight_layout()
    return fig


def local_explanations(expl: ShapExplanation, positions: list[int], top: int = 8) -> list[dict[str, Any]]:
    """For each explained row position: the base value, the output and the largest contributions."""
    names, vals = expl.grouped_values()
    out = []
    for p in positions:
        order = np.argsort(-np.abs(vals[p]))[:top]
        out.append({
            "row": int(expl.row_index[p]),
            "base_value": expl.base_value,
            "output": float(expl.base_value + vals[p].sum()),
            "contributions": [{"feature": names[j], "shap": float(vals[p, j])} for j in order],
        })
    return out


def waterfall_figure(expl: ShapExplanation, position: int, max_display: int = 10) -> Any:
    """SHAP waterfall plot of one row (original columns)."""
    import matplotlib.pyplot as plt
    import shap

    plt.figure(figsize=(8, 5))
    shap.plots.waterfall(_explanation(expl, True, len(expl.values))[position], max_display=max_display, show=False)
    fig = plt.gcf()
    fig.tight_layout()
    return fig
