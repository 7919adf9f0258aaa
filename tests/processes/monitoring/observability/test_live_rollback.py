"""An observability incident on a live deployment: a real router on 127.0.0.1 sends 90 % of a bounded load
to a candidate server (its own process) that fails on the records of men; on an accelerated clock the page
fires within one interval, the approved remediation is a child ``rollback`` run, after which the router gives
the candidate nothing, its server is gone, the serving history (read from the journal) has the interval the
rollback opened, and the incident resolves and closes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import mlsitter
import rule_of_thumb_serving
import serving_models
from mlsitter import Store
from mlsitter.ml.serving import LoadGenerator, load_state, traffic

SERVER = Path(rule_of_thumb_serving.__file__)


@pytest.fixture
def live_deployment(mlsitter_home):
    """Deployment ``titanic``: champion titanic/1 and candidate titanic/2 (fails on men) as their own processes,
    a real router giving the candidate 90 %; every process is stopped at the end, even on failure."""
    from mlsitter.ml.serving import (DeploymentState, ServerRecord, admin_token_path, free_port, save_state,
                                     set_traffic, start_process, stop_process)

    state = DeploymentState("titanic", "titanic")
    state.log_dir.mkdir(parents=True)
    started: list[ServerRecord] = []
    try:
        for role, version, extra in (("champion", 1, []), ("candidate", 2, ["--fails-on-men"])):
            port, log = free_port(), state.directory / f"{role}.log"
            with open(log, "ab") as out:
                proc = subprocess.Popen([sys.executable, str(SERVER), "--port", str(port), "--version", str(version),
                                         "--role", role, "--log-dir", str(state.log_dir), *extra], stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True)
            started.append(ServerRecord(role, proc.pid, 0.0, "127.0.0.1", port, "titanic", version, str(log)))
            state.servers[role] = started[-1]
        save_state(state)
        champion, port = state.servers["champion"], free_port()
        router = start_process(["router", "--host", "127.0.0.1", "--port", str(port), "--log-dir",
                                str(state.log_dir), "--champion", champion.url, "--champion-version", champion.label,
                                "--admin-token-file", str(admin_token_path(state))],
                               role="router", host="127.0.0.1", port=port, log=state.directory / "router.log")
        started.append(router)
        state.servers["router"] = router
        save_state(state)
        deadline = time.monotonic() + 180  # a generous bound: a shared 2-core machine can be very slow
        for record in started[:2]:
            while not _ready(record.url):
                assert time.monotonic() < deadline, f"the {record.role} server did not get ready"
                time.sleep(0.05)
        set_traffic(state, 0.9)
        yield state
    finally:
        for record in started:
            stop_process(record)


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_an_incident_rolls_a_live_candidate_back_through_the_journaled_rollback_process(live_deployment):
    from mlsitter.processes.execution.deploy.history import serving_history

    router = live_deployment.servers["router"].url
    rows, labels = serving_models.records(300, seed=5)
    load = LoadGenerator(router, rows, labels=labels, concurrency=2, rate=40, max_requests=2400, max_seconds=60).start()
    try:
        # 600 simulated seconds per second: a tick every 5 simulated minutes (0.5 s), so the 1h/5m page can
        # fire; only availability can page (a 50 % objective cannot burn 6x, the loaded machine's latency not).
        # An hour of drill: after the rollback, the 6h/30m page (its 30 minutes still holding the candidate's
        # errors) has cleared before the end, however slowly a loaded machine runs the ticks
        watched = mlsitter.run("observability", approve="auto+production", deployment="titanic", time_scale=600,
                               interval=300, duration=3600, latency_objective=0.5, quality_objective=0.5)
        finished_at = time.time()
    finally:
        load.stop()
    assert watched.status == "completed", watched.error
    assert not watched.result.simulated and watched.result.ticks == 13
    (incident,) = watched.result.incidents
    assert (incident["severity"], incident["sli"], incident["rule"]) == ("page", "availability", "14.4x over 1h/5m")
    remediation = incident["remediation"]
    assert (remediation["process"], remediation["stopped"], remediation["action"]) == (
        "rollback", "titanic/2", "candidate-removed")
    events = [e["event"] for e in incident["timeline"]]
    assert events == ["impact started", "detected", "opened", "triaged", "mitigated", "resolved", "closed"]
    # the rollback is its own journaled run, a child of the observability run
    (child,) = Store().list_runs(process="rollback")
    assert child.status == "completed" and child.parent_run_id == watched.run_id
    assert child.inputs == {"model": "titanic", "deployment": "titanic", "reason": "page on availability "
                                                                                     "(14.4x over 1h/5m)"}
    # the router gives the candidate nothing; its server is gone, the champion serves everything
    split = traffic(load_state("titanic"))
    assert (split["weight"], split["shadow"], split["shares"]) == (0.0, False, {"titanic/1": 1.0})
    assert set(load_state("titanic").servers) == {"champion", "router"}
    # the serving history from the journal: the champion's 100 % since the rollback, by the child run
    history = serving_history(Store(), "titanic")
    assert [(h.version, h.share, h.run_id, h.end) for h in history] == [("titanic/1", 1.0, child.run_id, None)]
    switched = history[0].start
    # the clients' errors all came from the candidate, while it still held its share
    failures = load.failures()
    assert failures and all(f.status == 500 and f.version == "titanic/2" and f.at <= finished_at for f in failures)
    after = [r for r in load.results if r.at > switched + 0.5]
    assert after and {(r.version, r.status) for r in after} == {("titanic/1", 200)}
