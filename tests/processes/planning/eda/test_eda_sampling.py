"""A statistic computed on a sample says so in the EDA report: which statistic, and how it was drawn (issue 25)."""

from __future__ import annotations

from html import unescape

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


def test_histograms_past_the_cap_start_with_the_target_and_say_what_was_left_out():
    from mlsitter.processes.planning.eda import plots

    rng = np.random.default_rng(1)
    rows = 60
    frame = pd.DataFrame({f"x{i:02d}": rng.normal(0, 1, rows) for i in range(25)})
    frame["day"] = pd.date_range("2024-01-01", periods=rows, freq="D")
    frame["y"] = frame["x00"] + rng.normal(0, 1, rows)  # the target comes last, after 25 columns
    analysis = analyze_dataset(frame, target="y", timestamp="day", seed=0)
    drawn = plots.plotted_columns(analysis.profile, "y")[:plots.MAX_HISTOGRAMS]
    assert drawn[0].name == "y" and len(drawn) == 24
    html = unescape(build_eda_report(analysis, frame).to_html())
    assert "capped: histograms of 24 of" in html and "the target 'y' first" in html and "x24" in html
    # the Time table lists the timestamp once (its gap analysis), not also as a plain datetime column
    time_table = html.split(">Time<", 1)[1].split("</table>", 1)[0]
    assert time_table.count(">day<") == 1, time_table
