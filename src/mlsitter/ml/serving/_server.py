"""The model server: a FastAPI app around one registered model version.

``/predict`` takes one record (``{"record": {...}}`` or the bare object) or a batch (``{"records": [...]}``),
checks it against the model's input schema (422 naming the field) and answers with the prediction and
score. Concurrent requests are micro-batched: while the model predicts one batch, the requests that
arrive queue up and go through the pipeline together as the next one, so a busy server pays the
per-call cost of the pipeline once per batch instead of once per record, and an idle one adds no wait.
Every answered record is written to the prediction log; ``/feedback`` adds a label for an earlier
request id. ``/health``, ``/ready`` and ``/metrics`` (Prometheus) complete it.
"""

from __future__ import annotations

import asyncio
import collections
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from mlsitter.ml.serving._metrics import ServerMetrics
from mlsitter.ml.serving._prediction_log import FEEDBACK, PREDICTIONS, JsonLinesLog, LogRotation, sampled
from mlsitter.ml.serving._schema import RequestSchemaError, validate_records
from mlsitter.ml.serving._served_model import Prediction, ServedModel, load_served_model
from mlsitter.naming import stable_name

REMEMBERED_REQUESTS = 200_000


class RecentIds:
    """The last ``size`` request ids a server answered, so feedback can name only real requests."""

    def __init__(self, size: int = REMEMBERED_REQUESTS) -> None:
        self._ids: collections.OrderedDict[str, Any] = collections.OrderedDict()
        self._size = size

    def add(self, request_id: str, value: Any = None) -> None:
        self._ids[request_id] = value
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)

    def get(self, request_id: str) -> Any:
        return self._ids.get(request_id)

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._ids


def parse_json(body: bytes) -> Any:
    """The JSON value of a request body (orjson when installed); ValueError on bad JSON."""
    try:
        import orjson

        return orjson.loads(body)
    except ImportError:
        import json

        return json.loads(body)


def dump_json(value: Any) -> bytes:
    try:
        import orjson

        return orjson.dumps(value)
    except ImportError:
        import json

        return json.dumps(value, default=str).encode()


def records_of(payload: Any) -> tuple[list[Any], bool]:
    """(records, was a single record) of a ``/predict`` body."""
    if isinstance(payload, dict) and "records" in payload:
        if not isinstance(payload["records"], list) or not payload["records"]:
            raise RequestSchemaError("'records' must be a non-empty list of JSON objects", "records")
        return payload["records"], False
    if isinstance(payload, dict) and "record" in payload:
        return [payload["record"]], True
    if isinstance(payload, dict):
        return [payload], True
    raise RequestSchemaError("the body must be a JSON object: {\"record\": {...}}, {\"records\": [...]} or the "
                             "record itself", "")


@stable_name("ml.serving.PendingRequest")
@dataclass
class _Pending:
    rows: list[tuple[Any, ...]]
    records: list[Any]
    missing: dict[str, int]
    request_id: str
    shadow: bool
    started: float
    future: asyncio.Future[Any]
    done: Any = field(default=None)


