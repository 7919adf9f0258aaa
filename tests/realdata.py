"""Loaders for the real datasets in ../shared/data, shared by every test module.

Each loader reads the file as published (see ../shared/data/SOURCES.md) and returns a pandas frame;
``path()`` gives the raw file for tests that drive the CLI with a path.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
    "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week",
    "native-country", "class",
]


def data_dir() -> Path:
    """The shared data folder: $MLSITTER_SHARED_DATA, else ../shared/data beside the repository."""
    env = os.environ.get("MLSITTER_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def path(relative: str) -> Path:
    """Path of one shared data file; skips the test (with the reason) where it is missing."""
    p = data_dir() / relative
    if not p.exists():
        pytest.skip(f"shared dataset {p} is not present")
    return p


def adult(split: str = "train") -> pd.DataFrame:
    frame = pd.read_csv(
        path(f"adult/adult-{split}.csv"), header=None, names=ADULT_COLUMNS,
        skipinitialspace=True, na_values="?",
    )
    frame["class"] = frame["class"].str.rstrip(".")
    return frame


def bank(full: bool = True) -> pd.DataFrame:
    name = "bank-additional-full.csv" if full else "bank-additional.csv"
    return pd.read_csv(path(f"bank_marketing/{name}"), sep=";")


def bike_hour() -> pd.DataFrame:
    return pd.read_csv(path("bike_sharing/hour.csv"), parse_dates=["dteday"])


def titanic() -> pd.DataFrame:
    return pd.read_csv(path("titanic/titanic_kaggle_train.csv"))


def german_credit() -> pd.DataFrame:
    frame = pd.read_csv(path("credit/german_credit.csv"), header=None)
    frame.columns = [f"a{i}" for i in range(1, frame.shape[1])] + ["class"]
    return frame
