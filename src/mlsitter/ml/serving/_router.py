"""The router in front of two versions: a weighted split that is sticky per unit id (a hash of it picks
the side), shadow mode (every request also goes to the candidate, whose answer is discarded; both log it
under the same request id), and traffic changes while serving: a change swaps one immutable config, so
requests in flight finish on the side they started with and none is dropped. ``/admin/traffic``
reads and changes the split and reports requests in flight per side, so a side can be drained before
its server stops. ``/feedback`` is kept for request ids the router routed, in the same feedback log."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import Response

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

    def __init__(self, config: TrafficConfig, log_dir: str | Path) -> None:
        self.config = config
        self.inflight = {"champion": 0, "candidate": 0, "shadow": 0}
        self.busy: dict[str, int] = {}  # requests in flight per upstream version, live and shadow
        self.routed = RecentIds()
        self.feedback = JsonLinesLog(log_dir, FEEDBACK, "router")
        self.client: Any = None
        self._mirrors: set[asyncio.Task[None]] = set()
        self.counts: dict[tuple[str, str], int] = {}

    async def start(self) -> None:
        import httpx

        limits = httpx.Limits(max_connections=256, max_keepalive_connections=128)
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(30.0), limits=limits)

    async def stop(self) -> None:
        if self._mirrors:
            await asyncio.gather(*self._mirrors, return_exceptions=True)
        await self.client.aclose()
        self.feedback.close()

    async def forward(self, body: bytes, unit: str, request_id: str) -> tuple[int, bytes, str, str]:
        """(status, body, version, side) of the upstream that serves this request."""
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
        try:
            response = await self.client.post(upstream.url + "/predict", content=body, headers={
                "content-type": "application/json", "x-request-id": request_id})
            status, content = response.status_code, response.content
        except Exception as exc:
            status, content = 502, dump_json({"detail": f"the {side} server ({upstream.version}) did not answer: "
                                                        f"{type(exc).__name__}: {exc}", "request_id": request_id})
        finally:
            self.inflight[side] -= 1
            self.busy[upstream.version] -= 1
        key = (upstream.version, "ok" if status < 400 else "invalid" if status < 500 else "error")
        self.counts[key] = self.counts.get(key, 0) + 1
        self.routed.add(request_id, upstream.version)
        return status, content, upstream.version, side

    async def _mirror(self, candidate: Upstream, body: bytes, request_id: str) -> None:
        try:
            await self.client.post(candidate.url + "/predict", content=body, headers={
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
    """The FastAPI app of ``router``."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI

    @asynccontextmanager
    async def lifespan(_: Any) -> Any:
        await router.start()
        yield
        await router.stop()

    app = FastAPI(title="mlsitter router", lifespan=lifespan, docs_url=None, redoc_url=None)

    def answer(status: int, value: Any) -> Response:
        return Response(dump_json(value), status_code=status, media_type="application/json")

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        body = await request.body()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        unit = unit_of(body, request.headers.get("x-unit-id"), request_id)
        status, content, version, side = await router.forward(body, unit, request_id)
        return Response(content, status_code=status, media_type="application/json", headers={
            "x-request-id": request_id, "x-model-version": version, "x-served-role": side})

    @app.post("/feedback")
    async def feedback(request: Request) -> Response:
        try:
            payload = parse_json(await request.body())
        except ValueError as exc:
            return answer(422, {"detail": f"the body is not valid JSON: {exc}"})
        problem = feedback_problem(payload)
        if problem:
            return answer(422, {"detail": problem})
        version = router.routed.get(payload["request_id"])
        if version is None:
            return answer(404, {"detail": f"request id {payload['request_id']!r} was not routed here; feedback "
                                          "needs the request_id of an earlier prediction"})
        router.feedback.write([{"at": time.time(), "request_id": payload["request_id"],
                                "index": int(payload.get("index", 0)), "label": payload["label"], "version": version}])
        return answer(200, {"request_id": payload["request_id"], "recorded": True, "version": version})

    @app.get("/admin/traffic")
    async def get_traffic() -> Response:
        return answer(200, {**router.config.to_dict(), "inflight": dict(router.inflight), "busy": dict(router.busy)})

    @app.put("/admin/traffic")
    async def put_traffic(request: Request) -> Response:
        try:
            router.config = traffic_config(parse_json(await request.body()))
        except (ValueError, InputError) as exc:
            return answer(422, {"detail": str(exc)})
        return answer(200, {**router.config.to_dict(), "inflight": dict(router.inflight), "busy": dict(router.busy)})

    @app.get("/health")
    async def health() -> Response:
        return answer(200, {"status": "ok", "role": "router", "shares": router.config.shares()})

    @app.get("/ready")
    async def ready() -> Response:
        ok = router.client is not None and router.config.champion is not None
        return answer(200 if ok else 503, {"ready": ok})

    @app.get("/metrics")
    async def metrics() -> Response:
        lines = ["# HELP mlsitter_router_requests_total Requests routed by version and outcome",
                 "# TYPE mlsitter_router_requests_total counter"]
        lines += [f'mlsitter_router_requests_total{{version="{v}",outcome="{o}"}} {n}'
                  for (v, o), n in sorted(router.counts.items())]
        lines += ["# HELP mlsitter_router_candidate_weight The candidate's share of units",
                  "# TYPE mlsitter_router_candidate_weight gauge", f"mlsitter_router_candidate_weight {router.config.weight}"]
        return Response("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

    return app


def serve_router(*, host: str, port: int, log_dir: str | Path, champion: str, champion_version: str,
                 candidate: str = "", candidate_version: str = "", weight: float = 0.0, shadow: bool = False) -> None:
    """Run a router on ``host:port`` with the given initial split until stopped."""
    from mlsitter.ml.serving._processes import check_port_free, run_uvicorn

    check_port_free(host, port)
    payload: dict[str, Any] = {"champion": {"url": champion, "version": champion_version}, "weight": weight,
                               "shadow": shadow,
                               "candidate": {"url": candidate, "version": candidate_version} if candidate else None}
    run_uvicorn(create_router_app(Router(traffic_config(payload), log_dir)), host, port)
