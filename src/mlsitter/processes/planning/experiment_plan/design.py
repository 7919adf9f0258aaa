"""An A/B experiment design: settings revised by reviewer feedback, the metric's baseline from data,
and the pre-registration document the ``ab-test`` process reads (fields listed in
:mod:`mlsitter.processes.planning.experiment_plan.process`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from mlsitter.errors import DataError, SpecError
from mlsitter.ml.experiments._power import PowerPlan, baseline_from_data
from mlsitter.ml.handoffs._review_feedback import parse_feedback
from mlsitter.naming import stable_name

EXPERIMENT_FEEDBACK_KEYS = ("mde", "alpha", "power", "max_days", "ratio", "traffic_fraction", "daily_traffic",
                            "direction", "guardrails", "min_days")


@stable_name("experiment-plan.ExperimentSettings")
@dataclass
class ExperimentSettings:
    """Everything the power analysis and the plan need; reviewers' directives change these."""

    metric: str
    metric_type: str
    baseline: float
    std: float | None
    mde: float
    alpha: float
    power: float
    direction: str
    ratio: float
    daily_traffic: float
    traffic_fraction: float
    max_days: int
    min_days: int
    guardrails: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def parse_guardrails(text: str) -> list[dict[str, Any]]:
    """``"latency_ms:higher:0.05, revenue:lower"`` -> guardrails (metric, which move is worse, tolerance
    as a relative change, default 0.02)."""
    out = []
    for item in [t.strip() for t in text.split(",") if t.strip()]:
        parts = [p.strip() for p in item.split(":")]
        worse = parts[1].lower() if len(parts) > 1 and parts[1] else "lower"
        if worse not in ("higher", "lower"):
            raise SpecError(f"guardrail {item!r}: the worse direction must be 'higher' or 'lower', got {worse!r}")
        try:
            tolerance = float(parts[2]) if len(parts) > 2 else 0.02
        except ValueError:
            raise SpecError(f"guardrail {item!r}: tolerance must be a number like 0.02") from None
        out.append({"metric": parts[0], "worse": worse, "tolerance": tolerance})
    return out


def metric_history(frame: pd.DataFrame, column: str, metric_type: str, positive_value: str) -> np.ndarray:
    """Historical values of the metric: 0/1 for a proportion (``column == positive_value``), floats for a mean."""
    if column not in frame.columns:
        raise DataError(f"metric column {column!r} is not in the data; its columns are {list(frame.columns)}")
    values = frame[column].dropna()
    if metric_type == "proportion":
        if positive_value:
            return (values.astype(str) == str(positive_value)).astype(float).to_numpy()
        levels = sorted(values.astype(str).unique())
        if len(levels) != 2:
            raise SpecError(f"metric column {column!r} has {len(levels)} values {levels[:6]}; a proportion needs "
                            "two, or name the converting one with positive_value=")
        return (values.astype(str) == levels[-1]).astype(float).to_numpy()
    if not pd.api.types.is_numeric_dtype(values):
        raise DataError(f"metric column {column!r} is not numeric; a mean metric needs numbers")
    return values.astype(float).to_numpy()


def parse_mde(mde: float | str, baseline: float) -> tuple[float, str]:
    """(absolute MDE, note): a number is the absolute change; ``'2%'`` is relative to the baseline."""
    from mlsitter.processes.planning.experiment_plan.process import MDE_EXPECTED, relative_share

    number = isinstance(mde, (int, float)) and not isinstance(mde, bool)
    text = str(mde).strip()
    if number and float(mde) > 0:
        return float(mde), ""
    share = relative_share(text)
    if share is None:
        raise SpecError(f"mde must be {MDE_EXPECTED}; got {mde!r}")
    absolute = share * abs(baseline)
    if absolute <= 0:
        raise SpecError(f"a relative mde ({text}) needs a non-zero baseline; got baseline {baseline}")
    return absolute, f"mde {text} of baseline {baseline:.6g} = {absolute:.6g} (absolute)"


def horizon_rule(total: int, units_per_day: float, fill_days: int, days: int) -> str:
    """The fixed-horizon rule in calendar time: when the sample fills, and when the analysis runs."""
    rate = f"{units_per_day:,.0f} units/day"
    if days <= fill_days:
        return f"fixed horizon: the primary analysis runs once, after {total:,} units ({days} days at {rate})"
    return (f"fixed horizon: the sample of {total:,} units fills in {fill_days} day(s) at {rate}, but the primary "
            f"analysis runs once, after {days} days (min_days, to cover weekly cycles), on all units enrolled by then "
            f"(about {days * units_per_day:,.0f})")


def baseline_settings(history: np.ndarray | None, metric_type: str, baseline: float | None,
                      std: float | None) -> tuple[float, float | None, int]:
    """Baseline and standard deviation: given ones win, else estimated from history."""
    if history is not None:
        est_baseline, est_std, n = baseline_from_data(history, metric_type)
        return (baseline if baseline is not None else est_baseline,
                std if std is not None else est_std, n)
    if baseline is None:
        raise SpecError("no baseline: give baseline= (and std= for a mean) or data= with metric_column=")
    return baseline, std, 0


