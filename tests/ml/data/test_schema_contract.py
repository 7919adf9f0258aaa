"""Schema contracts: inferred from real data, saved as editable files, diffed, enforced and updated."""

from __future__ import annotations

import pandas as pd
import pytest

import realdata
from mlsitter.errors import SpecError
from mlsitter.ml.data._schema_contract import (
    contract_hash,
    diff_contract,
    enforce_contract,
    infer_contract,
    load_contract,
    save_contract,
    update_contract,
)


@pytest.fixture(scope="module")
def adult():
    return realdata.adult()


def test_infer_records_types_nullability_ranges_categories_and_keys(adult):
    schema = infer_contract(adult.assign(row_id=range(len(adult))), name="adult")
    cols = schema.columns
    assert str(cols["age"].dtype) == "int64" and not cols["age"].nullable
    assert cols["workclass"].nullable and not cols["education"].nullable
    age_range = next(c for c in cols["age"].checks if c.name == "in_range").statistics
    assert (age_range["min_value"], age_range["max_value"]) == (17, 90)
    sex = next(c for c in cols["sex"].checks if c.name == "isin").statistics["allowed_values"]
    assert sorted(sex) == ["Female", "Male"]
    assert cols["row_id"].unique and not cols["age"].unique


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_saved_contract_is_readable_and_round_trips(tmp_path, adult, suffix):
    schema = infer_contract(adult, name="adult")
    path = save_contract(schema, tmp_path / f"contract{suffix}")
    text = path.read_text()
    assert "workclass" in text and "Self-emp-inc" in text
    again = load_contract(path)
    assert contract_hash(again) == contract_hash(schema)


def test_a_hand_edit_changes_enforcement(tmp_path, adult):
    path = save_contract(infer_contract(adult, name="adult"), tmp_path / "c.yaml")
    path.write_text(path.read_text().replace("max_value: 90", "max_value: 80"))
    violations = enforce_contract(load_contract(path), adult)
    assert violations.failing_rows == int((adult["age"] > 80).sum()) > 0
    assert violations.by_check[0]["column"] == "age"
    assert "age: in_range(17, 80)" in next(iter(violations.row_reasons.values()))[0]


def test_malformed_or_missing_contract_is_a_spec_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns: [this is not: a schema\n")
    with pytest.raises(SpecError, match="is not a valid pandera schema file"):
        load_contract(bad)
    with pytest.raises(SpecError, match="does not exist"):
        load_contract(tmp_path / "nope.yaml")


def test_diff_and_update_cover_every_kind_of_change(adult):
    schema = infer_contract(adult.head(5000), name="adult")
    assert not diff_contract(schema, adult.head(5000)).has_changes
    changed = adult.head(5000).drop(columns=["fnlwgt"]).assign(
        bonus=1.0, age=adult["age"].head(5000).astype(float),
        race=adult["race"].head(5000).where(adult.index[:5000] > 2, "Martian"),
    )
    diff = diff_contract(schema, changed)
    assert diff.added_columns == ["bonus"] and diff.removed_columns == ["fnlwgt"]
    assert diff.type_changes == [{"column": "age", "contract": "int64", "data": "float64"}]
    assert diff.new_categories == {"race": ["Martian"]}
    assert diff.lines() == ["+ column bonus", "- column fnlwgt", "~ age: type int64 -> float64", "~ race: new categories 'Martian'"]
    violations = enforce_contract(schema, changed)
    assert violations.column_problems  # removed column / dtype reported at column level
    updated = update_contract(schema, changed, diff)
    assert not diff_contract(updated, changed).has_changes
    assert enforce_contract(updated, changed).failing_rows == 0


def test_enforce_reports_nulls_and_duplicates_per_row():
    frame = pd.DataFrame({"id": list(range(60)), "v": ["a", "b"] * 30})
    schema = infer_contract(frame)
    bad = pd.concat([frame, pd.DataFrame({"id": [5, 61], "v": [None, "a"]})], ignore_index=True)
    violations = enforce_contract(schema, bad)
    assert violations.failing_rows == 3  # both id=5 rows and the null
    assert any("missing value" in r for r in violations.row_reasons[60])
    assert any("duplicate value" in r for r in violations.row_reasons[5])


def test_compiled_checks_match_pandera(adult, tmp_path):
    sample = adult.head(3000).copy()
    sample.loc[[3, 7], "sex"] = "Unknown"
    sample.loc[[5], "education"] = None
    sample = pd.concat([sample, sample.head(2)], ignore_index=True).assign(row_id=list(range(3000)) + [0, 1])
    schema = infer_contract(adult.head(3000).assign(row_id=range(3000)))
    fast = enforce_contract(schema, sample)
    slow = enforce_contract(schema, sample, engine="pandera")
    assert fast.failing_rows == slow.failing_rows > 0
    assert {k: sorted(v) for k, v in fast.row_reasons.items()} == {k: sorted(v) for k, v in slow.row_reasons.items()}
    assert fast.row_reasons[3] == ["sex: isin(['Female', 'Male'])"]
