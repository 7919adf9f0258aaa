"""Read tabular data from files and databases into pandas, with clear errors for bad sources.

Formats: CSV/TSV (delimiter and encoding detected unless given), Parquet, JSON / JSON Lines, Excel,
and SQL (SQLite file, DuckDB file, or any SQLAlchemy URL with a query or table).
"""

from __future__ import annotations

import csv
import difflib
import gzip
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from mlsitter.errors import DataError, SpecError
from mlsitter.naming import ADDED_LATER, stable_name

_TEXT_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".txt": "csv", ".data": "csv", ".tab": "tsv"}
_FORMAT_BY_SUFFIX = {
    **_TEXT_SUFFIXES,
    ".parquet": "parquet", ".pq": "parquet",
    ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".xlsx": "excel", ".xlsm": "excel", ".xls": "excel",
    ".db": "sqlite", ".sqlite": "sqlite", ".sqlite3": "sqlite",
    ".duckdb": "duckdb", ".ddb": "duckdb",
}
FORMATS = ("csv", "tsv", "parquet", "json", "jsonl", "excel", "sqlite", "duckdb", "sql")
_SQL_URL = re.compile(r"^[a-z][a-z0-9+]*://", re.IGNORECASE)
_SNIFF_BYTES = 64 * 1024
# Text read as missing unless na_values says otherwise: the empty field (always missing) and the spellings
# pandas and numpy write for a missing float. Words such as "None" or "NA" stay values: they are real
# categories in public datasets (a masonry type "None", a region "NA").
DEFAULT_NA_VALUES = ("", "NaN", "nan")


@stable_name("ml.io.SourceSpec")
@dataclass(frozen=True)
class SourceSpec:
    """One data source: a file path or a SQL URL, plus how to read it (None = detect)."""

    location: str
    name: str = ""
    format: str | None = None
    delimiter: str | None = None
    encoding: str | None = None
    header: bool | None = None
    columns: tuple[str, ...] = ()
    na_values: tuple[str, ...] = ()
    date_format: str | None = field(default=None, metadata=ADDED_LATER)
    query: str | None = None
    table: str | None = None
    sheet: str | int | None = None

    @property
    def label(self) -> str:
        path = Path(self.location)
        return self.name or (Path(path.stem) if path.suffix.lower() == ".gz" else path).stem or self.location


@stable_name("ml.io.SourceInfo")
@dataclass
class SourceInfo:
    """What was detected while reading a source (recorded in manifests and reports)."""

    name: str
    location: str
    format: str
    rows: int
    columns: int
    delimiter: str | None = None
    encoding: str | None = None
    header: bool | None = None
    notes: list[str] = field(default_factory=list)
    na_values: list[str] = field(default_factory=list)
    missing_tokens: dict[str, dict[str, int]] = field(default_factory=dict)


