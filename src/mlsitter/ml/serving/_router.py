"""The router in front of two versions: a weighted split that is sticky per unit id (a hash of it picks
the side), shadow mode (every request also goes to the candidate, whose answer is discarded; both log it
under the same request id), and traffic changes while serving: a change swaps one immutable config, so
requests in flight finish on the side they started with and none is dropped. ``/admin/traffic``
reads and changes the split and reports requests in flight per side, so a side can be drained before
its server stops. ``/feedback`` is kept for request ids the router routed, in the same feedback log."""

from __future__ import annotations

import asyncio
import collections
import hashlib
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


from mlsitter.errors import InputError
from mlsitter.ml.serving._prediction_log import FEEDBACK, JsonLinesLog
from mlsitter.ml.serving._server import RecentIds, dump_json, feedback_problem, parse_json
from mlsitter.naming import stable_name

SPLIT_BUCKETS = 10_000


@stable_name("ml.serving.Upstream")
@dataclass(frozen=True)
class Upstream:
    """One side of the split: where its server listens and which version it serves."""

    url: str
    version: str


@stable_name("ml.serving.TrafficConfig")
@dataclass(frozen=True)
class TrafficConfig:
    """Who gets what: the candidate's share of units (0-1), shadow mirroring, and when it last changed."""

    champion: Upstream | None = None
    candidate: Upstream | None = None
    weight: float = 0.0
    shadow: bool = False
    changed_at: float = field(default_factory=time.time)

    def shares(self) -> dict[str, float]:
        """Share of live traffic per version (shadow copies are not traffic)."""
        out: dict[str, float] = {}
        if self.champion:
            out[self.champion.version] = round(1.0 - (self.weight if self.candidate else 0.0), 6)
        if self.candidate and self.weight > 0:
            out[self.candidate.version] = round(out.get(self.candidate.version, 0.0) + self.weight, 6)
        return {k: v for k, v in out.items() if v > 0}

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "shares": self.shares()}


