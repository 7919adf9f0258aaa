"""URLs of dashboard pages and artifact files (artifact files are addressed by their path in the store)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from mlsitter.runtime.store import Store


def run_url(run_id: str) -> str:
    return f"/runs/{quote(run_id, safe='')}"


def artifact_page_url(run_id: str, sha256: str) -> str:
    return f"{run_url(run_id)}/artifacts/{quote(sha256, safe='')}"


def file_url(store: Store, sha256: str, name: str = "", *, download: bool = False) -> str | None:
    """URL of an artifact's stored file, or None when the file is missing from the store."""
    path = store.artifacts.find(sha256) if is_sha(sha256) else None
    if path is None:
        return None
    rel = path.relative_to(store.artifacts.root).as_posix()
    query = {k: v for k, v in (("name", name), ("download", "1" if download else "")) if v}
    return f"/files/{quote(rel)}" + ("?" + urlencode(query) if query else "")


def is_sha(value: str) -> bool:
    """True for a lowercase hex SHA-256 digest (artifact ids)."""
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)
