"""Small real models and tables for the validation-process tests: models trained here on samples of
Adult (so the tests do not depend on the registry) and saved with joblib, plus a synthetic A/B table."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd

import realdata

ROWS = 3000


def adult_samples(rows: int = ROWS) -> tuple[pd.DataFrame, pd.DataFrame]:
    train = realdata.adult("train").sample(rows, random_state=0).reset_index(drop=True)
    test = realdata.adult("test").sample(rows, random_state=1).reset_index(drop=True)
    return train, test


def logistic_pipeline(train: pd.DataFrame):
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = train.drop(columns="class"), train["class"]
    cat = [c for c in X.columns if X[c].dtype == object]
    num = [c for c in X.columns if c not in cat]
    pre = make_column_transformer(
        (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num),
        (make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")), cat),
    )
    return make_pipeline(pre, LogisticRegression(max_iter=500)).fit(X, y)


def lightgbm_pipeline(train: pd.DataFrame):
    from lightgbm import LGBMClassifier
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder

    X, y = train.drop(columns="class"), train["class"]
    cat = [c for c in X.columns if X[c].dtype == object]
    num = [c for c in X.columns if c not in cat]
    pre = make_column_transformer(
        ("passthrough", num),
        (OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1), cat),
    )
    model = LGBMClassifier(n_estimators=60, num_leaves=15, learning_rate=0.1, verbose=-1, n_jobs=1, random_state=0)
    return make_pipeline(pre, model).fit(X, y)


def write_adult_case(folder: Path, kind: str = "logistic") -> dict[str, str]:
    """Train on an Adult sample, save the model (joblib) and a test sample (CSV); return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    train, test = adult_samples()
    model = logistic_pipeline(train) if kind == "logistic" else lightgbm_pipeline(train)
    model_path = folder / f"adult-{kind}.joblib"
    joblib.dump(model, model_path)
    data_path = folder / "adult-test-sample.csv"
    test.to_csv(data_path, index=False)
    return {"model": str(model_path), "data": str(data_path)}


def ab_table(n: int = 8000, lift: float = 1.0, seed: int = 0, treatment_share: float = 0.5) -> pd.DataFrame:
    """Unit-level A/B data: conversion, revenue with a pre-period covariate, latency, time and country."""
    rng = np.random.default_rng(seed)
    variant = np.where(rng.random(n) < treatment_share, "treatment", "control")
    treated = variant == "treatment"
    pre = rng.gamma(2.0, 10.0, n)
    return pd.DataFrame({
        "unit": np.arange(n),
        "variant": variant,
        "converted": (rng.random(n) < np.where(treated, 0.13, 0.10)).astype(int),
        "revenue": pre * 0.8 + rng.normal(0, 6, n) + np.where(treated, lift, 0.0),
        "pre_revenue": pre,
        "latency_ms": rng.normal(200, 20, n),
        "ts": pd.date_range("2026-01-01", periods=n, freq="min"),
        "country": rng.choice(["US", "DE", "FR"], n),
    })
