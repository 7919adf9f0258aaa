"""Read an ``experiment-plan`` pre-registration (JSON or YAML) defensively.

The plan's exact layout belongs to the ``experiment-plan`` process; this reader looks for the fields
an A/B readout needs under the names such a plan would use, at any nesting depth, and leaves out
whatever it cannot find (the readout then uses its own inputs or defaults):

- primary metric: ``primary_metric`` | ``metric`` (a name, or an object with ``name``)
- direction: ``direction`` (``increase`` | ``decrease`` | ``two-sided``)
- ``alpha``, ``power``, ``mde``, ``metric_type``
- planned units: ``n_control`` + ``n_treatment`` | ``sample_size_per_group`` | ``total``
- split: ``ratio`` (treatment / control) | ``allocation`` / ``split`` ({variant: share})
- variants: ``control``, ``treatment`` | ``variants`` (list, control first)
- guardrails: ``guardrails`` (``"name:higher:0.05"`` strings, or objects with ``metric``/``name``,
  ``worse`` or ``direction``, and a relative ``tolerance``)
- segments: ``segments`` (columns to break the effect down by)
- unit: ``randomization_unit`` | ``unit``
- metric type: ``metric_type`` (``proportion`` -> binary, ``mean`` -> continuous)

This matches the ``preregistration.json`` that ``experiment-plan`` writes (whose field order puts the
hypothesis's ``alpha`` before the SRM check's, so the breadth-first search finds the right one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlsitter.errors import DataError
from mlsitter.naming import stable_name


@stable_name("ml.experiments.Guardrail")
@dataclass
class Guardrail:
    """A metric that must not get worse; ``worse`` is 'lower' or 'higher'."""

    metric: str
    worse: str = "lower"
    tolerance: float | None = None  # relative change allowed before it counts as a breach


@stable_name("ml.experiments.PreRegistration")
@dataclass
class PreRegistration:
    """The fields of a pre-registration the readout uses (None where the plan does not say)."""

    source: str
    primary_metric: str | None = None
    metric_type: str | None = None
    direction: str | None = None
    alpha: float | None = None
    power: float | None = None
    mde: float | None = None
    planned_units: int | None = None
    split: dict[str, float] | None = None
    ratio: float | None = None
    control: str | None = None
    treatment: str | None = None
    unit: str | None = None
    guardrails: list[Guardrail] = field(default_factory=list)
    segments: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)


def _find(data: Any, *keys: str) -> Any:
    """First value under any of ``keys`` in a breadth-first walk of nested dicts/lists."""
    queue = [data]
    while queue:
        node = queue.pop(0)
        if isinstance(node, dict):
            for k in keys:
                if k in node and node[k] not in (None, ""):
                    return node[k]
            queue.extend(v for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            queue.extend(v for v in node if isinstance(v, (dict, list)))
    return None


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def parse_guardrail(item: Any) -> Guardrail | None:
    """``"latency:higher"``, ``"revenue"`` or ``{"metric": ..., "direction": "increase"|"decrease"|...}``."""
    if isinstance(item, str):
        name, _, rest = item.partition(":")
        worse, _, tolerance = rest.partition(":")
        worse = worse.strip().lower()
        worse = "higher" if worse in ("higher", "higher-is-worse", "up", "increase") else "lower"
        return Guardrail(name.strip(), worse, _number(tolerance.strip() or None)) if name.strip() else None
    if isinstance(item, dict):
        name = item.get("metric") or item.get("name")
        if not name:
            return None
        text = str(item.get("worse") or item.get("bad_direction") or item.get("direction") or "").lower()
        # a guardrail's "direction" may state the harmful move or the desired one; "must not increase" style wins
        worse = "higher" if text in ("higher", "increase", "up", "higher-is-worse", "must_not_increase", "max") else "lower"
        return Guardrail(str(name), worse, _number(item.get("tolerance")))
    return None


def read_preregistration(path: str) -> PreRegistration:
    """Load the plan file and pick out the fields above; a missing or unreadable file is a DataError."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"pre-registration {path!r} does not exist; pass the plan JSON written by experiment-plan")
    text = p.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        try:
            import yaml

            data = yaml.safe_load(text)
        except Exception as exc:
            raise DataError(f"pre-registration {path!r} is neither JSON nor YAML: {exc}") from None
    if not isinstance(data, dict):
        raise DataError(f"pre-registration {path!r} must hold an object; got {type(data).__name__}")
    plan = PreRegistration(source=str(p))
    metric = _find(data, "primary_metric", "metric")
    if isinstance(metric, dict):
        metric = metric.get("name") or metric.get("column")
    plan.primary_metric = str(metric) if isinstance(metric, (str, int)) else None
    mt = _find(data, "metric_type")
    if isinstance(mt, str):  # experiment-plan says proportion/mean; the readout says binary/continuous
        plan.metric_type = {"proportion": "binary", "mean": "continuous"}.get(mt.lower(), mt.lower())
    direction = _find(data, "direction", "alternative")
    if isinstance(direction, str):
        d = direction.lower()
        plan.direction = {"larger": "increase", "smaller": "decrease", "greater": "increase", "less": "decrease"}.get(d, d)
    plan.alpha = _number(_find(data, "alpha", "significance_level"))
    plan.power = _number(_find(data, "power"))
    plan.mde = _number(_find(data, "mde", "minimum_detectable_effect"))
    n_c, n_t = _number(_find(data, "n_control")), _number(_find(data, "n_treatment"))
    per_group = _number(_find(data, "sample_size_per_group", "n_per_group"))
    total = _number(_find(data, "total", "total_units", "sample_size"))
    if n_c and n_t:
        plan.planned_units = int(n_c + n_t)
    elif per_group:
        plan.planned_units = int(2 * per_group)
    elif total:
        plan.planned_units = int(total)
    plan.ratio = _number(_find(data, "ratio"))
    split = _find(data, "allocation", "split", "traffic_split")
    if isinstance(split, dict):
        shares = {str(k): _number(v) for k, v in split.items()}
        if all(v is not None and v >= 0 for v in shares.values()) and sum(shares.values()) > 0:  # type: ignore[arg-type]
            plan.split = {k: float(v) for k, v in shares.items()}  # type: ignore[arg-type]
    control, treatment = _find(data, "control", "control_variant"), _find(data, "treatment", "treatment_variant")
    variants = _find(data, "variants", "arms")
    if isinstance(variants, list) and len(variants) >= 2 and all(isinstance(v, (str, int)) for v in variants):
        control = control or variants[0]
        treatment = treatment or variants[1]
    plan.control = str(control) if isinstance(control, (str, int)) else None
    plan.treatment = str(treatment) if isinstance(treatment, (str, int)) else None
    unit = _find(data, "randomization_unit", "unit")
    plan.unit = str(unit) if isinstance(unit, str) else None
    guards = _find(data, "guardrails", "guardrail_metrics")
    if isinstance(guards, list):
        plan.guardrails = [g for g in (parse_guardrail(x) for x in guards) if g is not None]
    plan.found = [k for k in ("primary_metric", "metric_type", "direction", "alpha", "power", "mde", "planned_units", "split",
                              "ratio", "control", "treatment", "unit") if getattr(plan, k) is not None]
    segments = _find(data, "segments")
    if isinstance(segments, list):
        plan.segments = [str(x) for x in segments if isinstance(x, (str, int))]
    plan.found += [k for k in ("guardrails", "segments") if getattr(plan, k)]
    return plan
