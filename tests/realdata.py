"""Loaders for the real datasets in tests/data, shared by every test module (and the benchmarks).

The files are part of the repository: each is the published file gzipped unchanged (see tests/data/SOURCES.md
for origin, shape and licence). Each loader reads one and returns a pandas frame; ``path()`` gives the
published file itself, decompressed once per test process into a private temporary folder, for tests that
drive a process or the CLI with a path (the ingest sniffs delimiter, header and encoding from a file's first
bytes, so it is handed the plain CSV, as published, under its published name). A missing file is an error,
never a skip: the suite has no data outside the repository.
"""

from __future__ import annotations

import atexit
import gzip
import shutil
import tempfile
from pathlib import Path

import pandas as pd

ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
    "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week",
    "native-country", "class",
]


def data_dir() -> Path:
    """The repository's test data folder, tests/data beside this file."""
    return Path(__file__).resolve().parent / "data"


def stored(relative: str) -> Path:
    """The stored (gzipped) file of one dataset file named as published, e.g. ``adult/adult-train.csv``.

    Raises FileNotFoundError naming the file where it is missing (it is part of the repository).
    """
    p = data_dir() / (relative if relative.endswith(".gz") else relative + ".gz")
    if not p.is_file():
        raise FileNotFoundError(f"test dataset {p} is missing; it belongs in the repository (tests/data/SOURCES.md)")
    return p


_plain_dir: Path | None = None


def path(relative: str) -> Path:
    """The published file itself (plain, under its published name), for a test that hands a path to a process
    or the CLI: decompressed from tests/data on first use into a temporary folder this process removes at exit.

    Raises FileNotFoundError naming the file where it is missing from tests/data.
    """
    global _plain_dir
    source = stored(relative)
    if _plain_dir is None:
        _plain_dir = Path(tempfile.mkdtemp(prefix="mlsitter-testdata-"))
        atexit.register(shutil.rmtree, _plain_dir, ignore_errors=True)
    target = _plain_dir / relative.removesuffix(".gz")
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        with gzip.open(source, "rb") as src, partial.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        partial.replace(target)
    return target


def adult(split: str = "train") -> pd.DataFrame:
    frame = pd.read_csv(
        stored(f"adult/adult-{split}.csv"), header=None, names=ADULT_COLUMNS,
        skipinitialspace=True, na_values="?",
    )
    frame["class"] = frame["class"].str.rstrip(".")
    return frame


def bank(full: bool = True) -> pd.DataFrame:
    name = "bank-additional-full.csv" if full else "bank-additional.csv"
    return pd.read_csv(stored(f"bank_marketing/{name}"), sep=";")


def bike_hour() -> pd.DataFrame:
    return pd.read_csv(stored("bike_sharing/hour.csv"), parse_dates=["dteday"])


def titanic() -> pd.DataFrame:
    return pd.read_csv(stored("titanic/titanic_kaggle_train.csv"))


def german_credit() -> pd.DataFrame:
    frame = pd.read_csv(stored("credit/german_credit.csv"), header=None)
    frame.columns = [f"a{i}" for i in range(1, frame.shape[1])] + ["class"]
    return frame


def elec2() -> pd.DataFrame:
    """The Elec2 electricity stream in time order (48 rows a day; see tests/data/SOURCES.md)."""
    return pd.read_csv(stored("elec2/elec.csv"))
