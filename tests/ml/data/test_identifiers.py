"""Identifier columns are found by one shared rule and dropped, with a warning, when no charter decides."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlsitter.ml.data._identifiers import find_identifiers
from mlsitter.processes.common.training_setup import dropped_note, identifier_warning, prepare_data


def _table(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    order = rng.permutation(n)
    return pd.DataFrame({
        "ID": order + 1,  # a shuffled row counter
        "customer_id": rng.choice(10_000_000, n, replace=False),  # unique integers named like an id
        "ticket": [f"T-{v:06d}" for v in rng.choice(999_999, n, replace=False)],  # unique text
        "income": rng.normal(50_000, 9_000, n),  # unique floats: a measurement
        "visits": rng.choice(5_000, n, replace=False),  # unique integers, no id name, not a counter
        "grade": rng.integers(1, 6, n),
        "city": rng.choice(["Oslo", "Rome", "Lima"], n),
        "default": rng.integers(0, 2, n),
    })


def test_identifiers_are_unique_text_counters_or_id_named_integers():
    found = {f.column: f.evidence for f in find_identifiers(_table(), exclude=["default"])}
    assert set(found) == {"ID", "customer_id", "ticket"}
    assert "row counter" in found["ID"] and "1..200" in found["ID"]
    assert find_identifiers(_table(10)) == []  # too few rows to call anything unique


def test_training_setup_drops_identifiers_when_nothing_decided_the_features(tmp_path):
    path = tmp_path / "credit.csv"
    _table().to_csv(path, index=False)
    kept = prepare_data(data=str(path), target="default", drop=["grade"], exclude=["city"])  # a charter decided
    assert "ID" in kept.X_train.columns and identifier_warning(kept, ["grade", "city"]) == ""
    piped = prepare_data(data=str(path), target="default", inputs=["ID", "income"])  # a feature pipeline decided
    assert list(piped.X_train.columns) == ["ID", "income"]
    prep = prepare_data(data=str(path), target="default", drop=["grade"])
    assert not {"ID", "customer_id", "ticket", "grade"} & (set(prep.X_train.columns) | set(prep.X_test.columns))
    assert {"income", "visits", "city"} <= set(prep.X_train.columns)
    warning = identifier_warning(prep, ["grade"])
    assert "ID, customer_id, ticket" in warning and "grade" not in warning and "charter" in warning
    assert "grade, ID, customer_id, ticket" in dropped_note(prep)
