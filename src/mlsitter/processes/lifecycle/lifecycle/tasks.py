"""The lifecycle's steps: read the chain (YAML), split the validated data, wire each child's inputs from
what the earlier children produced, and gather every child's gates and approvals from the journal."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlsitter.errors import InputError, SpecError
from mlsitter.naming import stable_name
from mlsitter.runtime import task

DEFAULT_STEPS = Path(__file__).with_name("steps.yaml")
CONDITIONS = ("traffic", "drift", "deployment")


@stable_name("lifecycle.Step")
@dataclass
class Step:
    """One link of the chain: the process, the inputs it adds, and when it runs."""

    process: str
    inputs: dict[str, Any] = field(default_factory=dict)
    when: str = ""


@task(name="lifecycle.read_steps")
def read_steps(path: str) -> list[Step]:
    """The chain from ``path`` (default: the bundled steps.yaml); each step names an installed process."""
    import yaml

    from mlsitter.runtime.definitions import known_names

    source = Path(path) if path else DEFAULT_STEPS
    if not source.is_file():
        raise InputError(f"steps file {str(source)!r} does not exist; expected a YAML file with a 'steps:' list")
    loaded = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    rows = loaded.get("steps") if isinstance(loaded, dict) else None
    if not isinstance(rows, list) or not rows:
        raise SpecError(f"{source}: expected a non-empty 'steps:' list of {{process: NAME, with: {{...}}, when: ...}}")
    known = set(known_names()) | {"retraining"}
    steps = []
    for i, row in enumerate(rows, 1):
        row = {"process": row} if isinstance(row, str) else row
        if not isinstance(row, dict) or not isinstance(row.get("process"), str):
            raise SpecError(f"{source}: step {i} must be a mapping with 'process: NAME', got {row!r}")
        name, extra, when = row["process"], row.get("with") or {}, str(row.get("when") or "")
        unknown = set(row) - {"process", "with", "when"}
        if unknown:
            raise SpecError(f"{source}: step {i} ({name}) has unknown keys {sorted(unknown)}; allowed: process, with, when")
        if name not in known or name == "lifecycle":
            raise SpecError(f"{source}: step {i} names process {name!r}, which is not installed "
                            f"(installed: {', '.join(sorted(known - {'lifecycle'}))})")
        if not isinstance(extra, dict):
            raise SpecError(f"{source}: step {i} ({name}): 'with' must be a mapping of inputs, got {extra!r}")
        if when and when not in CONDITIONS:
            raise SpecError(f"{source}: step {i} ({name}): 'when' must be one of {', '.join(CONDITIONS)}, got {when!r}")
        steps.append(Step(name, dict(extra), when))
    return steps


@task(name="lifecycle.split_holdout")
def split_holdout(data: str, target: str, holdout: float, seed: int, out_dir: str) -> dict[str, str]:
    """Hold out a seeded, stratified share of the validated rows that no child trains on; write train,
    holdout and fixture (holdout without the target) tables."""
    from mlsitter.ml.io._table_reader import read_table
    from mlsitter.processes.common.holdout import write_holdout_split

    frame = read_table(data)
    if target not in frame.columns:
        raise InputError(f"target {target!r} is not a column of {data}; columns: {', '.join(map(str, frame.columns))}")
    return write_holdout_split(frame, target, holdout, seed, out_dir)


def child_inputs(process: str, state: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """The inputs of child ``process`` from what the chain has so far (``state``), then the step's own."""
    s = state
    model = f"{s['model_name']}/{s['version']}" if s.get("version") else ""
    sensitive = {"sensitive": s["sensitive"]} if s.get("sensitive") else {}
    wired: dict[str, dict[str, Any]] = {
        "data-validation": {"data": [s["data"]], "name": s["name"]},
        "eda": {"data": s.get("train", s["data"]), "target": s["target"]},
        "features": {"data": s.get("train", s["data"]), "target": s["target"],
                     **({"eda_report": s["eda_report"]} if s.get("eda_report") else {})},
        "model-selection": {"data": s.get("train", s["data"]), "target": s["target"],
                            **({"pipeline": s["pipeline"]} if s.get("pipeline") else {})},
        "training": {"data": s.get("train", s["data"]), "target": s["target"], "model_name": s["model_name"],
                     **({"pipeline": s["pipeline"]} if s.get("pipeline") else {}),
                     **({"selection": s["selection"]} if s.get("selection") else {}),
                     **({"dataset_version": s["dataset_version"]} if s.get("dataset_version") else {}),
                     **({"test_data": s["holdout"]} if s.get("holdout") else {})},
        "evaluation": {"model": model, "data": s.get("holdout", ""), "target": s["target"], **sensitive},
        "explain": {"model": model, "data": s.get("holdout", ""), "target": s["target"], **sensitive,
                    **({"evaluation": s["evaluation"]} if s.get("evaluation") else {})},
        "deploy": {"model": model, "fixtures": s.get("fixtures", ""), "deployment": s["model_name"]},
        "observability": {"deployment": s["model_name"] if s.get("router") else ""},
        "drift": {"reference": s.get("train", s["data"]), "current": s.get("traffic", ""), "target": s["target"]},
        "retraining": {"model": f"{s['model_name']}@champion", "data": s.get("traffic", ""), "target": s["target"],
                       "reference": s.get("holdout", ""), "deployment": s["model_name"],
                       "drift": s.get("drift", ""), **sensitive,
                       **({"pipeline": s["pipeline"]} if s.get("pipeline") else {}),
                       **({"selection": s["selection"]} if s.get("selection") else {})},
    }
    inputs = dict(wired.get(process, {}))
    missing = [k for k in ("model", "data", "fixtures", "current", "deployment")
               if k in inputs and inputs[k] in ("", [""])]
    if missing:
        raise SpecError(f"lifecycle step {process!r} needs {', '.join(missing)} from an earlier step "
                        f"(training for the model, data-validation for the holdout, traffic= for drift, deploy for "
                        "the deployment); put it after the step that produces it")
    return {**inputs, **extra}


