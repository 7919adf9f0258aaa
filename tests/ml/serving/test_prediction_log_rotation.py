"""The prediction log rotates by size and by age (on a simulated clock) and keeps only the newest rotated
files it is told to; every reader (read_predictions, read_feedback, observability's quality SLI) reads the
active and the rotated files alike, also while the writer rotates under it."""

from __future__ import annotations

import json
import threading

import pytest

from mlsitter.errors import InputError
from mlsitter.ml.serving import LogRotation, log_files, read_feedback, read_predictions
from mlsitter.ml.serving._prediction_log import FEEDBACK, PREDICTIONS, JsonLinesLog


def _entry(i: int) -> dict:
    return {"at": 1000.0 + i, "request_id": f"r{i:05d}", "index": 0, "model": "m", "version": "m/1",
            "inputs": {"x": i}, "output": i % 2, "outcome": "ok"}


def _line_bytes(i: int) -> int:
    return len(json.dumps(_entry(i), separators=(",", ":"))) + 1


def test_the_log_rotates_at_the_configured_size_and_readers_see_every_row(tmp_path):
    log = JsonLinesLog(tmp_path, PREDICTIONS, "m-1-champion", LogRotation(max_bytes=1000))
    for i in range(0, 300, 3):  # batches of three records, as one request's records are written together
        log.write([_entry(i), _entry(i + 1), _entry(i + 2)])
    log.close()
    rotated = log.rotated()
    sizes = [p.stat().st_size for p in rotated]
    batch = sum(_line_bytes(i) for i in range(297, 300))
    assert len(rotated) >= 20 and all(1000 - batch < s <= 1000 for s in sizes)  # full files, none over the limit
    assert [p.name for p in rotated][:2] == [f"{log.stem}.000001.jsonl", f"{log.stem}.000002.jsonl"]
    assert log.path.stat().st_size <= 1000 and set(log_files(tmp_path, PREDICTIONS)) == {*rotated, log.path}
    rows = read_predictions(tmp_path, since=0, until=10_000)
    assert [r["request_id"] for r in rows] == [f"r{i:05d}" for i in range(300)]


def test_the_log_rotates_by_age_on_its_clock_and_keeps_only_the_newest_files(tmp_path, monkeypatch):
    from mlsitter.ml.serving import _prediction_log

    now = [5000.0]
    monkeypatch.setattr(_prediction_log.time, "time", lambda: now[0])
    log = JsonLinesLog(tmp_path, FEEDBACK, "router", LogRotation(max_bytes=0, max_seconds=3600, keep=2))
    for hour in range(5):
        log.write([{"at": now[0], "request_id": f"r{hour}-{k}", "index": 0, "label": k % 2} for k in range(4)])
        now[0] += 1800
        log.write([{"at": now[0], "request_id": f"s{hour}", "index": 0, "label": 1}])  # same hour: no rotation
        now[0] += 1800
    log.close()
    # a rotation at each new hour (4), of which the newest 2 are kept beside the active file
    assert [p.name for p in log.rotated()] == [f"{log.stem}.000003.jsonl", f"{log.stem}.000004.jsonl"]
    labels = read_feedback(tmp_path)
    assert sorted(labels) == sorted((f"{p}{h}{s}", 0) for h in (2, 3, 4) for p, s in
                                    [("r", "-0"), ("r", "-1"), ("r", "-2"), ("r", "-3"), ("s", "")])


def test_readers_see_every_row_while_the_writer_rotates(tmp_path):
    from mlsitter.ml.monitoring import logged_quality

    log = JsonLinesLog(tmp_path, PREDICTIONS, "m-1-champion", LogRotation(max_bytes=600))
    feedback = JsonLinesLog(tmp_path, FEEDBACK, "m-1-champion", LogRotation(max_bytes=300))
    feedback.write([{"at": 0.0, "request_id": f"r{i:05d}", "index": 0, "label": 1} for i in range(400)])
    feedback.close()
    seen: list[int] = []

    def write() -> None:
        for i in range(400):
            log.write([_entry(i)])

    writer = threading.Thread(target=write)
    writer.start()
    while writer.is_alive():
        seen.append(len(read_predictions(tmp_path, since=0, until=10_000)))
    writer.join()
    log.close()
    assert seen == sorted(seen)  # a read during a rotation never loses the rows of the file rotated away
    assert logged_quality(tmp_path, 0.0, 10_000.0) == (200.0, 400.0)  # odd outputs match label 1: every row


@pytest.mark.parametrize("kw, message", [({"max_bytes": -1}, "max_bytes must be a number >= 0"),
                                         ({"keep": "3"}, "keep must be a number >= 0")])
def test_bad_rotation_settings_are_refused(kw, message):
    with pytest.raises(InputError, match=message):
        LogRotation(**kw)
