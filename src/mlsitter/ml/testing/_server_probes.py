"""Probes of a running model server over HTTP: the request contract (a valid record answered, a record that
breaks the schema refused with a 422 that names the field), and single-record predictions sent
concurrently, as clients send them, answered in the order they were asked."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Sequence

from mlsitter.naming import stable_name

_WRONG_VALUE = {"double": "not-a-number", "float": "not-a-number", "long": "not-a-number",
                "integer": "not-a-number", "boolean": "not-a-boolean"}


@stable_name("ml.testing.RequestProbe")
@dataclass
class RequestProbe:
    """The request-contract probes sent and the ones answered as the contract says."""

    sent: int
    as_expected: int
    problems: list[str] = field(default_factory=list)
    schema: list[dict[str, Any]] = field(default_factory=list)


def probe_request_schema(url: str, record: dict[str, Any], expected_schema: Sequence[dict[str, Any]],
                         timeout: float = 10.0) -> RequestProbe:
    """``/schema`` must list ``expected_schema``; ``record`` must be answered 200; the record without its first
    required field, with a wrong-typed value, and a body that is not an object must each get a 422 naming
    the field (none for the body)."""
    import httpx

    probe = RequestProbe(0, 0)

    def expect(what: str, ok: bool, problem: str) -> None:
        probe.sent += 1
        probe.as_expected += ok
        if not ok:
            probe.problems.append(f"{what}: {problem}")

    with httpx.Client(base_url=url.rstrip("/"), timeout=timeout) as client:
        answer = client.get("/schema")
        probe.schema = answer.json().get("inputs", []) if answer.status_code == 200 else []
        expect("GET /schema", probe.schema == list(expected_schema),
               f"lists {probe.schema}, the registered signature is {list(expected_schema)}")
        answer = client.post("/predict", json={"record": record})
        expect("a valid record", answer.status_code == 200, f"answered {answer.status_code}: {answer.text[:200]}")
        required = [f for f in expected_schema if f.get("required", True)]
        if required:
            name = required[0]["name"]
            answer = client.post("/predict", json={"record": {k: v for k, v in record.items() if k != name}})
            expect(f"the record without {name!r}", answer.status_code == 422 and _names(answer, name),
                   f"answered {answer.status_code}: {answer.text[:200]}")
        typed = [f for f in expected_schema if f.get("type") in _WRONG_VALUE]
        wrong = typed[0] if typed else (expected_schema[0] if expected_schema else None)
        if wrong is not None:
            value = _WRONG_VALUE.get(wrong.get("type", ""), 12345)
            answer = client.post("/predict", json={"record": {**record, wrong["name"]: value}})
            expect(f"{wrong['name']!r} = {value!r}", answer.status_code == 422 and _names(answer, wrong["name"]),
                   f"answered {answer.status_code}: {answer.text[:200]}")
        answer = client.post("/predict", content=b"[1, 2, 3]", headers={"content-type": "application/json"})
        expect("a body that is not an object", answer.status_code == 422,
               f"answered {answer.status_code}: {answer.text[:200]}")
    return probe


def _names(answer: Any, field_name: str) -> bool:
    try:
        return answer.json().get("field") == field_name  # type: ignore[no-any-return]
    except ValueError:
        return False


def predict_each(url: str, records: Sequence[dict[str, Any]], *, concurrency: int = 4,
                 timeout: float = 30.0) -> list[tuple[int, Any]]:
    """(status, JSON body) of one ``/predict`` request per record, ``concurrency`` in flight, in order."""
    return asyncio.run(_predict_each(url.rstrip("/"), list(records), concurrency, timeout))


async def _predict_each(url: str, records: list[dict[str, Any]], concurrency: int,
                        timeout: float) -> list[tuple[int, Any]]:
    import httpx

    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(client: Any, record: dict[str, Any]) -> tuple[int, Any]:
        async with gate:
            try:
                answer = await client.post(url + "/predict", json={"record": record})
            except httpx.HTTPError as exc:
                return 0, {"detail": f"{type(exc).__name__}: {exc}"}
            try:
                return answer.status_code, answer.json()
            except ValueError:
                return answer.status_code, {"detail": answer.text[:300]}

    async with httpx.AsyncClient(timeout=timeout) as client:
        return list(await asyncio.gather(*(one(client, r) for r in records)))
