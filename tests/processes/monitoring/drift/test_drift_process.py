"""The `drift` process end to end: Elec2 over time (the known drift found in the later windows, accuracy per
window with intervals, the alert approved into a recommendation), the stored profile reused without the
reference, windows from the model server's prediction log, and bad input refused with the journal intact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlsitter
import realdata
from mlsitter import Store

VICTORIA = {"vicprice", "vicdemand", "transfer"}  # constant until row 17,424 (day 363), then recorded


@pytest.fixture(scope="module")
def elec2_scored(tmp_path_factory) -> Path:
    """600 days of Elec2, hourly (every other half-hour row, to keep the test short), with a day column and a
    logistic model's prediction and score, fitted on the first 120 days (the reference window)."""
    from sklearn.linear_model import LogisticRegression

    frame = realdata.elec2().iloc[:28_800:2].copy()
    frame["day"] = frame.index // 48
    inputs = ["period", "nswprice", "nswdemand"]
    first = frame["day"] < 120
    model = LogisticRegression().fit(frame.loc[first, inputs], frame.loc[first, "class"])
    frame["score"] = model.predict_proba(frame[inputs])[:, 1]
    frame["pred"] = (frame["score"] >= 0.5).astype(int)
    path = tmp_path_factory.mktemp("elec2") / "elec2.csv"
    frame.to_csv(path, index=False)
    return path


def test_elec2_drift_is_found_in_the_later_windows_and_the_approved_alert_recommends_retraining(elec2_scored, tmp_path):
    run = mlsitter.run("drift", current=str(elec2_scored), timestamp="day", window="120", target="class",
                       prediction="pred", score="score")
    assert run.status == "waiting", run.error
    assert "drift" in run.waiting["tags"] and run.waiting["context"]["alerts"]
    assert Path(run.waiting["context"]["report"]).is_file()
    done = mlsitter.approve(run.run_id, by="lead", resume=True)
    assert done.status == "completed", done.error
    result = done.result
    labels = [w["window"] for w in result.windows]
    assert labels == ["120-240", "240-360", "360-480", "480-600"]  # the first window is the reference
    for w in result.windows[:2]:  # Victoria still constant, as in the reference
        assert not VICTORIA & set(w["drifted"]), w["drifted"]
    for w in result.windows[2:]:
        assert VICTORIA <= set(w["drifted"]), w["drifted"]
        assert all(w["features"][f]["p_adjusted"] < 0.05 for f in VICTORIA)
    assert "period" not in {f for w in result.windows for f in w["drifted"]}  # the time of day never moves
    for w in result.windows:  # concept drift: the model fitted on the reference is worse later, with intervals
        low, high = w["accuracy_ci"]
        assert low <= w["accuracy"] <= high and w["accuracy_degraded"]
        est_low, est_high = w["estimated_ci"]
        assert est_low < w["estimated_accuracy"] < est_high
    assert result.status == "drift" and result.approved_by == "lead"
    rec = result.recommendation
    assert rec["action"] == "retrain" and VICTORIA <= set(rec["features"]) and rec["windows"] == labels
    html = Path(result.report).read_text()
    assert "drift-over-windows" in html or "effect size over threshold" in html
    assert "reference against window" in html and html.count("<img") >= 3
    assert Path(result.profile).suffix == ".npz" and Store().verify(done.run_id).ok

    # the stored profile is reused: the last window again, against the same numbers, no reference read
    last = pd.read_csv(elec2_scored).query("day >= 480").drop(columns=["day"])
    current = tmp_path / "last.csv"
    last.to_csv(current, index=False)
    again = mlsitter.run("drift", current=str(current), reference_profile=result.profile, target="class",
                         prediction="pred", score="score")
    assert again.status == "waiting", again.error
    tasks = [e.data.get("name") for e in Store().events(again.run_id) if e.type == "step.started"]
    assert "drift.profile_reference" not in tasks and "drift.load_profile" in tasks, tasks
    rejected = mlsitter.reject(again.run_id, "seasonal, expected", by="lead", resume=True)
    assert rejected.status == "completed", rejected.error
    window = rejected.result.windows[0]
    for name in VICTORIA:
        assert window["features"][name]["statistic"] == pytest.approx(
            result.windows[-1]["features"][name]["statistic"], abs=1e-12)
    assert rejected.result.recommendation["action"] == "none"
    assert "rejected by lead" in rejected.result.recommendation["reason"]
    assert rejected.result.profile == result.profile


