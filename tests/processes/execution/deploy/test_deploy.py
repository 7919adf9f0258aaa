"""The `deploy` process end to end: real server processes on 127.0.0.1, a bounded load through the router,
bad candidates rolled back by themselves, a good one promoted after approval, a SIGKILLed runner resumed,
a stage without traffic that never promotes, and bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import mlsitter
import serving_models
from serving_fixtures import drive
from mlsitter import Store
from mlsitter.ml.serving import LoadGenerator, is_alive, load_state

CANARY = dict(latency_budget_ms=5000.0, stages="25,50,100", stage_seconds=5.0, min_requests=10, min_labelled=10, max_extensions=2,
              max_p99_increase_ms=120.0, max_accuracy_drop=0.1)


def _load(router: str, **kw):
    rows, labels = serving_models.records(400, seed=3)
    options = dict(labels=labels, concurrency=4, rate=40, max_requests=4000, max_seconds=120)
    return LoadGenerator(router, rows, **{**options, **kw}).start()


def _alias_version(alias: str) -> int:
    from mlsitter.ml.tracking import resolve_model

    return resolve_model(f"titanic@{alias}").version


@pytest.mark.parametrize("alias, check", [("raises", "error-rate-increase"), ("slow", "p99-latency-increase-ms"),
                                          ("opposite", "accuracy-drop")])
def test_a_bad_candidate_is_rolled_back_within_one_window(champion, fixtures_csv, alias, check):
    load = _load(champion)
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
    assert _alias_version("champion") == 1
    rollback = [e for e in Store().events(run.run_id, types=("log",)) if "rolling back" in e.data["message"]]
    assert rollback and check in rollback[0].data["message"]  # journaled with the measured numbers


def test_a_good_candidate_passes_shadow_and_stages_and_is_promoted_after_approval(champion, fixtures_csv):
    load = _load(champion)
    time.sleep(1.0)
    run = drive(mlsitter.run("deploy", model="titanic@challenger", fixtures=fixtures_csv, shadow_seconds=3.0,
                             **CANARY))
    assert run.status == "waiting" and "production" in run.waiting["tags"], run.error or run.result
    # shadow, 25 %, 50 % pass (a window short of requests on a loaded machine is extended, never passed)
    assert [v for v in _verdicts(run.run_id) if v != "inconclusive"] == ["pass"] * 3
    done = mlsitter.approve(run.run_id, by="lead", resume=True)
    load.stop()
    assert done.status == "completed", done.error
    assert done.result.status == "promoted" and done.result.approved_by == "lead"
    last_window = {w["stage"]: w for w in done.result.windows}
    assert [(s, w["phase"]) for s, w in last_window.items()] == [("shadow", "shadow"), ("25", "canary"), ("50", "canary")]
    assert done.result.windows[0]["agreement"] >= 0.9
    assert load.failures() == []
    assert (_alias_version("champion"), _alias_version("previous-champion")) == (2, 1)
    assert httpx.post(champion + "/predict", json={"record": serving_models.records(1)[0][0]}).headers[
        "x-model-version"] == "titanic/2"
    assert set(load_state("titanic").servers) == {"router", "champion"}
    html = Path(done.result.report).read_text()
    assert "score-shift-ks" in html and "Traffic over time" in html
    # serving history from the journal: who served which share from when to when
    from mlsitter.processes.execution.deploy.history import serving_history

    history = serving_history(Store(), "titanic")
    v1 = [h for h in history if h.version == "titanic/1"]
    v2 = [h for h in history if h.version == "titanic/2"]
    assert [h.share for h in v2] == [0.25, 0.5, 1.0] and v2[-1].end is None
    assert v1[0].share == 1.0 and v1[-1].end == v2[-1].start
    # `mlsitter lineage` prints it; `mlsitter rollback` puts the previous champion back at any time
    from click.testing import CliRunner

    from mlsitter.cli import main

    lineage = CliRunner().invoke(main, ["lineage", "titanic@champion"])
    assert lineage.exit_code == 0 and "served (titanic" in lineage.output and "titanic/2" in lineage.output
    # and the dashboard's model lineage page shows the same history
    from fastapi.testclient import TestClient

    from mlsitter.dashboard import create_app

    token = "deploy-test-token"
    page = TestClient(create_app(Store(), token), base_url="http://127.0.0.1").get(
        "/lineage/model/titanic@champion", headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 200 and "Serving history" in page.text
    assert page.text.count("titanic/2</td>") == 3 and "serving now" in page.text
    back = CliRunner().invoke(main, ["rollback", "titanic", "--reason", "pager at 3am"])
    assert back.exit_code == 0, back.output
    assert "rolled back to titanic/1" in back.output and _alias_version("champion") == 1
    # the rollback is a journaled run: the serving history and the audit trail both see it
    [rolled] = Store().list_runs(process="rollback")
    assert rolled.status == "completed" and rolled.inputs["reason"] == "pager at 3am"
    now = [h for h in serving_history(Store(), "titanic") if h.end is None]
    assert [(h.version, h.share, h.run_id) for h in now] == [("titanic/1", 1.0, rolled.run_id)]
    assert httpx.post(champion + "/predict", json={"record": serving_models.records(1)[0][0]}).headers[
        "x-model-version"] == "titanic/1"


def _verdicts(run_id):
    """The verdict of every analysis window the run journaled so far."""
    from mlsitter.runtime.codec import Codec

    store = Store()
    codec = Codec(store.artifacts)
    names, out = {}, []
    for e in store.events(run_id, types=("step.started", "step.completed")):
        if e.type == "step.started":
            names[e.data["key"]] = e.data["name"]
        elif names.get(e.data["key"]) == "deploy.analyze_window":
            out.append(codec.decode(e.data["result"]).verdict)
    return out


def test_sigkill_mid_canary_then_resume_continues_at_its_stage(champion, fixtures_csv, registry):
    load = _load(champion)
    time.sleep(1.0)
    run = mlsitter.run("deploy", model="titanic@challenger", fixtures=fixtures_csv, shadow_seconds=0,
                       **{**CANARY, "stages": "20,40,60,100"})
    assert run.status == "waiting"
    env = dict(os.environ, MLSITTER_INLINE_SLEEP="10")  # the worker sleeps through the windows: a kill lands mid-canary
    worker = subprocess.Popen([sys.executable, "-m", "mlsitter", "worker", "--interval", "0.3"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        store = Store()
        deadline = time.monotonic() + 90
        while not [c for c in _changes(run.run_id) if c["phase"] == "40"]:
            assert time.monotonic() < deadline and worker.poll() is None, "the worker never reached stage 40"
            time.sleep(0.2)
        time.sleep(0.5)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    state = load_state("titanic")
    pids = {role: s.pid for role, s in state.servers.items()}
    killed_at = time.time()
    time.sleep(2.0)  # nobody drives the run: the servers keep serving on their own
    served_meanwhile = [r for r in load.results if r.at > killed_at and r.status == 200]
    assert served_meanwhile and {r.version for r in served_meanwhile} == {"titanic/1", "titanic/2"}
    resumed = drive(mlsitter.resume(run.run_id))
    assert resumed.status == "waiting" and "production" in resumed.waiting["tags"], resumed.error or resumed.result
    done = mlsitter.approve(run.run_id, resume=True)
    load.stop()
    assert done.status == "completed" and done.result.status == "promoted", done.error
    phases = [c["phase"] for c in _changes(run.run_id)]
    assert phases == ["started", "20", "40", "60", "100", "promoted"]  # no stage redone, none skipped
    assert {role: s.pid for role, s in load_state("titanic").servers.items()}["router"] == pids["router"]
    assert load.failures() == []
    assert store.events(run.run_id, types=("run.resumed",))


def _changes(run_id):
    from mlsitter.processes.execution.deploy.history import traffic_changes

    return [c for c in traffic_changes(Store()) if c["run_id"] == run_id]


def test_a_stage_without_traffic_stays_inconclusive_and_never_promotes_then_a_retry_works(champion, fixtures_csv):
    run = drive(mlsitter.run("deploy", model="titanic@challenger", fixtures=fixtures_csv, shadow_seconds=0,
                             **{**CANARY, "stage_seconds": 2.5, "max_extensions": 1}))
    assert run.status == "completed", run.error
    result = run.result
    assert result.status == "rolled-back" and "inconclusive" in result.reason and "never promotes" in result.reason
    assert [w["verdict"] for w in result.windows] == ["inconclusive", "inconclusive"]
    assert "too few requests" in result.windows[-1]["reason"]
    assert not Store().events(run.run_id, types=("breakpoint.requested",))  # never asked to promote
    assert _alias_version("champion") == 1
    # a rolled-back deploy can be retried: with traffic it now reaches the approval
    load = _load(champion)
    time.sleep(1.0)
    retry = drive(mlsitter.run("deploy", model="titanic@challenger", fixtures=fixtures_csv, shadow_seconds=0,
                               **CANARY))
    load.stop()
    assert retry.status == "waiting" and "production" in retry.waiting["tags"], retry.error or retry.result
    assert load.failures() == []


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
    assert _alias_version("champion") == 1


def test_a_router_port_in_use_is_a_clear_error(registry, fixtures_csv):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = mlsitter.run("deploy", approve="auto+production", model="titanic@champion", fixtures=fixtures_csv,
                           router_port=port, latency_budget_ms=5000.0)
    assert run.status == "failed" and f"port {port} on 127.0.0.1 is in use" in run.error
