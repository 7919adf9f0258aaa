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


def event_hash(prev_hash: str, run_id: str, seq: int, type_: str, at: float, data_json: str) -> str:
    """Hash of one journal event, chained to the one before it."""
    h = hashlib.sha256()
    h.update(f"{prev_hash}\n{run_id}\n{seq}\n{type_}\n{at!r}\n".encode("utf-8"))
    h.update(data_json.encode("utf-8"))
    return h.hexdigest()


GENESIS_HASH = "0" * 64
