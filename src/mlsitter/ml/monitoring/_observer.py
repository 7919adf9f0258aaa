"""One tick of observation: the scrapes of every target at one time go into the table, their counter
increases (resets folded in, as Prometheus' ``increase()``) become each SLI's good/total events, and every
burn-rate rule is evaluated on the cumulative series."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mlsitter.ml.monitoring._exposition import MetricsFormatError, Scrape, ServerTotals, parse_exposition
from mlsitter.ml.monitoring._slo import (
    AVAILABILITY, LATENCY, QUALITY, SRE_RULES, BurnRule, CumulativeSeries, Objective, RuleState, burn_rate,
    evaluate_rules)
from mlsitter.ml.monitoring._table import MetricsTable
from mlsitter.naming import stable_name


@stable_name("ml.monitoring.TickSummary")
@dataclass
class TickSummary:
    """What one tick saw: gaps per target, each SLI's new events, every rule's state, and which SLIs are
    back within their objective over the shortest alert window."""

    at: float
    gaps: dict[str, str] = field(default_factory=dict)
    events: dict[str, list[float]] = field(default_factory=dict)  # sli -> [good, total] new this tick
    states: list[RuleState] = field(default_factory=list)
    restored: dict[str, bool] = field(default_factory=dict)

    @property
    def firing(self) -> list[RuleState]:
        return [s for s in self.states if s.firing]


def _increase(now: float, before: float | None) -> float:
    """A counter's increase since ``before``; a smaller value means the server restarted (a reset)."""
    if before is None:
        return 0.0
    return now - before if now >= before else now


def observe(table_path: str | Path, at: float, scrapes: list[Scrape], objectives: list[Objective],
            latency_threshold_s: float, quality: tuple[float, float] | None = None,
            rules: tuple[BurnRule, ...] = SRE_RULES) -> TickSummary:
    """Record the scrapes at ``at`` and evaluate every SLO. ``quality`` is (correct, labelled) predictions
    since the last tick. A failed or malformed scrape is a gap: its target adds nothing this tick."""
    summary = TickSummary(at)
    events = {AVAILABILITY: [0.0, 0.0], LATENCY: [0.0, 0.0], QUALITY: list(quality or (0.0, 0.0))}
    shortest = min(rules, key=lambda r: r.short_s).short_s
    parsed: dict[str, ServerTotals] = {}
    with MetricsTable(table_path) as table:
        state = table.state(at)
        for item in scrapes:
            try:
                if item.text is None:
                    raise MetricsFormatError(item.error or "no answer")
                totals = parse_exposition(item.text, item.target)
            except MetricsFormatError as exc:
                summary.gaps[item.target] = str(exc)
                continue
            _add_events(events, totals, state.previous.get(item.target), latency_threshold_s)
            parsed[item.target] = totals
        cumulative = {}
        for objective in objectives:
            good, total = events[objective.sli]
            series = state.series.setdefault(objective.sli, CumulativeSeries())
            base_good, base_total = (series.good[-1], series.total[-1]) if series.times else (0.0, 0.0)
            series.add(at, base_good + good, base_total + total)
            cumulative[objective.sli] = (base_good + good, base_total + total)
            summary.states += evaluate_rules(series, at, objective, rules)
            summary.restored[objective.sli] = burn_rate(*series.window(at, shortest), objective.target) <= 1.0
            summary.events[objective.sli] = [good, total]
        table.write(at, parsed, summary.gaps, cumulative, summary.states)
    return summary


def _add_events(events: dict[str, list[float]], totals: ServerTotals, previous: ServerTotals | None,
                threshold_s: float) -> None:
    ok = _increase(totals.ok, previous.ok if previous else None)
    error = _increase(totals.error, previous.error if previous else None)
    events[AVAILABILITY][0] += ok
    events[AVAILABILITY][1] += ok + error
    events[LATENCY][0] += _increase(totals.faster_than(threshold_s),
                                    previous.faster_than(threshold_s) if previous else None)
    events[LATENCY][1] += _increase(totals.latency_count, previous.latency_count if previous else None)