def parse_sources(data: str | Sequence[Any], **defaults: Any) -> list[SourceSpec]:
    """Turn the ``data`` input into source specs.

    ``data`` is a path/URL, a comma-separated string of them, a list of them, or a list of dicts
    with SourceSpec fields. An item may be prefixed ``name=`` to name the source. ``defaults``
    (delimiter, encoding, query, table, ...) apply to every source that does not set them.
    ``na_values`` replaces :data:`DEFAULT_NA_VALUES` (the empty field stays missing).
    """
    if isinstance(data, str):
        items: list[Any] = [part.strip() for part in data.split(",") if part.strip()]
    else:
        items = list(data)
    if not items:
        raise SpecError("data: expected at least one source (a path, a SQL URL, or a list of them); got nothing")
    specs: list[SourceSpec] = []
    allowed = set(SourceSpec.__dataclass_fields__)
    clean_defaults = {k: v for k, v in defaults.items() if v not in (None, "", (), [])}
    for item in items:
        if isinstance(item, SourceSpec):
            specs.append(item)
            continue
        if isinstance(item, Mapping):
            fields = dict(item)
            if "path" in fields or "url" in fields:
                fields["location"] = fields.pop("path", None) or fields.pop("url")
            unknown = set(fields) - allowed
            if unknown:
                raise SpecError(f"source {item!r}: unknown field(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
        else:
            text = str(item).strip()
            match = re.match(r"^([A-Za-z_][\w.-]*)=(.+)$", text)
            fields = {"name": match.group(1), "location": match.group(2)} if match and not _SQL_URL.match(text) else {"location": text}
        merged = {**clean_defaults, **{k: v for k, v in fields.items() if v is not None}}
        for key in ("columns", "na_values"):
            value = merged.get(key)
            if isinstance(value, str):
                merged[key] = tuple(v.strip() for v in value.split(",") if v.strip()) if key == "columns" else (value,)
            elif value is not None:
                merged[key] = tuple(value)
        if merged.get("date_format"):
            from mlsitter.ml.io._dates import check_date_format

            check_date_format(merged["date_format"])
        if merged.get("format") and merged["format"] not in FORMATS:
            raise SpecError(f"source {merged['location']!r}: format {merged['format']!r} is not one of {', '.join(FORMATS)}")
        specs.append(SourceSpec(**merged))
    names = [s.label for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        specs = [replace(s, name=f"{s.label}_{i + 1}") if s.label in dupes else s for i, s in enumerate(specs)]
    return specs


def detect_format(spec: SourceSpec) -> str:
    """The format of a source: the one given, else from the URL scheme or the file suffix."""
    if spec.format:
        return spec.format
    if _SQL_URL.match(spec.location):
        scheme = spec.location.split(":", 1)[0].lower()
        return "sqlite" if scheme == "sqlite" else ("duckdb" if scheme == "duckdb" else "sql")
    suffix = Path(spec.location).suffix.lower()
    if suffix == ".gz":
        suffix = Path(Path(spec.location).stem).suffix.lower()
    return _FORMAT_BY_SUFFIX.get(suffix, "csv")


def read_source(spec: SourceSpec) -> tuple[pd.DataFrame, SourceInfo]:
    """Read one source into a pandas frame; bad input raises DataError naming the source and the fix."""
    fmt = detect_format(spec)
    if fmt in ("sql",) or _SQL_URL.match(spec.location):
        frame, info = _read_sql(spec, fmt)
    else:
        path = _source_file(spec, fmt)
        if fmt in ("csv", "tsv"):
            frame, info = _read_delimited(spec, path, fmt)
        elif fmt == "parquet":
            frame, info = _read_with(spec, path, fmt, lambda: pd.read_parquet(path))
        elif fmt in ("json", "jsonl"):
            frame, info = _read_json(spec, path)
        elif fmt == "excel":
            frame, info = _read_with(spec, path, fmt, lambda: pd.read_excel(path, sheet_name=spec.sheet if spec.sheet is not None else 0))
        elif fmt in ("sqlite", "duckdb"):
            frame, info = _read_sql(spec, fmt)
        else:
            raise SpecError(f"source '{spec.label}': format {fmt!r} is not one of {', '.join(FORMATS)}")
    return _checked(spec, frame, info)


def read_source_polars(spec: SourceSpec) -> tuple[Any, SourceInfo]:
    """Read one source into a polars frame; a Parquet file is read by polars itself, without a pandas copy
    (NaN read as missing, as the pandas route gives it)."""
    import polars as pl

    from mlsitter.ml.io._frames import as_polars

    fmt = detect_format(spec)
    if fmt != "parquet" or _SQL_URL.match(spec.location):
        frame, info = read_source(spec)
        return as_polars(frame), info
    path = _source_file(spec, fmt)
    table, info = _read_with(spec, path, fmt, lambda: pl.read_parquet(path))
    floats = [c for c, t in table.schema.items() if t.is_float()]
    return _checked(spec, table.with_columns(pl.col(floats).fill_nan(None)) if floats else table, info)


def _source_file(spec: SourceSpec, fmt: str) -> Path:
    """The source's file, refused with the reason when it is missing, a folder or empty."""
    path = Path(spec.location).expanduser()
    if not path.exists():
        raise DataError(f"source '{spec.label}': file {str(path)!r} does not exist; expected a readable {fmt} file")
    if path.is_dir():
        raise DataError(f"source '{spec.label}': {str(path)!r} is a directory; expected a {fmt} file")
    if path.stat().st_size == 0:
        raise DataError(f"source '{spec.label}': file {str(path)!r} is empty (0 bytes); expected a header and data rows")
    return path


def _checked(spec: SourceSpec, frame: Any, info: SourceInfo) -> Any:
    """(frame, info) once the frame has columns and rows, with string column names and its shape in ``info``."""
    if frame.shape[1] == 0:
        raise DataError(f"source '{spec.label}': {spec.location!r} has no columns")
    if len(frame) == 0:
        raise DataError(f"source '{spec.label}': {spec.location!r} has columns {list(frame.columns)[:10]} but no data rows")
    frame.columns = [str(c) for c in frame.columns]
    info.rows, info.columns = int(len(frame)), int(frame.shape[1])
    return frame, info


def _read_with(spec: SourceSpec, path: Path, fmt: str, reader: Any) -> tuple[pd.DataFrame, SourceInfo]:
    try:
        frame = reader()
    except Exception as exc:  # the reader's own message names the defect; add which source and format
        raise DataError(f"source '{spec.label}': cannot read {str(path)!r} as {fmt}: {exc}") from exc
    return frame, SourceInfo(spec.label, str(path), fmt, 0, 0)


def _read_json(spec: SourceSpec, path: Path) -> tuple[pd.DataFrame, SourceInfo]:
    head = _first_bytes(path)
    _reject_binary(spec, path, head)
    first = head.lstrip()[:1]
    lines = spec.format == "jsonl" or (spec.format != "json" and first == b"{" and path.suffix.lower() != ".json") or (
        first == b"{" and b"\n{" in head.strip()
    )
    frame, info = _read_with(spec, path, "jsonl" if lines else "json", lambda: pd.read_json(path, lines=lines, dtype=False))
    return frame, info


def _first_bytes(path: Path) -> bytes:
    """The first bytes of the text a file holds (decompressed for ``.gz``), for sniffing its encoding and shape."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as handle:
        return handle.read(_SNIFF_BYTES)


def _reject_binary(spec: SourceSpec, path: Path, head: bytes) -> None:
    if b"\x00" in head[:8192]:
        offset = head.index(b"\x00")
        kind = "Parquet" if head[:4] == b"PAR1" else ("Excel/zip" if head[:2] == b"PK" else "binary")
        raise DataError(
            f"source '{spec.label}': {str(path)!r} looks like a {kind} file (NUL byte at offset {offset}), "
            "not text; expected a text CSV/TSV/JSON file, or give format=parquet/excel for binary formats"
        )


def detect_encoding(head: bytes) -> str:
    """utf-8 when the sample decodes as utf-8 (a BOM gives utf-8-sig), else charset-normalizer's best guess."""
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a multi-byte character cut by the sample boundary
            return "utf-8"
    from charset_normalizer import from_bytes

    matches = list(from_bytes(head))
    if not matches:
        return "latin-1"
    top = (matches[0].chaos, matches[0].coherence)
    tied = [m.encoding for m in matches if (m.chaos, m.coherence) == top]
    return "cp1252" if "cp1252" in tied else tied[0]  # on a tie, the most common Western legacy encoding


def detect_delimiter(text: str) -> str:
    """The delimiter among , ; tab | that splits the sample's lines into the most consistent columns."""
    lines = [line for line in text.splitlines()[:200] if line.strip()]
    if len(lines) > 1:
        lines = lines[:-1]  # the last sampled line may be cut
    best, best_key = ",", (-1.0, 0)
    for delim in (",", ";", "\t", "|"):
        counts = [len(next(csv.reader([line], delimiter=delim))) for line in lines] or [1]
        mode = max(set(counts), key=counts.count)
        consistency = counts.count(mode) / len(counts)
        key = (consistency if mode > 1 else 0.0, mode)
        if key > best_key:
            best, best_key = delim, key
    return best


def _read_delimited(spec: SourceSpec, path: Path, fmt: str) -> tuple[pd.DataFrame, SourceInfo]:
    head = _first_bytes(path)
    _reject_binary(spec, path, head)
    notes: list[str] = []
    encoding = spec.encoding or detect_encoding(head)
    text = head.decode(encoding, errors="replace")
    delimiter = spec.delimiter or ("\t" if fmt == "tsv" else detect_delimiter(text))
    if delimiter in ("\\t", "tab"):
        delimiter = "\t"
    header = spec.header
    if header is None:
        header = bool(spec.columns) is False and _has_header(text, delimiter)
        if not header:
            notes.append("no header row detected; " + ("names from columns=" if spec.columns else "columns named col_1..col_n"))
    tokens = na_tokens(spec)
    try:
        frame = pd.read_csv(
            path, sep=delimiter, encoding=encoding, header=0 if header else None,
            names=list(spec.columns) if spec.columns else None,
            keep_default_na=False, na_values=list(tokens), skipinitialspace=True, low_memory=False,
        )
        if header and not spec.columns:  # names exactly as written: skipinitialspace would strip their leading spaces
            written = pd.read_csv(path, sep=delimiter, encoding=encoding, header=0, nrows=0).columns
            if len(written) == frame.shape[1]:
                frame.columns = [str(c) for c in written]
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"source '{spec.label}': {str(path)!r} has no data ({exc})") from exc
    except pd.errors.ParserError as exc:
        raise DataError(
            f"source '{spec.label}': {str(path)!r} is not a well-formed CSV with delimiter {delimiter!r}: {exc}; "
            "check the delimiter (input delimiter=...) and quoting"
        ) from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"source '{spec.label}': {str(path)!r} is not valid {encoding} text ({exc}); give encoding=...") from exc
    if not header and not spec.columns:
        frame.columns = [f"col_{i + 1}" for i in range(frame.shape[1])]
    _check_delimiter_fit(spec, path, frame, delimiter, text)
    for col in frame.columns:
        if frame[col].dtype == object:
            stripped = frame[col].str.strip()
            if not stripped.equals(frame[col]):
                frame[col] = stripped
    counts = _missing_token_counts(path, frame, delimiter, encoding, header, tokens)
    return frame, SourceInfo(spec.label, str(path), fmt, 0, 0, delimiter=delimiter, encoding=encoding, header=header, notes=notes,
                             na_values=list(tokens), missing_tokens=counts)


