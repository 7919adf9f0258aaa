"""The ``ab-test`` process end to end: numbers equal scipy/statsmodels on the same data, the SRM gate
blocks the readout, pre-registration, early stop and decision breakpoints, bad tables, CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats
from statsmodels.stats.proportion import proportions_ztest

import mlsitter
from mlsitter.cli import main
from mlsitter.runtime.store import Store
from validation_fixtures import ab_table

TOL = 1e-6


@pytest.fixture
def table(tmp_path):
    frame = ab_table()
    # 20 repeated rows: units seen again in the other variant, which cleaning must remove
    dupes = frame.iloc[:20].assign(variant=lambda f: np.where(f["variant"] == "control", "treatment", "control"))
    path = tmp_path / "ab.csv"
    pd.concat([frame, dupes]).to_csv(path, index=False)
    return path, frame.iloc[20:]


def test_readout_matches_scipy_and_statsmodels(table, tmp_path):
    path, clean = table
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"hypothesis": {"primary_metric": "revenue", "direction": "increase"},
                                "analysis": {"alpha": 0.05, "mde": 0.8}, "variants": ["control", "treatment"],
                                "guardrails": [{"metric": "latency_ms", "direction": "increase"}]}))
    h = mlsitter.run("ab-test", approve="auto", data=str(path), plan=str(plan), covariate="pre_revenue", timestamp="ts",
                     segments=["country"], n_resamples=300)
    assert h.status == "completed", h.error
    r = h.result
    assert r.cleaning["unit_in_several_variants"] == 40  # both rows of each of the 20 units
    assert (r.n_control + r.n_treatment) == len(clean)
    a = clean.loc[clean["variant"] == "control", "revenue"].to_numpy()
    b = clean.loc[clean["variant"] == "treatment", "revenue"].to_numpy()
    welch = stats.ttest_ind(b, a, equal_var=False)
    assert r.tests["welch"]["statistic"] == pytest.approx(welch.statistic, abs=TOL)
    assert r.tests["welch"]["p_value"] == pytest.approx(welch.pvalue, abs=TOL)
    assert r.tests["welch"]["ci_low"] == pytest.approx(welch.confidence_interval().low, abs=TOL)
    mw = stats.mannwhitneyu(b, a, alternative="two-sided")
    assert r.tests["mann_whitney"]["statistic"] == pytest.approx(mw.statistic, abs=TOL)
    assert r.tests["mann_whitney"]["p_value"] == pytest.approx(mw.pvalue, abs=TOL)
    x = clean["pre_revenue"].to_numpy()
    y = clean["revenue"].to_numpy()
    theta = np.cov(x, y)[0, 1] / np.var(x, ddof=1)
    xa = clean.loc[clean["variant"] == "control", "pre_revenue"].to_numpy()
    xb = clean.loc[clean["variant"] == "treatment", "pre_revenue"].to_numpy()
    cuped = stats.ttest_ind(b - theta * (xb - x.mean()), a - theta * (xa - x.mean()), equal_var=False)
    assert r.tests["cuped"]["statistic"] == pytest.approx(cuped.statistic, abs=TOL)
    assert r.tests["cuped"]["p_value"] == pytest.approx(cuped.pvalue, abs=TOL)
    assert r.cuped["variance_reduction"] > 0.5  # the covariate explains most of the variance
    assert r.lift == pytest.approx(b.mean() / a.mean() - 1, abs=TOL)
    # decision: a real +1.0 lift, guardrail unchanged
    assert r.recommended == "ship" == r.decision and r.prob_treatment_better > 0.99
    assert r.guardrails[0]["metric"] == "latency_ms" and not r.guardrails[0]["breached"]
    assert {s["value"] for s in r.segments} == {"US", "DE", "FR"} and all("p_adjusted" in s for s in r.segments)
    assert "primary_metric" in r.plan_fields and "guardrails" in r.plan_fields
    html = open(r.report, encoding="utf-8").read()
    assert "Sample ratio mismatch" in html and "Sequential monitoring" in html and "CUPED" in html


def test_binary_metric_matches_statsmodels_ztest(table):
    path, clean = table
    h = mlsitter.run("ab-test", approve="auto", data=str(path), metric="converted", n_resamples=100)
    assert h.status == "completed", h.error
    counts = clean.groupby("variant")["converted"].agg(["sum", "count"])
    x = [counts.loc["treatment", "sum"], counts.loc["control", "sum"]]
    n = [counts.loc["treatment", "count"], counts.loc["control", "count"]]
    z, p = proportions_ztest(x, n)
    _, p_larger = proportions_ztest(x, n, alternative="larger")
    assert h.result.tests["z"]["statistic"] == pytest.approx(z, abs=TOL)
    # the default hypothesis is 'increase': the reported p is statsmodels' one-sided one, the two-sided kept beside it
    assert h.result.p_value == pytest.approx(p_larger, abs=TOL) and h.result.p_value_two_sided == pytest.approx(p, abs=TOL)


def test_srm_alarm_writes_the_readout_and_holds_the_decision_for_a_person(tmp_path):
    frame = ab_table(n=6000, treatment_share=0.55)
    frame.to_csv(tmp_path / "srm.csv", index=False)
    h = mlsitter.run("ab-test", approve="auto", data=str(tmp_path / "srm.csv"), metric="revenue", n_resamples=0, n_looks=2)
    # a policy may not override: the run fails, naming the gate, the counts and where the readout is
    assert h.status == "failed" and "sample-ratio-mismatch" in h.error and "a person must" in h.error
    counts = frame["variant"].value_counts()
    assert f"'treatment': {counts['treatment']}" in h.error
    recorded = {e.data["name"]: e.data for e in Store().events(h.run_id, types=("artifact.recorded",))}
    html = open(recorded["ab-test-report.html"]["path"], encoding="utf-8").read()
    assert "SAMPLE RATIO MISMATCH" in html and f"{counts['control']:,}" in html and "Welch" in html

    h = mlsitter.run("ab-test", data=str(tmp_path / "srm.csv"), metric="revenue", n_resamples=0, n_looks=2)
    assert h.status == "waiting" and h.waiting["options"] == ["override", "stop"]
    assert {a["name"] for a in h.waiting["artifacts"]} >= {"ab-test-report.html"}
    assert f"control {counts['control']:,}" in h.waiting["question"]
    after = mlsitter.approve(h.run_id, option="override", feedback="known logging gap", by="analyst", resume=True)
    assert after.status == "waiting" and after.waiting["options"] == ["ship", "dont-ship", "inconclusive"]
    done = mlsitter.approve(h.run_id, option="inconclusive", by="analyst", resume=True)
    assert done.status == "completed" and done.result.srm_status == "alarm"
    assert done.result.units_per_variant == {k: int(v) for k, v in counts.items()}


def test_srm_warning_band_reads_out_with_a_banner(tmp_path):
    # 4,000 units at a 52.1% treatment share: chi-square p about 0.008, inside the default band [0.001, 0.01)
    n_b = 2084
    frame = ab_table(n=4000).assign(variant=["treatment"] * n_b + ["control"] * (4000 - n_b))
    frame.to_csv(tmp_path / "warn.csv", index=False)
    p = stats.chisquare([n_b, 4000 - n_b]).pvalue
    assert 0.001 < p < 0.01
    h = mlsitter.run("ab-test", approve="auto", data=str(tmp_path / "warn.csv"), metric="revenue", n_resamples=0, n_looks=2)
    assert h.status == "completed", h.error
    assert h.result.srm_status == "warning" and h.result.srm_p_value == pytest.approx(p)
    gate = next(e.data for e in Store().events(h.run_id, types=("gate.evaluated",)) if e.data["name"] == "sample-ratio-mismatch")
    assert not gate["passed"] and gate["on_fail"] == "warn"
    assert "Sample ratio warning" in open(h.result.report, encoding="utf-8").read()


def test_variant_labels_are_mapped_and_dropped_rows_explained(tmp_path):
    frame = ab_table(n=3000)
    served = np.where(frame["variant"] == "treatment", "new_page", "old_page")
    served[:50] = np.where(served[:50] == "new_page", "old_page", "new_page")  # 50 units served the other page
    frame = frame.assign(group=frame["variant"], landing_page=served).drop(columns="variant")
    frame.to_csv(tmp_path / "pages.csv", index=False)
    kw = dict(approve="auto", data=str(tmp_path / "pages.csv"), metric="converted", variant="group", n_resamples=0,
              n_looks=2)
    bad = mlsitter.run("ab-test", exposure="landing_page", **kw)
    assert bad.status == "failed" and "variant_exposure_mismatch 3,000" in bad.error and "variants=" in bad.error
    h = mlsitter.run("ab-test", exposure="landing_page", variants=["new_page=treatment", "old_page=control"], **kw)
    assert h.status == "completed", h.error
    assert h.result.cleaning["variant_exposure_mismatch"] == 50 and h.result.n_control + h.result.n_treatment == 2950
    assert "variant_exposure_mismatch" in open(h.result.report, encoding="utf-8").read()
    refused = mlsitter.run("ab-test", exposure="landing_page", variants=["new_page"], **kw)
    assert refused.status == "failed" and "'new_page=treatment'" in refused.error


def test_secondary_metrics_winsorizing_and_a_one_sided_p(tmp_path):
    rng = np.random.default_rng(3)
    frame = ab_table(n=4000)
    whale = rng.random(4000) < 0.005  # a few huge orders dominate the variance
    frame = frame.assign(order_value=rng.exponential(20, 4000) + whale * 5000.0)
    frame.to_csv(tmp_path / "heavy.csv", index=False)
    kw = dict(approve="auto", data=str(tmp_path / "heavy.csv"), n_resamples=0, n_looks=2)
    h = mlsitter.run("ab-test", metric="revenue", secondary=["converted", "order_value"], winsorize=0.01,
                     direction="decrease", **kw)
    assert h.status == "completed", h.error
    r = h.result
    cap = float(np.quantile(frame["order_value"], 0.99))
    assert r.winsorized["order_value"]["cap"] == pytest.approx(cap) and "converted" not in r.winsorized
    assert r.winsorized["order_value"]["units_capped"] == int((frame["order_value"] > cap).sum())
    a = frame.loc[frame.variant == "control"]
    b = frame.loc[frame.variant == "treatment"]
    capped = stats.ttest_ind(np.minimum(b.order_value, cap), np.minimum(a.order_value, cap), equal_var=False,
                             alternative="less")
    row = {s["metric"]: s for s in r.secondary}
    assert row["order_value"]["p_value"] == pytest.approx(capped.pvalue, abs=TOL)
    assert set(row) == {"converted", "order_value"} and all("p_adjusted" in s for s in r.secondary)
    # revenue (capped too) rose by about 1.0: under H1 'decrease' the one-sided p is near 1, and the move is harm
    top = float(np.quantile(frame["revenue"], 0.99))
    welch = stats.ttest_ind(np.minimum(b.revenue, top), np.minimum(a.revenue, top), equal_var=False, alternative="less")
    assert r.p_value == pytest.approx(welch.pvalue, abs=TOL) and r.p_value > 0.95 and r.recommended == "dont-ship"
    assert "Secondary metrics" in open(r.report, encoding="utf-8").read()


def test_early_stop_and_decision_breakpoints(table, tmp_path):
    path, _ = table
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"primary_metric": "revenue", "n_control": 20000, "n_treatment": 20000}))
    h = mlsitter.run("ab-test", data=str(path), plan=str(plan), covariate="pre_revenue", n_resamples=50)
    assert h.status == "waiting" and h.waiting["options"] == ["stop", "continue"]
    assert "planned units" in h.waiting["question"]
    cont = mlsitter.approve(h.run_id, option="continue", resume=True)
    assert cont.status == "completed" and cont.result.decision == "continue"

    h = mlsitter.run("ab-test", data=str(path), metric="revenue", n_resamples=50)
    assert h.status == "waiting" and h.waiting["options"] == ["ship", "dont-ship", "inconclusive"]
    done = mlsitter.approve(h.run_id, option="dont-ship", feedback="wait for the holiday period", by="pm", resume=True)
    assert done.result.recommended == "ship" and done.result.decision == "dont-ship" and done.result.decided_by == "pm"


@pytest.mark.parametrize("change, message", [
    (lambda f: f.rename(columns={"variant": "arm"}), "lacks column(s) ['variant']"),
    (lambda f: f.assign(variant="control"), "only one variant"),
    (lambda f: f.assign(converted=f["converted"] - 2 * (f.index % 50 == 0)), "negative counts"),
])
def test_bad_tables_fail_with_clear_messages(tmp_path, change, message):
    change(ab_table(n=1000)).to_csv(tmp_path / "bad.csv", index=False)
    h = mlsitter.run("ab-test", approve="auto", data=str(tmp_path / "bad.csv"), metric="converted", n_resamples=20)
    assert h.status == "failed" and message in h.error


def test_ab_test_from_the_cli(table):
    path, _ = table
    res = CliRunner().invoke(main, ["run", "ab-test", "-i", f"data={path}", "-i", "metric=revenue", "-i", "covariate=pre_revenue",
                                    "-i", "guardrails=latency_ms:higher", "-i", "n_resamples=50", "--approve", "auto", "--json"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["status"] == "completed"
    bad = CliRunner().invoke(main, ["run", "ab-test", "-i", f"data={path}", "-i", "metric=no_such_metric", "--approve", "auto"],
                             catch_exceptions=False)
    assert bad.exit_code != 0 and "no_such_metric" in bad.output


def test_reads_the_preregistration_written_by_experiment_plan(table):
    path, clean = table
    plan = mlsitter.run("experiment-plan", approve="auto", metric="revenue", metric_type="mean", baseline=16.0, std=12.0,
                        mde=1.0, direction="increase", daily_traffic=2000, guardrails="latency_ms:higher:0.05",
                        segments="country")
    assert plan.status == "completed", plan.error
    h = mlsitter.run("ab-test", approve="auto", data=str(path), plan=plan.result.preregistration, n_resamples=50)
    assert h.status == "completed", h.error
    r = h.result
    assert r.metric == "revenue" and {"primary_metric", "direction", "alpha", "guardrails", "segments"} <= set(r.plan_fields)
    assert r.guardrails[0]["metric"] == "latency_ms" and r.guardrails[0]["tolerance"] == 0.05
    assert {s["segment"] for s in r.segments} == {"country"}
    assert r.tests["welch"]["p_value"] == pytest.approx(r.p_value_two_sided)  # a 'mean' metric: Welch's t-test
    assert r.p_value == pytest.approx(r.p_value_two_sided / 2)  # planned direction 'increase', effect upward
    # each gate and question is tagged with the compliance checkpoint it serves: the plan is the scope, the SRM check
    # the data quality, the guardrails and the ship decision the deployment
    for run_id, served in ((plan.run_id, {"scope": ["sample-size-feasible"]}),
                           (h.run_id, {"data-quality": ["sample-ratio-mismatch"],
                                       "deployment": ["guardrail-latency_ms"]})):
        shown = CliRunner().invoke(main, ["compliance", "show", run_id, "--json"], catch_exceptions=False)
        assert shown.exit_code == 0, shown.output
        checkpoints = {c["name"]: c for p in json.loads(shown.stdout)["phases"] for c in p["checkpoints"]}
        for name, gates in served.items():
            assert [g["name"] for g in checkpoints[name]["gates"]] == gates, checkpoints[name]
        asked = {c["name"]: [q["question"][:16] for q in c["approvals"]] for c in checkpoints.values() if c["approvals"]}
        assert asked == ({"scope": ["Approve the plan"]} if run_id == plan.run_id else
                         {"deployment": ["A/B decision for"]}), asked
    text = CliRunner().invoke(main, ["compliance", h.run_id], catch_exceptions=False).stdout
    assert "Data quality: passed" in text and "Deployment: passed" in text, text
