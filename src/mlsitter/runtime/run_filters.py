"""The runs list's filters as people give them (dates as days, an input as KEY=VALUE, a question tag, an order),
checked and turned into ``Store.list_runs`` keywords; the dashboard, its API and ``mlsitter runs`` share them."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

from mlsitter.errors import InputError
from mlsitter.runtime.store import RUN_ORDERS

RUN_STATUSES = ("created", "running", "waiting", "ready", "interrupted", "completed", "failed", "cancelled")


@dataclass
class RunFilters:
    """The runs list's filters and order, as the filter bar and the API take them (empty: not filtered)."""

    status: str = ""
    process: str = ""
    q: str = ""
    since: str = ""  # YYYY-MM-DD, local time, first day included
    until: str = ""  # YYYY-MM-DD, local time, last day included
    input: str = ""  # KEY=VALUE of the run's inputs
    tag: str = ""  # a question tag the run asked (production, fairness, ...)
    order: str = "newest"

    def store_filters(self) -> dict[str, Any]:
        """The keyword filters of ``Store.list_runs`` / ``count_runs``, checked (a clear error names a bad one)."""
        if self.status and self.status not in RUN_STATUSES:
            raise InputError(f"unknown status {self.status!r}; expected one of {', '.join(RUN_STATUSES)}")
        if self.order not in RUN_ORDERS:
            raise InputError(f"unknown order {self.order!r}; expected one of {', '.join(RUN_ORDERS)}")
        return {"status": self.status or None, "process": self.process or None, "search": self.q.strip() or None,
                "since": _day_start(self.since, "since"), "until": _day_start(self.until, "until", next_day=True),
                "input_value": self.input.strip() or None, "tag": self.tag.strip() or None}

    @property
    def active(self) -> bool:
        return any((self.status, self.process, self.q, self.since, self.until, self.input, self.tag))


def _day_start(day: str, name: str, next_day: bool = False) -> float | None:
    """The local midnight that starts ``day`` (or the day after it), as a UNIX time."""
    if not day:
        return None
    try:
        start = _dt.datetime.strptime(day.strip(), "%Y-%m-%d")
    except ValueError:
        raise InputError(f"{name} must be a date as YYYY-MM-DD; got {day!r}") from None
    return (start + _dt.timedelta(days=1 if next_day else 0)).timestamp()
