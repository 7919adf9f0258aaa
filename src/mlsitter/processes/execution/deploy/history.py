"""Serving history read from the journal: which version served which share of a deployment's traffic from
when to when. Every traffic change a deploy run makes is a journaled step result (``at``, ``shares``), so
the history needs no other record; ``mlsitter lineage`` prints it and the dashboard can show it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlsitter.naming import stable_name

TRAFFIC_STEPS = ("deploy.start_servers", "deploy.set_traffic", "deploy.rollback", "deploy.promote", "deploy.rollback_now")
TRAFFIC_PROCESSES = ("deploy", "rollback")


@stable_name("deploy.ServingInterval")
@dataclass(frozen=True)
class ServingInterval:
    """``version`` served ``share`` of ``deployment``'s traffic from ``start`` to ``end`` (None: still)."""

    deployment: str
    version: str
    share: float
    start: float
    end: float | None
    run_id: str
    phase: str


def traffic_changes(store: Any, model: str | None = None) -> list[dict[str, Any]]:
    """Every journaled traffic change of ``deploy`` and ``rollback`` runs (of ``model`` when given), oldest first."""
    from mlsitter.runtime.codec import Codec

    codec = Codec(store.artifacts)
    changes = []
    for run in _runs(store):
        names: dict[str, str] = {}
        for event in store.events(run.run_id, types=("step.started", "step.completed")):
            if event.type == "step.started":
                names[event.data["key"]] = event.data["name"]
            elif names.get(event.data["key"]) in TRAFFIC_STEPS:
                result = codec.decode(event.data["result"])
                if not isinstance(result, dict) or "shares" not in result:
                    continue
                if model and not any(v.split("/")[0] == model for v in result["shares"]) and \
                        result.get("deployment") != model:
                    continue
                changes.append({**result, "run_id": run.run_id, "step": names[event.data["key"]]})
    changes.sort(key=lambda c: c["at"])
    return changes


def _runs(store: Any) -> list[Any]:
    """Every run of the processes that change traffic."""
    out = []
    for name in TRAFFIC_PROCESSES:
        offset = 0
        while runs := store.list_runs(process=name, limit=200, offset=offset):
            offset += len(runs)
            out += runs
    return out


def serving_history(store: Any, model: str | None = None) -> list[ServingInterval]:
    """The intervals of traffic each version held, per deployment, from the deploy runs' journals."""
    by_deployment: dict[str, list[dict[str, Any]]] = {}
    for change in traffic_changes(store, model):
        by_deployment.setdefault(change.get("deployment", ""), []).append(change)
    out: list[ServingInterval] = []
    for deployment, changes in by_deployment.items():
        for i, change in enumerate(changes):
            end = changes[i + 1]["at"] if i + 1 < len(changes) else None
            for version, share in sorted(change["shares"].items()):
                out.append(ServingInterval(deployment, version, float(share), float(change["at"]), end,
                                           change["run_id"], change.get("phase", "")))
    out.sort(key=lambda s: (s.deployment, s.start, s.version))
    return merged(out)


def merged(intervals: list[ServingInterval]) -> list[ServingInterval]:
    """Adjacent intervals of the same version with the same share joined into one."""
    out: list[ServingInterval] = []
    open_: dict[tuple[str, str], int] = {}
    for item in intervals:
        key = (item.deployment, item.version)
        j = open_.get(key)
        if j is not None and out[j].end == item.start and out[j].share == item.share:
            prev = out[j]
            out[j] = ServingInterval(prev.deployment, prev.version, prev.share, prev.start, item.end, prev.run_id,
                                     prev.phase)
            continue
        open_[key] = len(out)
        out.append(item)
    return out
