"""The `deploy` process refusing: bad candidates rolled back by themselves within one window, while the
champion keeps serving; bad input and a router port in use are clear errors."""

from __future__ import annotations

import time

import httpx
import pytest

import mlsitter
import serving_models
from serving_fixtures import CANARY, alias_version, canary_load, drive
from mlsitter import Store
from mlsitter.ml.serving import is_alive, load_state


@pytest.mark.parametrize("alias, check", [("raises", "error-rate-increase"), ("slow", "p99-latency-increase-ms"),
                                          ("opposite", "accuracy-drop")])
def test_a_bad_candidate_is_rolled_back_within_one_window(champion, fixtures_csv, alias, check):
    load = canary_load(champion)
    time.sleep(1.0)
    run = drive(mlsitter.run("deploy", model=f"titanic@{alias}", fixtures=fixtures_csv, shadow_seconds=0, **CANARY))
    rolled_back_at = time.time()
    summary = load.stop()
    assert run.status == "completed", run.error
    result = run.result
    bad = f"titanic/{serving_models.VERSIONS[alias]}"
    assert (result.status, result.stage) == ("rolled-back", "25"), result.reason
    assert len(result.windows) == 1  # caught in the first analysis window of the first stage
    window = result.windows[0]
    assert check in [c["name"] for c in window["checks"] if not c["passed"]], window["reason"]
    assert window["candidate"]["requests"] >= 10 and window["champion"]["requests"] >= 10
    # the client saw only the errors the bad candidate caused while it held its share; none from the switch
    failures = load.failures()
    assert all(f.status == 500 and f.version == bad and f.at <= rolled_back_at for f in failures), failures[:3]
    assert (len(failures) > 0) == (alias == "raises")
    assert summary.by_version.get("titanic/1", 0) > 0
    # the champion keeps serving, aliases untouched, the candidate's server is gone
    state = load_state("titanic")
    assert "candidate" not in state.servers and is_alive(state.servers["champion"])
    assert httpx.post(champion + "/predict", json={"record": serving_models.records(1)[0][0]}).headers[
        "x-model-version"] == "titanic/1"
    assert alias_version("champion") == 1
    rollback = [e for e in Store().events(run.run_id, types=("log",)) if "rolling back" in e.data["message"]]
    assert rollback and check in rollback[0].data["message"]  # journaled with the measured numbers


def test_bad_input_gives_clear_errors_and_the_champion_keeps_serving(champion, fixtures_csv, tmp_path):
    record = serving_models.records(1)[0][0]
    unknown = mlsitter.run("deploy", model="nosuch@champion", fixtures=fixtures_csv)
    assert unknown.status == "failed" and "no registered model named 'nosuch'" in unknown.error
    alias = mlsitter.run("deploy", model="titanic@nosuchalias", fixtures=fixtures_csv)
    assert alias.status == "failed" and "aliases" in alias.error and "challenger" in alias.error
    narrow = tmp_path / "narrow.csv"
    serving_models.titanic_frame()[["Pclass", "Sex"]].head(5).to_csv(narrow, index=False)
    schema = mlsitter.run("deploy", model="titanic@challenger", fixtures=str(narrow))
    assert schema.status == "failed" and "lacks the model's input column(s) Age" in schema.error
    stages = mlsitter.run("deploy", model="titanic@challenger", fixtures=fixtures_csv, stages="50,25")
    assert stages.status == "failed" and "increasing percentages" in stages.error
    # a candidate that fails to start (its class is importable only here, not in a server process)
    from serving_local_model import OnlyImportableInTests

    version = serving_models.register("titanic", OnlyImportableInTests(serving_models.titanic_pipeline()),
                                      alias="local").version
    broken = mlsitter.run("deploy", model="titanic@local", fixtures=fixtures_csv, shadow_seconds=0, **CANARY)
    assert broken.status == "failed" and f"candidate server (titanic/{version}) exited" in broken.error
    assert "serving_local_model" in broken.error  # the end of its log says why
    answer = httpx.post(champion + "/predict", json={"record": record})
    assert answer.status_code == 200 and answer.headers["x-model-version"] == "titanic/1"
    assert alias_version("champion") == 1


def test_a_router_port_in_use_is_a_clear_error(registry, fixtures_csv):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = mlsitter.run("deploy", approve="auto+production", model="titanic@champion", fixtures=fixtures_csv,
                           router_port=port, latency_budget_ms=5000.0)
    assert run.status == "failed" and f"port {port} on 127.0.0.1 is in use" in run.error