def test_windows_come_from_the_model_servers_prediction_log_across_its_rotated_files(tmp_path):
    from mlsitter.ml.serving import LogRotation
    from mlsitter.ml.serving._prediction_log import FEEDBACK, PREDICTIONS, JsonLinesLog
    from mlsitter.processes.monitoring.drift.tasks import prediction_log_frame

    rng = np.random.default_rng(4)
    rotation = LogRotation(max_bytes=16_000)  # about 90 rows a file: the log is spread over 14 files
    log, feedback = JsonLinesLog(tmp_path, PREDICTIONS, "m-1", rotation), JsonLinesLog(tmp_path, FEEDBACK, "m-1", rotation)
    entries, labels = [], []
    for i in range(1200):
        x = rng.normal(0 if i < 600 else 1.5)  # the input moves in the second window
        score = float(1 / (1 + np.exp(-x)))
        entries.append({"at": 1000.0 + i, "model": "m/1", "version": "m/1", "request_id": f"r{i}", "index": 0,
                        "inputs": {"x": x, "city": "a" if i % 3 else "b"}, "output": int(score >= 0.5),
                        "score": score, "outcome": "ok"})
        labels.append({"request_id": f"r{i}", "index": 0, "label": int(rng.random() < score)})
    for start in range(0, 1200, 20):  # as a server writes them: one batch at a time
        log.write(entries[start:start + 20])
        feedback.write(labels[start:start + 20])
    log.close()
    feedback.close()
    assert len(log.rotated()) >= 10 and len(feedback.rotated()) >= 3
    frame = prediction_log_frame(str(tmp_path))
    assert frame.height == 1200 and frame["label"].null_count() == 0  # every row, every label, from every file
    run = mlsitter.run("drift", prediction_log=str(tmp_path), window="600", approve="auto")
    assert run.status == "completed", run.error
    (window,) = run.result.windows
    assert window["drifted"] == ["x"] and window["prediction_drift"] and window["rows"] == 600
    assert window["accuracy"] is not None and window["estimated_accuracy"] is not None


@pytest.fixture(scope="module")
def adult_reference(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    frame = realdata.adult().drop(columns="class").sample(600, random_state=2).reset_index(drop=True)
    path = tmp_path_factory.mktemp("adult") / "reference.csv"
    frame.iloc[:300].to_csv(path, index=False)
    return path, frame.iloc[300:].reset_index(drop=True)


def _bad(kind: str, current: pd.DataFrame, path: Path) -> Path:
    if kind == "missing":
        current = current.drop(columns=["age", "race"])
    elif kind == "extra":
        current = current.assign(score_v2=1.0)
    elif kind == "text":
        current = current.astype({"hours-per-week": object})
        current.loc[[4, 7], "hours-per-week"] = "forty"
    elif kind == "empty":
        current = current.head(0)
    current.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("kind, message", [
    ("missing", "lacks the reference feature(s) 'age', 'race'"),
    ("extra", "has column(s) 'score_v2' the reference does not"),
    ("text", "feature 'hours-per-week' is numeric in the reference but holds non-numeric value(s) 'forty' in 2 row"),
    ("empty", "but no data rows"),
])
def test_bad_current_data_is_refused_with_a_clear_error_and_the_journal_intact(adult_reference, tmp_path, kind,
                                                                                  message):
    reference, rest = adult_reference
    current = _bad(kind, rest, tmp_path / "current.csv")
    run = mlsitter.run("drift", reference=str(reference), current=str(current))
    assert run.status == "failed"
    assert message in run.error
    assert Store().verify(run.run_id).ok
    events = Store().events(run.run_id)
    assert any(message in str(e.data) for e in events if "fail" in e.type)  # the error is journaled
    if kind != "empty":  # the reference profile was stored before the window was refused
        assert any(e.type == "artifact.recorded" and e.data["name"] == "reference-profile.npz" for e in events)
