"""EDA: known facts on the real datasets, each building block, the report, and the ``eda`` process
(refine loop with feedback that changes the next report, gates, bad input through a run)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import mlsitter
import realdata
from mlsitter.ml.data._correlation import category_codes, compute_associations, correlation_ratio, cramers_v, vif_from_correlation
from mlsitter.processes.planning.eda.analysis import analyze_dataset
from mlsitter.processes.planning.eda.feedback import ReportOptions, apply_feedback, options_from_feedbacks
from mlsitter.processes.planning.eda.report import write_eda_report
from mlsitter.ml.data._outliers import column_outliers, row_outliers
from mlsitter.ml.data._profiling import profile_frame
from mlsitter.ml.data._target_analysis import analyze_target


# -- known facts on real data ------------------------------------------------------------------------
def test_adult_profile_known_facts():
    profile = profile_frame(realdata.adult())
    assert profile.rows == 32_561 and profile.n_columns == 15
    assert {c.name for c in profile.columns if c.missing} == {"workclass", "occupation", "native-country"}
    assert profile.column("workclass").missing == 1836
    assert profile.column("occupation").missing == 1843
    assert profile.column("native-country").missing == 583
    assert profile.duplicate_rows == 24
    age = profile.column("age")
    assert age.kind == "numeric" and age.min == 17 and age.max == 90
    assert age.mean == pytest.approx(38.5816, abs=1e-3)
    assert sum(age.histogram[0]) == 32_561
    assert profile.kinds["education"] == "categorical" and profile.kinds["sex"] == "boolean"
    assert profile.column("sex").top_values[0] == ("Male", 21790)


def test_bike_sharing_has_165_missing_hours():
    profile = profile_frame(realdata.bike_hour(), timestamp="dteday + hr hours")
    gaps = profile.time_gaps
    assert gaps.expected == 17_544 and gaps.observed == 17_379 and gaps.missing == 165
    assert gaps.step_seconds == 3600
    assert gaps.largest_gaps[0] == {"after": "2012-10-29 00:00:00", "missing_points": 36}  # hurricane Sandy
    assert profile.kinds["dteday"] == "datetime" and profile.kinds["instant"] == "id"


def test_bank_duration_flagged_as_leak_and_adult_titanic_not():
    bank = realdata.bank()
    kinds = profile_frame(bank).kinds
    result = analyze_target(bank, "y", kinds)
    assert result.task == "classification" and result.classes == {"no": 36548, "yes": 4640}
    assert result.leak_suspects == ["duration"]
    duration = next(f for f in result.features if f.feature == "duration")
    assert duration.single_feature_score > 0.8 and duration.drop_column_loss >= 0.1
    for frame, target in ((realdata.adult(), "class"), (realdata.titanic(), "Survived")):
        assert analyze_target(frame, target, profile_frame(frame).kinds).leak_suspects == []


def test_near_perfect_feature_is_a_leak():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    frame = pd.DataFrame({"y": y, "copy": y * 10 + rng.normal(0, 0.1, 2000), "noise": rng.normal(size=2000)})
    result = analyze_target(frame, "y", {"y": "boolean", "copy": "numeric", "noise": "numeric"})
    assert result.leak_suspects == ["copy"]
    assert "near-perfect" in result.features[0].leak


# -- building blocks ---------------------------------------------------------------------------------------
def test_association_measures_on_known_cases():
    a = np.array([0, 0, 1, 1, 2, 2] * 50)
    assert cramers_v(a, 3, a, 3) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    b = rng.integers(0, 3, 300)
    c = rng.integers(0, 3, 300)
    assert cramers_v(b, 3, c, 3) < 0.15
    values = a.astype(float) * 10
    assert correlation_ratio(a, 3, values) == pytest.approx(1.0)
    codes, k = category_codes(pd.Series(["x", None, "y", "x"]).pipe(lambda s: __import__("polars").from_pandas(s)))
    assert k == 2 and codes[1] == -1 and codes[0] == codes[3]
    corr = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.0], [0.5, 0.0, 1.0]])
    assert vif_from_correlation(corr) == pytest.approx([4 / 3, 1.0, 4 / 3])


def test_bank_correlations_and_vif():
    bank = realdata.bank()
    assoc = compute_associations(bank, profile_frame(bank).kinds)
    pairs = {(h["a"], h["b"], h["method"]) for h in assoc.high_pairs}
    assert ("emp.var.rate", "euribor3m", "pearson") in pairs
    assert {"emp.var.rate", "euribor3m", "nr.employed"} <= set(assoc.high_vif)
    assert assoc.vif["age"] < 2
    bike = realdata.bike_hour()
    vif = compute_associations(bike, profile_frame(bike).kinds).vif
    assert vif["cnt"] == float("inf") and np.isfinite(vif["hum"])  # cnt = casual + registered exactly


def test_outliers_count_injected_values():
    rng = np.random.default_rng(0)
    x = rng.normal(50, 5, 5000)
    x[:7] = [500, 600, -400, 700, 800, 900, 1000]
    frame = pd.DataFrame({"x": x, "y": rng.normal(size=5000)})
    result = {o.column: o for o in column_outliers(frame, ["x", "y"])}
    assert result["x"].robust_z_count >= 7 and 1000.0 in result["x"].examples
    rows = row_outliers(frame, ["x", "y"], seed=0)
    assert len({r["row"] for r in rows.top_rows} & set(range(7))) >= 4 and rows.flagged >= 7


def test_feedback_directives():
    options = apply_feedback(ReportOptions(), "exclude: a, b; sample: 10,000\nplease look at c")
    assert options.exclude == ("a", "b") and options.sample == 10_000 and options.notes == ("please look at c",)
    options = options_from_feedbacks(ReportOptions(exclude=("z",)), ["exclude: a", "include: z; sample: all", "sample: lots"])
    assert options.exclude == ("a",) and options.sample is None
    assert options.problems and "sample" in options.problems[0]


# -- report -------------------------------------------------------------------------------------------------
def test_report_is_self_contained_and_small(tmp_path):
    bank = realdata.bank(full=False)
    analysis = analyze_dataset(bank, target="y")
    files = write_eda_report(analysis, bank, tmp_path, min_quality=70)
    html = files.html.read_text(encoding="utf-8")
    assert files.html.stat().st_size < 5_000_000
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # no CDN, nothing remote
    assert html.count("data:image/png;base64,") >= 4
    assert "possible leak: duration" in html
    data = json.loads(files.json.read_text())
    assert data["analysis"]["profile"]["rows"] == 4119
    assert data["analysis"]["quality"]["score"] == analysis.quality.score


def test_quality_score_explains_deductions():
    analysis = analyze_dataset(realdata.titanic(), target="Survived")
    rules = {d.rule: d for d in analysis.quality.deductions}
    assert "Cabin" in rules["mostly-empty columns"].detail
    assert analysis.quality.score == pytest.approx(100 - sum(d.points for d in analysis.quality.deductions), abs=0.01)
    assert any("Cabin" in r for r in analysis.quality.recommendations)


# -- the process -------------------------------------------------------------------------------------------
def _verify(run_id: str) -> None:
    report = mlsitter.Store().verify(run_id)
    assert report.ok, report.problems


def test_eda_refine_loop_feedback_changes_next_report(tmp_path):
    data = tmp_path / "titanic.csv"
    realdata.titanic().to_csv(data, index=False)
    handle = mlsitter.run("eda", data=str(data), target="Survived")
    assert handle.status == "waiting"
    handle = mlsitter.reject(handle.run_id, feedback="exclude: Name, Ticket; sample: 500", resume=True)
    assert handle.status == "waiting"
    handle = mlsitter.approve(handle.run_id, resume=True)
    assert handle.status == "completed", handle.error
    result = handle.result
    assert result.attempts == 2 and result.excluded == ["Name", "Ticket"] and result.sample == 500 and result.rows == 500
    assert "Name" not in result.kinds and "Ticket" not in result.kinds
    second = json.loads(Path(result.report_json).read_text())
    first = json.loads(Path(result.report_json.replace("attempt-2", "attempt-1")).read_text())
    assert first["analysis"]["profile"]["rows"] == 891 and second["analysis"]["profile"]["rows"] == 500
    assert "Name" in first["analysis"]["profile"]["kinds"] and "Name" not in second["analysis"]["profile"]["kinds"]
    assert "excluded columns: Name, Ticket" in Path(result.report).read_text()
    _verify(handle.run_id)


def test_eda_gate_passes_and_fails_on_measured_score(tmp_path):
    data = tmp_path / "bank.csv"
    realdata.bank(full=False).to_csv(data, index=False, sep=";")
    ok = mlsitter.run("eda", approve="auto", data=str(data), target="y", min_quality=50)
    assert ok.status == "completed" and ok.result.quality_passed and ok.result.leak_suspects == ["duration"]
    failed = mlsitter.run("eda", approve="auto", data=str(data), target="y", min_quality=99.5, on_gate_fail="fail")
    assert failed.status == "failed"
    assert "data-quality" in failed.error and f"{ok.result.quality_score:g}" in failed.error
    _verify(failed.run_id)


@pytest.mark.parametrize("case, inputs, message", [
    ("missing", {}, "does not exist"),
    ("empty", {}, "is empty"),
    ("binary", {}, "binary"),
    ("semicolon", {"delimiter": ","}, "looks ';'-separated"),
    ("absent-target", {"target": "Survivd"}, "target: column 'Survivd' (did you mean 'Survived'?)"),
    ("absent-exclude", {"exclude": "Nmae"}, "exclude: column 'Nmae'"),
])
def test_eda_bad_input_fails_the_run_with_a_clear_message(tmp_path, case, inputs, message):
    path = tmp_path / f"{case}.csv"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "binary":
        path.write_bytes(bytes(range(256)) * 4)
    elif case == "semicolon":
        realdata.titanic().head(50).to_csv(path, index=False, sep=";")
    elif case != "missing":
        realdata.titanic().head(50).to_csv(path, index=False)
    handle = mlsitter.run("eda", approve="auto", data=str(path), **inputs)
    assert handle.status == "failed"
    assert message in handle.error
    _verify(handle.run_id)


def test_eda_from_the_cli_on_bike_sharing(tmp_path):
    from mlsitter.cli import main

    data = tmp_path / "hour.csv"
    realdata.bike_hour().to_csv(data, index=False)
    result = CliRunner().invoke(main, ["run", "eda", "-i", f"data={data}", "-i", "timestamp=dteday + hr hours",
                                       "-i", "target=cnt", "--approve", "auto", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["status"] == "completed"
    handle = mlsitter.get(out["run_id"])
    assert handle.result.missing_time_points == 165 and handle.result.rows == 17_379
    verify = CliRunner().invoke(main, ["verify", out["run_id"]])
    assert verify.exit_code == 0 and "OK" in verify.stdout