def na_tokens(spec: SourceSpec) -> tuple[str, ...]:
    """The text read as missing for a source: its ``na_values`` (plus the empty field), else the defaults."""
    if not spec.na_values:
        return DEFAULT_NA_VALUES
    return ("", *[t for t in spec.na_values if t != ""])


def _missing_token_counts(path: Path, frame: pd.DataFrame, delimiter: str, encoding: str, header: bool,
                          tokens: Sequence[str]) -> dict[str, dict[str, int]]:
    """Per column with missing cells, how many of each token were read as missing (the raw text re-read)."""
    with_missing = [i for i, c in enumerate(frame.columns) if frame[c].isna().any()]
    if not with_missing:
        return {}
    raw = pd.read_csv(path, sep=delimiter, encoding=encoding, header=0 if header else None, usecols=with_missing,
                      dtype=str, keep_default_na=False, na_filter=False, skipinitialspace=True, low_memory=False)
    out: dict[str, dict[str, int]] = {}
    for position, index in enumerate(sorted(with_missing)):
        counts = raw.iloc[:, position].value_counts()
        found = {token: int(counts[token]) for token in tokens if token in counts.index}
        if found:
            out[str(frame.columns[index])] = found
    return out


def _has_header(text: str, delimiter: str) -> bool:
    """True when the first row looks like names (csv.Sniffer's heuristic; a text-only sample counts as a header)."""
    sample = "\n".join(text.splitlines()[:50])
    try:
        return csv.Sniffer().has_header(sample)
    except csv.Error:
        return True


