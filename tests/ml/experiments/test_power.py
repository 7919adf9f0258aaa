"""Power analysis: sample sizes equal statsmodels' solve_power, rounded up; MDE is its inverse."""

from __future__ import annotations

import math

import pytest
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize

from mlsitter.errors import SpecError
from mlsitter.ml.experiments._power import baseline_from_data, plan_power


@pytest.mark.parametrize("baseline, mde, alpha, power, ratio, direction, alternative", [
    (0.1127, 0.01, 0.05, 0.8, 1.0, "two-sided", "two-sided"),
    (0.30, 0.02, 0.01, 0.9, 2.0, "increase", "larger"),
    (0.05, 0.01, 0.05, 0.8, 0.5, "decrease", "larger"),
])
def test_proportion_sizes_equal_statsmodels(baseline, mde, alpha, power, ratio, direction, alternative):
    plan = plan_power("proportion", baseline, mde, alpha=alpha, power=power, ratio=ratio, direction=direction,
                      daily_traffic=1000, max_days=60)
    treated = baseline - mde if direction == "decrease" else baseline + mde
    h = proportion_effectsize(treated, baseline) * (-1 if direction == "decrease" else 1)
    n1 = NormalIndPower().solve_power(effect_size=h, alpha=alpha, power=power, ratio=ratio, alternative=alternative)
    assert plan.n_control_exact == pytest.approx(n1, rel=1e-12)
    assert plan.n_control == math.ceil(n1) and plan.n_treatment == math.ceil(n1 * ratio)
    assert plan.days_needed == math.ceil(plan.total / 1000)


def test_mean_sizes_equal_statsmodels_and_mde_is_the_inverse():
    plan = plan_power("mean", 4504.0, 150.0, std=1937.2, direction="increase", ratio=1.0, daily_traffic=50,
                      max_days=120)
    n1 = TTestIndPower().solve_power(effect_size=150 / 1937.2, alpha=0.05, power=0.8, ratio=1.0, alternative="larger")
    assert plan.n_control == math.ceil(n1) and plan.effect_size_kind == "cohen_d"
    # the MDE reachable with exactly the planned units is the planned MDE
    same = plan_power("mean", 4504.0, 150.0, std=1937.2, direction="increase", daily_traffic=2 * n1, max_days=1)
    assert same.mde_at_max_days == pytest.approx(150.0, rel=1e-5)  # solver tolerance


def test_proportion_mde_at_max_days_round_trips():
    plan = plan_power("proportion", 0.2, 0.01, daily_traffic=300, max_days=10)
    assert not plan.feasible
    again = plan_power("proportion", 0.2, plan.mde_at_max_days, daily_traffic=300, max_days=10)
    assert again.n_control_exact == pytest.approx(10 * 300 / 2, rel=1e-5)


def test_invalid_power_inputs_are_listed_together():
    with pytest.raises(SpecError) as err:
        plan_power("proportion", 0.95, 0.1, alpha=0.6, power=0.3)
    text = str(err.value)
    assert "alpha must be in" in text and "power must be in" in text and "outside (0, 1)" in text


def test_baseline_from_history():
    assert baseline_from_data([0, 1, 1, 0], "proportion") == (0.5, None, 4)
    with pytest.raises(SpecError, match="must be 0/1"):
        baseline_from_data([0, 2, 1], "proportion")