def absorb(process: str, result: Any, state: dict[str, Any]) -> dict[str, Any]:
    """What a finished child hands on: the new state of the chain."""
    get = lambda name: getattr(result, name, "")  # noqa: E731
    updates: dict[str, Any] = {
        "data-validation": {"clean": get("clean_path"), "dataset_version": get("dataset_version")},
        "eda": {"eda_report": get("report_json")},
        "features": {"pipeline": get("pipeline")},
        "model-selection": {"selection": get("selection")},
        "training": {"version": get("version"), "model_name": get("model_name") or state["model_name"]},
        "evaluation": {"evaluation": get("summary")},
        "deploy": {"router": get("router")},
        "drift": {"drift": _drift_signal(result)},
    }.get(process, {})
    return {**state, **{k: v for k, v in updates.items() if v not in ("", None)}}


def _drift_signal(result: Any) -> str:
    import json

    recommendation = dict(getattr(result, "recommendation", {}) or {})
    return json.dumps({"status": getattr(result, "status", ""), "alerts": list(getattr(result, "alerts", []) or []),
                       **recommendation}, sort_keys=True, default=str)


def condition_holds(when: str, state: dict[str, Any]) -> tuple[bool, str]:
    """Whether a ``when:`` step runs, and why (journaled)."""
    import json

    if not when:
        return True, ""
    if when == "traffic":
        return bool(state.get("traffic")), ("a traffic table was given" if state.get("traffic")
                                            else "no traffic= table was given")
    if when == "deployment":
        return bool(state.get("router")), (f"{state['model_name']} serves at {state['router']}" if state.get("router")
                                           else "no deploy step served the model")
    signal = json.loads(state["drift"]) if state.get("drift") else {}
    fired = signal.get("status") == "drift" and signal.get("action", "retrain") == "retrain"
    why = (f"drift alerts: {'; '.join(signal.get('alerts', []))}" if fired
           else f"drift status {signal.get('status', 'not measured')}, recommendation {signal.get('action', 'none')}")
    return fired, why


@stable_name("lifecycle.ChildSummary")
@dataclass
class ChildSummary:
    """One child run as the lifecycle report shows it: status, report, gates and who approved what."""

    step: int
    process: str
    run_id: str
    status: str
    report: str
    gates: list[dict[str, Any]]
    approvals: list[dict[str, Any]]
    children: list[str] = field(default_factory=list)


def _main_report(artifacts: list[dict[str, Any]]) -> str:
    """The child's HTML report, the last attempt's: its last ``*report*.html`` artifact, else its last HTML one."""
    pages = [a for a in artifacts if str(a.get("name", "")).endswith(".html")]
    named = [a for a in pages if "report" in str(a.get("name", ""))]
    return str((named or pages or [{}])[-1].get("path", ""))


@task(name="lifecycle.collect_chain")
def collect_chain(run_id: str) -> list[ChildSummary]:
    """Every child of ``run_id`` (and their children) with its gates and answered questions, from the journal."""
    from mlsitter.runtime import Store
    from mlsitter.runtime.views import build_view

    store = Store()
    out: list[ChildSummary] = []

    def walk(parent: str) -> list[str]:
        ids = []
        for c in build_view(store, parent).children:
            view = build_view(store, c["child_run_id"])
            gates = [{"gate": g.name, "measured": g.value, "rule": f"{g.operator} {g.threshold}", "outcome": g.outcome,
                      "overridden by": g.overridden_by or ""} for g in view.gates]
            approvals = [{"question": b.question, "answer": "pending" if b.approved is None else
                          ("approved" if b.approved else "rejected"), "by": b.by, "feedback": b.feedback,
                          "tags": ", ".join(b.tags)} for b in view.breakpoints]
            summary = ChildSummary(len(out) + 1, view.run.process, view.run.run_id, view.run.status,
                                   _main_report(view.artifacts), gates, approvals)
            out.append(summary)
            ids.append(view.run.run_id)
            summary.children = walk(view.run.run_id)
        return ids

    walk(run_id)
    return out
