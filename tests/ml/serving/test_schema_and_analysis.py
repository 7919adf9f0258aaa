"""Pure parts of serving: request validation against a schema, the split, sampling and the window analysis."""

from __future__ import annotations

import json

import pytest

from mlsitter.errors import InputError
from mlsitter.ml.serving import (
    AnalysisThresholds, FieldSpec, InputSchema, RequestSchemaError, analyze_window, pick_side, sampled,
    traffic_config, validate_records)

SCHEMA = InputSchema((FieldSpec("Pclass", "long"), FieldSpec("Sex", "string"), FieldSpec("Age", "double", False)))


def test_records_are_checked_field_by_field():
    rows, missing = validate_records(SCHEMA, [{"Pclass": 3, "Sex": "male", "Age": None}, {"Pclass": 1, "Sex": "female"}])
    assert rows == [(3, "male", None), (1, "female", None)] and missing == {"Age": 2}
    cases = [({"Pclass": "3", "Sex": "male"}, "Pclass", "must be a number"),
             ({"Pclass": 3.5, "Sex": "male"}, "Pclass", "whole number"),
             ({"Pclass": 3, "Sex": 1}, "Sex", "must be a string"),
             ({"Sex": "male"}, "Pclass", "required field 'Pclass'")]
    for record, field, message in cases:
        with pytest.raises(RequestSchemaError, match=message) as info:
            validate_records(SCHEMA, [record])
        assert info.value.field == field
    # a field the model does not take is ignored, as MLflow's schema enforcement does
    assert validate_records(SCHEMA, [{"Pclass": 3, "Sex": "male", "Cabin": "C85"}]) == ([(3, "male", None)], {"Age": 1})


def test_split_is_sticky_and_weighted_and_bad_configs_are_refused():
    config = traffic_config({"champion": {"url": "http://a", "version": "m/1"},
                             "candidate": {"url": "http://b", "version": "m/2"}, "weight": 0.25})
    sides = [pick_side(config, f"user-{i}") for i in range(4000)]
    assert 0.21 < sides.count("candidate") / 4000 < 0.29
    assert all(pick_side(config, f"user-{i}") == sides[i] for i in range(200))  # same unit, same side
    wider = traffic_config({**config.to_dict(), "weight": 0.5})
    assert all(pick_side(wider, f"user-{i}") == "candidate" for i in range(4000) if sides[i] == "candidate")
    assert config.shares() == {"m/1": 0.75, "m/2": 0.25}
    for bad, message in [({"weight": 0.5}, "needs a champion"),
                         ({"champion": {"url": "http://a", "version": "m/1"}, "weight": 1.5}, "from 0 to 1"),
                         ({"champion": {"url": "http://a", "version": "m/1"}, "weight": 0.1}, "needs a candidate")]:
        with pytest.raises(InputError, match=message):
            traffic_config(bad)


def test_sampling_keeps_the_same_ids_everywhere():
    ids = [f"r{i}" for i in range(2000)]
    kept = [i for i in ids if sampled(i, 0.3)]
    assert 0.25 < len(kept) / 2000 < 0.35 and kept == [i for i in ids if sampled(i, 0.3)]
    assert all(sampled(i, 1.0) for i in ids) and not any(sampled(i, 0.0) for i in ids)


def _write(log_dir, rows, feedback=()):
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "predictions-test-1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (log_dir / "feedback-test-1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in feedback))


def _row(i, version, *, ok=True, latency=5.0, output=1, score=0.8, at=100.0, shadow=False, rid=None):
    return {"at": at + i * 0.01, "request_id": rid or f"{version}-{i}", "index": 0, "model": "m", "version": version,
            "shadow": shadow, "latency_ms": latency, "outcome": "ok" if ok else "error", "output": output,
            "score": score if ok else None}


