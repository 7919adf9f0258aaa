"""A/B statistics agree with scipy/statsmodels to 1e-6 on the same data; cleaning counts; mSPRT validity."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from mlsitter.errors import DataError
from mlsitter.ml.experiments import _ab_stats as st
from mlsitter.ml.experiments._ab_cleaning import clean_assignments
from mlsitter.ml.experiments._ab_plan import read_preregistration
from mlsitter.ml.experiments._sequential import sequential_monitor

TOL = 1e-6


@pytest.fixture
def samples():
    rng = np.random.default_rng(42)
    a = rng.lognormal(1.0, 0.8, 5000)
    b = rng.lognormal(1.0, 0.8, 5200) * 1.04
    return a, b


def test_two_proportion_ztest_matches_statsmodels():
    x_a, n_a, x_b, n_b = 480, 5000, 551, 5100
    ours = st.two_proportion_ztest(x_a, n_a, x_b, n_b)
    z, p = proportions_ztest([x_b, x_a], [n_b, n_a])
    low, high = confint_proportions_2indep(x_b, n_b, x_a, n_a, compare="diff", method="wald")
    assert ours.statistic == pytest.approx(z, abs=TOL)
    assert ours.p_value == pytest.approx(p, abs=TOL)
    assert (ours.ci_low, ours.ci_high) == pytest.approx((low, high), abs=TOL)


def test_welch_and_mann_whitney_match_scipy(samples):
    a, b = samples
    ours = st.welch_ttest(st.summarise(a), st.summarise(b))
    ref = stats.ttest_ind(b, a, equal_var=False)
    ci = ref.confidence_interval()
    assert ours.statistic == pytest.approx(ref.statistic, abs=TOL)
    assert ours.p_value == pytest.approx(ref.pvalue, abs=TOL)
    assert ours.df == pytest.approx(ref.df, rel=TOL)
    assert (ours.ci_low, ours.ci_high) == pytest.approx((ci.low, ci.high), abs=TOL)
    mw = st.mann_whitney(a, b)
    ref_mw = stats.mannwhitneyu(b, a, alternative="two-sided", method="asymptotic")
    assert mw.statistic == pytest.approx(ref_mw.statistic, abs=TOL)
    assert mw.p_value == pytest.approx(ref_mw.pvalue, abs=TOL)


def test_cuped_matches_the_textbook_computation(samples):
    a, b = samples
    rng = np.random.default_rng(1)
    x_a = a * 0.7 + rng.normal(0, 0.5, len(a))
    x_b = b / 1.04 * 0.7 + rng.normal(0, 0.5, len(b))
    res, adj_a, adj_b = st.cuped(a, x_a, b, x_b)
    y, x = np.r_[a, b], np.r_[x_a, x_b]
    theta = np.cov(x, y, ddof=1)[0, 1] / np.var(x, ddof=1)
    assert res.theta == pytest.approx(theta, rel=TOL)
    ref = stats.ttest_ind(b - theta * (x_b - x.mean()), a - theta * (x_a - x.mean()), equal_var=False)
    assert res.adjusted.statistic == pytest.approx(ref.statistic, abs=TOL)
    assert res.adjusted.p_value == pytest.approx(ref.pvalue, abs=TOL)
    assert res.variance_reduction == pytest.approx(np.corrcoef(x, y)[0, 1] ** 2, abs=TOL)
    # the adjusted test is tighter than the raw one
    raw = st.welch_ttest(st.summarise(a), st.summarise(b))
    assert res.adjusted.ci_high - res.adjusted.ci_low < raw.ci_high - raw.ci_low


def test_srm_lift_bootstrap_and_bayes(samples):
    a, b = samples
    srm = st.sample_ratio_mismatch({"control": 5000, "treatment": 5200})
    chi2, p = stats.chisquare([5000, 5200])
    assert srm.chi2 == pytest.approx(chi2, abs=TOL) and srm.p_value == pytest.approx(p, abs=TOL)
    assert not srm.alarm and st.sample_ratio_mismatch({"c": 5000, "t": 5600}).alarm
    assert not st.sample_ratio_mismatch({"c": 5000, "t": 10000}, {"c": 1, "t": 2}).alarm
    lift = st.relative_lift(st.summarise(a), st.summarise(b))
    assert lift.lift == pytest.approx(b.mean() / a.mean() - 1, abs=TOL)
    assert lift.ci_low < lift.lift < lift.ci_high
    boot = st.bootstrap_difference(a, b, n_resamples=500, seed=0)
    welch = st.welch_ttest(st.summarise(a), st.summarise(b))
    assert boot.ci_low == pytest.approx(welch.ci_low, abs=0.05) and boot.ci_high == pytest.approx(welch.ci_high, abs=0.05)
    bayes = st.bayes_normal(st.summarise(a), st.summarise(b))
    assert bayes.prob_b_better == pytest.approx(stats.norm.cdf(welch.difference / np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))))
    beta = st.bayes_binary(100, 1000, 140, 1000, seed=0)
    assert beta.prob_b_better > 0.98 and beta.expected_loss_b < beta.expected_loss_a
    assert st.adjust_pvalues([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_msprt_stays_valid_under_repeated_looks():
    rng = np.random.default_rng(0)
    sims, false_positive, naive = 300, 0, 0
    for _ in range(sims):
        a, b = rng.normal(0, 1, 2000), rng.normal(0, 1, 2000)
        res = sequential_monitor(a, b, n_looks=20, alpha=0.05)
        false_positive += res.first_crossing is not None
        naive += any(lk.fixed_p_value < 0.05 for lk in res.looks)
    assert false_positive / sims <= 0.06  # always-valid: type I error held under peeking
    assert naive / sims > 0.1  # peeking at fixed-horizon p-values inflates it
    effect = sequential_monitor(rng.normal(0, 1, 4000), rng.normal(0.2, 1, 4000), n_looks=10)
    assert effect.first_crossing is not None and effect.final.cs_low > 0


def test_cleaning_counts_and_removes_by_rule():
    frame = pd.DataFrame({
        "unit": [1, 2, 3, 4, 5, 5, 6, 6, 7, 8],
        "variant": ["A", "B", "A", "B", "A", "B", "A", "A", None, "B"],
        "served": ["A", "B", "B", "B", "A", "B", "A", "A", "A", "B"],
        "m": [1, 0, 1, 1, 0, 1, 0, 1, 1, 0],
    })
    clean, report = clean_assignments(frame, unit="unit", variant="variant", metrics=["m"], exposure="served")
    assert report.removed == {"missing_variant": 1, "variant_exposure_mismatch": 1, "unit_in_several_variants": 2,
                              "duplicate_unit_rows": 1, "missing_metric": 0}
    assert sorted(clean["unit"]) == [1, 2, 4, 6, 8] and report.rows_out == 5
    assert report.units_per_variant == {"A": 2, "B": 3} and report.metric_types == {"m": "binary"}


@pytest.mark.parametrize("frame, message", [
    (pd.DataFrame({"unit": [1, 2], "group": ["A", "B"], "m": [1, 0]}), "lacks column"),
    (pd.DataFrame({"unit": [1, 2, 3], "variant": ["A", "A", "A"], "m": [1, 0, 1]}), "only one variant"),
    (pd.DataFrame({"unit": [1, 2, 3], "variant": ["A", "B", "A"], "m": [1, -2, 3]}), "negative counts"),
])
def test_bad_tables_give_clear_errors(frame, message):
    with pytest.raises(DataError, match=message):
        clean_assignments(frame, unit="unit", variant="variant", metrics=["m"])


def test_preregistration_is_read_defensively(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"hypothesis": {"metric": {"name": "revenue"}, "direction": "larger"},
                                "power_analysis": {"alpha": 0.01, "mde": 0.5, "n_control": 100, "n_treatment": 100},
                                "allocation": {"control": 0.5, "treatment": 0.5},
                                "guardrails": ["latency_ms:higher", {"metric": "orders", "direction": "decrease"}],
                                "unrelated": [1, 2, 3]}))
    plan = read_preregistration(str(path))
    assert (plan.primary_metric, plan.direction, plan.alpha, plan.mde, plan.planned_units) == ("revenue", "increase", 0.01, 0.5, 200)
    assert plan.split == {"control": 0.5, "treatment": 0.5}
    assert [(g.metric, g.worse) for g in plan.guardrails] == [("latency_ms", "higher"), ("orders", "lower")]
    (tmp_path / "empty.json").write_text("{}")
    assert read_preregistration(str(tmp_path / "empty.json")).found == []
    with pytest.raises(DataError, match="does not exist"):
        read_preregistration(str(tmp_path / "missing.json"))
