"""How an artifact is shown inline: reports in a sandboxed frame, plots as images, tables as tables."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_ROWS = 200
MAX_TEXT = 200_000
IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml"}
TEXT_TYPES = {"text/plain", "text/markdown", "application/yaml", "application/x-ndjson", "text/x-python"}


@dataclass
class Preview:
    """``kind`` is one of html, image, table, json, text, binary."""

    kind: str
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    total_rows: int | None = None
    text: str = ""
    note: str = ""


def preview_kind(media_type: str) -> str:
    """The inline kind for a media type, before reading the file."""
    if media_type == "text/html":
        return "html"
    if media_type in IMAGE_TYPES:
        return "image"
    if media_type in ("text/csv", "text/tab-separated-values", "application/vnd.apache.parquet"):
        return "table"
    if media_type == "application/json":
        return "json"
    if media_type in TEXT_TYPES or media_type.startswith("text/"):
        return "text"
    return "binary"


def build_preview(path: Path, media_type: str) -> Preview:
    """Read just enough of the file to show it; unreadable content falls back to a download."""
    kind = preview_kind(media_type)
    try:
        if kind == "table" and media_type == "application/vnd.apache.parquet":
            return _parquet(path)
        if kind == "table":
            return _delimited(path, "\t" if media_type == "text/tab-separated-values" else ",")
        if kind == "json":
            return _json(path)
        if kind == "text":
            return Preview("text", text=_head_text(path))
    except (OSError, ValueError, UnicodeDecodeError, csv.Error) as exc:
        return Preview("binary", note=f"cannot be shown inline ({exc}); download it instead")
    return Preview(kind)


def _head_text(path: Path) -> str:
    with path.open("rb") as fh:
        data = fh.read(MAX_TEXT + 1)
    text = data[:MAX_TEXT].decode("utf-8", errors="replace")
    return text + ("\n… (truncated; download for the whole file)" if len(data) > MAX_TEXT else "")


def _delimited(path: Path, delimiter: str) -> Preview:
    with path.open("r", encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        header = next(reader, [])
        rows, total = [], 0
        for row in reader:
            total += 1
            if len(rows) < MAX_ROWS:
                rows.append(row)
    return Preview("table", columns=header, rows=rows, total_rows=total)


def _parquet(path: Path) -> Preview:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return Preview("binary", note="install mlsitter[data] to show Parquet tables inline")
    pf = pq.ParquetFile(path)
    batch = next(pf.iter_batches(batch_size=MAX_ROWS), None)
    columns = [str(c) for c in pf.schema_arrow.names]
    rows = [[r.get(c) for c in columns] for r in batch.to_pylist()] if batch is not None else []
    return Preview("table", columns=columns, rows=rows, total_rows=pf.metadata.num_rows)


def _json(path: Path) -> Preview:
    text = _head_text(path)
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return Preview("text", text=text)
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value[:MAX_ROWS]):
        columns: list[str] = []
        for item in value[:MAX_ROWS]:
            columns += [k for k in item if k not in columns]
        rows = [[item.get(c) for c in columns] for item in value[:MAX_ROWS]]
        return Preview("table", columns=columns, rows=rows, total_rows=len(value))
    return Preview("json", text=json.dumps(value, indent=2, ensure_ascii=False, default=str))
