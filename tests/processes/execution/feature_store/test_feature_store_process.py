"""The ``feature-store`` process end to end on bike-sharing hours keyed by a synthetic station id: apply,
materialize, gates, a training set as a dataset version, a breaking change approved and rejected, a stale
online store failing the gate, and bad input that leaves the store as it was."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlsitter
import realdata
from mlsitter.ml import features as F

SPEC = """
timestamp: ts
entities: [{name: station, join_key: station_id}]
feature_views:
  - {name: weather, entities: [station], ttl: 10h, features: [temp, hum, windspeed], freshness_sla: 2h}
  - {name: demand, entities: [station], ttl: 0, features: [cnt, casual]}
"""


def write_bike(path: Path, rows: int) -> pd.DataFrame:
    bike = realdata.bike_hour().head(rows).copy()
    bike["ts"] = pd.to_datetime(bike["dteday"]).dt.tz_localize("UTC") + pd.to_timedelta(bike["hr"], unit="h")
    bike["station_id"] = bike["instant"] % 5
    frame = bike[["station_id", "ts", "temp", "hum", "windspeed", "cnt", "casual"]]
    frame.to_parquet(path, index=False)
    return frame


def as_of(frame: pd.DataFrame) -> str:
    return frame["ts"].max().isoformat()


def test_apply_materialize_gate_and_training_set_as_a_dataset_version(tmp_path, mlsitter_home):
    frame = write_bike(tmp_path / "bike.parquet", 1_500)
    rng = np.random.default_rng(0)
    entities = pd.DataFrame({"station_id": rng.integers(0, 6, 200),
                             "event_timestamp": frame["ts"].sample(200, random_state=0).reset_index(drop=True),
                             "label": rng.integers(0, 2, 200)})
    entities.to_csv(tmp_path / "entities.csv", index=False)
    run = mlsitter.run("feature-store", approve="auto", data=str(tmp_path / "bike.parquet"), spec=SPEC, project="bikes",
                       as_of=as_of(frame), entities=str(tmp_path / "entities.csv"))
    assert run.status == "completed", run.error
    r = run.result
    assert r.repo == str(mlsitter_home / "feature_store" / "bikes") and r.applied and r.consistency_pct == 100.0
    assert r.freshness == {"weather": 0.0, "demand": 0.0} and r.gate_failures == []
    training = pd.read_parquet(r.training_set_path)
    assert len(training) == 200 and {"temp", "cnt", "label"} <= set(training.columns)
    assert r.rows_without_value["demand"] >= int((entities["station_id"] == 5).sum()) > 0
    manifest = json.loads((Path(r.training_set_path).parent / "manifest.json").read_text())
    assert manifest["version"] == r.dataset_version
    assert manifest["extra"]["feature_definition_version"] == r.definition_version
    history = F.definition_history(r.repo)
    assert [h.version for h in history] == [r.definition_version]
    assert "Definition history" in Path(r.report).read_text() and r.definition_version in Path(r.report).read_text()
    assert mlsitter.Store().verify(run.run_id).ok

    again = mlsitter.run("feature-store", approve="auto", data=str(tmp_path / "bike.parquet"), spec=SPEC,
                         project="bikes", as_of=as_of(frame))
    assert again.status == "completed" and not again.result.applied and again.result.changes == []
    assert len(F.definition_history(r.repo)) == 1


def test_a_breaking_change_waits_and_rejecting_keeps_the_applied_version(tmp_path):
    frame = write_bike(tmp_path / "bike.parquet", 800)
    inputs = dict(data=str(tmp_path / "bike.parquet"), project="bikes", as_of=as_of(frame))
    first = mlsitter.run("feature-store", approve="auto", spec=SPEC, **inputs)
    assert first.status == "completed", first.error
    shorter = SPEC.replace("ttl: 10h, features: [temp, hum, windspeed]", "ttl: 2h, features: [temp, hum]")
    waiting = mlsitter.run("feature-store", spec=shorter, **inputs)
    assert waiting.status == "waiting"
    question = waiting.waiting["question"]
    assert "BREAKING removed view weather feature windspeed" in question and "BREAKING ttl view weather" in question
    failed = mlsitter.reject(waiting.run_id, feedback="models still read windspeed", by="lee", resume=True)
    assert failed.status == "failed" and "unchanged" in failed.error and "lee" in failed.error
    repo = first.result.repo
    assert [h.version for h in F.definition_history(repo)] == [first.result.definition_version]
    assert "windspeed" in {f.name for f in F.open_store(repo).get_feature_view("weather").features}

    waiting = mlsitter.run("feature-store", spec=shorter, **inputs)
    done = mlsitter.approve(waiting.run_id, by="dana", resume=True)
    assert done.status == "completed", done.error
    history = F.definition_history(repo)
    assert len(history) == 2 and history[-1].applied_by == "approved by dana"
    assert {f.name for f in F.open_store(repo).get_feature_view("weather").features} == {"temp", "hum"}


def test_a_stale_online_store_fails_the_consistency_gate_naming_features_and_rows(tmp_path):
    frame = write_bike(tmp_path / "bike.parquet", 800)
    early = frame.iloc[:500]
    early.to_parquet(tmp_path / "early.parquet", index=False)
    first = mlsitter.run("feature-store", approve="auto", data=str(tmp_path / "early.parquet"), spec=SPEC,
                         project="bikes", as_of=as_of(early))
    assert first.status == "completed", first.error
    # New rows land in the offline source, but the online store is not materialized again.
    stale = mlsitter.run("feature-store", approve="auto", data=str(tmp_path / "bike.parquet"), spec=SPEC,
                         project="bikes", as_of=as_of(frame), materialization="none")
    assert stale.status == "failed"
    assert "gate 'freshness-weather' failed" in stale.error
    relaxed = mlsitter.run("feature-store", approve="auto", data=str(tmp_path / "bike.parquet"),
                           spec=SPEC.replace(", freshness_sla: 2h", ""), project="bikes", as_of=as_of(frame),
                           materialization="none")
    assert relaxed.status == "failed"
    assert "gate 'consistency' failed" in relaxed.error and "cnt" in relaxed.error and "station_id" in relaxed.error


@pytest.mark.parametrize("spec, data_change, message", [
    (SPEC.replace("timestamp: ts", "timestamp: when"), None, "timestamp column 'when' is not in"),
    (SPEC.replace("[temp, hum, windspeed]", "[temp, rain]"), None, r"feature columns \['rain'\] are not in"),
    (SPEC, "null-key", "join key 'station_id' has 1 null values"),
])
def test_bad_input_fails_clearly_and_leaves_the_store_as_it_was(tmp_path, spec, data_change, message):
    frame = write_bike(tmp_path / "bike.parquet", 300)
    first = mlsitter.run("feature-store", approve="auto", data=str(tmp_path / "bike.parquet"), spec=SPEC,
                         project="bikes", as_of=as_of(frame))
    assert first.status == "completed", first.error
    repo = Path(first.result.repo)
    before = {p.name: p.read_bytes() for p in [repo / "definitions.jsonl", repo / "data" / "registry.db",
                                               repo / "data" / "sources" / "data.parquet"]}
    bad = frame.astype({"station_id": "float"})
    if data_change == "null-key":
        bad.loc[7, "station_id"] = np.nan
    bad.drop(columns=["hum"]).to_parquet(tmp_path / "bad.parquet", index=False)
    failed = mlsitter.run("feature-store", approve="auto", data=str(tmp_path / "bad.parquet"), spec=spec,
                          project="bikes", as_of=as_of(frame))
    assert failed.status == "failed"
    import re

    assert re.search(message, failed.error), failed.error
    after = {p.name: p.read_bytes() for p in [repo / "definitions.jsonl", repo / "data" / "registry.db",
                                              repo / "data" / "sources" / "data.parquet"]}
    assert after == before


def test_an_empty_entity_frame_is_refused(tmp_path):
    frame = write_bike(tmp_path / "bike.parquet", 300)
    pd.DataFrame({"station_id": [], "event_timestamp": []}).to_csv(tmp_path / "none.csv", index=False)
    failed = mlsitter.run("feature-store", approve="auto", data=str(tmp_path / "bike.parquet"), spec=SPEC,
                          project="bikes", as_of=as_of(frame), entities=str(tmp_path / "none.csv"))
    assert failed.status == "failed" and "the entity frame is empty" in failed.error


def test_training_takes_the_training_set_and_records_its_dataset_version(tmp_path):
    from mlsitter.ml import registry

    frame = write_bike(tmp_path / "bike.parquet", 1_500)
    later = frame.iloc[200:1_400].reset_index(drop=True)
    entities = pd.DataFrame({"station_id": later["station_id"], "event_timestamp": later["ts"] + pd.Timedelta(hours=1),
                             "busy": (later["cnt"] > later["cnt"].median()).astype(int)})
    entities.to_parquet(tmp_path / "entities.parquet", index=False)
    store = mlsitter.run("feature-store", approve="auto", data=str(tmp_path / "bike.parquet"), spec=SPEC, project="bikes",
                         as_of=as_of(frame), entities=str(tmp_path / "entities.parquet"), features=["weather"])
    assert store.status == "completed", store.error
    r = store.result
    trained = mlsitter.run("training", approve="auto", data=r.training_set_path, dataset_version=r.dataset_version,
                           target="busy", family="linear", trials=1, folds=2, parallel=1, model_name="bikes-busy",
                           drop=["event_timestamp", "station_id"], max_cv_test_gap=1.0, max_cv_std=1.0)
    assert trained.status == "completed", trained.error
    assert trained.result.dataset_version == r.dataset_version
    assert registry.lineage("bikes-busy@challenger")["dataset"]["dataset_version"] == r.dataset_version
    manifest = json.loads((Path(r.training_set_path).parent / "manifest.json").read_text())
    assert manifest["extra"]["feature_definition_version"] == r.definition_version
