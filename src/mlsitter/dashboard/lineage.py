"""Lineage of model and dataset versions: which run made them, which runs used them.

A run's inputs and result name the versions (``dataset_version``; ``model_name`` + ``version``, or a
``model`` reference such as ``churn@champion``); the journal of every run is searched for the same
values, and a registered model's own record (MLflow registry) names the run and dataset behind it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from mlsitter.runtime.store import RunRecord, Store

_MODEL_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}(?:@[A-Za-z0-9_\-]+|/\d+)$")


@dataclass(frozen=True)
class VersionLink:
    """A dataset version id or a model reference (``name/3``, ``name@alias``) found in a run."""

    kind: str  # "dataset" or "model"
    value: str

    @property
    def url(self) -> str:
        from urllib.parse import quote

        return f"/lineage/{self.kind}/{quote(self.value, safe='@/')}"


@dataclass
class Lineage:
    kind: str
    value: str
    runs: list[tuple[RunRecord, str]] = field(default_factory=list)
    record: dict[str, Any] | None = None
    problem: str | None = None
    serving: list[Any] = field(default_factory=list)
    """Which version served which share of traffic, from when to when (deploy runs' journals)."""


def versions_in(*values: Any) -> list[VersionLink]:
    """Dataset versions and model references named anywhere in these (encoded) values."""
    found: list[VersionLink] = []

    def add(link: VersionLink) -> None:
        if link not in found:
            found.append(link)

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            payload = v.get("v") if v.get("$t") == "dataclass" and isinstance(v.get("v"), dict) else v
            dataset = payload.get("dataset_version")
            if isinstance(dataset, str) and dataset.strip():
                add(VersionLink("dataset", dataset))
            name, version = payload.get("model_name"), payload.get("version")
            if isinstance(name, str) and isinstance(version, int) and not isinstance(version, bool):
                add(VersionLink("model", f"{name}/{version}"))
            for key in ("model", "model_ref", "champion", "challenger"):
                ref = payload.get(key)
                if isinstance(ref, str) and _MODEL_REF.match(ref):
                    add(VersionLink("model", ref))
            for item in v.values():
                walk(item)
        elif isinstance(v, list):
            for item in v:
                walk(item)

    for value in values:
        walk(value)
    return found


def _mentions(value: Any, wanted: str, kind: str) -> bool:
    if isinstance(value, str):
        if kind == "dataset":
            return value == wanted
        name = wanted.split("@")[0].split("/")[0]
        return value == wanted or value == name or value.startswith((name + "@", name + "/"))
    if isinstance(value, dict):
        if kind == "model" and "/" in wanted:
            name, _, version = wanted.partition("/")
            if value.get("model_name") == name and str(value.get("version")) == version:
                return True
        return any(_mentions(v, wanted, kind) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, wanted, kind) for v in value)
    return False


def runs_mentioning(store: Store, kind: str, value: str, limit: int = 200) -> list[tuple[RunRecord, str]]:
    """Runs whose journal names the version, oldest first, with the first kind of event that names it."""
    needle = value if kind == "dataset" else value.split("@")[0].split("/")[0]
    rows = store.conn.execute(
        "SELECT run_id, seq, type, data FROM events WHERE instr(data, ?) > 0 ORDER BY run_id, seq",
        (json.dumps(needle, ensure_ascii=False)[:-1],),  # the value as the start of a JSON string
    ).fetchall()
    first: dict[str, str] = {}
    for run_id, _seq, type_, data in rows:
        if run_id in first:
            continue
        try:
            payload = json.loads(data)
        except json.JSONDecodeError:
            continue
        if _mentions(payload, value, kind):
            first[run_id] = type_
        if len(first) >= limit:
            break
    runs = [(store.get_run(run_id), how) for run_id, how in first.items()]
    runs.sort(key=lambda pair: pair[0].created_at)
    return runs


def model_record(store: Store, ref: str) -> tuple[dict[str, Any] | None, str | None]:
    """The model registry's lineage record of ``ref`` (model -> run -> dataset), or why there is none."""
    import os

    if not os.environ.get("MLFLOW_TRACKING_URI") and not (store.home / "mlflow.db").exists():
        return None, f"no model registry in {store.home} yet (no model was registered)"
    try:
        from mlsitter.ml.tracking._registry import lineage
    except ImportError as exc:
        return None, f"the model registry needs the ml extra ({exc.name} is missing)"
    try:
        return lineage(ref), None
    except Exception as exc:  # an unknown model or an unreachable registry is shown, not raised
        return None, f"{type(exc).__name__}: {exc}"


def build_lineage(store: Store, kind: str, value: str) -> Lineage:
    result = Lineage(kind, value, runs=runs_mentioning(store, kind, value))
    if kind == "model":
        from mlsitter.processes.execution.deploy.history import serving_history

        result.record, result.problem = model_record(store, value)
        result.serving = serving_history(store, re.split(r"[@/]", value, maxsplit=1)[0])
    return result
