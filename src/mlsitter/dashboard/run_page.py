"""Everything the run page shows, gathered from the journal in one pass (plus parent, children, verify)."""

from __future__ import annotations

import bisect
import html
import time
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from mlsitter.dashboard import queries
from mlsitter.dashboard.lineage import VersionLink, versions_in
from mlsitter.dashboard.links import file_url
from mlsitter.dashboard.formatting import seconds
from mlsitter.runtime.store import FINAL, RunRecord, Store
from mlsitter.runtime.views import BreakpointView, RunView, StepView


@dataclass
class TimelineRow:
    """A step with its text ready to print and its bar's position on the run's time axis (percent)."""

    step: StepView
    short_name: str
    offset: str
    duration: str
    left: float
    width: float


@dataclass
class RefineRow:
    """One refine attempt with the review that ended it."""

    name: str
    attempt: int
    max_attempts: int
    feedback_in: str | None
    review: BreakpointView | None


@dataclass
class ChildApproval:
    """A question asked by a run below this one: who answered it (authenticated, and any claimed name), the
    approvals short of the quorum, and the approval rule it was judged by."""

    depth: int
    process: str
    run_id: str
    question: BreakpointView
    rule: str
    """The governing rules with their version ('' when none governed it)."""

    @property
    def answer(self) -> str:
        return "pending" if self.question.approved is None else ("approved" if self.question.approved else "rejected")


#: how many runs below a parent the run page reads for their approvals (a lifecycle has about a dozen)
MAX_DESCENDANTS = 200


def child_approvals(store: Store, run_id: str) -> list[ChildApproval]:
    """Every question of every run below ``run_id`` (children, their children, ...), in the order they ran."""
    from mlsitter.runtime import approvals
    from mlsitter.runtime.runner import Runner

    runner, out, seen = Runner(store), [], 0

    def walk(parent: str, depth: int) -> None:
        nonlocal seen
        for c in queries.run_view(store, parent).children:
            if seen >= MAX_DESCENDANTS:
                return
            seen += 1
            child = queries.run_view(store, c["child_run_id"])
            rules = approvals.bound_rules(runner.bound_event(child.run.run_id))
            for bp in child.breakpoints:
                out.append(ChildApproval(depth, child.run.process, child.run.run_id, bp,
                                         approvals.describe(rules, bp.tags) if rules else ""))
            walk(child.run.run_id, depth + 1)

    walk(run_id, 1)
    return out


@dataclass
class RunPage:
    view: RunView
    parents: list[RunRecord]
    children: list[tuple[dict[str, Any], RunRecord | None]]
    timeline: list[TimelineRow | WaitRow]
    refines: list[RefineRow]
    artifacts: list[dict[str, Any]]
    pending: queries.PendingItem | None
    leaf: RunRecord | None = None
    result_refs: list[dict[str, Any]] = field(default_factory=list)
    versions: list[VersionLink] = field(default_factory=list)
    child_approvals: list[ChildApproval] = field(default_factory=list)
    is_executing: bool = False  # a live runner holds its lease: no cancel button

    @property
    def is_live(self) -> bool:
        return self.view.run.status not in FINAL

    @property
    def gate_counts(self) -> queries.GateCounts:
        """The gates by outcome, as the gates table shows them (warned and overridden are not failed)."""
        return queries.count_gates(self.view.gates)


@dataclass
class WaitRow:
    """A span where the run waited (a person, a child, a timer), drawn at a fixed small width on the axis."""

    reason: str
    offset: str
    duration: str
    left: float
    width: float


class TimeAxis:
    """The timeline's axis from the run's start to its end, where each wait takes a fixed share (at most 4 %,
    30 % for all of them) whatever its length, so a day waiting for an approval does not squash the steps."""

    def __init__(self, start: float, end: float, waits: list[tuple[float, float]]) -> None:
        self.start, self.end = start, end
        self.waits = [(max(a, start), min(b, end)) for a, b in sorted(waits) if min(b, end) > max(a, start)]
        self.wait_share = min(4.0, 30.0 / len(self.waits)) if self.waits else 0.0
        busy = (end - start) - sum(b - a for a, b in self.waits)
        self.per_second = (100.0 - self.wait_share * len(self.waits)) / max(busy, 1e-3)

        # where each wait starts on the axis (for a binary search: a 5,000-step run with many waits stays fast)
        self.starts = [a for a, _ in self.waits]
        self.placed: list[float] = []
        position, cursor = 0.0, start
        for a, b in self.waits:
            position += (a - cursor) * self.per_second
            self.placed.append(position)
            position, cursor = position + self.wait_share, b

    def at(self, t: float) -> float:
        """Percent of the axis where time ``t`` falls."""
        i = bisect.bisect_right(self.starts, t) - 1
        if i < 0:
            return min(100.0, max(0.0, t - self.start) * self.per_second)
        a, b = self.waits[i]
        if t < b:
            return min(100.0, self.placed[i] + self.wait_share * (t - a) / (b - a))
        return min(100.0, self.placed[i] + self.wait_share + (t - b) * self.per_second)


