"""The SLO arithmetic against hand-computed values: burn rates, windows over cumulative counters, the
workbook's rules, the impact start, Prometheus' histogram quantile; the exposition parser on real and
malformed text; anomaly scores."""

from __future__ import annotations

import math

import pytest

from mlsitter.ml.monitoring import (
    SRE_RULES, CumulativeSeries, MetricsFormatError, Objective, SimulatedDeployment, burn_rate, detect_anomalies,
    evaluate_rules, histogram_quantile, impact_start, parse_exposition, robust_z)
from mlsitter.errors import SpecError

T0 = 1_700_000_000.0


def test_burn_rate_is_the_error_ratio_over_the_budget():
    assert burn_rate(990, 1000, 0.999) == pytest.approx(10.0)  # 1 % errors on a 0.1 % budget
    assert burn_rate(856, 1000, 0.99) == pytest.approx(14.4)
    assert burn_rate(0, 0, 0.999) == 0.0  # no events: no evidence of burning
    with pytest.raises(SpecError, match="strictly between 0 and 1"):
        Objective("availability", 1.0)


def test_the_workbook_rules_are_its_numbers():
    assert [(r.severity, r.long_s, r.short_s, r.factor) for r in SRE_RULES] == [
        ("page", 3600, 300, 14.4), ("page", 21600, 1800, 6.0), ("ticket", 259200, 21600, 1.0)]
    assert [r.name for r in SRE_RULES] == ["14.4x over 1h/5m", "6x over 6h/30m", "1x over 3d/6h"]


def _burst_series(history_min: int, burst_min: int, rate_per_min: float = 6000, errors: float = 0.2):
    """Cumulative counters per minute: ``history_min`` healthy minutes, then ``errors`` of requests fail."""
    series = CumulativeSeries()
    for minute in range(history_min + burst_min + 1):
        bad = max(0, minute - history_min) * rate_per_min * errors
        series.add(T0 + 60 * minute, rate_per_min * minute - bad, rate_per_min * minute)
    return series


def test_windows_and_rules_on_an_error_burst_match_the_hand_computation():
    # 30 healthy minutes at 6000 requests/min, then 20 % errors (a 200x burn of a 99.9 % SLO).
    objective = Objective("availability", 0.999)
    series = _burst_series(30, 3)
    at = T0 + 60 * 33
    assert series.window(at, 300) == (30000 - 3600, 30000)  # 5 min: 3 of them in the burst
    assert series.window(at, 3600) == (198000 - 3600, 198000)  # 1 h is longer than the history: all of it
    states = {s.rule: s for s in evaluate_rules(series, at, objective)}
    page_1h = states["14.4x over 1h/5m"]
    assert page_1h.long_burn == pytest.approx(3600 / 198000 / 0.001, rel=1e-6)  # 18.18
    assert page_1h.short_burn == pytest.approx(3600 / 30000 / 0.001, rel=1e-6)  # 120
    assert page_1h.firing
    # two minutes in: 1h burn 2400/192000/0.001 = 12.5 < 14.4, so the 1h/5m page is not firing yet
    two = {s.rule: s for s in evaluate_rules(series, T0 + 60 * 32, objective)}
    assert two["14.4x over 1h/5m"].long_burn == pytest.approx(12.5) and not two["14.4x over 1h/5m"].firing
    assert two["6x over 6h/30m"].firing  # 6h window = the 32 min of history: 12.5 >= 6, 30 min: 2400/180000 -> 13.3
    assert two["6x over 6h/30m"].short_burn == pytest.approx(2400 / 180000 / 0.001, rel=1e-6)
    assert not states["1x over 3d/6h"].firing  # its 6 h short window is not covered yet
    assert impact_start(series, at, objective) == T0 + 60 * 30


def test_a_counter_history_shorter_than_the_short_window_never_fires():
    series = _burst_series(0, 4)
    assert not any(s.firing for s in evaluate_rules(series, T0 + 240, Objective("availability", 0.999)))


def test_histogram_quantile_interpolates_like_prometheus():
    buckets = {0.1: 50.0, 0.2: 90.0, 0.5: 100.0, math.inf: 100.0}
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.7, buckets) == pytest.approx(0.1 + 0.1 * (20 / 40))
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.2 + 0.3 * (9 / 10))
    assert math.isnan(histogram_quantile(0.99, {math.inf: 0.0}))


