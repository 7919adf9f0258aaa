"""The project brief: a YAML file a stakeholder writes before any modelling, validated into requirements.

Example::

    name: bank-term-deposit
    objective: Find clients likely to subscribe to a term deposit
    decision: Which clients the call centre phones in the next campaign
    target: y
    positive_class: "yes"          # optional; guessed for binary targets
    task: classification           # optional; inferred from the target
    success_metric: {name: roc_auc, threshold: 0.75}   # the value that makes the project worthwhile
    constraints:
      max_latency_ms: 50           # per-row predict latency
      max_model_size_mb: 20
      interpretability: preferred  # required | preferred | none
      fairness_attributes: [age, marital]
      budget: 2 engineer-weeks
      deadline: 2027-03-31
    data:
      time_column: ""              # optional, for time span and time-ordered splits
      id_columns: []
      post_outcome_columns: [duration]   # known only after the outcome: never a feature

Every problem found is reported at once, each naming the field and what was expected.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlsitter.errors import SpecError
from mlsitter.ml.metrics._metric_catalog import charter_metric_names, find_metric, metric_info
from mlsitter.naming import stable_name

INTERPRETABILITY = ("required", "preferred", "none")


@stable_name("scoping.Constraints")
@dataclass
class Constraints:
    """Operational limits the model must respect."""

    max_latency_ms: float | None = None
    max_model_size_mb: float | None = None
    interpretability: str = "none"
    fairness_attributes: list[str] = field(default_factory=list)
    budget: str = ""
    deadline: str = ""


@stable_name("scoping.ProjectBrief")
@dataclass
class ProjectBrief:
    """Structured requirements extracted from a brief."""

    name: str
    objective: str
    decision: str
    target: str
    metric: str
    threshold: float
    task: str | None = None
    positive_class: str | None = None
    constraints: Constraints = field(default_factory=Constraints)
    time_column: str = ""
    id_columns: list[str] = field(default_factory=list)
    post_outcome_columns: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_TOP_KEYS = {"name", "objective", "decision", "target", "positive_class", "task", "success_metric",
             "constraints", "data"}
_CONSTRAINT_KEYS = {"max_latency_ms", "max_model_size_mb", "interpretability", "fairness_attributes",
                    "budget", "deadline"}
_DATA_KEYS = {"time_column", "id_columns", "post_outcome_columns"}


def load_brief(path: str | Path) -> ProjectBrief:
    """Read and validate a brief YAML file."""
    p = Path(path)
    if not p.exists():
        raise SpecError(f"brief file {str(p)!r} does not exist; expected a YAML project brief")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SpecError(f"brief {str(p)!r} is not valid YAML: {exc}") from exc
    return parse_brief(raw, source=str(p))


def _str_list(value: Any, where: str, problems: list[str]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, (str, int)) for v in value):
        return [str(v) for v in value]
    problems.append(f"{where} must be a list of column names, got {value!r}")
    return []


def _number(value: Any, where: str, problems: list[str], positive: bool = True) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.append(f"{where} must be a number, got {value!r}")
        return None
    if positive and value <= 0:
        problems.append(f"{where} must be > 0, got {value!r}")
        return None
    return float(value)


def parse_brief(raw: Any, source: str = "brief") -> ProjectBrief:
    """Validate a brief mapping; raises one SpecError that lists every missing or contradictory field."""
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: expected a YAML mapping with objective, decision, target and "
                        f"success_metric, got {type(raw).__name__}")
    problems: list[str] = []
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        problems.append(f"unknown field(s) {unknown}; allowed: {sorted(_TOP_KEYS)}")
    text = {}
    for key in ("objective", "decision", "target"):
        value = raw.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            problems.append(f"'{key}' is missing; expected a non-empty string")
        elif not isinstance(value, (str, int)):
            problems.append(f"'{key}' must be a string, got {value!r}")
        text[key] = str(value).strip() if value is not None else ""
    task = raw.get("task")
    if task is not None and task not in ("classification", "regression"):
        problems.append(f"'task' must be 'classification' or 'regression', got {task!r}")
        task = None

    metric, threshold = "", float("nan")
    sm = raw.get("success_metric")
    if sm is None:
        problems.append("'success_metric' is missing; expected {name: <metric>, threshold: <value that makes "
                        "the project worthwhile>}")
    elif not isinstance(sm, dict):
        problems.append(f"'success_metric' must be a mapping with name and threshold, got {sm!r}")
    else:
        name = sm.get("name")
        if name is None:
            problems.append(f"'success_metric.name' is missing; expected one of {charter_metric_names()}")
        elif find_metric(name) is None:
            problems.append(f"'success_metric.name' {name!r} is unknown; expected one of {charter_metric_names()}")
        else:
            metric = metric_info(name).name
        value = _number(sm.get("threshold"), "'success_metric.threshold'", problems, positive=False)
        if sm.get("threshold") is None:
            problems.append("'success_metric.threshold' is missing; expected the metric value that would make "
                            "the project worthwhile")
        elif value is not None:
            threshold = value
            if metric:
                info = metric_info(metric)
                if (info.low is not None and value < info.low) or (info.high is not None and value > info.high):
                    problems.append(f"'success_metric.threshold' {value} is outside the range of {metric} "
                                    f"[{info.low}, {info.high}]")
                elif metric in ("roc_auc", "roc_auc_ovr") and value <= 0.5:
                    problems.append(f"'success_metric.threshold' {value} for {metric} is no better than chance "
                                    "(0.5); expected a value above 0.5")
        if metric and task and metric_info(metric).task != task:
            problems.append(f"'success_metric.name' {metric} is a {metric_info(metric).task} metric but "
                            f"'task' is {task}; change one of them")

    cons_raw = raw.get("constraints") or {}
    constraints = Constraints()
    if not isinstance(cons_raw, dict):
        problems.append(f"'constraints' must be a mapping, got {cons_raw!r}")
    else:
        bad = sorted(set(cons_raw) - _CONSTRAINT_KEYS)
        if bad:
            problems.append(f"unknown constraint(s) {bad}; allowed: {sorted(_CONSTRAINT_KEYS)}")
        constraints.max_latency_ms = _number(cons_raw.get("max_latency_ms"), "'constraints.max_latency_ms'", problems)
        constraints.max_model_size_mb = _number(cons_raw.get("max_model_size_mb"),
                                                "'constraints.max_model_size_mb'", problems)
        interp = str(cons_raw.get("interpretability", "none")).lower()
        if interp not in INTERPRETABILITY:
            problems.append(f"'constraints.interpretability' must be one of {list(INTERPRETABILITY)}, got {interp!r}")
        constraints.interpretability = interp
        constraints.fairness_attributes = _str_list(cons_raw.get("fairness_attributes"),
                                                    "'constraints.fairness_attributes'", problems)
        constraints.budget = str(cons_raw.get("budget", "") or "")
        deadline = cons_raw.get("deadline", "")
        if deadline and not isinstance(deadline, dt.date):
            try:
                deadline = dt.date.fromisoformat(str(deadline))
            except ValueError:
                problems.append(f"'constraints.deadline' must be a date YYYY-MM-DD, got {deadline!r}")
        constraints.deadline = deadline.isoformat() if isinstance(deadline, dt.date) else ""

    data_raw = raw.get("data") or {}
    time_column, id_columns, post_outcome = "", [], []
    if not isinstance(data_raw, dict):
        problems.append(f"'data' must be a mapping, got {data_raw!r}")
    else:
        bad = sorted(set(data_raw) - _DATA_KEYS)
        if bad:
            problems.append(f"unknown data field(s) {bad}; allowed: {sorted(_DATA_KEYS)}")
        time_column = str(data_raw.get("time_column") or "")
        id_columns = _str_list(data_raw.get("id_columns"), "'data.id_columns'", problems)
        post_outcome = _str_list(data_raw.get("post_outcome_columns"), "'data.post_outcome_columns'", problems)

    target = text.get("target", "")
    if target:
        for where, cols in (("constraints.fairness_attributes", constraints.fairness_attributes),
                            ("data.id_columns", id_columns), ("data.post_outcome_columns", post_outcome)):
            if target in cols:
                problems.append(f"the target {target!r} is also listed in '{where}'; a target cannot be a feature "
                                "attribute of itself")
        if time_column == target:
            problems.append(f"the target {target!r} is also 'data.time_column'")
    if problems:
        raise SpecError(f"invalid project brief {source}:\n  - " + "\n  - ".join(problems))
    return ProjectBrief(
        name=str(raw.get("name") or text["target"] + "-project"), objective=text["objective"],
        decision=text["decision"], target=target, metric=metric, threshold=threshold, task=task,
        positive_class=None if raw.get("positive_class") is None else str(raw.get("positive_class")),
        constraints=constraints, time_column=time_column, id_columns=id_columns,
        post_outcome_columns=post_outcome,
    )


SCOPING_FEEDBACK_KEYS = ("metric", "threshold", "sensitive", "not_sensitive", "exclude", "include",
                         "positive_class", "interpretability", "max_latency_ms", "max_model_size_mb")


def revise_brief(brief: ProjectBrief, feedbacks: list[str]) -> tuple[ProjectBrief, dict[str, list[str]], list[str]]:
    """Apply every rejection's directives in order; returns the revised brief, column overrides
    (``exclude``/``include``/``sensitive``/``not_sensitive``) and a note per change.

    Directives: ``metric: f1``, ``threshold: 0.7``, ``sensitive: age, sex``, ``not_sensitive: age``,
    ``exclude: col``, ``include: col`` (un-exclude), ``positive_class: yes``,
    ``interpretability: required``, ``max_latency_ms: 20``, ``max_model_size_mb: 5``."""
    from mlsitter.ml.handoffs._review_feedback import parse_feedback

    raw = brief.to_dict()
    overrides: dict[str, list[str]] = {"exclude": [], "include": [], "sensitive": [], "not_sensitive": []}
    notes: list[str] = []
    for text in feedbacks:
        fb = parse_feedback(text, allowed=SCOPING_FEEDBACK_KEYS)
        for key in ("exclude", "include", "sensitive", "not_sensitive"):
            for column in fb.get_list(key):
                overrides[key].append(column)
                notes.append(f"{key}: {column}")
        if "metric" in fb.directives:
            raw["metric"] = fb.directives["metric"].strip().lower()
            metric_info(raw["metric"])
            notes.append(f"metric -> {raw['metric']}")
        if "threshold" in fb.directives:
            raw["threshold"] = fb.get_float("threshold")
            notes.append(f"threshold -> {raw['threshold']}")
        if "positive_class" in fb.directives:
            raw["positive_class"] = fb.directives["positive_class"].strip()
            notes.append(f"positive class -> {raw['positive_class']}")
        for key in ("max_latency_ms", "max_model_size_mb"):
            if key in fb.directives:
                raw["constraints"][key] = fb.get_float(key)
                notes.append(f"{key} -> {raw['constraints'][key]}")
        if "interpretability" in fb.directives:
            raw["constraints"]["interpretability"] = fb.directives["interpretability"].strip().lower()
            notes.append(f"interpretability -> {raw['constraints']['interpretability']}")
    if not notes:
        return copy.deepcopy(brief), overrides, notes
    revised = parse_brief({
        "name": raw["name"], "objective": raw["objective"], "decision": raw["decision"], "target": raw["target"],
        "task": raw["task"], "positive_class": raw["positive_class"],
        "success_metric": {"name": raw["metric"], "threshold": raw["threshold"]},
        "constraints": {k: v for k, v in raw["constraints"].items() if v not in (None, "", [])},
        "data": {"time_column": raw["time_column"], "id_columns": raw["id_columns"],
                 "post_outcome_columns": raw["post_outcome_columns"]},
    }, source="brief revised by feedback")
    return revised, overrides, notes
