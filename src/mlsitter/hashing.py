"""Content hashes of files and folders, shared by the runtime (artifacts, verify) and ml/ (the registry)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable

_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tree_sha256(path: str | Path, exclude: Iterable[str] = ()) -> str:
    """Hex SHA-256 over every file under ``path``: relative name and content hash, sorted by name.

    ``exclude`` names files (relative POSIX paths) that change after the folder is written and are skipped.
    """
    root = Path(path)
    skip = set(exclude)
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = file.relative_to(root).as_posix()
        if rel in skip:
            continue
        digest.update(rel.encode() + b"\0")
        digest.update(bytes.fromhex(file_sha256(file)))
    return digest.hexdigest()
