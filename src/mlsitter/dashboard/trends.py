"""Across runs: a process's gate values plotted run after run (with each gate's threshold), and two runs side by
side (inputs, gates, result numbers, what differs)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from markupsafe import Markup, escape

from mlsitter.dashboard import queries
from mlsitter.dashboard.app import Dashboard, dashboard
from mlsitter.dashboard.links import run_url
from mlsitter.dashboard.pages import _page
from mlsitter.errors import InputError
from mlsitter.runtime.store import RunRecord, Store

router = APIRouter(include_in_schema=False)
TREND_RUNS = (10, 25, 50, 100, 200)


@dataclass
class GatePoint:
    run_id: str
    at: float
    value: float
    threshold: float | None
    passed: bool


@dataclass
class GateSeries:
    """One gate's measured values over a process's runs, oldest first."""

    name: str
    operator: str
    points: list[GatePoint] = field(default_factory=list)

    @property
    def latest(self) -> GatePoint:
        return self.points[-1]


def gate_series(store: Store, process: str, runs: int) -> tuple[list[RunRecord], list[GateSeries]]:
    """The last ``runs`` runs of ``process`` (oldest first) and each numeric gate's values over them; a gate
    evaluated twice in one run (a refine loop) counts with its last value."""
    records = list(reversed(store.list_runs(process=process, limit=runs)))
    series: dict[str, GateSeries] = {}
    if not records:
        return records, []
    marks = ",".join("?" * len(records))
    rows = store.conn.execute(f"SELECT run_id, data FROM events WHERE run_id IN ({marks}) AND type='gate.evaluated' "
                              "ORDER BY run_id, seq", [r.run_id for r in records]).fetchall()
    last: dict[str, dict[str, dict[str, Any]]] = {}  # run -> gate name -> its last evaluation
    for run_id, data in rows:
        d = json.loads(data)
        if _number(d.get("value")) is not None:
            last.setdefault(run_id, {})[d["name"]] = d
    for record in records:
        for name, d in last.get(record.run_id, {}).items():
            s = series.setdefault(name, GateSeries(name, d.get("operator", "")))
            s.points.append(GatePoint(record.run_id, record.created_at, float(d["value"]),
                                      _number(d.get("threshold")), bool(d.get("passed"))))
    return records, sorted(series.values(), key=lambda s: s.name)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(
        value) else None


def trend_svg(s: GateSeries, width: int = 520, height: int = 120) -> Markup:
    """A small line chart of one gate: its values run after run, its threshold dashed, failed runs in red."""
    values = [p.value for p in s.points] + [p.threshold for p in s.points if p.threshold is not None]
    low, high = min(values), max(values)
    if high == low:
        low, high = low - 1, high + 1
    pad = 8

    def x(i: int) -> float:
        return pad + (width - 2 * pad) * (i / max(1, len(s.points) - 1))

    def y(v: float) -> float:
        return height - pad - (height - 2 * pad) * (v - low) / (high - low)

    parts = [f'<svg class="trend" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(s.name)} over {len(s.points)} runs">']
    thresholds = [(i, p.threshold) for i, p in enumerate(s.points) if p.threshold is not None]
    if thresholds:
        path = " ".join(f"{x(i):.1f},{y(t):.1f}" for i, t in thresholds)
        parts.append(f'<polyline class="threshold" points="{path}" fill="none" stroke="#888" stroke-dasharray="4 3"/>')
    line = " ".join(f"{x(i):.1f},{y(p.value):.1f}" for i, p in enumerate(s.points))
    parts.append(f'<polyline class="values" points="{line}" fill="none" stroke="#2563eb" stroke-width="1.5"/>')
    for i, p in enumerate(s.points):
        color = "#16a34a" if p.passed else "#dc2626"
        parts.append(f'<a href="{escape(run_url(p.run_id))}"><circle cx="{x(i):.1f}" cy="{y(p.value):.1f}" r="3.5" '
                     f'fill="{color}" class="{"pass" if p.passed else "fail"}"><title>{escape(p.run_id)}: '
                     f'{p.value:.6g} {escape(s.operator)} {"" if p.threshold is None else f"{p.threshold:.6g}"} '
                     f'({"passed" if p.passed else "missed"})</title></circle></a>')
    parts.append("</svg>")
    return Markup("".join(parts))


@router.get("/trends")
def trends_page(request: Request, process: str = "", runs: int = 50, cfg: Dashboard = Depends(dashboard)) -> Response:
    if runs not in TREND_RUNS:
        raise InputError(f"runs must be one of {', '.join(map(str, TREND_RUNS))}; got {runs}")
    processes = cfg.store.processes()
    if process and process not in processes:
        raise InputError(f"no runs of process {process!r}; processes with runs: {', '.join(processes) or 'none'}")
    records, series = gate_series(cfg.store, process, runs) if process else ([], [])
    return _page(cfg, request, "trends.html", process=process, processes=processes, runs=runs, choices=TREND_RUNS,
                 records=records, series=series, trend_svg=trend_svg)


@dataclass
class CompareRow:
    """One line of a two-run comparison: what it is, both values, and whether they differ."""

    section: str
    name: str
    a: Any
    b: Any

    @property
    def differs(self) -> bool:
        return json.dumps(self.a, sort_keys=True, default=str) != json.dumps(self.b, sort_keys=True, default=str)

    @property
    def delta(self) -> float | None:
        a, b = _number(self.a), _number(self.b)
        return None if a is None or b is None else b - a


def compare_rows(store: Store, a: str, b: str) -> tuple[RunRecord, RunRecord, list[CompareRow]]:
    """Two runs' status, duration, inputs, gates (value and outcome) and the numbers of their results."""
    va, vb = queries.run_view(store, a), queries.run_view(store, b)
    rows = [CompareRow("run", "process", va.run.process, vb.run.process),
            CompareRow("run", "status", va.run.status, vb.run.status),
            CompareRow("run", "duration (s)", _seconds(va.run), _seconds(vb.run))]
    for key in sorted(set(va.run.inputs) | set(vb.run.inputs)):
        rows.append(CompareRow("inputs", key, va.run.inputs.get(key), vb.run.inputs.get(key)))
    ga, gb = {g.name: g for g in va.gates}, {g.name: g for g in vb.gates}
    for name in sorted(set(ga) | set(gb)):
        rows.append(CompareRow("gates", name, ga[name].value if name in ga else None,
                               gb[name].value if name in gb else None))
        rows.append(CompareRow("gates", f"{name} outcome", ga[name].outcome if name in ga else None,
                               gb[name].outcome if name in gb else None))
    na, nb = _result_numbers(store, va.run), _result_numbers(store, vb.run)
    for name in sorted(set(na) | set(nb)):
        rows.append(CompareRow("result", name, na.get(name), nb.get(name)))
    return va.run, vb.run, rows


