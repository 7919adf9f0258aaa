"""The `observability` process on simulated time (a simulated deployment emitting real /metrics text):
an error burst fires the 1h/5m page inside its window, a slow burn fires only the ticket, an approved
rollback restores the SLI and the incident closes with its timeline; against a real model server on
127.0.0.1 it reads the real /metrics; bad input is refused or reported as a gap."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time

import httpx
import pytest

import mlsitter
from mlsitter import Store
from mlsitter.errors import InvalidInputError
from mlsitter.ml.monitoring import interval_frame, parse_exposition

T0 = 1_700_000_000.0


def _scenario(tmp_path, **spec):
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps({"start": T0, "rate": 100, "labels_per_second": 1, "accuracy": 0.95, **spec}))
    return str(path)


def test_an_error_burst_fires_the_1h_5m_page_inside_its_window(tmp_path):
    # 30 healthy minutes, then 20 % of requests fail: a 200x burn of the 99.9 % availability SLO
    scenario = _scenario(tmp_path, faults=[{"from": 1800, "error_ratio": 0.2}])
    run = mlsitter.run("observability", approve="auto+production", scenario=scenario, interval=60, duration=2040)
    assert run.status == "completed", run.error
    result = run.result
    assert result.simulated and result.ticks == 35
    alerts = {a["rule"]: a for a in result.alerts if a["sli"] == "availability"}
    page = alerts["14.4x over 1h/5m"]
    # hand-computed: after b burst minutes the 1h window (the 30+b min of history) burns 200b/(30+b): >= 14.4 at b=3
    assert page["started_at"] - (T0 + 1800) == 180 and page["severity"] == "page"
    # the run ends at b=4: the 5 min window then holds 4 burst minutes (4800 / 30000 errors: 160x), 1h 800/34
    assert (page["peak_long_burn"], page["peak_short_burn"]) == (pytest.approx(800 / 34, rel=1e-6), pytest.approx(160.0))
    # the 6h/30m page (its 6 h window covers the 31 min of history) burns 200/31 = 6.45 >= 6 after one minute
    assert alerts["6x over 6h/30m"]["started_at"] - (T0 + 1800) == 60
    assert "1x over 3d/6h" not in alerts  # 6 h of history are needed before the ticket rule may fire
    incident = result.incidents[0]
    assert (incident["severity"], incident["impact_started_at"], incident["time_to_detect_s"]) == ("page", T0 + 1800, 60)
    assert {a["sli"] for a in result.alerts} == {"availability"}  # latency and quality stayed within their SLOs


def test_a_slow_burn_fires_only_the_ticket(tmp_path):
    # 0.2 % errors all along: a 2x burn, under both page factors, over the ticket's 1x
    scenario = _scenario(tmp_path, rate=10, faults=[{"from": 0, "error_ratio": 0.002}])
    run = mlsitter.run("observability", approve="auto+production", scenario=scenario, interval=1800, duration=7 * 3600)
    assert run.status == "completed", run.error
    alerts = run.result.alerts
    assert [(a["severity"], a["rule"]) for a in alerts] == [("ticket", "1x over 3d/6h")]
    assert alerts[0]["started_at"] == T0 + 6 * 3600  # once the history covers the 6 h short window
    assert alerts[0]["peak_long_burn"] == pytest.approx(2.0, rel=0.01)
    (incident,) = run.result.incidents
    assert incident["severity"] == "ticket" and incident["status"] == "mitigated"  # still burning: not resolved


def test_an_approved_rollback_restores_the_sli_and_the_incident_closes_with_its_timeline(tmp_path):
    # a candidate takes half the traffic at 30 min and fails 40 % of its requests
    scenario = _scenario(tmp_path, candidate={"from": 1800, "share": 0.5, "error_ratio": 0.4})
    run = mlsitter.run("observability", approve="auto", scenario=scenario, interval=60, duration=2280)
    # open and triage are approved by policy; the rollback is a production breakpoint and waits for a person
    assert run.status == "waiting" and "production" in run.waiting["tags"], run.error
    assert "runbook" in run.waiting["context"] and "# Page: availability" in run.waiting["context"]["runbook"]
    done = mlsitter.approve(run.run_id, by="oncall", resume=True)
    assert done.status == "completed", done.error
    (incident,) = done.result.incidents
    assert incident["status"] == "closed" and incident["remediation"]["stopped"] == "candidate"
    events = [(e["event"], e["at"] - T0, e["by"]) for e in incident["timeline"]]
    assert [e[0] for e in events] == ["impact started", "detected", "opened", "triaged", "mitigated", "resolved",
                                      "closed"]
    assert events[4] == ("mitigated", 1860, "oncall")
    # rolled back at 31 min: the 5 min window is clean 5 min later and no page fires any more
    assert (incident["time_to_detect_s"], incident["time_to_resolve_s"]) == (60, 300)
    copy = tmp_path / "metrics.duckdb"
    shutil.copy(done.result.table, copy)
    frame = interval_frame(copy)
    after = frame[frame["at"] > T0 + 1860]
    assert len(after) == 7 and (after["availability_sli"] == 1.0).all()
    assert (frame[(frame["at"] > T0 + 1800) & (frame["at"] <= T0 + 1860)]["availability_sli"] == 0.8).all()
    assert all(a["ended_at"] is not None for a in done.result.alerts if a["severity"] == "page")
    postmortem = open(incident["postmortem"], encoding="utf-8").read()
    assert "# Postmortem 1: page on availability" in postmortem and "time to detect 1.0 min" in postmortem
    assert "| mitigated | oncall | rolled back candidate |" in postmortem


@pytest.mark.parametrize("inputs, message", [
    ({"availability_objective": 1.0}, "'availability_objective' parameter of observability must be a float in the "
                                      "range (0, 1)"),
    ({"quality_objective": 0}, "'quality_objective'"),
    ({"latency_threshold_ms": 250}, "'latency_threshold_ms' parameter of observability must be an int among {1, 5, 10,"),
    ({"interval": 0}, "'interval'"),
])
def test_bad_slo_values_are_refused_before_a_run_exists(tmp_path, inputs, message):
    with pytest.raises(InvalidInputError) as refused:
        mlsitter.run("observability", scenario=_scenario(tmp_path), **inputs)
    assert message in str(refused.value)
    assert Store().list_runs() == []


def test_malformed_recorded_metrics_and_failed_scrapes_are_reported_gaps(tmp_path):
    good = parse_exposition  # the recording mixes a real exposition, garbage and a failed scrape
    from mlsitter.ml.monitoring import SimulatedDeployment

    sim = SimulatedDeployment({"start": T0, "rate": 5}, tmp_path / "s.json")
    lines = [{"at": T0 + 60 * i, "target": "http://a/metrics", "text": sim.scrape(sim.targets(T0)[0], T0 + 60 * i).text}
             for i in range(3)]
    lines.append({"at": T0 + 60, "target": "http://b/metrics", "text": "garbage { not metrics"})
    lines.append({"at": T0 + 120, "target": "http://b/metrics", "error": "ConnectError: connection refused"})
    recording = tmp_path / "scrapes.jsonl"
    recording.write_text("".join(json.dumps(line) + "\n" for line in lines))
    run = mlsitter.run("observability", approve="auto", recording=str(recording), interval=60, duration=600)
    assert run.status == "completed", run.error
    gaps = run.result.gaps
    assert [(g["at"] - T0, g["target"]) for g in gaps] == [(60, "http://b/metrics"), (120, "http://b/metrics")]
    assert "not Prometheus exposition format" in gaps[0]["error"] and "connection refused" in gaps[1]["error"]
    assert good(lines[2]["text"]).ok == 600  # the good target kept counting through the other's gaps
    logs = [e.data["message"] for e in Store().events(run.run_id, types=("log",))]
    assert sum("scrape gap" in m for m in logs) == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"at": 1, "target": "x"}\n')
    failed = mlsitter.run("observability", recording=str(bad))
    assert failed.status == "failed" and "line 1: needs 'text'" in failed.error
    none = mlsitter.run("observability")
    assert none.status == "failed" and "exactly one source" in none.error
    unknown = mlsitter.run("observability", deployment="nosuch")
    assert unknown.status == "failed" and "no deployment named 'nosuch'" in unknown.error


def test_a_deployment_whose_servers_are_gone_is_a_reported_gap_and_nothing_is_rolled_back(tmp_path):
    from mlsitter.ml.serving import DeploymentState, ServerRecord, save_state
    from mlsitter.processes.monitoring.observability.tasks import Plan, roll_back, rollback_target

    dead = ServerRecord("champion", 999_999_999, 0.0, "127.0.0.1", _free_port(), "titanic", 1, str(tmp_path / "x.log"))
    save_state(DeploymentState("gone", "titanic", {"champion": dead}))
    run = mlsitter.run("observability", approve="auto", deployment="gone", interval=0.2, duration=0.2)
    assert run.status == "completed", run.error
    assert [g["error"] for g in run.result.gaps] == ["the deployment has no running model server"] * 2
    done = roll_back(Plan("deployment", "gone", "", [], True), at=0.0, workdir=str(tmp_path), reason="test")
    assert done["stopped"] is None and "mlsitter rollback gone" in done["note"]
    # a live run asks first whether a candidate serves: none does, so no child rollback run is started
    assert rollback_target("gone") == {"model": "titanic", "candidate": None}
    assert rollback_target("never-deployed") == {"model": "", "candidate": None}


# -- a real model server ------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def model_server(tmp_path):
    """The real serving app (ModelService + create_app) around a Titanic pipeline, on 127.0.0.1 in a thread."""
    import uvicorn

    from mlsitter.ml.serving import ModelService, ServedModel, create_app
    from rule_of_thumb_serving import WomenSurvive, schema

    served = ServedModel("titanic", 1, "sha", schema(), WomenSurvive())
    service = ModelService(served, role="champion", log_dir=tmp_path / "log")
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the model server did not get ready"
            time.sleep(0.05)
        yield url, tmp_path / "log"
    finally:
        server.should_exit = True
        thread.join(15)


def test_a_real_server_s_metrics_are_read_and_a_dead_endpoint_is_a_gap(model_server, tmp_path):
    import serving_models
    from mlsitter.ml.serving import LoadGenerator

    url, log_dir = model_server
    rows, labels = serving_models.records(40, seed=1)
    load = LoadGenerator(url, rows, labels=labels, concurrency=2, rate=25, max_requests=40, max_seconds=20).start()
    dead = f"http://127.0.0.1:{_free_port()}/metrics"
    deadline = time.monotonic() + 30
    run = mlsitter.run("observability", approve="auto", metrics_urls=f"{url}/metrics,{dead}", log_dir=str(log_dir),
                       interval=0.4, duration=1.6)
    while load.summary().requests < 40 and time.monotonic() < deadline:  # let the bounded load finish
        time.sleep(0.05)
    summary = load.stop()
    assert run.status == "completed", run.error
    assert not run.result.simulated and run.result.ticks == 5
    assert [g["target"] for g in run.result.gaps] == [dead] * 5 and "ConnectError" in run.result.gaps[0]["error"]
    copy = tmp_path / "metrics.duckdb"
    shutil.copy(run.result.table, copy)
    import duckdb

    with duckdb.connect(str(copy), read_only=True) as db:
        scrapes = db.execute("SELECT ts, ok, error FROM scrapes ORDER BY ts").fetchall()
        sli = dict(db.execute("SELECT sli, max(total) FROM sli GROUP BY sli").fetchall())
    assert len(scrapes) == 5
    now = parse_exposition(httpx.get(url + "/metrics").text)
    assert now.ok == summary.ok and 0 < scrapes[-1][1] <= now.ok  # the server's own counter, as scraped
    assert [s[1] for s in scrapes] == sorted(s[1] for s in scrapes)
    assert sli["availability"] == scrapes[-1][1] - scrapes[0][1] > 0  # increases since the first (baseline) scrape
    assert sli["quality"] > 0  # labelled feedback joined with the prediction log


def test_an_alert_on_the_old_errors_of_a_mitigated_incident_opens_no_second_incident():
    """After a rollback the 6h window still holds the burst's errors: its late page is that incident's echo,
    while new errors after the mitigation open a new incident."""
    from mlsitter.ml.monitoring import RuleState
    from mlsitter.ml.monitoring._observer import TickSummary
    from mlsitter.processes.monitoring.observability.process import Incident, Watch

    class Log:
        def log(self, level, message):
            pass

    def tick(at, bad, firing=()):
        states = [RuleState("availability", rule, "page", 6.0, 100.0, 100.0, True) for rule in firing]
        return TickSummary(at, events={"availability": [100.0 - bad, 100.0]}, states=states)

    watch = Watch({"availability": 0.999}, skip_echoes=True)
    watch.record(Log(), tick(T0, 60, ["14.4x over 1h/5m"]))
    handled = Incident("availability", "page", "14.4x over 1h/5m", T0, T0, status="closed", mitigated_at=T0 + 300)
    watch.incidents.append(handled)
    late = tick(T0 + 1800, 0, ["6x over 6h/30m"])
    watch.record(Log(), late)
    assert watch.echo_of(late.firing[0]) == 1
    again = tick(T0 + 2100, 40, ["6x over 6h/30m"])
    watch.record(Log(), again)
    assert watch.echo_of(again.firing[0]) is None  # new errors since the mitigation: a new incident
    assert Watch({"availability": 0.999}).echo_of(late.firing[0]) is None  # a run journaled before the rule
