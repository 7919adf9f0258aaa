"""The feature-store blocks on bike-sharing hourly data keyed by a synthetic station id: point-in-time
training sets against Feast's own retrieval and a leakage trap, online lookups, the offline/online
consistency check (100 %, and a stale online store caught), definition diffs and bad input."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import realdata
from mlsitter.errors import DataError, SpecError
from mlsitter.ml import features as F

SPEC = {
    "timestamp": "ts",
    "entities": [{"name": "station", "join_key": "station_id"}],
    "feature_views": [
        {"name": "weather", "entities": ["station"], "ttl": "10h", "features": ["temp", "hum", "windspeed"]},
        {"name": "demand", "entities": ["station"], "ttl": 0, "features": ["cnt", "casual"]},
    ],
}
STATIONS = 5


def bike_features(rows: int) -> pd.DataFrame:
    """Bike-sharing hours keyed by a synthetic station id (instant mod 5) with the hour as a UTC timestamp."""
    bike = realdata.bike_hour().head(rows).copy()
    bike["ts"] = pd.to_datetime(bike["dteday"]).dt.tz_localize("UTC") + pd.to_timedelta(bike["hr"], unit="h")
    bike["station_id"] = bike["instant"] % STATIONS
    return bike[["station_id", "ts", "temp", "hum", "windspeed", "cnt", "casual"]]


def build_repo(root: Path, frame: pd.DataFrame, spec: dict = SPEC) -> tuple[Path, F.FeatureDefinitions]:
    repo = F.create_local_repo(root, "bikes")
    path, columns = F.stage_source(frame, repo, "data", "ts")
    defs = F.parse_definitions(spec, {"data": columns}, "bikes")
    F.check_unique_rows(frame, defs)
    F.write_source(frame, path, "ts")
    F.apply_definitions(repo, defs, applied_at="2026-01-01T00:00:00+00:00", applied_by="test", changes=[])
    return repo, defs


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    frame = bike_features(2_000)
    repo, defs = build_repo(tmp_path_factory.mktemp("fs") / "repo", frame)
    end = frame["ts"].max().to_pydatetime()
    F.materialize(repo, defs, end=end, mode="incremental")
    return repo, defs, frame, end


def entity_frame(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """Entity rows at random times around the data, some before the first row and for unknown stations."""
    rng = np.random.default_rng(seed)
    times = frame["ts"].sample(n, random_state=seed, replace=True).reset_index(drop=True)
    return pd.DataFrame({"station_id": rng.integers(0, STATIONS + 2, n),
                         "event_timestamp": times + pd.to_timedelta(rng.integers(-30, 30, n) * 7, unit="min")})


def test_point_in_time_set_matches_feast_row_for_row_and_keeps_every_row(store):
    repo, defs, frame, _ = store
    entities = entity_frame(frame, 300, seed=1).drop_duplicates().reset_index(drop=True)
    ours = F.point_in_time_join(entities, defs)
    assert ours.rows == len(entities) and list(ours.frame["station_id"]) == list(entities["station_id"])
    feast = F.open_store(repo).get_historical_features(entity_df=entities, features=defs.feature_refs()).to_df()
    merged = ours.frame.merge(feast, on=["station_id", "event_timestamp"], suffixes=("", "_feast"), validate="1:1")
    assert len(merged) == len(feast) > 200
    for feature in ours.features:
        a, b = merged[feature].astype(float), merged[feature + "_feast"].astype(float)
        assert ((a == b) | (a.isna() & b.isna())).all(), feature
    # Feast drops entity rows whose values all expired; this set keeps them and counts them.
    assert ours.rows_without_value["weather"] >= len(entities) - len(feast)
    unknown = int((entities["station_id"] >= STATIONS).sum())
    assert ours.rows_without_value["demand"] >= unknown > 0


def test_leakage_trap_never_takes_a_value_from_after_the_event(store):
    repo, defs, frame, _ = store
    # Event times half an hour after a feature row: the next row (30 min later) is in the future.
    base = frame.iloc[100:160]
    entities = pd.DataFrame({"station_id": base["station_id"].to_numpy(),
                             "event_timestamp": (base["ts"] + timedelta(minutes=30)).reset_index(drop=True)})
    pit = F.point_in_time_join(entities, defs, ["demand:cnt", "weather:temp"]).frame
    naive = entities.merge(frame.sort_values("ts").groupby("station_id", as_index=False).last()[["station_id", "cnt"]],
                           on="station_id", how="left")
    later = frame.set_index(["station_id", "ts"]).sort_index()
    leaks_naive = 0
    for i, row in entities.iterrows():
        history = later.loc[row["station_id"]]
        allowed = history[history.index <= row["event_timestamp"]]
        assert pit.loc[i, "cnt"] == allowed["cnt"].iloc[-1]  # the latest value at or before the event
        fresh = allowed[allowed.index >= row["event_timestamp"] - timedelta(hours=10)]
        expected = fresh["temp"].iloc[-1] if len(fresh) else np.nan
        assert pit.loc[i, "temp"] == expected or (np.isnan(expected) and np.isnan(pit.loc[i, "temp"]))
        future = history[history.index > row["event_timestamp"]]
        leaks_naive += int(naive.loc[i, "cnt"] in set(future["cnt"]) and naive.loc[i, "cnt"] != pit.loc[i, "cnt"])
    assert leaks_naive > 50  # the naive join does take future values on these rows; the point-in-time set never


def test_online_lookup_and_consistency_is_100_percent(store):
    repo, defs, frame, end = store
    lookup = F.OnlineFeatureLookup(repo, ["weather", "demand:cnt"])
    last = frame[frame["station_id"] == 3].iloc[-1]
    assert lookup.lookup_one(station_id=3) == pytest.approx(
        {"temp": last["temp"], "hum": last["hum"], "windspeed": last["windspeed"], "cnt": last["cnt"]})
    assert lookup.lookup([{"station_id": 99}]) == [{"temp": None, "hum": None, "windspeed": None, "cnt": None}]
    with pytest.raises(DataError, match="lacks the join keys"):
        lookup.lookup([{"station": 3}])
    report = F.check_consistency(repo, defs, frame[["station_id"]], as_of=end)
    assert report.rows == STATIONS and report.cells == STATIONS * 5
    assert report.agreement_pct == 100.0 and report.mismatched_cells == 0


def test_a_stale_online_store_fails_the_consistency_check(tmp_path):
    frame = bike_features(600)
    cut = frame["ts"].iloc[400].to_pydatetime()
    repo, defs = build_repo(tmp_path / "repo", frame)
    F.materialize(repo, defs, end=cut, mode="full")  # the online store stops at row 400
    end = frame["ts"].max().to_pydatetime()
    report = F.check_consistency(repo, defs, frame[["station_id"]], as_of=end)
    assert report.agreement_pct < 100.0
    # offline: each station's latest hour; online: values 200 hours older (weather's past its 10 h TTL: none)
    assert set(report.mismatched_features) == {"temp", "hum", "windspeed", "cnt", "casual"}
    assert report.mismatched_features["temp"] == STATIONS  # counts can be lower where an old value equals the new
    assert {tuple(m.keys.items()) for m in report.examples} == {(("station_id", s),) for s in range(STATIONS)}
    assert "cnt" in report.summary() and "station_id" in report.summary()
    F.materialize(repo, defs, end=end, mode="incremental")
    assert F.check_consistency(repo, defs, frame[["station_id"]], as_of=end).agreement_pct == 100.0
    assert F.freshness(repo, defs, as_of=end + timedelta(hours=2))[0].age_seconds == 7200.0


def test_diff_flags_type_change_removed_feature_and_shorter_ttl_as_breaking():
    frame = bike_features(50)
    columns = F.describe_source(frame, "x.parquet")
    old = F.parse_definitions(SPEC, {"data": columns}, "bikes")
    changed = {**SPEC, "feature_views": [
        {"name": "weather", "entities": ["station"], "ttl": "2h", "features": ["temp", "hum"]},
        {"name": "demand", "entities": ["station"], "ttl": 0, "features": ["cnt", "casual"]},
    ]}
    lines = [c.line() for c in F.diff_definitions(old, F.parse_definitions(changed, {"data": columns}, "bikes"))]
    assert "BREAKING removed view weather feature windspeed: the feature is gone" in lines
    assert "BREAKING ttl view weather: 36000s -> 7200s" in lines
    retyped = frame.assign(cnt=frame["cnt"].astype(float))
    diff = F.diff_definitions(old, F.parse_definitions(SPEC, {"data": F.describe_source(retyped, "x.parquet")}, "bikes"))
    assert [c.line() for c in diff] == ["BREAKING type view demand feature cnt: Int64 -> Float64"]
    longer = {**SPEC, "feature_views": [{**SPEC["feature_views"][0], "ttl": "1d", "features": ["temp", "hum", "windspeed", "atemp"]},
                                        SPEC["feature_views"][1]]}
    wider = frame.assign(atemp=0.5)
    diff = F.diff_definitions(old, F.parse_definitions(longer, {"data": F.describe_source(wider, "x.parquet")}, "bikes"))
    assert not any(c.breaking for c in diff) and len(diff) == 2


def test_bad_input_gets_a_clear_error():
    frame = bike_features(50)
    columns = F.describe_source(frame, "x.parquet")
    with pytest.raises(DataError, match="timestamp column 'when' is not in x.parquet"):
        F.parse_definitions({**SPEC, "timestamp": "when"}, {"data": columns}, "bikes")
    with pytest.raises(DataError, match=r"feature columns \['rain'\] are not in"):
        F.parse_definitions({**SPEC, "feature_views": [{**SPEC["feature_views"][0], "features": ["temp", "rain"]}]},
                            {"data": columns}, "bikes")
    nulls = frame.astype({"station_id": "float"})
    nulls.loc[3, "station_id"] = np.nan
    with pytest.raises(DataError, match="join key 'station_id' has 1 null values"):
        F.parse_definitions(SPEC, {"data": F.describe_source(nulls, "x.parquet")}, "bikes")
    with pytest.raises(SpecError, match="no 'ttl'"):
        F.parse_definitions({**SPEC, "feature_views": [{"name": "w", "entities": ["station"], "features": ["temp"]}]},
                            {"data": columns}, "bikes")
    defs = F.parse_definitions(SPEC, {"data": columns}, "bikes")
    with pytest.raises(DataError, match="the entity frame is empty"):
        F.point_in_time_join(pd.DataFrame({"station_id": [], "event_timestamp": pd.to_datetime([])}), defs)
    with pytest.raises(DataError, match=r"lacks the columns \['event_timestamp'\]"):
        F.point_in_time_join(pd.DataFrame({"station_id": [1]}), defs)
    with pytest.raises(DataError, match="repeat the keys and timestamp"):
        F.check_unique_rows(pd.concat([frame, frame.head(2)]), defs)


class BusyWhenWarm:
    """A small real classifier over online features: busy when it is warm and the last hour was busy."""

    classes_ = [0, 1]

    def predict(self, frame):
        return ((frame["temp"] > 0.4) & (frame["cnt"] > 20)).astype(int).to_numpy()

    def predict_proba(self, frame):
        busy = self.predict(frame)
        return np.column_stack([1 - 0.8 * busy, 0.8 * busy])


def test_the_model_server_fetches_a_records_features_by_its_entity_key(store, tmp_path):
    """On 127.0.0.1: a request carrying only ``station_id`` is answered from the online store's features, which
    the prediction log keeps; the request's own values win; an unknown entity or a missing key is a clear 422."""
    import threading
    import time

    import httpx
    import uvicorn

    from mlsitter.ml.serving import (FieldSpec, InputSchema, ModelService, OnlineFeatures, ServedModel, create_app,
                                     free_port, read_predictions)

    repo, _, frame, _ = store
    schema = InputSchema((FieldSpec("temp", "double"), FieldSpec("hum", "double"), FieldSpec("cnt", "long")))
    online = OnlineFeatures.open(repo, schema)
    assert (online.keys, sorted(online.features)) == (["station_id"], ["cnt", "hum", "temp"])
    service = ModelService(ServedModel("demand", 1, "sha", schema, BusyWhenWarm()), role="champion",
                           log_dir=tmp_path / "log", features=online)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "the model server did not start"
            time.sleep(0.05)
        last = {s: frame[frame["station_id"] == s].iloc[-1] for s in (1, 3)}
        answer = httpx.post(url + "/predict", json={"records": [{"station_id": 3}, {"station_id": 1, "temp": 0.9}]})
        assert answer.status_code == 200, answer.text
        expected = [int(last[3]["temp"] > 0.4 and last[3]["cnt"] > 20), int(last[1]["cnt"] > 20)]
        assert [p["prediction"] for p in answer.json()["predictions"]] == expected
        logged = {r["index"]: r["inputs"] for r in read_predictions(tmp_path / "log")}
        assert logged[0] == pytest.approx({"station_id": 3, "temp": last[3]["temp"], "hum": last[3]["hum"],
                                           "cnt": last[3]["cnt"]})
        assert logged[1]["temp"] == 0.9 and logged[1]["hum"] == pytest.approx(last[1]["hum"])  # its own value won
        unknown = httpx.post(url + "/predict", json={"record": {"station_id": 99}})
        assert unknown.status_code == 422 and unknown.json()["field"] == "temp"
        assert "no online value of 'temp' for {'station_id': 99}" in unknown.json()["detail"]
        keyless = httpx.post(url + "/predict", json={"record": {"station": 3}})
        assert keyless.status_code == 422 and keyless.json()["field"] == "station_id"
        assert "lacks the entity key 'station_id'" in keyless.json()["detail"]
    finally:
        server.should_exit = True
        thread.join(15)
