"""Quality dimensions, consistency rules, quarantine and dataset versions as building blocks."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import realdata
from mlsitter.errors import SpecError
from mlsitter.ml.data import _quality as quality
from mlsitter.ml.data._dataset_version import content_hash, latest_version, lineage, register_version
from mlsitter.ml.data._quarantine import REASON_COLUMN, ROW_COLUMN, split_rows, write_split


@pytest.fixture(scope="module")
def bike():
    return realdata.bike_hour()


def test_timeliness_finds_the_165_missing_hours_and_judges_freshness(bike):
    dim = quality.timeliness(bike, "dteday + hr hours")
    assert dim.failing == 165 and dim.score == pytest.approx(100 * 17379 / 17544, abs=1e-3)
    fresh = quality.timeliness(bike, "dteday + hr hours", as_of="2013-01-01T12:00:00+00:00", max_age="36h")
    assert fresh.score > 99 and "fresh" in fresh.summary
    stale = quality.timeliness(bike, "dteday + hr hours", as_of="2013-03-01T00:00:00+00:00", max_age="36h")
    assert stale.score == 0 and "STALE" in stale.summary
    with pytest.raises(SpecError, match="max_age 'soon'"):
        quality.timeliness(bike, "dteday", max_age="soon")


def test_consistency_rules_on_bike_sharing(bike):
    dim = quality.consistency(bike, ["casual + registered == cnt", "hum > 0", "(temp - atemp) * 2 <= 1"])
    per_rule = {r["rule"]: r["failing_rows"] for r in dim.details["rules"]}
    assert per_rule["casual + registered == cnt"] == 0
    assert per_rule["hum > 0"] == int((bike["hum"] <= 0).sum()) == 22
    odd_atemp = (bike["temp"] - bike["atemp"]) * 2 > 1  # the known broken atemp readings of August 2012
    assert per_rule["(temp - atemp) * 2 <= 1"] == int(odd_atemp.sum()) > 0
    expected = int(((bike["hum"] <= 0) | odd_atemp).sum())
    assert dim.failing == expected and dim.score == pytest.approx(100 * (1 - expected / len(bike)), abs=1e-3)
    with pytest.raises(SpecError, match="column 'humidity' is not in the data"):
        quality.parse_rule("humidity > 0", list(bike.columns))
    with pytest.raises(SpecError, match="expected 'left OP right'"):
        quality.parse_rule("hum", list(bike.columns))


def test_consistency_compares_dates():
    frame = pd.DataFrame({"start": pd.to_datetime(["2024-01-01", "2024-02-01", None]),
                          "end": pd.to_datetime(["2024-01-05", "2024-01-15", "2024-01-01"])})
    dim = quality.consistency(frame, ["start <= end"])
    assert dim.failing == 1 and dim.details["rules"][0]["unjudged_rows"] == 1
    assert dim.details["row_reasons"] == {1: ["rule failed: start <= end"]}


def test_completeness_and_uniqueness_on_adult():
    adult = realdata.adult()
    comp = quality.completeness(adult, required=["occupation"])
    assert set(comp.details["missing_by_column"]) == {"workclass", "occupation", "native-country"}
    assert comp.failing == 1843 and len(comp.details["row_reasons"]) == 1843
    uniq = quality.uniqueness(adult)
    assert uniq.details["duplicate_rows"] == 24 and uniq.failing == 24
    keyed = quality.uniqueness(adult.head(100), keys=["age"])
    assert keyed.details["duplicate_keys"] == 100 - adult.head(100)["age"].nunique()


def test_assess_merges_reasons_and_averages():
    frame = pd.DataFrame({"a": [1, 1, 3], "b": [2, 2, 1]})
    a = quality.assess([quality.uniqueness(frame), quality.consistency(frame, ["a <= b"]), None])
    assert a.overall == pytest.approx((100 * 2 / 3 + 100 * 2 / 3) / 2, abs=1e-3)
    assert a.row_reasons == {1: ["exact duplicate of an earlier row"], 2: ["rule failed: a <= b"]}


def test_quarantine_keeps_row_numbers_and_reasons(tmp_path):
    frame = pd.DataFrame({"x": range(5)})
    clean, bad = split_rows(frame, {1: ["r1", "r1"], 3: ["r2", "r3"]})
    assert list(clean["x"]) == [0, 2, 4]
    assert list(bad[ROW_COLUMN]) == [1, 3] and list(bad[REASON_COLUMN]) == ["r1", "r2; r3"]
    _, tagged = split_rows(frame, {1: ["r1"], 3: ["r2"]}, sources=[("a", 2), ("b", 3)])
    assert list(tagged["_source"]) == ["a", "b"]
    split = write_split(frame, {1: ["r1"]}, tmp_path)
    assert split.clean_rows == 4 and pd.read_parquet(split.quarantine_path)[REASON_COLUMN].tolist() == ["r1"]


def test_dataset_version_same_data_same_id_and_lineage(tmp_path):
    registry = tmp_path / "reg"
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    assert content_hash(frame) == content_hash(frame.copy().set_axis([7, 8, 9]))  # the index does not count
    assert content_hash(frame) != content_hash(frame.assign(a=[1, 2, 4]))
    frame.to_parquet(tmp_path / "v1.parquet")
    common = dict(dataset="toy", schema_sha256="s", sources=[{"name": "toy"}], rows_in=3, rows_quarantined=0, created_at="t")
    first = register_version(tmp_path / "v1.parquet", registry, **common)
    again = register_version(tmp_path / "v1.parquet", registry, **common)
    assert first.version == again.version and first.parent is None and first.version.startswith("dv-")
    frame.assign(a=[1, 2, 4]).to_parquet(tmp_path / "v2.parquet")
    second = register_version(tmp_path / "v2.parquet", registry, **common)
    assert second.parent == first.version and latest_version(registry) == second.version
    assert lineage(registry, second.version) == [second.version, first.version]
    manifest = json.loads((registry / second.version / "manifest.json").read_text())
    assert manifest["rows"] == 3 and manifest["schema_sha256"] == "s" and manifest["sources"] == [{"name": "toy"}]
