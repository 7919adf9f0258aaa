"""Statistics of an A/B readout: sample-ratio mismatch, two-proportion z-test, Welch t-test,
Mann-Whitney, bootstrap CI of the difference, Bayesian P(B > A) with expected loss, CUPED and the
relative lift with a delta-method CI.

Tests are the scipy/statsmodels ones (or the same formulas on sufficient statistics, checked against
them to 1e-6 in the tests), so a 10-million-row readout stays a handful of passes over the data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from mlsitter.errors import DataError
from mlsitter.ml.metrics._bootstrap import bias_corrected_interval, poisson_one
from mlsitter.naming import ADDED_LATER, stable_name


def _as_dict(obj: Any) -> dict[str, Any]:
    return {k: (float(v) if isinstance(v, (np.floating, np.integer)) else v) for k, v in asdict(obj).items()}


@stable_name("ml.experiments.SrmResult")
@dataclass
class SrmResult:
    """Chi-square goodness of fit of the observed units per variant against the planned split."""

    observed: dict[str, int]
    expected_share: dict[str, float]
    chi2: float
    p_value: float
    alarm: bool
    threshold: float = 0.001
    warning_threshold: float = field(default=0.001, metadata=ADDED_LATER)
    status: str = field(default="ok", metadata=ADDED_LATER)  # ok | warning (threshold <= p < warning_threshold) | alarm (p < threshold)

    def as_dict(self) -> dict[str, Any]:
        return _as_dict(self)

    def banner(self) -> str:
        """The sentence a readout under this SRM status is shown with ('' when the split is as planned)."""
        if self.status == "ok":
            return ""
        counts = ", ".join(f"{k} {v:,} ({v / max(sum(self.observed.values()), 1):.2%} vs planned "
                           f"{self.expected_share[k]:.2%})" for k, v in self.observed.items())
        if self.status == "alarm":
            return (f"SAMPLE RATIO MISMATCH: p = {self.p_value:.3g} < {self.threshold:g}. Units per variant: {counts}. "
                    "The assignment is broken, so every number below may be biased; a person must override "
                    "before any decision is taken.")
        return (f"Sample ratio warning: p = {self.p_value:.3g} < {self.warning_threshold:g} (alarm below "
                f"{self.threshold:g}). Units per variant: {counts}. Check the assignment before trusting the readout.")


def sample_ratio_mismatch(observed: dict[str, int], expected_share: dict[str, float] | None = None,
                          threshold: float = 0.001, warning_threshold: float | None = None) -> SrmResult:
    """SRM check (scipy ``chisquare``): ``alarm`` when p < ``threshold`` (0.001 by default), ``warning`` when
    p < ``warning_threshold`` (as GrowthBook's and Statsig's warning band; default: no band)."""
    names = list(observed)
    share = expected_share or {k: 1.0 / len(names) for k in names}
    missing = [k for k in names if k not in share]
    if missing:
        raise DataError(f"planned split has no share for variant(s) {missing}; planned variants are {list(share)}")
    total_share = sum(share[k] for k in names)
    counts = np.array([observed[k] for k in names], dtype=np.float64)
    exp = counts.sum() * np.array([share[k] / total_share for k in names])
    chi2, p = stats.chisquare(counts, exp)
    warn = max(threshold, warning_threshold if warning_threshold is not None else threshold)
    status = "alarm" if p < threshold else "warning" if p < warn else "ok"
    return SrmResult({k: int(observed[k]) for k in names}, {k: share[k] / total_share for k in names},
                     float(chi2), float(p), bool(p < threshold), threshold, warn, status)


@stable_name("ml.experiments.Summary")
@dataclass
class Summary:
    """Sufficient statistics of one metric in one variant."""

    n: int
    mean: float
    var: float  # sample variance (ddof=1)
    total: float


def summarise(values: np.ndarray) -> Summary:
    v = np.asarray(values, dtype=np.float64)
    if len(v) < 2:
        raise DataError(f"a variant has {len(v)} unit(s); at least 2 per variant are needed for a readout")
    mean = float(v.mean())
    return Summary(len(v), mean, float(v.var(ddof=1)), float(v.sum()))


@stable_name("ml.experiments.TestResult")
@dataclass
class TestResult:
    """Difference treatment - control with statistic, p-value and CI."""

    test: str
    difference: float
    statistic: float
    p_value: float
    ci_low: float
    ci_high: float
    df: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return _as_dict(self)


def two_proportion_ztest(x_a: float, n_a: int, x_b: float, n_b: int, level: float = 0.95) -> TestResult:
    """Pooled two-proportion z-test (as statsmodels ``proportions_ztest``) with a Wald CI of p_B - p_A."""
    p_a, p_b = x_a / n_a, x_b / n_b
    pooled = (x_a + x_b) / (n_a + n_b)
    se0 = np.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    z = (p_b - p_a) / se0 if se0 > 0 else 0.0
    p = 2 * stats.norm.sf(abs(z))
    se = np.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    q = stats.norm.ppf(0.5 + level / 2)
    return TestResult("two-proportion z", float(p_b - p_a), float(z), float(p), float(p_b - p_a - q * se), float(p_b - p_a + q * se))


def welch_ttest(a: Summary, b: Summary, level: float = 0.95) -> TestResult:
    """Welch's unequal-variance t-test of mean_B - mean_A (as scipy ``ttest_ind(equal_var=False)``)."""
    va, vb = a.var / a.n, b.var / b.n
    se = np.sqrt(va + vb)
    diff = b.mean - a.mean
    df = (va + vb) ** 2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1)) if se > 0 else float(a.n + b.n - 2)
    t = diff / se if se > 0 else 0.0
    p = 2 * stats.t.sf(abs(t), df)
    q = stats.t.ppf(0.5 + level / 2, df)
    return TestResult("Welch t", float(diff), float(t), float(p), float(diff - q * se), float(diff + q * se), float(df))


