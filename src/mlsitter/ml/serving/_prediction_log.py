"""The prediction log: one JSON line per served record (request id, version, inputs, output, latency,
outcome) and the feedback log of labels sent later for a request id. Drift, observability, retraining
and the canary analysis read them back; sampling keeps a deterministic share of request ids. A log
rotates by size and/or age (the active file is renamed ``<stem>.<n>.jsonl`` and a new one opened), keeping
the newest ``keep`` rotated files; readers read the active and the rotated files alike."""

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


@stable_name("ml.serving.LogRotation")
@dataclass(frozen=True)
class LogRotation:
    """When a log file rotates: at ``max_bytes`` (0: never by size) or ``max_seconds`` after it was opened (0:
    never by age); ``keep`` rotated files are kept, the oldest deleted beyond that (0: all are kept)."""

    max_bytes: int = 64 * 1024 * 1024
    max_seconds: float = 0.0
    keep: int = 0

    def __post_init__(self) -> None:
        from mlsitter.errors import InputError

        for name in ("max_bytes", "max_seconds", "keep"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise InputError(f"log rotation {name} must be a number >= 0 (0: off), got {value!r}")


NO_ROTATION = LogRotation(0, 0.0, 0)


class JsonLinesLog:
    """An append-only JSON-lines file of this process (one writer per file; a lock for its threads), rotated
    as ``rotation`` says."""

    def __init__(self, directory: str | Path, kind: str, label: str, rotation: LogRotation = NO_ROTATION) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in label)
        self.stem = f"{kind}-{safe}-{os.getpid()}"
        self.path = self.directory / f"{self.stem}.jsonl"
        self.rotation = rotation
        self._lock = threading.Lock()
        self._open()

    def _open(self) -> None:
        self._file = open(self.path, "a", encoding="utf-8")
        self._size = self._file.tell()
        self._opened = time.time()

    def rotated(self) -> list[Path]:
        """This log's rotated files, oldest first."""
        found = [(p, p.name[len(self.stem) + 1:-len(".jsonl")]) for p in self.directory.glob(f"{self.stem}.*.jsonl")]
        return [p for p, n in sorted((item for item in found if item[1].isdigit()), key=lambda item: int(item[1]))]

    def _rotate(self) -> None:
        self._file.close()
        done = self.rotated()
        number = int(done[-1].name[len(self.stem) + 1:-len(".jsonl")]) + 1 if done else 1
        os.replace(self.path, self.directory / f"{self.stem}.{number:06d}.jsonl")
        if self.rotation.keep:
            for old in self.rotated()[:-self.rotation.keep]:
                old.unlink(missing_ok=True)
        self._open()

    def _due(self, adding: int) -> bool:
        by_size = self.rotation.max_bytes and self._size and self._size + adding > self.rotation.max_bytes
        by_age = self.rotation.max_seconds and self._size and time.time() - self._opened >= self.rotation.max_seconds
        return bool(by_size or by_age)

    def write(self, entries: list[dict[str, Any]]) -> None:
        """Append ``entries`` and flush, so readers in other processes see them at once (rotating first when
        they would take the file past its size, or it is older than its age)."""
        if not entries:
            return
        text = "".join(json.dumps(e, default=str, separators=(",", ":")) + "\n" for e in entries)
        data = text.encode("utf-8")
        with self._lock:
            if self._due(len(data)):
                self._rotate()
            self._file.write(text)
            self._file.flush()
            self._size += len(data)

    def close(self) -> None:
        with self._lock:
            self._file.close()


def log_files(directory: str | Path, kind: str) -> list[Path]:
    """Every file of ``kind`` in ``directory``: each writer's active file and its rotated ones."""
    return sorted(Path(directory).glob(f"{kind}-*.jsonl"))


def _read(directory: str | Path, kind: str) -> Iterator[dict[str, Any]]:
    """Every complete line of every file of ``kind``. A writer that rotates while this reads renames its active
    file to a name the listing did not hold, so the read is done again until the listing holds still."""
    rows: list[dict[str, Any]] = []
    for _ in range(20):
        listed = log_files(directory, kind)
        rows = []
        try:
            for path in listed:
                with open(path, encoding="utf-8") as handle:
                    rows += [json.loads(line) for line in handle if line.endswith("\n")]  # a partial line: next time
        except FileNotFoundError:  # rotated away or deleted by retention meanwhile
            continue
        if log_files(directory, kind) == listed:
            break
    yield from rows


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