def traffic_config(payload: Any, now: float | None = None) -> TrafficConfig:
    """A TrafficConfig from an ``/admin/traffic`` body; InputError naming the bad part otherwise."""
    if not isinstance(payload, dict):
        raise InputError("traffic must be a JSON object with champion, candidate, weight and shadow")

    def side(name: str) -> Upstream | None:
        value = payload.get(name)
        if value is None:
            return None
        if not isinstance(value, dict) or not isinstance(value.get("url"), str) or not value.get("version"):
            raise InputError(f"traffic {name!r} must be null or {{\"url\": ..., \"version\": ...}}, got {value!r}")
        return Upstream(value["url"].rstrip("/"), str(value["version"]))

    weight = payload.get("weight", 0.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= float(weight) <= 1.0:
        raise InputError(f"traffic weight must be a number from 0 to 1 (the candidate's share), got {weight!r}")
    champion, candidate = side("champion"), side("candidate")
    if champion is None:
        raise InputError("traffic needs a champion upstream: every request the candidate does not get goes there")
    if candidate is None and (float(weight) > 0 or payload.get("shadow")):
        raise InputError("a candidate weight above 0 or shadow mode needs a candidate upstream")
    return TrafficConfig(champion, candidate, float(weight), bool(payload.get("shadow", False)),
                         time.time() if now is None else now)


def unit_bucket(unit: str) -> int:
    """The split bucket (0-9999) of a unit id: the same unit always lands in the same bucket."""
    return int.from_bytes(hashlib.blake2b(unit.encode(), digest_size=8).digest(), "big") % SPLIT_BUCKETS


def pick_side(config: TrafficConfig, unit: str) -> str:
    """``candidate`` when the unit's bucket falls in the candidate's share, else ``champion``."""
    if config.candidate is None or config.weight <= 0:
        return "champion"
    return "candidate" if unit_bucket(unit) < round(config.weight * SPLIT_BUCKETS) else "champion"


class Router:
    """The routing state of one router process."""

    def __init__(self, config: TrafficConfig, log_dir: str | Path, admin_token: str | None = None) -> None:
        self.config = config
        self.admin = f"Bearer {admin_token}".encode() if admin_token else None  # PUT /admin/traffic must carry it
        self.inflight = {"champion": 0, "candidate": 0, "shadow": 0}
        self.busy: dict[str, int] = {}  # requests in flight per upstream version, live and shadow
        self.routed = RecentIds()
        self.feedback = JsonLinesLog(log_dir, FEEDBACK, "router")
        self.client: Any = None
        self._mirrors: set[asyncio.Task[None]] = set()
        self.counts: dict[tuple[str, str], int] = {}
        self.overheads: collections.deque[float] = collections.deque(maxlen=20_000)  # seconds the router adds

    async def start(self) -> None:
        import aiohttp

        # aiohttp's client: kept-alive connections to both upstreams, far less per-request cost than httpx's
        connector = aiohttp.TCPConnector(limit=256, keepalive_timeout=60, ttl_dns_cache=None)
        self.client = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30.0),
                                            skip_auto_headers=("User-Agent",))

    async def stop(self) -> None:
        if self._mirrors:
            await asyncio.gather(*self._mirrors, return_exceptions=True)
        await self.client.close()
        self.feedback.close()

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        async with self.client.post(url, data=body, headers=headers) as response:
            return response.status, await response.read()

    async def forward(self, body: bytes, unit: str, request_id: str) -> tuple[int, bytes, str, str, float]:
        """(status, body, version, side, seconds waiting on the upstream) of the upstream that serves this request."""
        config = self.config  # one read: the request keeps this config even if it changes meanwhile
        side = pick_side(config, unit)
        upstream = config.candidate if side == "candidate" else config.champion
        assert upstream is not None
        if config.shadow and config.candidate is not None and side == "champion":
            self.inflight["shadow"] += 1  # counted now: a drain that follows this change must wait for it
            self.busy[config.candidate.version] = self.busy.get(config.candidate.version, 0) + 1
            task = asyncio.get_running_loop().create_task(self._mirror(config.candidate, body, request_id))
            self._mirrors.add(task)
            task.add_done_callback(self._mirrors.discard)
        self.inflight[side] += 1
        self.busy[upstream.version] = self.busy.get(upstream.version, 0) + 1
        sent = time.perf_counter()
        try:
            status, content = await self._post(upstream.url + "/predict", body, {
                "content-type": "application/json", "x-request-id": request_id})
        except Exception as exc:
            status, content = 502, dump_json({"detail": f"the {side} server ({upstream.version}) did not answer: "
                                                        f"{type(exc).__name__}: {exc}", "request_id": request_id})
        finally:
            self.inflight[side] -= 1
            self.busy[upstream.version] -= 1
        waited = time.perf_counter() - sent
        key = (upstream.version, "ok" if status < 400 else "invalid" if status < 500 else "error")
        self.counts[key] = self.counts.get(key, 0) + 1
        self.routed.add(request_id, upstream.version)
        return status, content, upstream.version, side, waited

    async def _mirror(self, candidate: Upstream, body: bytes, request_id: str) -> None:
        try:
            await self._post(candidate.url + "/predict", body, {
                "content-type": "application/json", "x-request-id": request_id, "x-shadow": "1"})
        except Exception:
            pass  # a shadow answer is discarded; the candidate's own log and metrics show its failures
        finally:
            self.inflight["shadow"] -= 1
            self.busy[candidate.version] -= 1


def unit_of(body: bytes, header: str | None, request_id: str) -> str:
    """The unit id a request is sticky by: the ``X-Unit-Id`` header, else the body's ``unit_id``, else the request."""
    if header:
        return header
    if b'"unit_id"' in body:
        try:
            payload = parse_json(body)
            if isinstance(payload, dict) and payload.get("unit_id") is not None:
                return str(payload["unit_id"])
        except ValueError:
            pass
    return request_id


