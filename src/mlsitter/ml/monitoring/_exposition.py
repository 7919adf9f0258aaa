"""A model server's ``/metrics`` text (Prometheus exposition format) read into the totals the SLIs need,
and scraping it over HTTP, where a failed scrape is a recorded gap rather than an exception."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from mlsitter.errors import DataError
from mlsitter.naming import stable_name

REQUESTS = "mlsitter_model_requests_total"
LATENCY = "mlsitter_model_request_duration_seconds"
FEEDBACK = "mlsitter_model_feedback_labels_total"


class MetricsFormatError(DataError):
    """A ``/metrics`` text that is not Prometheus exposition format, or not a mlsitter model server's."""


@stable_name("ml.monitoring.ServerTotals")
@dataclass(frozen=True)
class ServerTotals:
    """One scrape of one server: its cumulative counters (summed over model and version labels)."""

    ok: float
    error: float
    invalid: float
    latency_count: float
    latency_buckets: dict[float, float] = field(default_factory=dict)  # upper bound (s) -> cumulative count
    feedback: float = 0.0

    def faster_than(self, seconds: float) -> float:
        """Requests answered within ``seconds`` (a bucket bound of the server's latency histogram)."""
        if seconds not in self.latency_buckets:
            bounds = ", ".join(f"{b * 1000:g}" for b in sorted(self.latency_buckets) if math.isfinite(b))
            raise DataError(f"latency threshold {seconds * 1000:g} ms is not a bucket of the server's histogram; "
                            f"expected one of {bounds} ms")
        return self.latency_buckets[seconds]


def parse_exposition(text: str, target: str = "") -> ServerTotals:
    """The totals of a model server's ``/metrics`` text; MetricsFormatError naming the problem otherwise."""
    from prometheus_client.parser import text_string_to_metric_families

    where = f" from {target}" if target else ""
    outcome: dict[str, float] = {"ok": 0.0, "error": 0.0, "invalid": 0.0}
    buckets: dict[float, float] = {}
    count = feedback = 0.0
    seen = False
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == REQUESTS:
                    seen = True
                    key = sample.labels.get("outcome", "")
                    if key in outcome:
                        outcome[key] += float(sample.value)
                elif sample.name == LATENCY + "_bucket":
                    bound = float(sample.labels["le"])
                    buckets[bound] = buckets.get(bound, 0.0) + float(sample.value)
                elif sample.name == LATENCY + "_count":
                    count += float(sample.value)
                elif sample.name == FEEDBACK:
                    feedback += float(sample.value)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise MetricsFormatError(f"the metrics text{where} is not Prometheus exposition format: {exc}") from None
    if not seen:
        raise MetricsFormatError(f"the metrics text{where} has no {REQUESTS} samples; expected the /metrics of a "
                                 "mlsitter model server (mlsitter serve)")
    return ServerTotals(outcome["ok"], outcome["error"], outcome["invalid"], count, buckets, feedback)


@stable_name("ml.monitoring.Scrape")
@dataclass(frozen=True)
class Scrape:
    """What one scrape of one target gave: the exposition text, or the error that made it a gap."""

    at: float
    target: str
    text: str | None = None
    error: str | None = None


def scrape(url: str, *, at: float | None = None, timeout: float = 5.0) -> Scrape:
    """GET ``url`` (a ``/metrics`` endpoint); a refused connection, a timeout or a non-200 answer is a gap."""
    import httpx

    when = time.time() if at is None else at
    try:
        response = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        return Scrape(when, url, error=f"{type(exc).__name__}: {exc or 'no answer'}")
    if response.status_code != 200:
        return Scrape(when, url, error=f"HTTP {response.status_code}: {response.text[:200]}")
    return Scrape(when, url, text=response.text)
