"""Small sklearn transformers the feature pipeline needs beyond sklearn's own: datetime parts,
column ratios/products and text hashing. Top-level classes so a fitted pipeline pickles and reloads.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import HashingVectorizer

DATETIME_PARTS = ("year", "month", "day", "dayofweek", "hour")


def _frame(X, columns) -> pd.DataFrame:
    return X if isinstance(X, pd.DataFrame) else pd.DataFrame(X, columns=columns)


class DatetimeParts(BaseEstimator, TransformerMixin):
    """Year, month, day, day of week and hour of each datetime (or date string) column; NaT -> NaN."""

    def __init__(self, parts: tuple[str, ...] = DATETIME_PARTS) -> None:
        self.parts = parts

    def fit(self, X, y=None):
        self.feature_names_in_ = np.asarray(list(X.columns) if isinstance(X, pd.DataFrame) else
                                            [f"x{i}" for i in range(np.asarray(X).shape[1])], dtype=object)
        return self

    def transform(self, X):
        frame = _frame(X, self.feature_names_in_)
        out = []
        for column in self.feature_names_in_:
            times = pd.to_datetime(frame[column], errors="coerce")
            for part in self.parts:
                out.append(getattr(times.dt, part).astype(float).to_numpy())
        return np.column_stack(out) if out else np.empty((len(frame), 0))

    def get_feature_names_out(self, input_features=None):
        cols = self.feature_names_in_ if input_features is None else input_features
        return np.asarray([f"{c}_{p}" for c in cols for p in self.parts], dtype=object)


class ColumnArithmetic(BaseEstimator, TransformerMixin):
    """Pairwise ``a/b`` (division by zero -> NaN) or ``a*b`` features the user asked for."""

    def __init__(self, pairs: tuple[tuple[str, str], ...] = (), op: str = "ratio") -> None:
        self.pairs = pairs
        self.op = op

    def fit(self, X, y=None):
        self.feature_names_in_ = np.asarray(list(X.columns), dtype=object)
        return self

    def transform(self, X):
        frame = _frame(X, self.feature_names_in_)
        out = []
        for a, b in self.pairs:
            left = pd.to_numeric(frame[a], errors="coerce").astype(float).to_numpy()
            right = pd.to_numeric(frame[b], errors="coerce").astype(float).to_numpy()
            if self.op == "ratio":
                with np.errstate(divide="ignore", invalid="ignore"):
                    value = np.where(right == 0, np.nan, left / np.where(right == 0, 1.0, right))
            else:
                value = left * right
            out.append(value)
        return np.column_stack(out) if out else np.empty((len(frame), 0))

    def get_feature_names_out(self, input_features=None):
        sign = "_per_" if self.op == "ratio" else "_x_"
        return np.asarray([f"{a}{sign}{b}" for a, b in self.pairs], dtype=object)


class TextHashing(BaseEstimator, TransformerMixin):
    """Hash the words of each text column into ``n_features`` counts (stateless, so train = serve)."""

    def __init__(self, n_features: int = 32) -> None:
        self.n_features = n_features

    def fit(self, X, y=None):
        self.feature_names_in_ = np.asarray(list(X.columns), dtype=object)
        return self

    def transform(self, X):
        frame = _frame(X, self.feature_names_in_)
        vectorizer = HashingVectorizer(n_features=self.n_features, alternate_sign=False, norm=None)
        blocks = [vectorizer.transform(frame[c].fillna("").astype(str)).toarray() for c in self.feature_names_in_]
        return np.hstack(blocks) if blocks else np.empty((len(frame), 0))

    def get_feature_names_out(self, input_features=None):
        return np.asarray([f"{c}_hash{i}" for c in self.feature_names_in_ for i in range(self.n_features)],
                          dtype=object)


class MissingAsNaN(BaseEstimator, TransformerMixin):
    """Treat ``None`` (and pandas NA) in text columns as NaN, so the imputer sees them as missing.

    Frames read from CSV hold NaN but the same frame through Parquet or JSON holds ``None``;
    SimpleImputer would keep ``None`` as a category of its own and train and serve would disagree."""

    def fit(self, X, y=None):
        self.feature_names_in_ = np.asarray(list(X.columns), dtype=object) if isinstance(X, pd.DataFrame) else None
        return self

    def transform(self, X):
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        out = frame.astype(object)
        return out.where(out.notna(), np.nan)

    def get_feature_names_out(self, input_features=None):
        return np.asarray(input_features if input_features is not None else self.feature_names_in_, dtype=object)
