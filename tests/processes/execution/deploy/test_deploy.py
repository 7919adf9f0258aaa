"""The `deploy` process end to end: real server processes on 127.0.0.1, a bounded load through the router,
a good candidate promoted after approval, a SIGKILLed runner resumed, a stage without traffic that never
promotes (bad candidates and bad input: test_deploy_refusals.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

import mlsitter
import serving_models
from serving_fixtures import CANARY, alias_version, canary_load, drive
from mlsitter import Store
from mlsitter.ml.serving import load_state

def test_a_good_candidate_passes_shadow_and_stages_and_is_promoted_after_approval(champion, fixtures_csv):
    load = canary_load(champion)
    time.sleep(1.0)
    # the latency check is under test with a 200 ms slower candidate (test_deploy_refusals.py); here a shadow on a
    # loaded 2-core machine, mirroring every request, once put a good candidate's p99 past CANARY's 120 ms
    run = drive(mlsitter.run("deploy", model="titanic@challenger", fixtures=fixtures_csv, shadow_seconds=3.0,
                             **{**CANARY, "max_p99_increase_ms": 2000.0}))
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
    assert (alias_version("champion"), alias_version("previous-champion")) == (2, 1)
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
    assert "rolled back to titanic/1" in back.output and alias_version("champion") == 1
    # the rollback is a journaled run: the serving history and the audit trail both see it
    [rolled] = Store().list_runs(process="rollback")
    assert rolled.status == "completed" and rolled.inputs["reason"] == "pager at 3am"
    now = [h for h in serving_history(Store(), "titanic") if h.end is None]
    assert [(h.version, h.share, h.run_id) for h in now] == [("titanic/1", 1.0, rolled.run_id)]
    assert httpx.post(champion + "/predict", json={"record": serving_models.records(1)[0][0]}).headers[
        "x-model-version"] == "titanic/1"
    # the ML Test Score reads the canary from the journal: leaving this deploy run out lowers exactly the rows
    # its canary (and its smoke test, the second of two deploys) supplied
    from mlsitter.ml.testing import changed_rows
    from mlsitter.processes.validation.integration_test.tasks import resolve_model_under_test, score_rubric

    found = resolve_model_under_test("titanic@champion")
    every = score_rubric(found, repeated=2)
    assert every.row("infra-6").score == 0.5 and every.row("infra-6").evidence[0].run_id == run.run_id
    assert every.row("infra-7").score == 0.5 and every.row("infra-7").evidence[0].run_id == rolled.run_id
    without_canary = score_rubric(found, repeated=2, exclude_runs=[run.run_id])
    assert changed_rows(every, without_canary) == {"infra-2": (1.0, 0.5), "infra-6": (0.5, 0.0),
                                                   "model-2": (0.5, 0.0), "monitor-6": (0.5, 0.0),
                                                   "monitor-7": (0.5, 0.0)}
    assert "deploy" in without_canary.row("infra-6").missing


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
    load = canary_load(champion)
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
    assert alias_version("champion") == 1
    # a rolled-back deploy can be retried: with traffic it now reaches the approval
    load = canary_load(champion)
    time.sleep(1.0)
    retry = drive(mlsitter.run("deploy", model="titanic@challenger", fixtures=fixtures_csv, shadow_seconds=0,
                               **CANARY))
    load.stop()
    assert retry.status == "waiting" and "production" in retry.waiting["tags"], retry.error or retry.result
    assert load.failures() == []
