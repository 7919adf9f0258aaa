"""Content-addressed artifact files: ``artifacts/ab/abcdef….ext``; a file's name is its SHA-256."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable

from mlsitter.errors import DataError
from mlsitter.hashing import file_sha256, tree_sha256

_MEDIA = {
    ".parquet": "application/vnd.apache.parquet",
    ".npy": "application/x-npy",
    ".pkl": "application/x-python-pickle",
    ".md": "text/markdown",
    ".jsonl": "application/x-ndjson",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".csv": "text/csv",
}


def media_type_for(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return _MEDIA.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def suffix_for(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return suffix if suffix.isascii() and suffix[1:].isalnum() and len(suffix) <= 10 else ""


@dataclass(frozen=True)
class ArtifactRef:
    """A stored artifact: ``path`` is the content-addressed file; ``sha256`` proves its content."""

    name: str
    sha256: str
    media_type: str
    size: int
    path: str

    def read_bytes(self) -> bytes:
        return Path(self.path).read_bytes()


@dataclass(frozen=True)
class RecordedFile:
    """A file or folder kept where the run wrote it, with the content hash ``verify`` checks it against.

    ``path`` is relative to the store home when the file lies inside it (so the store can move)."""

    name: str
    path: str
    kind: str
    sha256: str
    size: int
    exclude: tuple[str, ...] = ()


def record_file(home: Path, name: str, path: Path, exclude: tuple[str, ...] = (), sha256: str | None = None) -> RecordedFile:
    """Hash ``path`` (a file, or a folder's files by relative name) for the journal; ``sha256`` is a file's hash
    its reader computed as it read it, so a large input is not read once more."""
    resolved = path.resolve()
    if resolved.is_file():
        kind, digest, size = "file", sha256 or file_sha256(resolved), resolved.stat().st_size
    elif resolved.is_dir():
        files = [p for p in resolved.rglob("*") if p.is_file()]
        kind, digest, size = "tree", tree_sha256(resolved, exclude), sum(p.stat().st_size for p in files)
    else:
        raise DataError(f"recorded file {name!r}: {str(path)!r} does not exist")
    shown = resolved.relative_to(home).as_posix() if resolved.is_relative_to(home) else str(resolved)
    return RecordedFile(name, shown, kind, digest, size, exclude)


class ArtifactStore:
    """Write-once files named by their content hash."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str, suffix: str = "") -> Path:
        return self.root / sha256[:2] / f"{sha256}{suffix}"

    def find(self, sha256: str) -> Path | None:
        folder = self.root / sha256[:2]
        if not folder.is_dir():
            return None
        for p in folder.iterdir():
            if p.name.split(".", 1)[0] == sha256:
                return p
        return None

    def put_bytes(self, data: bytes, name: str) -> ArtifactRef:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path_for(digest, suffix_for(name))
        if not target.exists():
            self._write_atomic(target, lambda fh: fh.write(data))
        return ArtifactRef(name, digest, media_type_for(name), len(data), str(target))

    def put_file(self, source: str | Path, name: str | None = None) -> ArtifactRef:
        source = Path(source)
        name = name or source.name
        digest = file_sha256(source)
        target = self.path_for(digest, suffix_for(name))
        if not target.exists():
            self._write_atomic(target, lambda out: shutil.copyfileobj(source.open("rb"), out, 1 << 20))
        return ArtifactRef(name, digest, media_type_for(name), source.stat().st_size, str(target))

    def _write_atomic(self, target: Path, write: Callable[[IO[bytes]], object]) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read_verified(self, sha256: str) -> bytes:
        """The artifact's bytes, only if they still hash to ``sha256``."""
        path = self.find(sha256)
        if path is None:
            raise FileNotFoundError(f"artifact {sha256} is missing from {self.root}")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError(f"artifact {path} was modified: its content no longer matches sha256 {sha256}")
        return data

    def check(self, sha256: str) -> str | None:
        """None when the artifact exists and hashes right, else what is wrong."""
        path = self.find(sha256)
        if path is None:
            return "file is missing"
        return None if file_sha256(path) == sha256 else f"content of {path} was modified"

    def resolve_inside(self, relative: str) -> Path:
        """Resolve a path under the store; refuse anything that escapes it (``..``, absolute, links)."""
        root = self.root.resolve()
        candidate = (root / relative).resolve()
        if candidate != root and root not in candidate.parents:
            raise PermissionError(f"artifact path {relative!r} points outside the artifact store")
        return candidate
