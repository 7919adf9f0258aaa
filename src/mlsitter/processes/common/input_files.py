"""A user's input file read in place: the journal keeps its path and content hash, not a copy of its rows.

The file is already durable, so a run that resumes reads it again after checking that its content still hashes
to what the journal recorded; a changed file stops the run with both hashes named.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from mlsitter.errors import DataError
from mlsitter.hashing import file_sha256
from mlsitter.naming import stable_name
from mlsitter.runtime import Context

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


@stable_name("common.InputFile")
@dataclass(frozen=True)
class InputFile:
    """The file a step read (absolute path), its SHA-256 and size when it was read."""

    path: str
    sha256: str
    size: int


def input_file(location: str) -> InputFile | None:
    """Hash the local file at ``location`` before it is read; None for a URL or anything not a plain file."""
    if _URL.match(location):
        return None
    path = Path(location).expanduser()
    if not path.is_file():
        return None
    path = path.resolve()
    return InputFile(str(path), file_sha256(path), path.stat().st_size)


def read_in_place(location: str, read: Callable[[], Any]) -> tuple[Any, InputFile | None]:
    """``read()`` with the content hash of the file it reads; DataError when the file changes meanwhile."""
    before = _stat(location)
    recorded = input_file(location) if before is not None else None
    value = read()
    if recorded is not None and _stat(location) != before:
        raise DataError(f"input file {recorded.path} changed while it was read; read it again when it is complete")
    if recorded is not None:
        _keep(recorded, value)
    return value, recorded


def reopen(recorded: InputFile, read: Callable[[], Any]) -> Any:
    """The value a step read from ``recorded``: the step's own when it ran in this process, else read again
    after checking the file still hashes as the journal recorded."""
    with _LOCK:
        kept = _KEPT.pop(recorded, None)
    if kept is not None:
        return kept
    path = Path(recorded.path)
    if not path.is_file():
        raise DataError(f"input file {recorded.path} is missing: this run read it in place (sha256 "
                        f"{recorded.sha256}) and needs it to resume; restore it or start a new run")
    actual = file_sha256(path)
    if actual != recorded.sha256:
        raise DataError(f"input file {recorded.path} changed since this run read it: its sha256 is now {actual}, "
                        f"the journal recorded {recorded.sha256}; restore the file or start a new run on it")
    return read()


def record_inputs(ctx: Context, name: str, recorded: list[InputFile]) -> None:
    """Journal each input file's hash (already computed when it was read) so ``mlsitter verify`` checks it."""
    for item in recorded:
        ctx.record_file(f"{name} {item.path}", item.path, sha256=item.sha256)


_LOCK = threading.Lock()
_KEPT: dict[InputFile, Any] = {}  # what a step read, until the story takes it (once) in the same process


def _keep(recorded: InputFile, value: Any) -> None:
    with _LOCK:
        _KEPT[recorded] = value


def _stat(location: str) -> tuple[int, int] | None:
    try:
        st = os.stat(Path(location).expanduser())
    except (OSError, ValueError):
        return None
    return (st.st_size, st.st_mtime_ns)