class ModelService:
    """What the app does with a request; the prediction thread batches, logs and counts."""

    def __init__(self, served: ServedModel, *, role: str, log_dir: str | Path, sample: float = 1.0,
                 max_batch: int = 256, rotation: LogRotation = LogRotation(), features: Any = None) -> None:
        self.served = served
        self.features = features  # an OnlineFeatures: absent inputs are fetched by the records' entity keys
        self.role = role
        self.sample = sample
        self.max_batch = max_batch
        self.metrics = ServerMetrics(served.name, served.version)
        self.predictions = JsonLinesLog(log_dir, PREDICTIONS, f"{served.name}-{served.version}-{role}", rotation)
        self.feedback = JsonLinesLog(log_dir, FEEDBACK, f"{served.name}-{served.version}-{role}", rotation)
        self.recent = RecentIds()
        self.queue: asyncio.Queue[_Pending] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlsitter-predict")
        self._lookups = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlsitter-features")
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._batches())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        self._pool.shutdown(wait=True)
        self._lookups.shutdown(wait=True)
        self.predictions.close()
        self.feedback.close()

    @property
    def ready(self) -> bool:
        return self._task is not None and not self._task.done()

    async def predict(self, records: list[Any], request_id: str, shadow: bool, started: float) -> list[Prediction]:
        """Validate ``records`` and queue them for the next batch; raises RequestSchemaError or the model's error."""
        assert self.queue is not None
        try:
            if self.features is not None:  # the online store read is I/O: off the event loop
                records = await asyncio.get_running_loop().run_in_executor(self._lookups, self.features.fill, records)
            rows, missing = validate_records(self.served.schema, records)
        except RequestSchemaError:
            self.metrics.invalid()
            raise
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(_Pending(rows, records, missing, request_id, shadow, started, future))
        result = await future
        if isinstance(result, BaseException):
            raise result
        return result  # type: ignore[no-any-return]

    async def _batches(self) -> None:
        assert self.queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            size = len(batch[0].rows)
            while not self.queue.empty() and size < self.max_batch:
                item = self.queue.get_nowait()
                batch.append(item)
                size += len(item.rows)
            await loop.run_in_executor(self._pool, self._predict_batch, batch)
            for item in batch:
                if not item.future.done():
                    item.future.set_result(item.done)

    def _predict_batch(self, batch: list[_Pending]) -> None:
        """Predict every pending request of ``batch`` (one pipeline call; one per request if that raises)."""
        try:
            answers = self.served.predict_rows([row for item in batch for row in item.rows])
            offset = 0
            for item in batch:
                item.done = answers[offset:offset + len(item.rows)]
                offset += len(item.rows)
        except Exception:
            for item in batch:
                try:
                    item.done = self.served.predict_rows(item.rows)
                except Exception as exc:  # this request's records make the model raise: only it fails
                    item.done = ModelFailure(f"the model raised {type(exc).__name__}: {exc}")
        self._record(batch)

    def _record(self, batch: list[_Pending]) -> None:
        now = time.time()
        finished = time.perf_counter()
        entries = []
        for item in batch:
            seconds = finished - item.started
            ok = not isinstance(item.done, BaseException)
            answers = item.done if ok else []
            self.metrics.observe(ok=ok, seconds=seconds, scores=[a.score for a in answers], missing=item.missing)
            self.recent.add(item.request_id, len(item.rows))
            if not sampled(item.request_id, self.sample):
                continue
            base = {"at": now, "request_id": item.request_id, "model": self.served.name,
                    "version": self.served.label, "role": self.role, "shadow": item.shadow,
                    "latency_ms": round(seconds * 1000, 3), "outcome": "ok" if ok else "error"}
            for index, record in enumerate(item.records):
                entry = {**base, "index": index, "inputs": record}
                if ok:
                    entry["output"] = answers[index].prediction
                    entry["score"] = answers[index].score
                else:
                    entry["error"] = str(item.done)
                entries.append(entry)
        self.predictions.write(entries)

    def add_feedback(self, request_id: str, label: Any, index: int) -> None:
        """Log a label for a record of an earlier request; KeyError when this server never answered it."""
        size = self.recent.get(request_id)
        if size is None:
            raise KeyError(request_id)
        if not 0 <= index < size:
            raise IndexError(index)
        self.feedback.write([{"at": time.time(), "request_id": request_id, "index": index, "label": label,
                              "version": self.served.label}])
        self.metrics.labelled()


class ModelFailure(Exception):
    """The model raised while predicting a request's records."""


