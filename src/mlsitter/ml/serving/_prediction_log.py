"""The prediction log: one JSON line per served record (request id, version, inputs, output, latency,
outcome) and the feedback log of labels sent later for a request id. Drift, observability, retraining
and the canary analysis read them back; sampling keeps a deterministic share of request ids."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from mlsitter.naming import stable_name

PREDICTIONS = "predictions"
FEEDBACK = "feedback"


def sampled(request_id: str, rate: float) -> bool:
    """Whether ``request_id`` is in the logged sample: the same answer for the same id on every server."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    bucket = int(hashlib.blake2b(request_id.encode(), digest_size=4).hexdigest(), 16) / 0xFFFFFFFF
    return bucket < rate


class JsonLinesLog:
    """An append-only JSON-lines file of this process (one writer per file; a lock for its threads)."""

    def __init__(self, directory: str | Path, kind: str, label: str) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in label)
        self.path = self.directory / f"{kind}-{safe}-{os.getpid()}.jsonl"
        self._file = open(self.path, "a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, entries: list[dict[str, Any]]) -> None:
        """Append ``entries`` and flush, so readers in other processes see them at once."""
        if not entries:
            return
        text = "".join(json.dumps(e, default=str, separators=(",", ":")) + "\n" for e in entries)
        with self._lock:
            self._file.write(text)
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


def _read(directory: str | Path, kind: str) -> Iterator[dict[str, Any]]:
    for path in sorted(Path(directory).glob(f"{kind}-*.jsonl")):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.endswith("\n"):  # a line still being written is read next time
                    yield json.loads(line)


def read_predictions(directory: str | Path, *, since: float = 0.0, until: float | None = None,
                     model: str | None = None) -> list[dict[str, Any]]:
    """Logged predictions with ``since <= at < until`` (of ``model`` when given), oldest first."""
    end = time.time() + 1 if until is None else until
    rows = [r for r in _read(directory, PREDICTIONS)
            if since <= r["at"] < end and (model is None or r["model"] == model)]
    rows.sort(key=lambda r: r["at"])
    return rows


def read_feedback(directory: str | Path) -> dict[tuple[str, int], Any]:
    """Labels by (request id, record index); a later label for the same record replaces an earlier one."""
    return {(r["request_id"], int(r.get("index", 0))): r["label"] for r in _read(directory, FEEDBACK)}


@stable_name("ml.serving.VersionAccuracy")
@dataclass(frozen=True)
class VersionAccuracy:
    """Accuracy of one version on the predictions that got a label."""

    version: str
    labelled: int
    correct: int

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.labelled if self.labelled else None


def same_label(prediction: Any, label: Any) -> bool:
    """A prediction equals a feedback label, whether either came as a number, a bool or a string."""
    if prediction == label:
        return True
    return str(prediction).strip().lower() == str(label).strip().lower()


def accuracy_by_version(predictions: list[dict[str, Any]], labels: dict[tuple[str, int], Any]) -> dict[str, VersionAccuracy]:
    """Join labels with the predictions they were given for and count correct answers per version
    (shadow answers are left out: nobody saw them)."""
    counts: dict[str, list[int]] = {}
    for row in predictions:
        if row.get("outcome") != "ok" or row.get("shadow"):
            continue
        key = (row["request_id"], int(row.get("index", 0)))
        if key not in labels:
            continue
        c = counts.setdefault(row["version"], [0, 0])
        c[0] += 1
        c[1] += int(same_label(row["output"], labels[key]))
    return {v: VersionAccuracy(v, n, k) for v, (n, k) in counts.items()}
