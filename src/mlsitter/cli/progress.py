"""A run's progress as ``mlsitter run``/``resume`` show it while it executes: in a terminal, rich bars (a map's
steps done of all, elapsed time, time left, and the last progress line a step logged, e.g. ``trials 6/20, best
roc_auc 0.8731``); with output redirected to a file or a log, plain lines at most every ``every_s`` seconds."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

from mlsitter.runtime.store import Event


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


@dataclass
class StepGroup:
    """The steps of one ``ctx.map``/``ctx.parallel``: how many, how many are done, since when."""

    name: str
    total: int
    started: float
    done: int = 0
    bar: Any = None  # the rich task id, in a terminal

    def time_left(self, now: float) -> float | None:
        """Seconds still needed at the pace so far (None before the first step is done)."""
        if not self.done:
            return None
        return (now - self.started) / self.done * max(0, self.total - self.done)

    def line(self, now: float) -> str:
        left = self.time_left(now)
        eta = "" if left is None or self.done >= self.total else f", about {left:,.0f} s left"
        return f"{self.name}: {self.done}/{self.total} done in {now - self.started:,.0f} s{eta}"


class RunProgress:
    """Listens to a run's journal events (``Runner(on_event=...)``) and shows what is running and how far it is."""

    def __init__(self, console: Any, *, every_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console
        self.every_s = every_s
        self.clock = clock
        self.groups: dict[str, StepGroup] = {}
        self.steps = 0
        self.note = ""
        self.last_line = -math.inf
        self.bars: Any = None
        self.main: Any = None

    def __enter__(self) -> RunProgress:
        if self.console.is_terminal:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self.bars = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[note]}"),
                                 console=self.console, transient=True)
            self.bars.__enter__()
            self.main = self.bars.add_task("starting…", total=None, note="")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bars is not None:
            self.bars.__exit__(*exc)

    def __call__(self, event: Event) -> None:
        d, now = event.data, self.clock()
        if event.type in ("map.started", "parallel.started"):
            group = self.groups[str(d["key"])] = StepGroup(_short(str(d["name"]).split(",")[0]), int(d.get("n") or 0), now)
            if self.bars is not None:
                group.bar = self.bars.add_task(group.name, total=group.total, note=self.note)
            self._plain(f"{group.name}: 0/{group.total} started", now, force=True)
        elif event.type == "step.started":
            self.steps += 1
            if self.bars is not None:
                self.bars.update(self.main, description=f"step {d['key']}: {_short(str(d['name']))} "
                                                        f"(steps run: {self.steps})")
        elif event.type in ("step.completed", "step.failed"):
            group = self.groups.get(str(d.get("key", "")).rpartition(".")[0])
            if group is None:
                return
            group.done += 1
            if self.bars is not None:
                self.bars.update(group.bar, completed=group.done, note=self.note)
                if group.done >= group.total:
                    self.bars.remove_task(group.bar)
            self._plain(group.line(now) + (f" · {self.note}" if self.note else ""), now, force=group.done >= group.total)
        elif event.type == "log":
            self.note = str(d.get("message", ""))
            if self.bars is not None:
                for group in self.groups.values():
                    if group.done < group.total:
                        self.bars.update(group.bar, note=self.note)
            self._plain(self.note, now)
        elif event.type == "gate.evaluated" and self.bars is not None:
            mark = "✓" if d["passed"] else "✗"
            self.console.print(f"  gate {d['name']}: {d['value']} {d['operator']} {d['threshold']} {mark}", markup=False)

    def _plain(self, text: str, now: float, *, force: bool = False) -> None:
        """One plain line when output is not a terminal: at most every ``every_s`` seconds, unless ``force``."""
        if self.bars is not None or not text or (not force and now - self.last_line < self.every_s):
            return
        self.last_line = now
        self.console.print(f"[{time.strftime('%H:%M:%S')}] {text}", markup=False, highlight=False)
