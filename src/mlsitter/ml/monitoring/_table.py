"""The scraped time-series table: one DuckDB file holding every scrape's counters per target, the gaps
(failed scrapes), the buckets of the latency histogram, each SLI's cumulative good/total events and
every burn-rate rule's state per tick.

The database stays open in the process between ticks, with what the next tick needs (each target's last
counters, each SLI's cumulative series) kept beside it; a tick that is not later than the last one seen
(a re-run after a crash) rebuilds that from the file and replaces the rows from its time on.
``close_table`` checkpoints the file before it is recorded."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlsitter.ml.monitoring._exposition import ServerTotals
from mlsitter.ml.monitoring._slo import CumulativeSeries, RuleState
from mlsitter.naming import stable_name

TABLES = {
    "scrapes": "ts DOUBLE, target VARCHAR, ok DOUBLE, error DOUBLE, invalid DOUBLE, latency_count DOUBLE, "
               "feedback DOUBLE",
    "buckets": "ts DOUBLE, target VARCHAR, le DOUBLE, value DOUBLE",
    "gaps": "ts DOUBLE, target VARCHAR, error VARCHAR",
    "sli": "ts DOUBLE, sli VARCHAR, good DOUBLE, total DOUBLE",
    "burns": "ts DOUBLE, sli VARCHAR, rule VARCHAR, severity VARCHAR, long_burn DOUBLE, short_burn DOUBLE, "
             "firing BOOLEAN",
}


@stable_name("ml.monitoring.TableState")
@dataclass
class TableState:
    """What the next tick reads: the last tick's time, each target's last counters, each SLI's series."""

    last_at: float = float("-inf")
    previous: dict[str, ServerTotals] = field(default_factory=dict)
    series: dict[str, CumulativeSeries] = field(default_factory=dict)


_OPEN: dict[str, tuple[Any, TableState]] = {}  # path -> (database, state) of this process


def close_table(path: str | Path) -> Path:
    """Checkpoint and close the table at ``path`` (before it is recorded as an artifact); returns the path."""
    entry = _OPEN.pop(str(Path(path).resolve()), None)
    if entry is not None:
        entry[0].execute("CHECKPOINT")
        entry[0].close()
    return Path(path)


class MetricsTable:
    """The run's time-series table at ``path`` (created on first use); a context manager, one transaction."""

    def __init__(self, path: str | Path) -> None:
        import duckdb

        self.path = Path(path)
        key = str(self.path.resolve())
        if key not in _OPEN:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            database = duckdb.connect(key, config={"threads": 1})  # tiny queries: more threads only add overhead
            database.execute("".join(f"CREATE TABLE IF NOT EXISTS {t} ({c});" for t, c in TABLES.items()))
            _OPEN[key] = (database, TableState(last_at=float("inf")))  # read the file on the first tick
        database, self._state = _OPEN[key]
        self.db = database.cursor()

    def __enter__(self) -> "MetricsTable":
        self.db.begin()
        return self

    def __exit__(self, kind: Any, *exc: Any) -> None:
        if kind is None:
            self.db.commit()
        else:
            self.db.rollback()
            self._state.last_at = float("inf")  # rebuild from the file next time
        self.db.close()  # the cursor; the database stays open

    def state(self, at: float) -> TableState:
        """What was recorded before ``at``; rows at ``at`` or later (a re-run tick) are removed first."""
        if at > self._state.last_at:
            return self._state
        for table in TABLES:
            self.db.execute(f"DELETE FROM {table} WHERE ts >= ?", [at])
        fresh = TableState()
        rows = self.db.execute("SELECT s.target, s.ts, s.ok, s.error, s.invalid, s.latency_count, s.feedback FROM "
                               "scrapes s JOIN (SELECT target, max(ts) AS ts FROM scrapes GROUP BY target) m "
                               "USING (target, ts)").fetchall()
        for target, ts, ok, error, invalid, count, feedback in rows:
            buckets = dict(self.db.execute("SELECT le, value FROM buckets WHERE target = ? AND ts = ?",
                                           [target, ts]).fetchall())
            fresh.previous[target] = ServerTotals(ok, error, invalid, count, buckets, feedback)
        for sli, ts, good, total in self.db.execute("SELECT sli, ts, good, total FROM sli ORDER BY ts").fetchall():
            fresh.series.setdefault(sli, CumulativeSeries()).add(ts, good, total)
            fresh.last_at = max(fresh.last_at, ts)
        self._state.__dict__.update(fresh.__dict__)
        return self._state

    def write(self, at: float, scrapes: dict[str, ServerTotals], gaps: dict[str, str],
              sli: dict[str, tuple[float, float]], burns: list[RuleState]) -> None:
        """Append one tick's rows (one INSERT per table) and advance the kept state."""
        rows: dict[str, list[list[Any]]] = {
            "scrapes": [[at, t, s.ok, s.error, s.invalid, s.latency_count, s.feedback] for t, s in scrapes.items()],
            "buckets": [[at, t, le, v] for t, s in scrapes.items() for le, v in sorted(s.latency_buckets.items())],
            "gaps": [[at, t, e] for t, e in gaps.items()],
            "sli": [[at, name, good, total] for name, (good, total) in sli.items()],
            "burns": [[at, b.sli, b.rule, b.severity, b.long_burn, b.short_burn, b.firing] for b in burns],
        }
        for table, values in rows.items():
            if values:
                marks = "(" + ", ".join("?" * len(values[0])) + ")"
                self.db.execute(f"INSERT INTO {table} VALUES " + ", ".join([marks] * len(values)),
                                [v for row in values for v in row])
        self._state.previous.update(scrapes)
        self._state.last_at = at

    def series_of(self, sli: str, until: float | None = None) -> CumulativeSeries:
        """The cumulative series of ``sli`` recorded up to ``until`` (all of it when None)."""
        rows = self.db.execute("SELECT ts, good, total FROM sli WHERE sli = ? AND ts <= ? ORDER BY ts",
                               [sli, float("inf") if until is None else until]).fetchall()
        return CumulativeSeries([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])

    def frame(self, table: str) -> Any:
        """A whole table as a pandas frame, column ``at`` for time (for the report and anomaly detection)."""
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}; expected one of {', '.join(TABLES)}")
        return self.db.execute(f"SELECT * FROM {table} ORDER BY ts").df().rename(columns={"ts": "at"})