def test_window_analysis_verdicts(tmp_path):
    t = AnalysisThresholds(min_requests=20, min_labelled=10, max_p99_increase_ms=50)
    # too few candidate requests: inconclusive even though nothing failed
    _write(tmp_path / "a", [_row(i, "m/1") for i in range(100)] + [_row(i, "m/2") for i in range(5)])
    few = analyze_window(tmp_path / "a", phase="canary", start=0, end=200, champion="m/1", candidate="m/2", thresholds=t)
    assert few.verdict == "inconclusive" and "m/2 had 5 (needs 20)" in few.reason
    # errors and latency of the candidate fail; numbers come from the log
    rows = [_row(i, "m/1") for i in range(100)] + [_row(i, "m/2", ok=i % 3 != 0, latency=250.0) for i in range(60)]
    _write(tmp_path / "b", rows)
    bad = analyze_window(tmp_path / "b", phase="canary", start=0, end=200, champion="m/1", candidate="m/2", thresholds=t)
    assert bad.verdict == "fail" and bad.candidate.errors == 20 and bad.candidate.requests == 60
    assert {c.name for c in bad.failed} == {"error-rate-increase", "p99-latency-increase-ms"}
    # two stalled requests lift a p99 of 60 by far more than allowed, but are no evidence of a slower model
    rows = [_row(i, "m/1") for i in range(100)] + [_row(i, "m/2", latency=400.0 if i in (7, 40) else 5.0)
                                                   for i in range(60)]
    _write(tmp_path / "stall", rows)
    stall = analyze_window(tmp_path / "stall", phase="canary", start=0, end=200, champion="m/1", candidate="m/2",
                           thresholds=t)
    check = next(c for c in stall.checks if c.name == "p99-latency-increase-ms")
    assert stall.verdict == "pass" and check.value > 300 and check.passed and "Fisher p-value 0.1" in check.detail
    # the window's bounds are respected
    late = analyze_window(tmp_path / "b", phase="canary", start=150, end=200, champion="m/1", candidate="m/2", thresholds=t)
    assert late.champion.requests == 0 and late.verdict == "inconclusive"
    # wrong answers show through labelled feedback
    rows = [_row(i, "m/1", output=1, score=0.5 + i % 10 / 20) for i in range(50)] + [
        _row(i, "m/2", output=0, score=0.5 + i % 10 / 20) for i in range(50)]  # same scores, wrong labels
    labels = [{"request_id": r["request_id"], "index": 0, "label": 1} for r in rows]
    _write(tmp_path / "c", rows, labels)
    wrong = analyze_window(tmp_path / "c", phase="canary", start=0, end=200, champion="m/1", candidate="m/2", thresholds=t)
    assert wrong.verdict == "fail" and [c.name for c in wrong.failed] == ["accuracy-drop"]
    assert (wrong.champion.accuracy, wrong.candidate.accuracy) == (1.0, 0.0)
    # shadow: agreement on the same request ids
    rows = [_row(i, "m/1", rid=f"r{i}") for i in range(40)] + [
        _row(i, "m/2", rid=f"r{i}", shadow=True, output=1 if i < 38 else 0) for i in range(40)]
    _write(tmp_path / "d", rows)
    shadow = analyze_window(tmp_path / "d", phase="shadow", start=0, end=200, champion="m/1", candidate="m/2", thresholds=t)
    assert shadow.verdict == "pass" and shadow.agreement == pytest.approx(0.95) and shadow.compared == 40


def test_a_score_shift_fails_only_when_its_lower_bound_is_past_the_allowance(tmp_path):
    import numpy as np
    from scipy.stats import ks_2samp

    t = AnalysisThresholds(min_requests=20)
    rng = np.random.default_rng(7)
    # a candidate whose scores collapsed towards 0.9 (a broken model): the distance ~0.9, far past 0.25
    rows = [_row(i, "m/1", score=float(s)) for i, s in enumerate(rng.beta(2, 3, 150))] + [
        _row(i, "m/2", score=float(s)) for i, s in enumerate(rng.uniform(0.85, 0.95, 50))]
    _write(tmp_path / "broken", rows)
    broken = analyze_window(tmp_path / "broken", phase="canary", start=0, end=200, champion="m/1", candidate="m/2",
                            thresholds=t)
    check = next(c for c in broken.checks if c.name == "score-shift-ks")
    assert broken.verdict == "fail" and not check.passed and check.value > 0.8 and "lower bound" in check.detail
    # the same score distribution, a sample whose distance (0.27) exceeds 0.25 and whose p-value is below 0.01
    # by chance: not evidence of a shift past the allowance
    champ, cand = rng.beta(2, 3, 150), rng.beta(2, 3, 50)
    while not (ks_2samp(champ, cand).statistic > 0.25 and ks_2samp(champ, cand).pvalue < 0.01):
        champ, cand = rng.beta(2, 3, 150), rng.beta(2, 3, 50)
    rows = [_row(i, "m/1", score=float(s)) for i, s in enumerate(champ)] + [
        _row(i, "m/2", score=float(s)) for i, s in enumerate(cand)]
    _write(tmp_path / "noise", rows)
    noise = analyze_window(tmp_path / "noise", phase="canary", start=0, end=200, champion="m/1", candidate="m/2",
                           thresholds=t)
    check = next(c for c in noise.checks if c.name == "score-shift-ks")
    assert check.value > 0.25 and check.passed and noise.verdict == "pass"
