"""Dataset versions: a content hash of the clean data (same data in -> same id), a manifest with
sources, row counts, schema hash and parent version, kept in a folder per dataset for lineage."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from mlsitter.naming import stable_name

MANIFEST = "manifest.json"
LATEST = "LATEST"


@stable_name("ml.data.DatasetManifest")
@dataclass
class DatasetManifest:
    """What a dataset version is made of; written beside its Parquet data."""

    version: str
    dataset: str
    content_sha256: str
    rows: int
    columns: list[str]
    schema_sha256: str
    parent: str | None
    sources: list[dict[str, Any]]
    rows_in: int
    rows_quarantined: int
    created_at: str
    data_path: str
    extra: dict[str, Any] = field(default_factory=dict)


def content_hash(frame: pd.DataFrame) -> str:
    """sha256 over column names, dtypes and pandas' per-row hashes (row order counts, the index does not)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode())
    if len(frame):
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def version_id(content_sha256: str) -> str:
    return "dv-" + content_sha256[:16]


def latest_version(registry: str | Path) -> str | None:
    """The newest version recorded in a dataset folder, or None for a new dataset."""
    pointer = Path(registry) / LATEST
    return pointer.read_text(encoding="utf-8").strip() or None if pointer.is_file() else None


def read_manifest(registry: str | Path, version: str) -> DatasetManifest:
    data = json.loads((Path(registry) / version / MANIFEST).read_text(encoding="utf-8"))
    return DatasetManifest(**data)


def register_version(
    clean_path: str | Path,
    registry: str | Path,
    *,
    dataset: str,
    schema_sha256: str,
    sources: list[dict[str, Any]],
    rows_in: int,
    rows_quarantined: int,
    created_at: str,
    extra: dict[str, Any] | None = None,
) -> DatasetManifest:
    """Hash the clean Parquet's data, store it as ``<registry>/<version>/data.parquet`` with a manifest.

    The same data gives the same version: its manifest is kept (with its original parent) and
    LATEST points at it again. New data gets the previous LATEST as its parent.
    """
    frame = pd.read_parquet(clean_path)
    sha = content_hash(frame)
    version = version_id(sha)
    root = Path(registry)
    folder = root / version
    if (folder / MANIFEST).is_file():
        manifest = read_manifest(root, version)
    else:
        folder.mkdir(parents=True, exist_ok=True)
        data_path = folder / "data.parquet"
        shutil.copyfile(clean_path, data_path)
        manifest = DatasetManifest(
            version=version, dataset=dataset, content_sha256=sha, rows=len(frame), columns=[str(c) for c in frame.columns],
            schema_sha256=schema_sha256, parent=latest_version(root), sources=sources, rows_in=rows_in,
            rows_quarantined=rows_quarantined, created_at=created_at, data_path=str(data_path), extra=extra or {},
        )
        (folder / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2, default=str), encoding="utf-8")
    (root / LATEST).write_text(version, encoding="utf-8")
    return manifest


def lineage(registry: str | Path, version: str, limit: int = 50) -> list[str]:
    """The version and its ancestors, newest first."""
    chain = [version]
    while len(chain) < limit:
        try:
            parent = read_manifest(registry, chain[-1]).parent
        except FileNotFoundError:
            break
        if not parent or parent in chain:
            break
        chain.append(parent)
    return chain
