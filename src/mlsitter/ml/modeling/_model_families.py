"""Model families as sklearn pipelines: estimator per family and task, with the preprocessing that
family needs (scaled one-hot for linear and k-NN, ordinal codes for trees, native NaN for boosters).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from mlsitter.errors import DataError
from mlsitter.ml.metrics._scoring import CLASSIFICATION
from mlsitter.ml.modeling._search_space import check_family
from mlsitter.naming import stable_name

SCALED_ONE_HOT = {"linear", "knn"}
NATIVE_MISSING = {"hist_gradient_boosting", "lightgbm", "xgboost"}


@stable_name("ml.modeling.ColumnKinds")
@dataclass
class ColumnKinds:
    """Feature columns by kind, read once from the training frame."""

    numeric: list[str]
    categorical: list[str]
    datetime: list[str]


def column_kinds(frame: pd.DataFrame) -> ColumnKinds:
    """Split columns into numeric (incl. bool), datetime and categorical (everything else)."""
    numeric, categorical, dates = [], [], []
    for name, dtype in frame.dtypes.items():
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
            numeric.append(str(name))
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            dates.append(str(name))
        else:
            categorical.append(str(name))
    if not (numeric or categorical or dates):
        raise DataError("no feature columns left after removing the target; expected at least one column")
    return ColumnKinds(numeric, categorical, dates)


def expand_datetimes(frame: pd.DataFrame) -> pd.DataFrame:
    """Replace each datetime column by numeric year, month, day, day-of-week, hour parts."""
    out = frame.copy()
    for name in [c for c in out.columns if pd.api.types.is_datetime64_any_dtype(out[c])]:
        values = out.pop(name)
        out[f"{name}_year"] = values.dt.year.astype("float64")
        out[f"{name}_month"] = values.dt.month.astype("float64")
        out[f"{name}_day"] = values.dt.day.astype("float64")
        out[f"{name}_dayofweek"] = values.dt.dayofweek.astype("float64")
        out[f"{name}_hour"] = values.dt.hour.astype("float64")
    return out


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns as strings (missing kept as NaN) so encoders see one type."""
    return frame.apply(lambda col: col.astype("object").where(col.notna(), np.nan).map(lambda v: v if v is np.nan else str(v)))


class EncodedTargetClassifier(ClassifierMixin, BaseEstimator):
    """Wraps a classifier that needs labels 0..k-1 (XGBoost): encodes ``y`` in fit, decodes in predict."""

    def __init__(self, estimator: Any = None) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any, **fit_params: Any) -> "EncodedTargetClassifier":
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        self.estimator_ = clone(self.estimator).fit(X, codes, **fit_params)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """One column per class seen in fit, as sklearn's classifiers give: XGBoost fitted on a single class
        still answers two columns, which no longer match ``classes_`` (scorers read them in that order)."""
        proba = np.asarray(self.estimator_.predict_proba(X))
        if proba.shape[1] == len(self.classes_):
            return proba
        kept = proba[:, :len(self.classes_)]
        return kept / kept.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    @property
    def feature_importances_(self) -> np.ndarray:
        return self.estimator_.feature_importances_


def make_estimator(family: str, task: str, params: Mapping[str, Any], seed: int, n_jobs: int = 1) -> Any:
    """The bare estimator of ``family`` for ``task`` with ``params`` applied."""
    name = check_family(family)
    p = dict(params)
    cls = task == CLASSIFICATION
    if name == "linear":
        from sklearn.linear_model import LogisticRegression, Ridge

        if cls:
            return LogisticRegression(max_iter=2000, random_state=seed, **p)
        return Ridge(random_state=seed, **p)
    if name == "knn":
        from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

        return (KNeighborsClassifier if cls else KNeighborsRegressor)(n_jobs=n_jobs, **p)
    if name in ("random_forest", "extra_trees"):
        from sklearn import ensemble

        kind = {"random_forest": "RandomForest", "extra_trees": "ExtraTrees"}[name]
        cls_name = kind + ("Classifier" if cls else "Regressor")
        return getattr(ensemble, cls_name)(random_state=seed, n_jobs=n_jobs, **p)
    if name == "hist_gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        p.setdefault("categorical_features", "from_dtype")
        return (HistGradientBoostingClassifier if cls else HistGradientBoostingRegressor)(random_state=seed, **p)
    if name == "lightgbm":
        import lightgbm as lgb

        if "subsample" in p:
            p.setdefault("subsample_freq", 1)
        return (lgb.LGBMClassifier if cls else lgb.LGBMRegressor)(random_state=seed, n_jobs=n_jobs, verbose=-1, **p)
    import xgboost as xgb

    model = (xgb.XGBClassifier if cls else xgb.XGBRegressor)(
        random_state=seed, n_jobs=n_jobs, tree_method="hist", verbosity=0, **p)
    return EncodedTargetClassifier(model) if cls else model


def build_pipeline(family: str, task: str, params: Mapping[str, Any], kinds: ColumnKinds, seed: int,
                   n_jobs: int = 1, features: Any = None) -> Any:
    """Preprocessing chosen for ``family`` + its estimator, as one sklearn Pipeline that takes the raw frame.

    ``features`` (an unfitted transformer, e.g. the pipeline ``features`` designed) replaces the per-family
    preprocessing; it is cloned, so every fit (each CV fold) refits it on its own training rows.
    """
    from sklearn.base import clone
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

    name = check_family(family)
    if features is not None:
        estimator_params = {**params, **({"categorical_features": None} if name == "hist_gradient_boosting" else {})}
        return Pipeline([("features", clone(features)), ("model", make_estimator(name, task, estimator_params, seed, n_jobs))])
    numeric = list(kinds.numeric) + [f"{d}_{p}" for d in kinds.datetime for p in ("year", "month", "day", "dayofweek", "hour")]
    text = FunctionTransformer(_as_text, feature_names_out="one-to-one")
    parts: list[tuple[str, Any, list[str]]] = []
    if name in SCALED_ONE_HOT:
        if numeric:
            parts.append(("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), numeric))
        if kinds.categorical:
            parts.append(("cat", make_pipeline(
                text, SimpleImputer(strategy="constant", fill_value="(missing)"),
                OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=30, sparse_output=False),
            ), kinds.categorical))
    else:
        if numeric:
            parts.append(("num", "passthrough" if name in NATIVE_MISSING else SimpleImputer(strategy="median"), numeric))
        if kinds.categorical:
            missing = np.nan if name in NATIVE_MISSING else -1
            parts.append(("cat", make_pipeline(text, OrdinalEncoder(
                handle_unknown="use_encoded_value", unknown_value=missing, encoded_missing_value=missing,
                max_categories=250, dtype=np.float64)), kinds.categorical))
    columns = ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)
    estimator_params = dict(params)
    if name == "hist_gradient_boosting" and kinds.categorical:
        estimator_params["categorical_features"] = [False] * len(numeric) + [True] * len(kinds.categorical)
    elif name == "hist_gradient_boosting":
        estimator_params["categorical_features"] = None
    steps = [
        ("datetimes", FunctionTransformer(expand_datetimes)),
        ("columns", columns),
        ("model", make_estimator(name, task, estimator_params, seed, n_jobs)),
    ]
    return Pipeline(steps)


def feature_names(pipeline: Any) -> list[str]:
    """Names of the columns the pipeline's model sees."""
    return [str(n) for n in pipeline.named_steps["columns"].get_feature_names_out()]


def model_size_bytes(model: Any) -> int:
    """Size of the pickled model, a proxy for its footprint in serving."""
    import pickle

    return len(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
