"""Drift statistics against scipy and statsmodels on the same data, the corrected decision at large n, the
false-positive rate over random splits of one Elec2 period, and a deliberately shifted copy of Adult."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance
from statsmodels.stats.multitest import multipletests

import realdata
from mlsitter.errors import DataError
from mlsitter.ml.drift import Thresholds, build_profile, check_window, compare_window, load_profile, save_profile


def _frames(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 3000), "c": rng.choice(["a", "b", "c"], 3000, p=[0.5, 0.3, 0.2])})
    cur = pd.DataFrame({"x": rng.normal(0.3, 1.2, 2000), "c": rng.choice(["a", "b", "c", "d"], 2000)})
    ref.loc[::17, "x"] = np.nan
    cur.loc[::11, "c"] = None
    return ref, cur


def test_statistics_and_p_values_equal_scipys_on_the_same_data(tmp_path):
    ref, cur = _frames()
    profile = load_profile(save_profile(build_profile(pl.from_pandas(ref)), tmp_path / "p.npz"))  # the stored one
    window = compare_window(profile, pl.from_pandas(cur), Thresholds())
    x, c = window.features
    r, k = ref["x"].dropna().to_numpy(), cur["x"].dropna().to_numpy()
    ks = ks_2samp(r, k)
    assert (x.test, x.reference_count, x.current_count) == ("ks", len(r), len(k))
    assert x.statistic == pytest.approx(ks.statistic, abs=1e-9) and x.p_value == pytest.approx(ks.pvalue, abs=1e-9)
    assert x.wasserstein == pytest.approx(wasserstein_distance(r, k), abs=1e-9)
    assert x.wasserstein_norm == pytest.approx(wasserstein_distance(r, k) / np.std(r), abs=1e-9)
    edges = np.unique(np.quantile(r, np.linspace(0, 1, 11)[1:-1]))
    p = np.maximum(np.bincount(np.searchsorted(edges, r, "right"), minlength=10) / len(r), 1e-4)
    q = np.maximum(np.bincount(np.searchsorted(edges, k, "right"), minlength=10) / len(k), 1e-4)
    assert x.psi == pytest.approx(float(np.sum((q - p) * np.log(q / p))), abs=1e-9)
    counts = pd.concat({"ref": ref["c"].fillna("(missing)").value_counts(),
                        "cur": cur["c"].fillna("(missing)").value_counts()}, axis=1).fillna(0)
    chi = chi2_contingency(counts.T.to_numpy())
    assert c.test == "chi2" and c.statistic == pytest.approx(chi.statistic, abs=1e-9)
    assert c.p_value == pytest.approx(chi.pvalue, abs=1e-9)
    shares = counts / counts.sum()
    assert c.jensenshannon == pytest.approx(jensenshannon(shares["ref"], shares["cur"]), abs=1e-9)
    adjusted = multipletests([x.p_value, c.p_value], alpha=0.05, method="fdr_bh")[1]
    assert [x.p_adjusted, c.p_adjusted] == pytest.approx(list(adjusted), abs=1e-12)
    bonferroni = compare_window(profile, pl.from_pandas(cur), Thresholds(correction="bonferroni"))
    assert [f.p_adjusted for f in bonferroni.features] == pytest.approx(
        list(multipletests([x.p_value, c.p_value], method="bonferroni")[1]), abs=1e-12)


def test_a_bounded_reference_sample_is_what_ks_sees_and_the_bins_still_count_every_row():
    ref, cur = _frames(1)
    cur = cur.head(900)  # under the bound: all of it is tested
    profile = build_profile(pl.from_pandas(ref), max_sample=1000, seed=3)
    x = profile.features["x"]
    assert x.sample.size == 1000 and x.count == ref["x"].notna().sum() == int(x.counts.sum())
    window = compare_window(profile, pl.from_pandas(cur), Thresholds())
    ks = ks_2samp(x.sample, cur["x"].dropna().to_numpy())
    assert window.features[0].p_value == pytest.approx(ks.pvalue, abs=1e-9)


def test_a_tiny_shift_in_a_large_window_is_significant_but_not_drift():
    rng = np.random.default_rng(5)
    ref = pl.DataFrame({"x": rng.normal(0, 1, 200_000)})
    profile = build_profile(ref, max_sample=200_000)
    tiny = compare_window(profile, pl.DataFrame({"x": rng.normal(0.03, 1, 200_000)}), Thresholds()).features[0]
    assert tiny.p_adjusted < 1e-10 and tiny.significant and not tiny.drifted
    assert tiny.decision() == "significant, effect below threshold"
    large = compare_window(profile, pl.DataFrame({"x": rng.normal(0.5, 1, 200_000)}), Thresholds()).features[0]
    assert large.drifted and large.effect_value >= 0.1


def test_random_splits_of_one_elec2_period_stay_under_five_percent_false_positives():
    period = realdata.elec2().iloc[20_000:22_160].reset_index(drop=True)  # 45 days after Victoria is recorded
    flagged = significant = 0
    for seed in range(50):
        order = np.random.default_rng(seed).permutation(len(period))
        half = len(order) // 2
        profile = build_profile(pl.from_pandas(period.iloc[order[:half]]), exclude=["class"])
        current = pl.from_pandas(period.iloc[order[half:]].drop(columns="class"))
        window = compare_window(profile, current, Thresholds())
        flagged += bool(window.drifted)
        significant += any(f.significant for f in window.features)
    assert flagged / 50 < 0.05
    assert significant / 50 < 0.05 + 0.06  # the corrected tests alone are near alpha too (family-wise)


def test_only_the_shifted_columns_of_adult_are_flagged():
    adult = realdata.adult().drop(columns="class")
    order = np.random.default_rng(0).permutation(len(adult))
    ref, cur = adult.iloc[order[:16_000]].copy(), adult.iloc[order[16_000:]].copy()
    cur["age"] = cur["age"] + 8
    cur["hours-per-week"] = cur["hours-per-week"] * 1.3
    moved = cur.sample(frac=0.3, random_state=1).index
    cur.loc[moved, "workclass"] = "Self-emp-inc"
    window = compare_window(build_profile(pl.from_pandas(ref)), pl.from_pandas(cur), Thresholds())
    assert sorted(window.drifted) == ["age", "hours-per-week", "workclass"]
    kinds = {f.name: f.test for f in window.features}
    assert kinds["age"] == "ks" and kinds["workclass"] == "chi2" and kinds["education"] == "chi2"


def test_a_window_with_other_columns_or_text_in_a_numeric_feature_is_refused():
    ref, cur = _frames()
    profile = build_profile(pl.from_pandas(ref))
    with pytest.raises(DataError, match=r"lacks the reference feature\(s\) 'c'.*has column\(s\) 'z'"):
        check_window(profile, pl.from_pandas(cur.drop(columns="c").assign(z=1)), "current")
    with pytest.raises(DataError, match="is empty"):
        check_window(profile, pl.from_pandas(cur.head(0)), "current")
    text = cur.astype({"x": object})
    text.loc[[3, 9], "x"] = "n/a-ish"
    with pytest.raises(DataError, match=r"feature 'x' is numeric in the reference but holds non-numeric value\(s\) "
                                        r"'n/a-ish' in 2 row"):
        compare_window(profile, pl.from_pandas(text.astype({"x": str})), Thresholds())


def test_accuracy_estimated_from_calibrated_scores_follows_the_labelled_accuracy_without_labels():
    from mlsitter.ml.drift import calibrate, estimated_accuracy, labelled_accuracy

    rng = np.random.default_rng(8)
    raw = rng.uniform(0, 1, 8000)
    truth = (rng.random(8000) < raw).astype(int)  # the true P(positive) is raw; the model scores raw ** 2
    calibration = calibrate(raw ** 2, truth, "1")  # the model's scores are miscalibrated; the reference fixes that
    shifted = rng.uniform(0.3, 0.7, 4000)  # later rows sit near the boundary: accuracy falls, no label needed
    labels = (rng.random(4000) < shifted).astype(int)
    predictions = (shifted ** 2 >= 0.25).astype(int)  # the model says positive where its score passes 0.5 ** 2
    n, estimate, low, high = estimated_accuracy(shifted ** 2, predictions, calibration, "1")
    _, actual, _, _ = labelled_accuracy(predictions.tolist(), labels.tolist())
    assert n == 4000 and low < estimate < high
    assert abs(estimate - actual) < 0.03 and estimate < 0.65  # about 0.55, against 0.75 on the reference