def mann_whitney(a: np.ndarray, b: np.ndarray) -> TestResult:
    """Mann-Whitney U (scipy, two-sided, asymptotic with tie correction).

    ``difference`` is the probability of superiority minus one half, U / (n_A n_B) - 0.5 (the effect
    size U itself measures; 0 = no shift), which costs nothing beyond the test.
    """
    res = stats.mannwhitneyu(b, a, alternative="two-sided", method="asymptotic")
    diff = float(res.statistic) / (len(a) * len(b)) - 0.5
    return TestResult("Mann-Whitney U", diff, float(res.statistic), float(res.pvalue), float("nan"), float("nan"))


#: units are hashed into at most this many buckets per variant before resampling (see bootstrap_difference)
BOOTSTRAP_BUCKETS = 5_000


def bucket_sums(values: np.ndarray, n_buckets: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sums and unit counts per random bucket (each unit its own bucket when there are few units)."""
    n = len(values)
    if n <= n_buckets:
        return np.asarray(values, dtype=np.float64), np.ones(n)
    bucket = rng.integers(0, n_buckets, size=n)
    return np.bincount(bucket, weights=values, minlength=n_buckets), np.bincount(bucket, minlength=n_buckets).astype(np.float64)


def bootstrap_difference(
    a: np.ndarray, b: np.ndarray, *, n_resamples: int = 1000, level: float = 0.95, seed: int = 0,
    n_buckets: int = BOOTSTRAP_BUCKETS,
) -> TestResult:
    """Bias-corrected (BC) bootstrap CI of mean_B - mean_A, by a Poisson bootstrap over random buckets of units;
    like every other bootstrap CI of the project it contains its estimate.

    With more units than ``n_buckets`` the units are hashed into buckets and buckets are resampled
    (exchangeable, since assignment is random): the same answer as a unit-level bootstrap for large n
    at a cost independent of the number of rows.
    """
    rng = np.random.default_rng(seed)
    sa, ca = bucket_sums(a, n_buckets, rng)
    sb, cb = bucket_sums(b, n_buckets, rng)
    diffs = np.empty(n_resamples)
    step = max(1, 20_000_000 // max(len(sa) + len(sb), 1))
    for start in range(0, n_resamples, step):
        size = min(step, n_resamples - start)
        wa = poisson_one(rng, (size, len(sa)))
        wb = poisson_one(rng, (size, len(sb)))
        diffs[start:start + size] = (wb @ sb) / (wb @ cb) - (wa @ sa) / (wa @ ca)
    diff = float(np.mean(b) - np.mean(a))
    low, high = bias_corrected_interval(diff, diffs, level)
    p = float(min(1.0, 2 * min(np.mean(diffs <= 0), np.mean(diffs >= 0))))
    return TestResult("bootstrap", diff, float("nan"), p, float(low), float(high))


@stable_name("ml.experiments.BayesResult")
@dataclass
class BayesResult:
    """Posterior probability that treatment beats control and the expected loss of each choice."""

    model: str
    prob_b_better: float
    expected_loss_b: float  # expected shortfall if we ship B and A was better
    expected_loss_a: float

    def as_dict(self) -> dict[str, Any]:
        return _as_dict(self)


def bayes_binary(x_a: float, n_a: int, x_b: float, n_b: int, *, prior: tuple[float, float] = (1.0, 1.0),
                 draws: int = 200_000, seed: int = 0) -> BayesResult:
    """Beta-binomial model with a Beta(prior) prior; Monte Carlo over ``draws`` posterior samples."""
    rng = np.random.default_rng(seed)
    pa = rng.beta(prior[0] + x_a, prior[1] + n_a - x_a, draws)
    pb = rng.beta(prior[0] + x_b, prior[1] + n_b - x_b, draws)
    return BayesResult("beta-binomial", float(np.mean(pb > pa)), float(np.mean(np.maximum(pa - pb, 0))),
                       float(np.mean(np.maximum(pb - pa, 0))))


def bayes_normal(a: Summary, b: Summary) -> BayesResult:
    """Normal approximation (flat prior): mean_B - mean_A ~ N(d, se²); closed-form P and expected loss."""
    d = b.mean - a.mean
    se = np.sqrt(a.var / a.n + b.var / b.n)
    if se == 0:
        return BayesResult("normal", float(d > 0), float(max(-d, 0)), float(max(d, 0)))
    z = d / se
    loss_b = se * stats.norm.pdf(z) - d * stats.norm.cdf(-z)  # E[max(-(diff), 0)]
    loss_a = se * stats.norm.pdf(z) + d * stats.norm.cdf(z)   # E[max(diff, 0)]
    return BayesResult("normal", float(stats.norm.cdf(z)), float(loss_b), float(loss_a))


@stable_name("ml.experiments.CupedResult")
@dataclass
class CupedResult:
    """CUPED: metric adjusted by the pre-period covariate, and the variance it removed."""

    theta: float
    variance_reduction: float
    adjusted: TestResult
    correlation: float

    def as_dict(self) -> dict[str, Any]:
        out = _as_dict(self)
        out["adjusted"] = self.adjusted.as_dict()
        return out


def cuped(y_a: np.ndarray, x_a: np.ndarray, y_b: np.ndarray, x_b: np.ndarray, level: float = 0.95) -> tuple[CupedResult, np.ndarray, np.ndarray]:
    """Deng et al. 2013: y' = y - theta (x - mean x), theta = cov(x, y) / var(x) over both variants."""
    n = len(y_a) + len(y_b)
    sx = x_a.sum() + x_b.sum()
    sy = y_a.sum() + y_b.sum()
    sxx = np.dot(x_a, x_a) + np.dot(x_b, x_b)
    sxy = np.dot(x_a, y_a) + np.dot(x_b, y_b)
    syy = np.dot(y_a, y_a) + np.dot(y_b, y_b)
    mx = sx / n
    var_x = (sxx - n * mx * mx) / (n - 1)
    cov = (sxy - sx * sy / n) / (n - 1)
    var_y = (syy - sy * sy / n) / (n - 1)
    if var_x <= 0:
        raise DataError("the pre-period covariate is constant; CUPED needs a covariate that varies across units")
    theta = cov / var_x
    adj_a = y_a - theta * (x_a - mx)
    adj_b = y_b - theta * (x_b - mx)
    test = welch_ttest(summarise(adj_a), summarise(adj_b), level)
    test.test = "Welch t (CUPED)"
    corr = cov / np.sqrt(var_x * var_y) if var_y > 0 else 0.0
    pooled_adj_var = var_y - cov * cov / var_x
    reduction = 1 - pooled_adj_var / var_y if var_y > 0 else 0.0
    return CupedResult(float(theta), float(reduction), test, float(corr)), adj_a, adj_b


@stable_name("ml.experiments.LiftResult")
@dataclass
class LiftResult:
    """Relative lift mean_B / mean_A - 1 with a delta-method CI."""

    lift: float
    ci_low: float
    ci_high: float
    p_value: float

    def as_dict(self) -> dict[str, Any]:
        return _as_dict(self)


def relative_lift(a: Summary, b: Summary, level: float = 0.95) -> LiftResult:
    """Delta method on the ratio of independent means: var ≈ var_B/(n_B m_A²) + m_B² var_A/(n_A m_A⁴)."""
    if a.mean == 0:
        return LiftResult(float("nan"), float("nan"), float("nan"), float("nan"))
    lift = b.mean / a.mean - 1
    var = (b.var / b.n) / a.mean**2 + (b.mean**2) * (a.var / a.n) / a.mean**4
    se = np.sqrt(var)
    q = stats.norm.ppf(0.5 + level / 2)
    p = 2 * stats.norm.sf(abs(lift / se)) if se > 0 else float(lift == 0)
    return LiftResult(float(lift), float(lift - q * se), float(lift + q * se), float(p))


def adjust_pvalues(p_values: list[float], method: str = "holm") -> list[float]:
    """Multiple-testing correction (statsmodels ``multipletests``): holm, bonferroni, fdr_bh, ..."""
    from statsmodels.stats.multitest import multipletests

    if not p_values:
        return []
    return [float(p) for p in multipletests(np.asarray(p_values, dtype=float), method=method)[1]]