def test_the_exposition_of_a_simulated_server_parses_back_to_its_counters(tmp_path):
    sim = SimulatedDeployment({"start": T0, "rate": 10, "latency_ms": 40, "faults": [{"from": 0, "error_ratio": 0.1}]},
                              tmp_path / "state.json")
    scrape = sim.scrape(sim.targets(T0 + 100)[0], T0 + 100)
    totals = parse_exposition(scrape.text)
    assert (totals.ok, totals.error, totals.latency_count) == (900, 100, 1000)
    assert totals.faster_than(0.05) == 1000 and totals.faster_than(0.025) == 0


@pytest.mark.parametrize("text, message", [
    ("this is not { prometheus", "not Prometheus exposition format"),
    ("# HELP up up\n# TYPE up gauge\nup 1\n", "no mlsitter_model_requests_total samples"),
])
def test_malformed_or_foreign_metrics_text_is_refused_with_what_was_expected(text, message):
    with pytest.raises(MetricsFormatError, match=message):
        parse_exposition(text, "http://127.0.0.1:1/metrics")


def test_robust_z_flags_the_outlier_and_only_it():
    values = [10.0, 11, 9, 10, 10.5, 9.5, 10, 60, 10, 9.8, 10.2]
    z = robust_z(values)
    assert abs(z[7]) > 3.5 and all(abs(v) < 3.5 for i, v in enumerate(z) if i != 7)
    found = detect_anomalies("requests", [T0 + 60 * i for i in range(len(values))], values)
    assert [(a.series, a.at, a.value) for a in found] == [("requests", T0 + 420, 60.0)]


def test_a_slow_daily_cycle_is_normal_and_a_break_in_it_is_not():
    import numpy as np

    t = np.arange(288)  # two days at 10-minute ticks
    values = 100 + 30 * np.sin(2 * np.pi * t / 144) + np.random.default_rng(0).normal(0, 1, 288)
    values[200] += 25
    found = detect_anomalies("requests", T0 + 600 * t, values)
    assert [a.at for a in found] == [T0 + 600 * 200]


def test_a_tick_after_a_restart_or_a_rerun_tick_continues_from_the_file(tmp_path):
    from mlsitter.ml.monitoring import MetricsTable, close_table, observe

    sim = SimulatedDeployment({"start": T0, "rate": 10, "faults": [{"from": 120, "error_ratio": 0.5}]},
                              tmp_path / "state.json")
    objectives = [Objective("availability", 0.999)]

    def tick(path, minute):
        at = T0 + 60 * minute
        return observe(path, at, [sim.scrape(t, at) for t in sim.targets(at)], objectives, 0.3)

    straight = [tick(tmp_path / "a.duckdb", m) for m in range(6)]
    for m in range(4):
        tick(tmp_path / "b.duckdb", m)
    close_table(tmp_path / "b.duckdb")  # as if the runner died here: a new process opens the file
    again = [tick(tmp_path / "b.duckdb", 3), tick(tmp_path / "b.duckdb", 4), tick(tmp_path / "b.duckdb", 5)]
    assert [t.states for t in again] == [t.states for t in straight[3:]]
    assert [t.events for t in again] == [t.events for t in straight[3:]]
    with MetricsTable(tmp_path / "b.duckdb") as table:
        assert len(table.frame("scrapes")) == 6 and len(table.frame("sli")) == 6  # the re-run tick replaced its rows


def test_a_server_s_count_before_the_first_scrape_is_a_baseline_not_an_increase(tmp_path):
    from mlsitter.ml.monitoring import interval_frame, observe

    sim = SimulatedDeployment({"start": T0, "rate": 10}, tmp_path / "state.json")  # serving since T0
    for minute in (100, 101, 102):  # the monitor starts 100 minutes later
        at = T0 + 60 * minute
        observe(tmp_path / "m.duckdb", at, [sim.scrape(t, at) for t in sim.targets(at)],
                [Objective("availability", 0.999)], 0.3)
    frame = interval_frame(tmp_path / "m.duckdb")
    assert math.isnan(frame["requests"][0]) and list(frame["requests"][1:]) == [600.0, 600.0]
