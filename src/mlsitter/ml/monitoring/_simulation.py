"""Scrapes at simulated timestamps: a recorded series of ``/metrics`` texts, or a simulated deployment
(a champion, optionally a candidate with its share of traffic, and faults) whose servers' counters are
integrated over simulated time and written as real Prometheus exposition text under the model server's
metric names. Rolling the simulated deployment back takes the candidate out from that moment on."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from mlsitter.errors import DataError
from mlsitter.ml.monitoring._exposition import Scrape
from mlsitter.ml.serving._metrics import LATENCY_BUCKETS

CHAMPION_TARGET, CANDIDATE_TARGET = "sim://champion/metrics", "sim://candidate/metrics"


def read_recording(path: str | Path) -> list[Scrape]:
    """A recorded series: JSON lines ``{"at": <unix s>, "target": "<url>", "text": "<exposition>"}`` (or
    ``"error"`` instead of ``"text"`` for a failed scrape), in any order; returned by time."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"recorded scrapes {str(path)!r}: no such file")
    scrapes = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            at, target = float(row["at"]), str(row["target"])
            text, error = row.get("text"), row.get("error")
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"recorded scrapes {str(path)!r} line {number}: expected a JSON object with 'at' (unix "
                            f"seconds), 'target' and 'text' or 'error'; {type(exc).__name__}: {exc}") from None
        if not isinstance(text, str) and not isinstance(error, str):
            raise DataError(f"recorded scrapes {str(path)!r} line {number}: needs 'text' (the /metrics body) or "
                            "'error' (why the scrape failed)")
        scrapes.append(Scrape(at, target, text if isinstance(text, str) else None, error))
    if not scrapes:
        raise DataError(f"recorded scrapes {str(path)!r} holds no scrape")
    return sorted(scrapes, key=lambda s: (s.at, s.target))


def _number(spec: dict[str, Any], key: str, default: float, low: float, high: float = math.inf) -> float:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise DataError(f"scenario: {key!r} must be a number in [{low:g}, {high:g}], got {value!r}")
    return float(value)