def create_app(service: ModelService) -> Any:
    """The FastAPI app of ``service``."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI

    served = service.served

    @asynccontextmanager
    async def lifespan(_: Any) -> Any:
        await service.start()
        yield
        await service.stop()

    app = FastAPI(title=f"mlsitter model server: {served.label}", lifespan=lifespan, docs_url=None, redoc_url=None)
    identity = {"x-model-version": served.label, "x-served-role": service.role}

    def answer(status: int, value: Any, request_id: str = "") -> Response:
        headers = dict(identity, **({"x-request-id": request_id} if request_id else {}))
        return Response(dump_json(value), status_code=status, media_type="application/json", headers=headers)

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        try:
            records, single = records_of(parse_json(await request.body()))
            answers = await service.predict(records, request_id, request.headers.get("x-shadow") == "1", started)
        except ValueError as exc:
            if not isinstance(exc, RequestSchemaError):
                service.metrics.invalid()
                return answer(422, {"detail": f"the body is not valid JSON: {exc}", "field": None}, request_id)
            return answer(422, {"detail": str(exc), "field": exc.field or None, "index": exc.index,
                                "expected": served.schema.to_dict()}, request_id)
        except ModelFailure as exc:
            return answer(500, {"detail": str(exc), "request_id": request_id}, request_id)
        body: dict[str, Any] = {"request_id": request_id, "model": served.name, "version": served.version}
        if single:
            body.update(prediction=answers[0].prediction, score=answers[0].score)
        else:
            body["predictions"] = [{"prediction": a.prediction, "score": a.score} for a in answers]
        return answer(200, body, request_id)

    @app.post("/feedback")
    async def feedback(request: Request) -> Response:
        try:
            payload = parse_json(await request.body())
        except ValueError as exc:
            return answer(422, {"detail": f"the body is not valid JSON: {exc}"})
        problem = feedback_problem(payload)
        if problem:
            return answer(422, {"detail": problem})
        try:
            service.add_feedback(payload["request_id"], payload["label"], int(payload.get("index", 0)))
        except KeyError:
            return answer(404, {"detail": f"request id {payload['request_id']!r} was not answered by this server "
                                          f"({served.label}); feedback needs the request_id of an earlier prediction"})
        except IndexError:
            return answer(422, {"detail": f"index {payload.get('index')} is out of range for request "
                                          f"{payload['request_id']!r}"})
        return answer(200, {"request_id": payload["request_id"], "recorded": True})

    @app.get("/health")
    async def health() -> Response:
        return answer(200, {"status": "ok", "model": served.name, "version": served.version, "role": service.role,
                            "pid": os.getpid(), "artifact_sha256": served.artifact_sha256})

    @app.get("/ready")
    async def ready() -> Response:
        ok = service.ready
        return answer(200 if ok else 503, {"ready": ok, "model": served.name, "version": served.version})

    @app.get("/schema")
    async def schema() -> Response:
        return answer(200, {"model": served.name, "version": served.version, "inputs": served.schema.to_dict()})

    @app.get("/metrics")
    async def metrics() -> Response:
        text, content_type = service.metrics.exposition()
        return Response(text, media_type=content_type)

    return app


def feedback_problem(payload: Any) -> str:
    """What is wrong with a ``/feedback`` body ('' when nothing is)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("request_id"), str) or "label" not in payload:
        return 'feedback must be a JSON object {"request_id": "<id of an earlier prediction>", "label": <true value>}'
    if not isinstance(payload.get("index", 0), int):
        return "'index' must be the record's position (an integer) in a batch request"
    return ""


def serve_model(ref: str, *, host: str = "127.0.0.1", port: int = 8000, role: str = "champion",
                log_dir: str | Path, sample: float = 1.0, rotation: LogRotation = LogRotation(),
                feature_repo: str | Path = "", features: list[str] | None = None) -> None:
    """Load ``ref`` through the registry and serve it until stopped (SIGTERM/SIGINT finish in-flight requests);
    with ``feature_repo``, absent inputs are fetched from its online store by the records' entity keys."""
    from mlsitter.ml.serving._processes import check_port_free, run_uvicorn

    check_port_free(host, port)
    served = load_served_model(ref)
    online = None
    if feature_repo:
        from mlsitter.ml.serving._online_features import OnlineFeatures

        online = OnlineFeatures.open(feature_repo, served.schema, features)
    service = ModelService(served, role=role, log_dir=log_dir, sample=sample, rotation=rotation, features=online)
    run_uvicorn(create_app(service), host, port)