def _check_delimiter_fit(spec: SourceSpec, path: Path, frame: pd.DataFrame, delimiter: str, text: str) -> None:
    """A one-column parse of a file whose first line splits on another delimiter is a wrong delimiter."""
    if frame.shape[1] != 1:
        return
    first = text.splitlines()[0] if text else ""
    for other in (",", ";", "\t", "|"):
        if other != delimiter and first.count(other) >= 1:
            raise DataError(
                f"source '{spec.label}': {str(path)!r} parsed with delimiter {delimiter!r} gives 1 column, but its first "
                f"line contains {first.count(other)} {other!r}; the file looks {other!r}-separated: give delimiter={other!r}"
            )


def _read_sql(spec: SourceSpec, fmt: str) -> tuple[pd.DataFrame, SourceInfo]:
    location = spec.location
    if fmt in ("sqlite", "duckdb") and not _SQL_URL.match(location):
        path = Path(location).expanduser()
    elif fmt in ("sqlite", "duckdb"):
        path = Path(re.sub(r"^[a-z]+:///?", "", location, flags=re.IGNORECASE)).expanduser()
        if location.lower().startswith(("sqlite:////", "duckdb:////")):
            path = Path("/" + str(path).lstrip("/"))
    else:
        path = None
    if path is not None and not path.exists():
        raise DataError(f"source '{spec.label}': database file {str(path)!r} does not exist; expected a {fmt} database")
    query = spec.query
    try:
        if fmt == "duckdb":
            import duckdb

            con = duckdb.connect(str(path), read_only=True)
            try:
                tables = [r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()]
                query = query or _default_query(spec, tables)
                frame = con.execute(query).df()
            finally:
                con.close()
        elif fmt == "sqlite":
            import sqlite3

            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
                tables = [r[0] for r in con.execute("select name from sqlite_master where type in ('table','view')")]
                query = query or _default_query(spec, tables)
                frame = pd.read_sql_query(query, con)
        else:
            import sqlalchemy as sa

            engine = sa.create_engine(location)
            try:
                tables = sa.inspect(engine).get_table_names()
                query = query or _default_query(spec, tables)
                with engine.connect() as con:
                    frame = pd.read_sql_query(sa.text(query), con)
            finally:
                engine.dispose()
    except (DataError, SpecError):
        raise
    except Exception as exc:
        raise DataError(f"source '{spec.label}': query {query!r} on {location!r} failed: {exc}") from exc
    return frame, SourceInfo(spec.label, location, fmt, 0, 0, notes=[f"query: {query}"])