def revise_settings(settings: ExperimentSettings, feedbacks: list[str]) -> ExperimentSettings:
    """Apply directives: ``mde: 0.02``, ``alpha: 0.01``, ``power: 0.9``, ``max_days: 42``, ``min_days: 14``,
    ``ratio: 1``, ``traffic_fraction: 0.5``, ``daily_traffic: 5000``, ``direction: increase``,
    ``guardrails: latency_ms:higher:0.05``."""
    revised = replace(settings, guardrails=list(settings.guardrails), notes=list(settings.notes))
    for text in feedbacks:
        fb = parse_feedback(text, allowed=EXPERIMENT_FEEDBACK_KEYS)
        for key in ("mde", "alpha", "power", "ratio", "traffic_fraction", "daily_traffic"):
            value = fb.get_float(key)
            if value is not None:
                setattr(revised, key, value)
                revised.notes.append(f"{key} -> {value}")
        for key in ("max_days", "min_days"):
            value = fb.get_int(key)
            if value is not None:
                setattr(revised, key, value)
                revised.notes.append(f"{key} -> {value}")
        if "direction" in fb.directives:
            revised.direction = fb.directives["direction"].strip().lower()
            revised.notes.append(f"direction -> {revised.direction}")
        if "guardrails" in fb.directives:
            revised.guardrails = parse_guardrails(fb.directives["guardrails"])
            revised.notes.append(f"guardrails -> {fb.directives['guardrails']}")
    return revised


def preregistration(plan: PowerPlan, settings: ExperimentSettings, *, experiment: str, unit: str, control: str,
                    treatment: str, created_at: str, baseline_source: dict[str, Any], segments: list[str],
                    adjusted_by: str) -> dict[str, Any]:
    """The pre-registration document (field order matters to readers that search breadth-first)."""
    proportion = settings.metric_type == "proportion"
    sign = {"increase": ">", "decrease": "<", "two-sided": "!="}[settings.direction]
    test_name = "two-proportion z-test" if proportion else "Welch two-sample t-test"
    days = max(plan.days_needed, settings.min_days)
    return {
        "version": 1,
        "experiment": experiment,
        "primary_metric": settings.metric,
        "metric_type": settings.metric_type,
        "randomization_unit": unit,
        "control": control,
        "treatment": treatment,
        "hypothesis": {
            "metric": settings.metric, "direction": settings.direction,
            "h0": f"{settings.metric}(treatment) = {settings.metric}(control)",
            "h1": f"{settings.metric}(treatment) {sign} {settings.metric}(control)",
            "baseline": settings.baseline, "std": settings.std, "mde": settings.mde,
            "mde_relative": settings.mde / settings.baseline if settings.baseline else None,
            "alpha": settings.alpha, "power": settings.power,
        },
        "test": {
            "name": test_name,
            "power_function": "statsmodels.stats.power.NormalIndPower" if proportion
            else "statsmodels.stats.power.TTestIndPower",
            "effect_size": plan.effect_size, "effect_size_kind": plan.effect_size_kind,
            "statsmodels_alternative": "two-sided" if settings.direction == "two-sided" else "larger",
        },
        "sample_size": {"n_control": plan.n_control, "n_treatment": plan.n_treatment, "total": plan.total,
                        "n_control_exact": plan.n_control_exact},
        "ratio": settings.ratio,
        "allocation": {control: 1 / (1 + settings.ratio), treatment: settings.ratio / (1 + settings.ratio)},
        "duration": {"daily_traffic": settings.daily_traffic, "traffic_fraction": settings.traffic_fraction,
                     "units_per_day": plan.units_per_day, "days_needed": plan.days_needed, "min_days": settings.min_days,
                     "planned_days": days, "max_days": settings.max_days, "feasible": plan.feasible,
                     "mde_at_max_days": plan.mde_at_max_days, "adjusted_by": adjusted_by},
        "guardrails": settings.guardrails,
        "srm_check": {"test": "chi-square goodness of fit on units per variant", "alpha": 0.001,
                      "expected_shares": {control: 1 / (1 + settings.ratio),
                                          treatment: settings.ratio / (1 + settings.ratio)}},
        "stopping_rules": [
            horizon_rule(plan.total, plan.units_per_day, plan.days_needed, days)
            + "; no stopping for efficacy on interim looks unless monitored with an always-valid (mSPRT) test",
            f"run at least {settings.min_days} days to cover weekly cycles, even if the sample fills sooner",
            "stop early for harm: a guardrail worse than its tolerance at p < 0.01 on a daily check",
            "halt and investigate on sample-ratio mismatch (chi-square p < 0.001)",
        ],
        "analysis_plan": [
            "1. SRM check on units per variant before anything else",
            f"2. primary: {test_name}, {settings.direction}, alpha {settings.alpha}; report the difference "
            "with its confidence interval and the relative lift",
            "3. guardrails: non-inferiority, one-sided at alpha 0.05, margin = tolerance x control mean",
            "4. secondary metrics and segments: Holm-corrected p-values, reported as exploratory"
            + (f" (segments: {', '.join(segments)})" if segments else ""),
            f"5. unit of analysis = randomization unit ({unit}); one row per unit",
        ],
        "segments": segments,
        "baseline_source": baseline_source,
        "created_at": created_at,
        "power_analysis": asdict(plan),
    }