def _seconds(run: RunRecord) -> float:
    """The run's duration as the runs list shows it (to its end, or to the start of its wait)."""
    import time

    return round((run.clock_stopped_at or time.time()) - run.created_at, 3)


def _result_numbers(store: Store, run: RunRecord, limit: int = 60) -> dict[str, float]:
    """The numbers at the top two levels of a completed run's result (``metrics.roc_auc``), at most ``limit``."""
    if run.status != "completed" or run.result is None:
        return {}
    from mlsitter.runtime.codec import Codec
    from mlsitter.runtime.values import jsonable

    value = jsonable(Codec(store.artifacts).decode(run.result))
    out: dict[str, float] = {}
    items = value.items() if isinstance(value, dict) else []
    for key, v in items:
        if _number(v) is not None:
            out[str(key)] = float(v)
        elif isinstance(v, dict):
            out.update({f"{key}.{k}": float(x) for k, x in v.items() if _number(x) is not None})
    return dict(list(out.items())[:limit])


@router.get("/compare")
def compare_page(request: Request, a: str = Query(...), b: str = Query(...),
                 cfg: Dashboard = Depends(dashboard)) -> Response:
    run_a, run_b, rows = compare_rows(cfg.store, a.strip(), b.strip())
    return _page(cfg, request, "compare.html", a=run_a, b=run_b, rows=rows,
                 differing=sum(1 for r in rows if r.differs))
