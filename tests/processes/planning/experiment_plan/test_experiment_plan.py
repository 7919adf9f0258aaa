"""The experiment-plan process: statsmodels sample sizes, duration, proposals, pre-registration, review."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize

import mlsitter
import realdata
from mlsitter.ml.experiments._ab_plan import read_preregistration
from planning_helpers import cli, plain

BANK = "bank_marketing/bank-additional-full.csv"


def bank_rate() -> float:
    return float((realdata.bank()["y"] == "yes").mean())


def test_bank_conversion_plan_matches_statsmodels_and_ab_test_reads_it():
    run = mlsitter.run("experiment-plan", approve="auto", mde=0.02, data=str(realdata.path(BANK)), metric_column="y",
                       positive_value="yes", daily_traffic=2000, max_days=28, randomization_unit="client",
                       guardrails="complaints:higher:0.05, revenue:lower")
    assert run.status == "completed", run.error
    r = run.result
    p = bank_rate()
    assert r.baseline == pytest.approx(p, abs=1e-12)
    expected = NormalIndPower().solve_power(effect_size=proportion_effectsize(p + 0.02, p), alpha=0.05, power=0.8,
                                            ratio=1.0, alternative="two-sided")
    assert r.n_control == r.n_treatment == math.ceil(expected)
    assert r.days_needed == math.ceil(2 * math.ceil(expected) / 2000) and r.feasible and r.adjusted_by == ""
    assert r.planned_days == max(r.days_needed, 7)
    doc = json.loads(Path(r.preregistration).read_text())
    assert doc["sample_size"]["n_control_exact"] == pytest.approx(expected, rel=1e-12)
    plan = read_preregistration(r.preregistration)
    assert (plan.primary_metric, plan.metric_type, plan.alpha, plan.mde, plan.unit) == ("y=yes", "binary", 0.05,
                                                                                         0.02, "client")
    assert plan.planned_units == r.total and plan.split == {"control": 0.5, "treatment": 0.5}
    assert [(g.metric, g.worse, g.tolerance) for g in plan.guardrails] == [("complaints", "higher", 0.05),
                                                                           ("revenue", "lower", 0.02)]
    html = Path(r.report).read_text(encoding="utf-8")
    assert html.count("data:image/png;base64") == 2 and "H1:" in html


def test_cli_bike_sharing_daily_rentals_one_sided_mean_plan():
    day = realdata.path("bike_sharing/day.csv")
    code, out = cli("run", "experiment-plan", "-i", "metric_type=mean", "-i", "mde=150", "-i", f"data={day}",
                    "-i", "metric_column=cnt", "-i", "direction=increase", "-i", "ratio=2", "-i", "daily_traffic=60",
                    "-i", "max_days=400", "-i", "randomization_unit=station-day", "--approve", "auto", "--json")
    assert code == 0, out
    r = plain(out["result"])
    cnt = pd.read_csv(day)["cnt"]
    expected = TTestIndPower().solve_power(effect_size=150 / cnt.std(ddof=1), alpha=0.05, power=0.8, ratio=2.0,
                                           alternative="larger")
    assert r["n_control"] == math.ceil(expected) and r["n_treatment"] == math.ceil(expected * 2)
    assert r["baseline"] == pytest.approx(cnt.mean()) and r["metric_type"] == "mean"


def test_infeasible_plan_proposes_a_longer_duration_or_a_larger_mde():
    p = bank_rate()
    common = dict(mde=0.005, baseline=p, daily_traffic=500, max_days=14)
    run = mlsitter.run("experiment-plan", **common)
    assert run.status == "waiting" and run.waiting["options"] == ["larger-mde", "longer-duration"]
    assert [a["name"] for a in run.waiting["artifacts"]] == ["sample-size-proposal.html"]  # the question's evidence
    assert "longer-duration" in Path(run.waiting["artifacts"][0]["path"]).read_text(encoding="utf-8")
    needed = run.waiting["context"]["days_needed"]
    assert needed > 14
    mlsitter.approve(run.run_id, option="longer-duration")
    review = mlsitter.resume(run.run_id)
    assert review.status == "waiting"
    done = mlsitter.approve(run.run_id, resume=True)
    assert done.result.max_days == needed and done.result.mde == 0.005 and done.result.adjusted_by == "longer-duration"

    auto = mlsitter.run("experiment-plan", approve="auto", **common)
    r = auto.result
    assert r.adjusted_by == "larger-mde" and r.mde > 0.005 and r.feasible and r.days_needed <= 14
    expected = NormalIndPower().solve_power(effect_size=proportion_effectsize(p + r.mde, p), alpha=0.05, power=0.8)
    assert r.n_control == math.ceil(expected)


def test_refused_proposal_fails_the_gate():
    run = mlsitter.run("experiment-plan", mde=0.005, baseline=0.1, daily_traffic=100, max_days=7)
    failed = mlsitter.reject(run.run_id, feedback="no budget for that", resume=True)
    assert failed.status == "failed" and "sample-size-feasible" in failed.error


def test_rejection_feedback_changes_mde_and_power():
    run = mlsitter.run("experiment-plan", mde=0.02, baseline=0.1, daily_traffic=5000)
    assert run.status == "waiting" and run.waiting["context"]["context"]["mde"] == 0.02
    again = mlsitter.reject(run.run_id, feedback="mde: 0.03; power: 0.9", resume=True)
    ctx = again.waiting["context"]["context"]
    assert again.waiting["context"]["attempt"] == 2 and ctx["mde"] == 0.03 and ctx["power"] == 0.9
    expected = NormalIndPower().solve_power(effect_size=proportion_effectsize(0.13, 0.1), alpha=0.05, power=0.9)
    assert ctx["n_control"] == math.ceil(expected)
    done = mlsitter.approve(run.run_id, resume=True)
    assert done.result.attempts == 2 and done.result.mde == 0.03


@pytest.mark.parametrize("inputs, message", [
    ({"mde": 0.01, "baseline": 1.4}, "a proportion baseline must be in \\(0, 1\\)"),
    ({"mde": 0.01}, "no baseline"),
    ({"mde": 5.0, "baseline": 100.0, "metric_type": "mean"}, "needs its standard deviation"),
    ({"mde": 0.01, "baseline": 0.1, "guardrails": "latency:sideways"}, "'higher' or 'lower'"),
])
def test_bad_plans_are_named(inputs, message):
    run = mlsitter.run("experiment-plan", approve="auto", **inputs)
    assert run.status == "failed"
    assert pd.Series([run.error]).str.contains(message).all(), run.error


@pytest.mark.parametrize("inputs, message", [
    ({"mde": 0.01, "baseline": 0.1, "metric_type": "ratio"},
     "The 'metric_type' parameter of experiment-plan must be a str among {'proportion', 'mean'}. Got 'ratio' instead."),
    ({"mde": 0.01, "baseline": 0.1, "alpha": 0.7},
     "The 'alpha' parameter of experiment-plan must be a float in the range (0, 0.5). Got 0.7 instead."),
])
def test_bad_input_values_are_refused_before_a_run(inputs, message):
    from mlsitter import Store
    from mlsitter.errors import InvalidInputError

    with pytest.raises(InvalidInputError) as refused:
        mlsitter.run("experiment-plan", approve="auto", **inputs)
    assert message in str(refused.value) and Store().count_runs() == 0


def test_relative_mde_and_a_stopping_rule_in_calendar_time():
    run = mlsitter.run("experiment-plan", approve="auto", mde="10%", baseline=0.3, daily_traffic=13000, min_days=7)
    assert run.status == "completed", run.error
    r = run.result
    assert r.mde == pytest.approx(0.03)  # 10% of the 0.3 baseline
    n = NormalIndPower().solve_power(effect_size=proportion_effectsize(0.33, 0.3), alpha=0.05, power=0.8)
    assert r.n_control == math.ceil(n) and r.days_needed == math.ceil(r.total / 13000) < 7 == r.planned_days
    doc = json.loads(Path(r.preregistration).read_text())
    rule = doc["stopping_rules"][0]
    assert f"fills in {r.days_needed} day(s) at 13,000 units/day" in rule and "after 7 days" in rule
    assert f"about {7 * 13000:,}" in rule
    assert "mde 10% of baseline 0.3" in plain(Path(r.report).read_text(encoding="utf-8"))


@pytest.mark.parametrize("mde, shown", [("0%", "'0%'"), ("-2%", "'-2%'"), ("abc%", "'abc%'"), ("150%", "'150%'"),
                                        ("two percent", "'two percent'"), ("-0.5", "-0.5"), (-0.5, "-0.5"), (0, "0.0")])
def test_bad_mde_is_refused_before_a_run(mde, shown):
    from mlsitter import Store
    from mlsitter.errors import InvalidInputError

    with pytest.raises(InvalidInputError) as refused:
        mlsitter.run("experiment-plan", approve="auto", mde=mde, baseline=0.1)
    assert str(refused.value).startswith(
        "The 'mde' parameter of experiment-plan must be a positive number (an absolute change, e.g. 0.02) or a "
        "percentage of the baseline in (0%, 100%] (e.g. '2%'). Got ")
    assert str(refused.value).endswith(f"Got {shown} instead.")  # '-0.5' from the command line reads as a number
    assert Store().count_runs() == 0
