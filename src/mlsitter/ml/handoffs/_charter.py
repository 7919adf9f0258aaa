"""The project charter: what scoping agreed, read by every later process.

Written as JSON and YAML with the same content. Fields::

    version            charter format version (1)
    name, objective, decision
    target             target column
    task               "classification" | "regression"
    positive_class     the class counted as positive (binary), else null
    classes            class labels (classification)
    metric             {name, threshold, greater_is_better, scorer}: success metric and the value
                       that makes the project worthwhile (scorer = sklearn scoring name)
    constraints        {max_latency_ms, max_model_size_mb, interpretability, budget, deadline}
    sensitive_attributes  columns to audit for fairness (declared + detected by name)
    excluded_columns   {column: reason}: ids, personal data, post-outcome columns: never features
    time_column        column that orders rows in time ("" if none)
    data               {path, rows, columns, sha256}
    availability       {score, reasons}
    feasibility        {score, estimate, dummy, reasons}
    risks              list of {kind, severity, detail}
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlsitter.errors import SpecError
from mlsitter.naming import stable_name

CHARTER_VERSION = 1


@stable_name("ml.handoffs.CharterMetric")
@dataclass
class CharterMetric:
    """The success metric and its threshold."""

    name: str
    threshold: float
    greater_is_better: bool
    scorer: str


@stable_name("ml.handoffs.Charter")
@dataclass
class Charter:
    """The agreed project charter (see the module docstring for each field)."""

    name: str
    objective: str
    decision: str
    target: str
    task: str
    metric: CharterMetric
    positive_class: str | None = None
    classes: list[str] = field(default_factory=list)
    constraints: dict[str, Any] = field(default_factory=dict)
    sensitive_attributes: list[str] = field(default_factory=list)
    excluded_columns: dict[str, str] = field(default_factory=dict)
    time_column: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    availability: dict[str, Any] = field(default_factory=dict)
    feasibility: dict[str, Any] = field(default_factory=dict)
    risks: list[dict[str, str]] = field(default_factory=list)
    version: int = CHARTER_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_charter(charter: Charter, directory: str | Path, stem: str = "charter") -> tuple[Path, Path]:
    """Write ``stem.json`` and ``stem.yaml``; returns both paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    data = json.loads(json.dumps(charter.to_dict(), default=str))
    json_path, yaml_path = out / f"{stem}.json", out / f"{stem}.yaml"
    json_path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    yaml_path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return json_path, yaml_path


_REQUIRED = ("name", "target", "task", "metric")


def charter_from_dict(data: Any, source: str = "charter") -> Charter:
    """Validate a charter mapping; missing or malformed fields are named in a SpecError."""
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a charter must be a mapping, got {type(data).__name__}")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise SpecError(f"{source}: charter lacks field(s) {missing}; write it with the scoping process")
    metric = data["metric"]
    if not isinstance(metric, dict) or not {"name", "threshold", "greater_is_better", "scorer"} <= set(metric):
        raise SpecError(f"{source}: charter 'metric' must have name, threshold, greater_is_better and scorer; "
                        f"got {metric!r}")
    if data["task"] not in ("classification", "regression"):
        raise SpecError(f"{source}: charter 'task' must be classification or regression, got {data['task']!r}")
    version = data.get("version", CHARTER_VERSION)
    if version != CHARTER_VERSION:
        raise SpecError(f"{source}: charter version {version} is not supported (expected {CHARTER_VERSION})")
    known = set(Charter.__dataclass_fields__)
    fields = {k: v for k, v in data.items() if k in known}
    fields["metric"] = CharterMetric(str(metric["name"]), float(metric["threshold"]),
                                     bool(metric["greater_is_better"]), str(metric["scorer"]))
    return Charter(**fields)


def load_charter(path: str | Path) -> Charter:
    """Read a charter written by the scoping process (``.json`` or ``.yaml``)."""
    p = Path(path)
    if not p.exists():
        raise SpecError(f"charter file {str(p)!r} does not exist; run the scoping process to create one")
    text = p.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SpecError(f"charter {str(p)!r} cannot be parsed: {exc}") from exc
    return charter_from_dict(data, source=str(p))