def _default_query(spec: SourceSpec, tables: list[str]) -> str:
    if spec.table:
        if spec.table not in tables:
            raise DataError(f"source '{spec.label}': table {spec.table!r} is not in {spec.location!r}; tables: {', '.join(tables) or '(none)'}")
        return f'SELECT * FROM "{spec.table}"'
    if len(tables) == 1:
        return f'SELECT * FROM "{tables[0]}"'
    raise DataError(
        f"source '{spec.label}': {spec.location!r} has {len(tables)} tables ({', '.join(tables) or 'none'}); "
        "give query=... or table=... to say what to read"
    )


def require_columns(frame: Any, columns: Iterable[str] | str | None, option: str, source: str = "the data") -> list[str]:
    """Check that every column named in an option exists; DataError names the option and near matches."""
    if columns is None:
        return []
    names = [c.strip() for c in columns.split(",")] if isinstance(columns, str) else [str(c) for c in columns]
    names = [n for n in names if n]
    present = [str(c) for c in frame.columns]
    missing = [n for n in names if n not in present]
    if missing:
        hints = []
        for name in missing:
            same = [c for c in present if c.strip().casefold() == name.strip().casefold()]  # spaces or case differ
            close = same or difflib.get_close_matches(name, present, n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        shown = ", ".join(present[:30]) + (" ..." if len(present) > 30 else "")
        raise DataError(f"{option}: column {', '.join(hints)} is not in {source}; its columns are: {shown}")
    return names


def load_table(data: str | Sequence[Any], **options: Any) -> pd.DataFrame:
    """Read exactly one source (for processes that analyse a single table) into a pandas frame."""
    specs = parse_sources(data, **options)
    if len(specs) != 1:
        raise SpecError(f"data: expected one source, got {len(specs)} ({', '.join(s.label for s in specs)}); "
                        "use data-validation to combine several sources")
    frame, _ = read_source(specs[0])
    return frame