def create_router_app(router: Router) -> Any:
    """The router as a bare ASGI app: the proxy path is on every request, so it skips a framework's routing,
    request objects and validation (the model server, which validates, is a FastAPI app)."""
    json_type = (b"content-type", b"application/json")

    async def handle(method: str, path: str, headers: dict[bytes, bytes], body: bytes,
                     received: float) -> tuple[int, bytes, list[Any]]:
        if path == "/predict" and method == "POST":
            request_id = headers.get(b"x-request-id", b"").decode() or uuid.uuid4().hex
            unit_header = headers.get(b"x-unit-id")
            unit = unit_of(body, unit_header.decode() if unit_header else None, request_id)
            status, content, version, side, waited = await router.forward(body, unit, request_id)
            router.overheads.append(time.perf_counter() - received - waited)
            return status, content, [(b"x-request-id", request_id.encode()), (b"x-model-version", version.encode()),
                                     (b"x-served-role", side.encode())]
        if path == "/feedback" and method == "POST":
            return (*feedback(body), [])
        if path == "/admin/traffic" and method in ("GET", "PUT"):
            if method == "PUT":
                refused = admin_refusal(router, headers)
                if refused:
                    return 401 if router.admin else 403, dump_json({"detail": refused}), []
                try:
                    router.config = traffic_config(parse_json(body))
                except (ValueError, InputError) as exc:
                    return 422, dump_json({"detail": str(exc)}), []
            return 200, dump_json({**router.config.to_dict(), "inflight": dict(router.inflight),
                                   "busy": dict(router.busy)}), []
        if path == "/admin/overhead" and method == "GET":
            return 200, dump_json(overhead_summary(router)), []
        if path == "/health" and method == "GET":
            return 200, dump_json({"status": "ok", "role": "router", "shares": router.config.shares()}), []
        if path == "/ready" and method == "GET":
            ok = router.client is not None and router.config.champion is not None
            return (200 if ok else 503), dump_json({"ready": ok}), []
        if path == "/metrics" and method == "GET":
            return 200, metrics_text(router), [(b"content-type", b"text/plain; version=0.0.4")]
        known = path in ("/predict", "/feedback", "/admin/traffic", "/admin/overhead", "/health", "/ready", "/metrics")
        return (405 if known else 404), dump_json({"detail": f"{method} {path} is not served here"}), []

    def feedback(body: bytes) -> tuple[int, bytes]:
        try:
            payload = parse_json(body)
        except ValueError as exc:
            return 422, dump_json({"detail": f"the body is not valid JSON: {exc}"})
        problem = feedback_problem(payload)
        if problem:
            return 422, dump_json({"detail": problem})
        version = router.routed.get(payload["request_id"])
        if version is None:
            return 404, dump_json({"detail": f"request id {payload['request_id']!r} was not routed here; feedback "
                                             "needs the request_id of an earlier prediction"})
        router.feedback.write([{"at": time.time(), "request_id": payload["request_id"],
                                "index": int(payload.get("index", 0)), "label": payload["label"], "version": version}])
        return 200, dump_json({"request_id": payload["request_id"], "recorded": True, "version": version})

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await router.start()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await router.stop()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        received = time.perf_counter()
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        status, content, extra = await handle(scope["method"], scope["path"], dict(scope["headers"]), b"".join(chunks),
                                              received)
        names = {name for name, _ in extra}
        head = [*extra] + ([] if b"content-type" in names else [json_type])
        await send({"type": "http.response.start", "status": status,
                    "headers": head + [(b"content-length", str(len(content)).encode())]})
        await send({"type": "http.response.body", "body": content})

    return app


def admin_refusal(router: Router, headers: dict[bytes, bytes]) -> str:
    """Why a change of the split is refused ('' when its bearer token matches the router's)."""
    import hmac

    if router.admin is None:
        return "this router was started without --admin-token-file: its split cannot be changed"
    if not hmac.compare_digest(headers.get(b"authorization", b""), router.admin):
        return "changing the split needs 'Authorization: Bearer <token>' with the deployment's admin token"
    return ""


def overhead_summary(router: Router) -> dict[str, Any]:
    """The time the router itself spent on its last (up to 20,000) proxied requests: from the request reaching
    the app to the answer being ready, less the wait on the upstream (ms)."""
    import numpy as np

    values = np.asarray(router.overheads, dtype=float) * 1000
    if not len(values):
        return {"requests": 0, "p50_ms": None, "p99_ms": None}
    return {"requests": int(len(values)), "p50_ms": float(np.percentile(values, 50)),
            "p99_ms": float(np.percentile(values, 99)), "max_ms": float(values.max())}


def metrics_text(router: Router) -> bytes:
    """The router's Prometheus exposition: requests by version and outcome, and the candidate's weight."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

    registry = CollectorRegistry()
    requests = Counter("mlsitter_router_requests", "Requests routed, by version and outcome", ["version", "outcome"],
                       registry=registry)
    for (version, outcome), n in sorted(router.counts.items()):
        requests.labels(version=version, outcome=outcome).inc(n)
    Gauge("mlsitter_router_candidate_weight", "The candidate's share of units", registry=registry).set(
        router.config.weight)
    return generate_latest(registry)


def serve_router(*, host: str, port: int, log_dir: str | Path, champion: str, champion_version: str,
                 candidate: str = "", candidate_version: str = "", weight: float = 0.0, shadow: bool = False,
                 admin_token_file: str | Path | None = None) -> None:
    """Run a router on ``host:port`` with the given initial split until stopped; its split changes only on a
    ``PUT /admin/traffic`` carrying the token in ``admin_token_file``."""
    from mlsitter.ml.serving._processes import check_port_free, run_uvicorn

    check_port_free(host, port)
    payload: dict[str, Any] = {"champion": {"url": champion, "version": champion_version}, "weight": weight,
                               "shadow": shadow,
                               "candidate": {"url": candidate, "version": candidate_version} if candidate else None}
    token = Path(admin_token_file).read_text(encoding="ascii").strip() if admin_token_file else None
    run_uvicorn(create_router_app(Router(traffic_config(payload), log_dir, token)), host, port)
