"""Sample size and duration for an A/B test with statsmodels' power functions.

Proportions (conversion-like metrics): Cohen's h from ``proportion_effectsize`` and
``NormalIndPower`` (the power of the two-proportion z-test). Means: Cohen's d = MDE / standard
deviation and ``TTestIndPower`` (two-sample t-test). Sizes are per group, rounded up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize

from mlsitter.errors import SpecError
from mlsitter.naming import stable_name

ALTERNATIVES = {"increase": "larger", "decrease": "smaller", "two-sided": "two-sided"}


@stable_name("ml.experiments.PowerPlan")
@dataclass
class PowerPlan:
    """A solved power analysis: effect size, group sizes and how long the traffic needs."""

    metric_type: str
    baseline: float
    std: float | None
    mde: float
    direction: str
    alpha: float
    power: float
    ratio: float
    effect_size: float
    effect_size_kind: str
    n_control_exact: float
    n_control: int
    n_treatment: int
    total: int
    units_per_day: float
    days_needed: int
    max_days: int
    feasible: bool
    mde_at_max_days: float


def _check(metric_type: str, baseline: float, mde: float, alpha: float, power: float, ratio: float,
           std: float | None, direction: str, units_per_day: float, max_days: int) -> None:
    problems = []
    if metric_type not in ("proportion", "mean"):
        problems.append(f"metric_type must be 'proportion' or 'mean', got {metric_type!r}")
    if direction not in ALTERNATIVES:
        problems.append(f"direction must be one of {list(ALTERNATIVES)}, got {direction!r}")
    if not 0 < alpha < 0.5:
        problems.append(f"alpha must be in (0, 0.5), got {alpha}")
    if not 0.5 <= power < 1:
        problems.append(f"power must be in [0.5, 1), got {power}")
    if mde <= 0:
        problems.append(f"mde (minimum detectable effect, absolute) must be > 0, got {mde}")
    if ratio <= 0:
        problems.append(f"ratio (treatment/control size) must be > 0, got {ratio}")
    if units_per_day <= 0:
        problems.append(f"daily traffic in the experiment must be > 0, got {units_per_day}")
    if max_days < 1:
        problems.append(f"max_days must be >= 1, got {max_days}")
    if metric_type == "proportion":
        if not 0 < baseline < 1:
            problems.append(f"a proportion baseline must be in (0, 1), got {baseline}")
        else:
            target = baseline - mde if direction == "decrease" else baseline + mde
            if not 0 < target < 1:
                problems.append(f"baseline {baseline} with mde {mde} gives {target}, outside (0, 1)")
    if metric_type == "mean" and (std is None or not std > 0):
        problems.append(f"a mean metric needs its standard deviation std > 0, got {std}")
    if problems:
        raise SpecError("invalid power analysis: " + "; ".join(problems))


def effect_size(metric_type: str, baseline: float, mde: float, direction: str, std: float | None) -> float:
    """Cohen's h (proportions, treatment vs control) or Cohen's d (means); positive for the hoped direction."""
    if metric_type == "proportion":
        treated = baseline - mde if direction == "decrease" else baseline + mde
        h = float(proportion_effectsize(treated, baseline))
        return -h if direction == "decrease" else h
    return mde / float(std)  # type: ignore[arg-type]


def _solver(metric_type: str):
    return NormalIndPower() if metric_type == "proportion" else TTestIndPower()


def _alternative(direction: str) -> str:
    # the effect size is oriented so the hoped-for change is positive: one-sided tests use "larger"
    return "two-sided" if direction == "two-sided" else "larger"


def mde_for_group_size(metric_type: str, baseline: float, n_control: float, alpha: float, power: float, ratio: float,
                       direction: str, std: float | None) -> float:
    """The smallest absolute effect detectable with ``n_control`` units in control (inverse of the above)."""
    es = float(_solver(metric_type).solve_power(effect_size=None, nobs1=n_control, alpha=alpha, power=power,
                                                ratio=ratio, alternative=_alternative(direction)))
    if metric_type == "mean":
        return es * float(std)  # type: ignore[arg-type]
    phi = 2 * math.asin(math.sqrt(baseline))
    if direction == "decrease":
        return baseline - math.sin(max(phi - es, 0.0) / 2) ** 2
    return math.sin(min(phi + es, math.pi) / 2) ** 2 - baseline


def plan_power(metric_type: str, baseline: float, mde: float, alpha: float = 0.05, power: float = 0.8,
               ratio: float = 1.0, std: float | None = None, direction: str = "two-sided",
               daily_traffic: float = 1000.0, traffic_fraction: float = 1.0, max_days: int = 28) -> PowerPlan:
    """Solve the per-group sample size, the days the traffic needs, and the MDE reachable in ``max_days``."""
    units_per_day = daily_traffic * traffic_fraction
    _check(metric_type, baseline, mde, alpha, power, ratio, std, direction, units_per_day, max_days)
    es = effect_size(metric_type, baseline, mde, direction, std)
    n1 = float(_solver(metric_type).solve_power(effect_size=es, nobs1=None, alpha=alpha, power=power, ratio=ratio,
                                                alternative=_alternative(direction)))
    n_control = int(math.ceil(n1))
    n_treatment = int(math.ceil(n1 * ratio))
    total = n_control + n_treatment
    days = int(math.ceil(total / units_per_day))
    reachable_control = max_days * units_per_day / (1 + ratio)
    mde_max = (mde_for_group_size(metric_type, baseline, reachable_control, alpha, power, ratio, direction, std)
               if reachable_control >= 2 else float("inf"))
    return PowerPlan(metric_type, baseline, std, mde, direction, alpha, power, ratio, es,
                     "cohen_h" if metric_type == "proportion" else "cohen_d", n1, n_control, n_treatment, total,
                     units_per_day, days, max_days, days <= max_days, float(mde_max))


def baseline_from_data(values: np.ndarray, metric_type: str) -> tuple[float, float | None, int]:
    """Baseline (rate or mean), standard deviation (means) and count from historical metric values."""
    clean = np.asarray(values, dtype=float)
    clean = clean[~np.isnan(clean)]
    if clean.size < 2:
        raise SpecError(f"need at least 2 historical values to estimate a baseline, got {clean.size}")
    if metric_type == "proportion":
        if not np.isin(clean, (0.0, 1.0)).all():
            raise SpecError("a proportion metric's historical values must be 0/1 (or two classes)")
        return float(clean.mean()), None, int(clean.size)
    return float(clean.mean()), float(clean.std(ddof=1)), int(clean.size)
