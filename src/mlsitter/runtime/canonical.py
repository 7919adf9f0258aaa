"""Canonical JSON and hashing: the same value always gives the same bytes and the same digest."""

from __future__ import annotations

import hashlib
import json
from typing import Any

_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, no NaN: stable text for hashing and storage."""
    return _ENCODER.encode(value)


_JOURNAL_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def journal_json(value: Any) -> str:
    """Event payload text: insertion order kept (a replayed dict iterates as the live one did).

    The hash chain covers this exact text, so it need not be sorted to be verifiable.
    """
    return _JOURNAL_ENCODER.encode(value)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EventHasher:
    """HMAC-SHA256 (RFC 2104) of journal events under one key, with the keyed pads hashed once.

    Same output as ``hmac.new(key, message, sha256)``, about twice as fast per event, which is what
    verifying a store of a million events spends its time on.
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def __call__(self, prev_hash: str, run_id: str, seq: int, type_: str, at: float, data_json: str) -> str:
        inner = self._inner.copy()
        inner.update(f"{prev_hash}\n{run_id}\n{seq}\n{type_}\n{at!r}\n{data_json}".encode("utf-8"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


def legacy_event_hash(prev_hash: str, run_id: str, seq: int, type_: str, at: float, data_json: str) -> str:
    """The unkeyed SHA-256 chain of schema-1 stores; read only to check them before migrating."""
    h = hashlib.sha256()
    h.update(f"{prev_hash}\n{run_id}\n{seq}\n{type_}\n{at!r}\n".encode("utf-8"))
    h.update(data_json.encode("utf-8"))
    return h.hexdigest()


GENESIS_HASH = "0" * 64
