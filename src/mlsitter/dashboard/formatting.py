"""Jinja filters: timestamps, durations, numbers, JSON and sizes as the dashboard shows them."""

from __future__ import annotations

import datetime as _dt
import json
import time
from typing import Any


def ts(at: float | None) -> str:
    """Local wall-clock time of a UNIX timestamp, or a dash."""
    if not at:
        return "—"
    return _dt.datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S")


def iso_ts(text: str | None) -> str:
    """An ISO 8601 timestamp (as answers record them) shown like :func:`ts`, in local time."""
    if not text:
        return "—"
    try:
        return ts(_dt.datetime.fromisoformat(text).timestamp())
    except ValueError:
        return text


def iso(at: float | None) -> str:
    if not at:
        return ""
    return _dt.datetime.fromtimestamp(at, _dt.timezone.utc).isoformat(timespec="seconds")


def seconds(secs: float | None) -> str:
    """A duration in the unit a person reads best (ms, s, min, h)."""
    if secs is None:
        return "—"
    if secs < 1:
        return f"{secs * 1000:.0f} ms"
    if secs < 120:
        return f"{secs:.1f} s"
    if secs < 7200:
        return f"{secs / 60:.1f} min"
    return f"{secs / 3600:.1f} h"


def span(start: float | None, end: float | None) -> str:
    """Duration from ``start`` to ``end`` (or to now for a run that has not ended)."""
    if not start:
        return "—"
    return seconds((end or time.time()) - start)


def run_duration(run: Any) -> str:
    """A run's duration: to its end, to the start of its wait, or to its dead runner's last heartbeat, so the
    figure does not grow while nothing runs."""
    return span(run.created_at, run.clock_stopped_at)


def num(value: Any) -> str:
    """Numbers compact (4 significant digits for floats); anything else as text."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return "—"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def pretty(value: Any) -> str:
    """Indented JSON for inputs, results and contexts."""
    return json.dumps(value, indent=2, default=str, ensure_ascii=False, sort_keys=True)


def size(n: int | None) -> str:
    if n is None:
        return "—"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


FILTERS = {"ts": ts, "iso_ts": iso_ts, "iso": iso, "seconds": seconds, "span": span, "run_duration": run_duration, "num": num, "pretty": pretty, "size": size}
