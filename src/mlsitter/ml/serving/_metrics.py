"""Prometheus metrics of a model server (own registry per app, Prometheus naming): requests by model,
version and outcome, latency, the score distribution, missing features and feedback labels."""

from __future__ import annotations



LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0,
                   2.5, 5.0, 10.0)
SCORE_BUCKETS = tuple(i / 10 for i in range(1, 11))


class ServerMetrics:
    """The metric families one server exports on ``/metrics``."""

    def __init__(self, model: str, version: int) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.labels = {"model": model, "version": str(version)}
        self.requests = Counter("mlsitter_model_requests", "Prediction requests by outcome (ok, error, invalid)",
                                ["model", "version", "outcome"], registry=self.registry)
        self.latency = Histogram("mlsitter_model_request_duration_seconds",
                                 "Time from receiving a prediction request to its answer", ["model", "version"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.scores = Histogram("mlsitter_model_prediction_score", "Distribution of the positive-class score "
                                "(classifiers) of each predicted record", ["model", "version"],
                                buckets=SCORE_BUCKETS, registry=self.registry)
        self.records = Counter("mlsitter_model_predicted_records", "Records predicted", ["model", "version"],
                               registry=self.registry)
        self.missing = Counter("mlsitter_model_missing_features", "Records that arrived without a value for a "
                               "feature", ["model", "version", "feature"], registry=self.registry)
        self.feedback = Counter("mlsitter_model_feedback_labels", "Labels received for earlier requests",
                                ["model", "version"], registry=self.registry)
        self._ok = self.requests.labels(outcome="ok", **self.labels)
        self._error = self.requests.labels(outcome="error", **self.labels)
        self._invalid = self.requests.labels(outcome="invalid", **self.labels)
        self._latency = self.latency.labels(**self.labels)
        self._scores = self.scores.labels(**self.labels)
        self._records = self.records.labels(**self.labels)

    def observe(self, *, ok: bool, seconds: float, scores: list[float | None], missing: dict[str, int]) -> None:
        """Count one answered request (thread-safe)."""
        (self._ok if ok else self._error).inc()
        self._latency.observe(seconds)
        self._records.inc(len(scores))
        for score in scores:
            if score is not None:
                self._scores.observe(score)
        for feature, count in missing.items():
            self.missing.labels(feature=feature, **self.labels).inc(count)

    def invalid(self) -> None:
        self._invalid.inc()

    def labelled(self) -> None:
        self.feedback.labels(**self.labels).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition format and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def parse_counters(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Samples of metric ``name`` in an exposition text, keyed by their sorted labels (for tests and probes)."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sorted(sample.labels.items()))] = float(sample.value)
    return out