class SimulatedDeployment:
    """A deployment on simulated time (``scenario`` keys: ``start``, ``rate`` req/s, ``error_ratio``,
    ``latency_ms``, ``accuracy``, ``labels_per_second``, an optional ``candidate`` with ``from`` (s after
    start), ``share``, ``error_ratio``, ``latency_ms``, ``accuracy``, and ``faults``: ``from``, ``until``,
    ``error_ratio`` on every request). Its rollback is kept in ``state_path``."""

    def __init__(self, scenario: dict[str, Any], state_path: str | Path) -> None:
        if not isinstance(scenario, dict):
            raise DataError("scenario must be a JSON object")
        self.start = _number(scenario, "start", 1.7e9, 0)
        self.rate = _number(scenario, "rate", 10.0, 1e-9)
        self.champion = {"error_ratio": _number(scenario, "error_ratio", 0.0, 0, 1),
                         "latency_ms": _number(scenario, "latency_ms", 20.0, 0),
                         "accuracy": _number(scenario, "accuracy", 0.9, 0, 1)}
        self.labels_per_second = _number(scenario, "labels_per_second", 1.0, 0)
        cand = scenario.get("candidate")
        self.candidate = None if cand is None else {
            "from": _number(cand, "from", 0.0, 0), "share": _number(cand, "share", 0.1, 0, 1),
            "error_ratio": _number(cand, "error_ratio", 0.0, 0, 1), "latency_ms": _number(cand, "latency_ms", 20.0, 0),
            "accuracy": _number(cand, "accuracy", 0.9, 0, 1)}
        self.faults = [{"from": _number(f, "from", 0.0, 0), "until": _number(f, "until", math.inf, 0, math.inf),
                        "error_ratio": _number(f, "error_ratio", 0.0, 0, 1)} for f in scenario.get("faults", [])]
        self.state_path = Path(state_path)

    @classmethod
    def from_file(cls, path: str | Path, state_path: str | Path) -> "SimulatedDeployment":
        try:
            return cls(json.loads(Path(path).read_text(encoding="utf-8")), state_path)
        except FileNotFoundError:
            raise DataError(f"scenario {str(path)!r}: no such file") from None
        except json.JSONDecodeError as exc:
            raise DataError(f"scenario {str(path)!r} is not JSON: {exc}") from None

    # -- the simulated deployment's state ------------------------------------------------------------
    @property
    def rolled_back_at(self) -> float:
        if not self.state_path.is_file():
            return math.inf
        return float(json.loads(self.state_path.read_text(encoding="utf-8"))["rolled_back_at"])

    def rollback(self, at: float) -> dict[str, Any]:
        """Take the candidate out at simulated time ``at`` (its share goes back to the champion)."""
        if self.candidate is None or self.rolled_back_at <= at:
            return {"stopped": None, "at": at, "shares": {"champion": 1.0}}
        self.state_path.write_text(json.dumps({"rolled_back_at": at}), encoding="utf-8")
        return {"stopped": "candidate", "at": at, "shares": {"champion": 1.0}}

    def targets(self, at: float) -> list[str]:
        """The servers that run at ``at``: the candidate only between its start and a rollback."""
        live = [CHAMPION_TARGET]
        if self.candidate is not None and self.start + self.candidate["from"] <= at < self.rolled_back_at:
            live.append(CANDIDATE_TARGET)
        return live

    # -- integrated counters ---------------------------------------------------------------------------
    def _share(self, t: float) -> float:
        c = self.candidate
        if c is None or not self.start + c["from"] <= t < self.rolled_back_at:
            return 0.0
        return c["share"]

    def _fault(self, t: float) -> float:
        return sum(f["error_ratio"] for f in self.faults if self.start + f["from"] <= t < self.start + f["until"])

    def _segments(self, until: float) -> list[tuple[float, float]]:
        """(midpoint, length) of the stretches of [start, until] on which every rate is constant."""
        cuts = {self.start, until}
        if self.candidate is not None:
            cuts |= {self.start + self.candidate["from"], self.rolled_back_at}
        for f in self.faults:
            cuts |= {self.start + f["from"], self.start + f["until"]}
        points = sorted(c for c in cuts if self.start <= c <= until)
        return [((a + b) / 2, b - a) for a, b in zip(points, points[1:])]

    def totals(self, role: str, at: float) -> dict[str, float]:
        """Cumulative requests, errors, latency sum, correct and labelled predictions of ``role`` at ``at``."""
        side = self.champion if role == "champion" else self.candidate
        assert side is not None
        out = {"requests": 0.0, "errors": 0.0, "correct": 0.0, "labelled": 0.0}
        for mid, length in self._segments(at):
            share = self._share(mid)
            part = share if role == "candidate" else 1.0 - share
            requests = self.rate * part * length
            out["requests"] += requests
            out["errors"] += requests * min(1.0, side["error_ratio"] + self._fault(mid))
            labelled = self.labels_per_second * part * length
            out["labelled"] += labelled
            out["correct"] += labelled * side["accuracy"]
        return {k: float(math.floor(v + 1e-9)) for k, v in out.items()}

    def scrape(self, target: str, at: float) -> Scrape:
        """The ``/metrics`` text of ``target`` at ``at`` (a gap when that server does not run then)."""
        if target not in self.targets(at):
            return Scrape(at, target, error="ConnectError: the simulated server is not running")
        role = "candidate" if target == CANDIDATE_TARGET else "champion"
        return Scrape(at, target, text=self._exposition(role, at))

    def _exposition(self, role: str, at: float) -> str:
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        side = self.champion if role == "champion" else self.candidate
        assert side is not None
        t = self.totals(role, at)
        labels = ["sim", "1" if role == "champion" else "2"]
        seconds = side["latency_ms"] / 1000
        requests = CounterMetricFamily("mlsitter_model_requests", "Prediction requests by outcome",
                                       labels=["model", "version", "outcome"])
        requests.add_metric(labels + ["ok"], t["requests"] - t["errors"])
        requests.add_metric(labels + ["error"], t["errors"])
        requests.add_metric(labels + ["invalid"], 0.0)
        latency = HistogramMetricFamily("mlsitter_model_request_duration_seconds", "Request latency",
                                        labels=["model", "version"])
        buckets = [(f"{b}", t["requests"] if seconds <= b else 0.0) for b in LATENCY_BUCKETS]
        latency.add_metric(labels, buckets + [("+Inf", t["requests"])], sum_value=t["requests"] * seconds)
        feedback = CounterMetricFamily("mlsitter_model_feedback_labels", "Labels received", labels=["model", "version"])
        feedback.add_metric(labels, t["labelled"])

        class _Collector:
            def collect(self) -> Any:
                return [requests, latency, feedback]

        registry = CollectorRegistry()
        registry.register(_Collector())
        return generate_latest(registry).decode()

    def quality(self, since: float, until: float) -> tuple[float, float]:
        """(correct, labelled) predictions of every serving side in (since, until]."""
        roles = ["champion"] + (["candidate"] if self.candidate is not None else [])
        correct = labelled = 0.0
        for role in roles:
            now, before = self.totals(role, until), self.totals(role, since)
            correct += now["correct"] - before["correct"]
            labelled += now["labelled"] - before["labelled"]
        return correct, labelled
