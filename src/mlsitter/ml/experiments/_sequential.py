"""Sequential monitoring that stays valid however often it is looked at: the mixture sequential
probability ratio test (mSPRT, Johari et al. 2017/2022) with a normal mixing distribution, giving
always-valid p-values and confidence sequences for the difference in means at every look.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from mlsitter.naming import stable_name


@stable_name("ml.experiments.Look")
@dataclass
class Look:
    """State of the experiment at one interim look (cumulative data up to that point)."""

    look: int
    n_a: int
    n_b: int
    difference: float
    relative_lift: float
    fixed_p_value: float
    always_valid_p: float
    cs_low: float  # always-valid confidence sequence for the difference
    cs_high: float


@stable_name("ml.experiments.SequentialResult")
@dataclass
class SequentialResult:
    """Looks in order, the first look where the always-valid p crossed alpha, and the mixing scale used."""

    alpha: float
    tau: float
    looks: list[Look] = field(default_factory=list)
    first_crossing: int | None = None

    @property
    def final(self) -> Look:
        return self.looks[-1]

    def table(self) -> list[dict[str, Any]]:
        return [vars(lk) for lk in self.looks]


def msprt_pvalue(diff: np.ndarray, var_est: np.ndarray, tau: float) -> np.ndarray:
    """1 / Lambda for a normal estimate ``diff`` with variance ``var_est`` under a N(0, tau²) mixture."""
    t2 = tau * tau
    with np.errstate(all="ignore"):
        log_lambda = 0.5 * np.log(var_est / (var_est + t2)) + diff**2 * t2 / (2 * var_est * (var_est + t2))
        return np.minimum(1.0, np.exp(-log_lambda))


def msprt_radius(var_est: np.ndarray, tau: float, alpha: float) -> np.ndarray:
    """Half-width of the (1 - alpha) always-valid confidence sequence of the same mixture."""
    t2 = tau * tau
    with np.errstate(all="ignore"):
        return np.sqrt(var_est * (var_est + t2) / t2 * (np.log((var_est + t2) / var_est) + 2 * np.log(1 / alpha)))


def _in_arrival_order(y: np.ndarray, order: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Values sorted by arrival time (no sort when already in order) and the sorted times."""
    values = np.asarray(y, dtype=np.float64)
    if order is None:
        return values, None
    times = np.asarray(order, dtype=np.float64)
    if len(times) > 1 and not np.all(times[1:] >= times[:-1]):
        idx = np.argsort(times, kind="stable")
        return values[idx], times[idx]
    return values, times


def sequential_monitor(
    y_a: np.ndarray, y_b: np.ndarray, order_a: np.ndarray | None = None, order_b: np.ndarray | None = None, *,
    n_looks: int = 20, alpha: float = 0.05, tau: float | None = None,
) -> SequentialResult:
    """Replay the experiment as ``n_looks`` interim looks (by arrival order) and test at each one.

    ``order_*`` are arrival times (e.g. timestamps as numbers); without them the row order is used.
    ``tau`` is the mixing scale: the size of effect worth detecting; by default 0.1 pooled SD.
    """
    from scipy import stats

    ya, ta = _in_arrival_order(y_a, order_a)
    yb, tb = _in_arrival_order(y_b, order_b)
    if ta is not None and tb is not None and len(ta) and len(tb):
        cuts = np.linspace(min(ta[0], tb[0]), max(ta[-1], tb[-1]), n_looks + 1)[1:]
        ends_a = np.searchsorted(ta, cuts, side="right")
        ends_b = np.searchsorted(tb, cuts, side="right")
    else:
        frac = np.arange(1, n_looks + 1) / n_looks
        ends_a = np.ceil(frac * len(ya)).astype(int)
        ends_b = np.ceil(frac * len(yb)).astype(int)

    def cumulative(y: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # per-look segment sums (no n-sized temporaries), then cumulated over looks
        starts = np.concatenate([[0], ends[:-1]])
        seg_sum = np.array([y[s:e].sum() for s, e in zip(starts, ends)])
        seg_sq = np.array([np.dot(y[s:e], y[s:e]) for s, e in zip(starts, ends)])
        n = ends.astype(np.float64)
        s1, s2 = np.cumsum(seg_sum), np.cumsum(seg_sq)
        with np.errstate(all="ignore"):
            mean = s1 / n
            var = (s2 - n * mean * mean) / (n - 1)
        return n, mean, var

    na, ma, va = cumulative(ya, ends_a)
    nb, mb, vb = cumulative(yb, ends_b)
    if tau is None:
        pooled_sd = float(np.sqrt((np.var(ya, ddof=1) + np.var(yb, ddof=1)) / 2)) if len(ya) > 1 and len(yb) > 1 else 1.0
        tau = 0.1 * pooled_sd if pooled_sd > 0 else 1.0
    diff = mb - ma
    var_est = va / na + vb / nb
    p_av = np.minimum.accumulate(np.nan_to_num(msprt_pvalue(diff, var_est, tau), nan=1.0))
    radius = msprt_radius(var_est, tau, alpha)
    low, high = diff - radius, diff + radius
    low, high = np.maximum.accumulate(np.nan_to_num(low, nan=-np.inf)), np.minimum.accumulate(np.nan_to_num(high, nan=np.inf))
    with np.errstate(all="ignore"):
        fixed_p = 2 * stats.norm.sf(np.abs(diff) / np.sqrt(var_est))
        lift = np.where(ma != 0, mb / ma - 1, np.nan)
    result = SequentialResult(alpha, float(tau))
    for k in range(n_looks):
        result.looks.append(Look(k + 1, int(na[k]), int(nb[k]), float(diff[k]), float(lift[k]), float(fixed_p[k]),
                                 float(p_av[k]), float(low[k]), float(high[k])))
        if result.first_crossing is None and p_av[k] < alpha:
            result.first_crossing = k + 1
    return result


def sequential_figure(result: SequentialResult, metric: str) -> Any:
    """Cumulative difference with its always-valid confidence sequence, and the always-valid p-value."""
    import matplotlib.pyplot as plt

    looks = [lk.look for lk in result.looks]
    fig, (ax, axp) = plt.subplots(1, 2, figsize=(11, 4))
    ax.plot(looks, [lk.difference for lk in result.looks], marker="o", label="difference B - A")
    ax.fill_between(looks, [lk.cs_low for lk in result.looks], [lk.cs_high for lk in result.looks], alpha=0.25,
                    label=f"{1 - result.alpha:.0%} always-valid CS")
    ax.axhline(0, color="grey", lw=1)
    ax.set_xlabel("look")
    ax.set_title(f"Cumulative effect on {metric}")
    ax.legend(fontsize=8)
    axp.plot(looks, [lk.always_valid_p for lk in result.looks], marker="o", label="always-valid p (mSPRT)")
    axp.plot(looks, [lk.fixed_p_value for lk in result.looks], ls="--", label="naive fixed-horizon p")
    axp.axhline(result.alpha, color="red", lw=1, label=f"alpha {result.alpha}")
    axp.set_yscale("log")
    axp.set_xlabel("look")
    from matplotlib.ticker import MaxNLocator

    for a in (ax, axp):
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
    axp.legend(fontsize=8)
    fig.tight_layout()
    return fig
