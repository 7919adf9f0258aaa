"""Per-interval series from the table (requests, error ratio, p99 latency, quality per tick) and the
quality SLI's events read from the serving prediction log."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from mlsitter.ml.monitoring._table import MetricsTable


def histogram_quantile(q: float, buckets: dict[float, float]) -> float:
    """Prometheus' ``histogram_quantile``: the ``q`` quantile of cumulative ``buckets`` (upper bound -> count),
    interpolated linearly inside its bucket; NaN with no observations."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return math.nan
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside > 0 else 1.0)
        lower, below = bound, count
    return lower


def interval_frame(table_path: str | Path) -> Any:
    """One row per tick: requests, errors, error ratio, p99 latency (ms) of the new requests, and each SLI's
    per-interval ratio, from the table's counters (increases between ticks, summed over targets)."""
    import pandas as pd

    with MetricsTable(table_path) as table:
        scrapes = table.frame("scrapes")
        buckets = table.frame("buckets")
        sli = table.frame("sli")
    rows: dict[float, dict[str, Any]] = {}
    if not scrapes.empty:
        scrapes = scrapes.sort_values(["target", "at"])
        for column in ("ok", "error", "latency_count"):
            diff = scrapes.groupby("target")[column].diff()
            # a target's first scrape is its baseline (NaN); after a reset the value itself is the increase
            scrapes[column + "_new"] = diff.where(diff.isna() | (diff >= 0), scrapes[column])
        per_tick = scrapes.dropna(subset=["ok_new"]).groupby("at")[["ok_new", "error_new"]].sum()
        buckets = buckets.sort_values(["target", "le", "at"])
        diff = buckets.groupby(["target", "le"])["value"].diff()
        buckets["new"] = diff.where(diff.isna() | (diff >= 0), buckets["value"])
        new_buckets = buckets.dropna(subset=["new"]).groupby(["at", "le"])["new"].sum()
        p99 = {at: 1000 * histogram_quantile(0.99, dict(zip(part.index.get_level_values(1), part.to_numpy())))
               for at, part in new_buckets.groupby(level=0)}
        ok, error = per_tick["ok_new"].to_numpy(), per_tick["error_new"].to_numpy()
        for at, good, bad in zip(per_tick.index, ok, error):
            total = good + bad
            rows[float(at)] = {"at": float(at), "requests": total, "errors": bad,
                               "error_ratio": bad / total if total else math.nan, "p99_ms": p99.get(at, math.nan)}
    for name, group in sli.groupby("sli"):
        group = group.sort_values("at")
        good, total = group["good"].diff(), group["total"].diff()
        for at, g, t in zip(group["at"], good, total):
            rows.setdefault(float(at), {"at": float(at)})[f"{name}_sli"] = g / t if t and t > 0 else math.nan
    return pd.DataFrame(sorted(rows.values(), key=lambda r: r["at"]))


def logged_quality(log_dir: str | Path, since: float, until: float) -> tuple[float, float]:
    """(correct, labelled) of the predictions logged in (since, until] whose label has arrived, from the
    deployment's prediction and feedback logs (shadow answers left out)."""
    from mlsitter.ml.serving import accuracy_by_version, read_feedback, read_predictions

    if not Path(log_dir).is_dir():
        return 0.0, 0.0
    rows = [r for r in read_predictions(log_dir, since=since, until=until) if r["at"] > since]
    counts = accuracy_by_version(rows, read_feedback(log_dir))
    return float(sum(c.correct for c in counts.values())), float(sum(c.labelled for c in counts.values()))
