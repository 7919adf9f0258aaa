"""The model server and the router as real OS processes on 127.0.0.1 (free ports, stopped even on failure)."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

import serving_models
from mlsitter.ml.serving import (
    LoadGenerator, PortInUseError, ServerStartError, parse_counters, read_feedback, read_predictions)


def test_server_predicts_validates_counts_logs_and_takes_feedback(servers, registry):
    server = servers(["server", "titanic@champion"], role="champion", model="titanic", version=1)
    rows, labels = serving_models.records(30, seed=1)
    one = httpx.post(server.url + "/predict", json={"record": rows[0]})
    assert one.status_code == 200 and one.headers["x-model-version"] == "titanic/1"
    body = one.json()
    assert body["prediction"] in (0, 1) and 0.0 <= body["score"] <= 1.0
    batch = httpx.post(server.url + "/predict", json={"records": rows}).json()
    assert len(batch["predictions"]) == 30
    bad = httpx.post(server.url + "/predict", json={"record": {**rows[0], "Age": "old"}})
    assert bad.status_code == 422 and bad.json()["field"] == "Age" and "must be a number" in bad.json()["detail"]
    # a field the model does not take is ignored (as MLflow does): the whole record is answered as without it
    extra = httpx.post(server.url + "/predict", json={"record": {**rows[0], "Cabin": "C85"}})
    assert extra.status_code == 200 and extra.json()["score"] == body["score"]
    # feedback names an earlier request id
    assert httpx.post(server.url + "/feedback", json={"request_id": "nope", "label": 1}).status_code == 404
    assert httpx.post(server.url + "/feedback", json={"request_id": body["request_id"], "label": labels[0]}).status_code == 200
    # Prometheus metrics by model, version and outcome; missing features counted
    text = httpx.get(server.url + "/metrics").text
    counts = parse_counters(text, "mlsitter_model_requests_total")
    assert counts[(("model", "titanic"), ("outcome", "ok"), ("version", "1"))] == 3
    assert counts[(("model", "titanic"), ("outcome", "invalid"), ("version", "1"))] == 1
    assert parse_counters(text, "mlsitter_model_predicted_records_total")[(("model", "titanic"), ("version", "1"))] == 32
    missing_age = sum(1 for r in [rows[0], rows[0]] + rows if r["Age"] is None)
    assert parse_counters(text, "mlsitter_model_missing_features_total").get(
        (("feature", "Age"), ("model", "titanic"), ("version", "1")), 0) == missing_age
    # every answered record is in the prediction log with its inputs and output
    logged = read_predictions(registry / "log")
    assert len(logged) == 32 and logged[0]["request_id"] == body["request_id"] and logged[0]["inputs"] == rows[0]
    assert read_feedback(registry / "log") == {(body["request_id"], 0): labels[0]}


def test_router_splits_sticky_changes_weight_without_dropping_and_shadows(servers, registry):
    champion = servers(["server", "titanic/1"], role="champion", model="titanic", version=1)
    candidate = servers(["server", "titanic/2"], role="candidate", model="titanic", version=2)
    token_file = registry / "admin.token"
    token_file.write_text("s3cret-token")
    router = servers(["router", "--champion", champion.url, "--champion-version", "titanic/1", "--candidate",
                      candidate.url, "--candidate-version", "titanic/2", "--weight", "0.3",
                      "--admin-token-file", str(token_file)], role="router")
    admin = {"Authorization": "Bearer s3cret-token"}
    rows, labels = serving_models.records(200, seed=2)
    seen = {}
    for i in range(60):
        answer = httpx.post(router.url + "/predict", json={"record": rows[i], "unit_id": f"u{i % 20}"})
        assert answer.status_code == 200
        seen.setdefault(f"u{i % 20}", set()).add(answer.headers["x-model-version"])
    assert all(len(v) == 1 for v in seen.values())  # sticky per unit
    assert {"titanic/1", "titanic/2"} == set().union(*seen.values())
    # weight changes while a bounded load runs: no request fails
    load = LoadGenerator(router.url, rows, labels=labels, concurrency=4, max_requests=600, max_seconds=25).start()
    for weight in (0.0, 0.5, 1.0, 0.1, 0.0):
        config = httpx.put(router.url + "/admin/traffic", json={
            "champion": {"url": champion.url, "version": "titanic/1"},
            "candidate": {"url": candidate.url, "version": "titanic/2"}, "weight": weight}, headers=admin).json()
        assert config["weight"] == weight
        import time
        time.sleep(0.4)
    summary = load.stop()
    assert summary.requests > 20 and load.failures() == []
    # shadow: the champion answers, the candidate logs the same request id as a shadow answer
    httpx.put(router.url + "/admin/traffic", json={"champion": {"url": champion.url, "version": "titanic/1"},
                                                  "candidate": {"url": candidate.url, "version": "titanic/2"},
                                                  "weight": 0.0, "shadow": True}, headers=admin)
    shadowed = httpx.post(router.url + "/predict", json={"record": rows[0]})
    assert shadowed.headers["x-model-version"] == "titanic/1"
    rid = shadowed.headers["x-request-id"]
    for _ in range(50):
        both = {(r["version"], r["shadow"]) for r in read_predictions(registry / "log") if r["request_id"] == rid}
        if len(both) == 2:
            break
        time.sleep(0.1)
    assert both == {("titanic/1", False), ("titanic/2", True)}
    # only the token's holder changes the split: without it (or with another) nothing changes
    for headers in ({}, {"Authorization": "Bearer guess"}):
        refused = httpx.put(router.url + "/admin/traffic", headers=headers, json={
            "champion": {"url": candidate.url, "version": "titanic/2"}, "weight": 0.0})
        assert refused.status_code == 401 and "admin token" in refused.json()["detail"]
    assert httpx.get(router.url + "/admin/traffic").json()["champion"]["version"] == "titanic/1"
    # feedback through the router is kept for the request ids it routed
    assert httpx.post(router.url + "/feedback", json={"request_id": rid, "label": 1}).json()["version"] == "titanic/1"
    assert httpx.post(router.url + "/feedback", json={"request_id": "unknown", "label": 1}).status_code == 404


def test_bad_starts_are_clear_errors(servers, registry):
    with pytest.raises(ServerStartError, match="no registered model named 'nosuch'"):
        servers(["server", "nosuch@champion"], role="champion")
    with pytest.raises(ServerStartError, match="aliases \\[.*champion.*\\]"):
        servers(["server", "titanic@nosuchalias"], role="candidate")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(PortInUseError, match=f"port {taken.getsockname()[1]} on 127.0.0.1 is in use"):
            servers(["server", "titanic@champion"], role="champion", port=taken.getsockname()[1])


def test_mlsitter_serve_command(registry):
    import os
    import signal
    import subprocess
    import sys
    import time

    from mlsitter.ml.serving import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mlsitter", "serve", "titanic/2", "--port", str(port), "--log-dir",
                             str(registry / "log")], start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "mlsitter serve did not come up"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        answer = httpx.post(f"http://127.0.0.1:{port}/predict", json={"record": serving_models.records(1)[0][0]})
        assert answer.status_code == 200 and answer.json()["version"] == 2
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    unknown = subprocess.run([sys.executable, "-m", "mlsitter", "serve", "titanic@nosuch", "--port", str(free_port())],
                             capture_output=True, text=True, timeout=180)
    assert unknown.returncode == 2 and "model 'titanic@nosuch' not found" in unknown.stderr


def test_a_start_interrupted_while_waiting_stops_its_server(registry, monkeypatch, tmp_path):
    """Ctrl-C or a test timeout during the readiness wait must not leave an orphan: nobody else knows its pid."""
    from mlsitter.ml.serving import _processes

    seen = []

    def interrupted(proc, record, ready_path, timeout):
        seen.append(record)
        raise KeyboardInterrupt

    monkeypatch.setattr(_processes, "_wait_until_ready", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _processes.start_process(["server", "titanic@champion"], role="champion", host="127.0.0.1",
                                 port=_processes.free_port(), log=tmp_path / "server.log")
    assert len(seen) == 1 and not _processes.is_alive(seen[0])
