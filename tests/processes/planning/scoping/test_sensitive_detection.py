"""Sensitive attributes found by value as well as by name; a charter with nothing to audit says so and asks."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from mlsitter.processes.planning.scoping.data_availability import assess_availability
from mlsitter.processes.planning.scoping.process import sign_off_question
from mlsitter.processes.planning.scoping.risks import assess_risks, nothing_to_audit


def _coded_credit(n: int = 300) -> pd.DataFrame:
    """Columns coded as in the UCI credit-default table: X2 sex (1/2), X3 education, X4 marriage, X5 age."""
    rng = np.random.default_rng(1)
    return pd.DataFrame({
        "X1": rng.integers(10, 500, n) * 1000, "X2": rng.integers(1, 3, n), "X3": rng.integers(1, 7, n),
        "X4": rng.integers(0, 4, n), "X5": rng.integers(21, 80, n), "X6": rng.normal(0, 1, n),
        "Y": rng.integers(0, 2, n),
    })


def test_coded_columns_become_candidates_and_the_charter_asks():
    availability = assess_availability(_coded_credit(), "Y")
    assert availability.sensitive_attributes == []
    evidence = {c.column: c.evidence for c in availability.sensitive_candidates}
    assert [c.column for c in availability.sensitive_candidates][:2] == ["X2", "X5"]  # two-valued code, then age
    assert "2 coded values (1, 2)" in evidence["X2"] and "ages" in evidence["X5"] and "X3" in evidence
    assert "X1" not in evidence and "X6" not in evidence  # measurements, not groups
    risks = assess_risks(availability, None, audited=[])
    said = next(r.detail for r in risks if r.kind == "fairness")
    assert "nothing to audit" in said and "X2 (2 coded values" in said and "'sensitive: COLUMN'" in said
    assert nothing_to_audit(["X2"], availability) == ""
    assert not [r for r in assess_risks(availability, None, audited=["X2"]) if "nothing to audit" in r.detail]
    charter = SimpleNamespace(name="credit", metric=SimpleNamespace(name="roc_auc", threshold=0.7), sensitive_attributes=[])
    assert "Note: no sensitive attribute was found" in sign_off_question(charter, 80.0, availability)
    charter.sensitive_attributes = ["X2"]
    assert "Note" not in sign_off_question(charter, 80.0, availability)


def test_sex_spelled_in_the_values_is_sensitive_whatever_the_name():
    frame = _coded_credit().assign(X2=lambda f: f["X2"].map({1: "male", 2: "female"}), code=lambda f: f["X3"].astype(str))
    availability = assess_availability(frame, "Y")
    assert availability.sensitive_attributes == ["X2"]
    assert "X2" not in [c.column for c in availability.sensitive_candidates]
    assert nothing_to_audit(availability.sensitive_attributes, availability) == ""
