"""SLOs and the multi-window, multi-burn-rate alerts of the Google SRE workbook (chapter 5, "Alerting on
SLOs"): a rule fires when the error budget burns at least ``factor`` times the sustainable rate over both
its long and its short window. Windows are read from cumulative good/total counters, as Prometheus'
``increase()`` does; a window longer than the recorded history covers the history."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from mlsitter.errors import SpecError
from mlsitter.naming import stable_name

AVAILABILITY, LATENCY, QUALITY = "availability", "latency", "quality"
PAGE, TICKET = "page", "ticket"


@stable_name("ml.monitoring.BurnRule")
@dataclass(frozen=True)
class BurnRule:
    """Fire at ``severity`` when the burn rate is >= ``factor`` over ``long_s`` and over ``short_s`` seconds."""

    severity: str
    long_s: float
    short_s: float
    factor: float

    @property
    def name(self) -> str:
        return f"{self.factor:g}x over {_span(self.long_s)}/{_span(self.short_s)}"


# The workbook's recommended set: 2 % of a 30-day budget in 1 h, 5 % in 6 h (page), 10 % in 3 days (ticket).
SRE_RULES = (BurnRule(PAGE, 3600, 300, 14.4), BurnRule(PAGE, 21600, 1800, 6.0),
             BurnRule(TICKET, 259200, 21600, 1.0))


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


@stable_name("ml.monitoring.Objective")
@dataclass(frozen=True)
class Objective:
    """An SLO: the share of good events ``target`` (0 < target < 1) an SLI must meet."""

    sli: str
    target: float

    def __post_init__(self) -> None:
        if not isinstance(self.target, (int, float)) or not 0 < self.target < 1:
            raise SpecError(f"SLO {self.sli!r}: objective {self.target!r} must be a share strictly between 0 and 1 "
                            "(e.g. 0.999); 1 would leave no error budget")

    @property
    def budget(self) -> float:
        return 1.0 - self.target


def burn_rate(good: float, total: float, objective: float) -> float:
    """How many times faster than sustainable the budget burns: (bad / total) / (1 - objective); 0 with no events."""
    if total <= 0:
        return 0.0
    return ((total - good) / total) / (1.0 - objective)


@stable_name("ml.monitoring.CumulativeSeries")
@dataclass
class CumulativeSeries:
    """Cumulative good and total events of one SLI at increasing times (counter resets already folded in)."""

    times: list[float] = field(default_factory=list)
    good: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)

    def add(self, at: float, good: float, total: float) -> None:
        if self.times and at <= self.times[-1]:
            raise SpecError(f"SLI samples must have increasing times; {at} follows {self.times[-1]}")
        self.times.append(at)
        self.good.append(good)
        self.total.append(total)

    def window(self, at: float, seconds: float) -> tuple[float, float]:
        """(good, total) events in the ``seconds`` before ``at`` (a recorded time): from the last sample at or
        before ``at - seconds``, or from the first sample when the history is shorter."""
        end = bisect.bisect_right(self.times, at) - 1
        if end < 0:
            return 0.0, 0.0
        base = max(0, bisect.bisect_right(self.times, at - seconds) - 1)
        return self.good[end] - self.good[base], self.total[end] - self.total[base]

    def covered(self, at: float) -> float:
        return at - self.times[0] if self.times else 0.0


@stable_name("ml.monitoring.RuleState")
@dataclass(frozen=True)
class RuleState:
    """One rule of one SLI at one time: both burn rates and whether it fires."""

    sli: str
    rule: str
    severity: str
    factor: float
    long_burn: float
    short_burn: float
    firing: bool


def evaluate_rules(series: CumulativeSeries, at: float, objective: Objective,
                   rules: tuple[BurnRule, ...] = SRE_RULES) -> list[RuleState]:
    """Every rule's state at ``at``; a rule fires only once the history covers its short window."""
    out = []
    for rule in rules:
        long_burn = burn_rate(*series.window(at, rule.long_s), objective.target)
        short_burn = burn_rate(*series.window(at, rule.short_s), objective.target)
        firing = series.covered(at) >= rule.short_s and long_burn >= rule.factor and short_burn >= rule.factor
        out.append(RuleState(objective.sli, rule.name, rule.severity, rule.factor, round(long_burn, 6),
                             round(short_burn, 6), firing))
    return out


def impact_start(series: CumulativeSeries, at: float, objective: Objective) -> float:
    """Where the bad stretch that ends at ``at`` began: the start of the earliest interval of the unbroken run
    of intervals whose error ratio exceeded the error budget (``at`` itself when the last interval did not)."""
    index = bisect.bisect_right(series.times, at) - 1
    start = at
    while index > 0:
        total = series.total[index] - series.total[index - 1]
        bad = total - (series.good[index] - series.good[index - 1])
        if total <= 0 or bad / total <= objective.budget:
            break
        start = series.times[index - 1]
        index -= 1
    return start