def _timeline(run: RunRecord, steps: list[StepView], waits: list[dict[str, Any]] | None = None
              ) -> list[TimelineRow | WaitRow]:
    """Bars of the steps and of the waits between them on the run's time axis (percent), in time order."""
    start = run.created_at
    ends = [s.ended_at or time.time() for s in steps]
    end = max([run.ended_at or 0.0, *ends, start + 1e-3])
    spans = [(w["start"], w["end"] if w["end"] is not None else (run.clock_stopped_at or end), w["reason"])
             for w in waits or []]
    end = max([end, *(b for _, b, _ in spans)])
    axis = TimeAxis(start, end, [(a, b) for a, b, _ in spans])
    rows: list[tuple[float, TimelineRow | WaitRow]] = []
    for step, stop in zip(steps, ends):
        left = axis.at(step.started_at)
        width = max(0.3, axis.at(stop) - left)
        took = step.duration_ms / 1000 if step.duration_ms is not None else stop - step.started_at
        rows.append((step.started_at, TimelineRow(step, step.name.rsplit(".", 1)[-1], "+" + seconds(
            step.started_at - start), seconds(took), round(left, 2), round(min(width, 100 - left), 2))))
    for a, b, reason in spans:
        left = axis.at(a)
        rows.append((a, WaitRow(reason, "+" + seconds(a - start), seconds(b - a), round(left, 2),
                                round(max(0.3, min(axis.at(b) - left, 100 - left)), 2))))
    return [row for _, row in sorted(rows, key=lambda item: item[0])]


def timeline_html(rows: list[TimelineRow | WaitRow]) -> Markup:
    """The timeline's table rows, escaped here rather than in Jinja: a 5,000-step run renders 5x faster."""
    e = html.escape
    out = []
    for r in rows:
        if isinstance(r, WaitRow):
            out.append(f'<tr class="wait"><td></td><td colspan="2" title="{e(r.reason)}">waited: {e(r.reason[:80])}</td>'
                       f'<td class="num">{r.offset}</td><td class="num">{r.duration}</td><td></td><td></td>'
                       f'<td class="barcol"><span class="bar wait" title="shown compressed" '
                       f'style="margin-left:{r.left:g}%;width:{r.width:g}%"></span></td></tr>\n')
            continue
        s = r.step
        out.append(
            f'<tr class="step step-{e(s.status)}"><td>{e(s.key)}</td><td title="{e(s.name)}">{e(r.short_name)}</td>'
            f'<td>{e(s.status)}</td><td class="num">{r.offset}</td><td class="num">{r.duration}</td>'
            f'<td class="num">{int(s.attempts)}</td><td>{e(s.executor)}</td><td class="barcol"><span class="bar" '
            f'style="margin-left:{r.left:g}%;width:{r.width:g}%"></span></td></tr>\n'
        )
        if s.error:
            out.append(f'<tr class="step-error"><td></td><td colspan="7"><span class="error">{e(s.error)}</span></td></tr>\n')
    return Markup("".join(out))


def _refines(view: RunView) -> list[RefineRow]:
    reviews: dict[tuple[str, int], BreakpointView] = {}
    for bp in view.breakpoints:
        ctx = bp.context if isinstance(bp.context, dict) else {}
        if "refine" in ctx and "attempt" in ctx:
            reviews[(ctx["refine"], int(ctx["attempt"]))] = bp
    return [RefineRow(a.get("name", ""), int(a.get("attempt", 0)), int(a.get("max_attempts", 0)), a.get("feedback"),
                      reviews.get((a.get("name", ""), int(a.get("attempt", 0)))))
            for a in view.refine_attempts]


def artifact_refs(value: Any) -> list[dict[str, Any]]:
    """Artifact references (``{"$t": "ref", sha256, name, ...}``) inside an encoded result."""
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        if isinstance(value.get("sha256"), str) and len(value["sha256"]) == 64:
            found.append(value)
        for v in value.values():
            found += artifact_refs(v)
    elif isinstance(value, list):
        for v in value:
            found += artifact_refs(v)
    return found


def build_run_page(store: Store, run_id: str) -> RunPage:
    view = queries.run_view(store, run_id)
    run = view.run
    children = []
    known = set()
    for c in view.children:
        try:
            children.append((c, store.get_run(c["child_run_id"])))
        except Exception:
            children.append((c, None))
        known.add(c["child_run_id"])
    for child in queries.children_of(store, run.run_id):  # children recorded only in the runs table
        if child.run_id not in known:
            children.append(({"key": child.parent_key, "name": child.process, "child_run_id": child.run_id}, child))
    artifacts = [{**a, "url": file_url(store, a["sha256"], a["name"]),
                  "download": file_url(store, a["sha256"], a["name"], download=True)} for a in view.artifacts]
    pending = leaf = None
    if run.status == "waiting":
        from mlsitter.runtime.runner import Runner

        leaf = Runner(store).waiting_leaf(run.run_id)
        if leaf.status == "waiting" and (leaf.waiting or {}).get("kind") in ("breakpoint", "external"):
            pending = queries.pending_item(store, leaf)
    return RunPage(
        view=view, parents=queries.parents_of(store, run), children=children,
        timeline=_timeline(run, view.steps, view.waits),
        refines=_refines(view), artifacts=artifacts, pending=pending, leaf=leaf,
        is_executing=run.status not in FINAL and store.is_locked_by_live_process(run),
        result_refs=artifact_refs(run.result), versions=versions_in(run.inputs, run.result),
        child_approvals=child_approvals(store, run.run_id) if children else [],
    )
