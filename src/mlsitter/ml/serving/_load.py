"""A bounded load generator (count and time, loopback by default): concurrent clients sending records to
``/predict`` and, when labels are given, each record's true label to ``/feedback``. It records every
client-side outcome, so a test can say which errors a client saw and which version caused them."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from mlsitter.errors import InputError
from mlsitter.naming import stable_name


@stable_name("ml.serving.ClientResult")
@dataclass(frozen=True)
class ClientResult:
    """One request as the client saw it."""

    at: float
    status: int  # 0: no HTTP answer (connection error, timeout)
    version: str
    request_id: str
    latency_ms: float
    error: str = ""


@stable_name("ml.serving.LoadSummary")
@dataclass
class LoadSummary:
    """Throughput and latency of a finished load."""

    requests: int
    ok: int
    seconds: float
    throughput: float
    p50_ms: float | None
    p99_ms: float | None
    by_version: dict[str, int] = field(default_factory=dict)


class LoadGenerator:
    """Send ``records`` round-robin from ``concurrency`` clients until ``max_requests`` or ``max_seconds``.

    ``rate`` (requests/s in total, 0 = as fast as answers come) paces the clients; ``units`` sticky unit
    ids are cycled through (0: none sent); ``batch`` records go in each request, posted to ``path``. Runs in its own thread (``start``/``stop``)
    or to the end (``run``)."""

    def __init__(self, url: str, records: list[dict[str, Any]], *, labels: list[Any] | None = None,
                 concurrency: int = 4, max_requests: int = 1000, max_seconds: float = 30.0, rate: float = 0.0,
                 units: int = 1000, batch: int = 1, timeout: float = 10.0, path: str = "/predict") -> None:
        if not records:
            raise InputError("the load generator needs at least one record")
        if concurrency < 1 or max_requests < 1 or max_seconds <= 0 or batch < 1:
            raise InputError("concurrency, max_requests and batch must be >= 1 and max_seconds > 0")
        self.url = url.rstrip("/")
        self.records, self.labels = records, labels
        self.concurrency, self.max_requests, self.max_seconds = concurrency, max_requests, max_seconds
        self.rate, self.units, self.batch, self.timeout, self.path = rate, units, batch, timeout, path
        self.results: list[ClientResult] = []
        self.feedback_sent = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0

    # -- running --------------------------------------------------------------------------------
    def run(self) -> LoadSummary:
        """Send the whole load now and return its summary."""
        asyncio.run(self._main())
        return self.summary()

    def start(self) -> "LoadGenerator":
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="mlsitter-load", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> LoadSummary:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self.timeout + 5)
        return self.summary()

    async def _main(self) -> None:
        import httpx

        self._started = time.perf_counter()
        counter = iter(range(self.max_requests))
        limits = httpx.Limits(max_connections=self.concurrency * 2, max_keepalive_connections=self.concurrency * 2)
        async with httpx.AsyncClient(timeout=self.timeout, limits=limits) as client:
            await asyncio.gather(*(self._client(client, counter) for _ in range(self.concurrency)))

    async def _client(self, client: Any, counter: Any) -> None:
        deadline = self._started + self.max_seconds
        for n in counter:
            if self._stop.is_set() or time.perf_counter() >= deadline:
                return
            if self.rate > 0:
                due = self._started + n / self.rate
                if due > time.perf_counter():
                    await asyncio.sleep(due - time.perf_counter())
            first = (n * self.batch) % len(self.records)
            chosen = [self.records[(first + i) % len(self.records)] for i in range(self.batch)]
            body: dict[str, Any] = {"record": chosen[0]} if self.batch == 1 else {"records": chosen}
            if self.units:
                body["unit_id"] = f"unit-{n % self.units}"
            sent = time.perf_counter()
            try:
                response = await client.post(self.url + self.path, json=body)
                result = ClientResult(time.time(), response.status_code, response.headers.get("x-model-version", ""),
                                      response.headers.get("x-request-id", ""), (time.perf_counter() - sent) * 1000,
                                      "" if response.status_code == 200 else response.text[:300])
            except Exception as exc:
                result = ClientResult(time.time(), 0, "", "", (time.perf_counter() - sent) * 1000,
                                      f"{type(exc).__name__}: {exc}")
            self.results.append(result)
            if self.labels is not None and result.status == 200:
                await self._feedback(client, result.request_id, first)

    async def _feedback(self, client: Any, request_id: str, first: int) -> None:
        assert self.labels is not None
        for i in range(self.batch):
            label = self.labels[(first + i) % len(self.labels)]
            try:
                answer = await client.post(self.url + "/feedback", json={"request_id": request_id, "label": label,
                                                                         "index": i})
                self.feedback_sent += int(answer.status_code == 200)
            except Exception:
                pass

    # -- reading ----------------------------------------------------------------------------------
    def summary(self) -> LoadSummary:
        import numpy as np

        done = list(self.results)
        ok = [r for r in done if r.status == 200]
        span = (max(r.at for r in done) - min(r.at for r in done)) if len(done) > 1 else 0.0
        seconds = max(span, 1e-9)
        lat = np.asarray([r.latency_ms for r in ok], dtype=float)
        by_version: dict[str, int] = {}
        for r in ok:
            by_version[r.version] = by_version.get(r.version, 0) + 1
        return LoadSummary(len(done), len(ok), span, len(ok) / seconds if span else 0.0,
                           float(np.percentile(lat, 50)) if len(lat) else None,
                           float(np.percentile(lat, 99)) if len(lat) else None, by_version)

    def failures(self) -> list[ClientResult]:
        """Every request the client did not get a 200 for."""
        return [r for r in self.results if r.status != 200]
