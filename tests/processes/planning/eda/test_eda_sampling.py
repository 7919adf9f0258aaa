"""A statistic computed on a sample says so in the EDA report: which statistic, and how it was drawn (issue 25)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlsitter.processes.planning.eda.analysis import analyze_dataset
from mlsitter.processes.planning.eda.report import build_eda_report


def test_sampled_statistics_are_labelled_in_the_report():
    rng = np.random.default_rng(0)
    rows = 400
    frame = pd.DataFrame({"a": rng.normal(0, 1, rows), "b": rng.normal(0, 1, rows), "g": rng.choice(["x", "y"], rows)})
    analysis = analyze_dataset(frame, seed=3, pair_rows=100, outlier_rows=50)
    assert any(s.startswith("correlations, associations and VIF: ") and "100 of 400 rows" in s and "seed 3" in s
               for s in analysis.sampled)
    assert any(s.startswith("Isolation Forest row outliers: ") and "50 of 400 rows" in s for s in analysis.sampled)
    html = build_eda_report(analysis, frame).to_html()
    assert "sampled: correlations, associations and VIF: a seeded uniform random sample" in html
    assert "sampled: Isolation Forest row outliers" in html

    whole = analyze_dataset(frame, seed=3)  # below the thresholds: every statistic uses every row, no label
    assert whole.sampled == [] and "sampled:" not in build_eda_report(whole, frame).to_html()
