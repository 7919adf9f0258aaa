"""Where the journal lives: SQLite in the home folder (the default) or PostgreSQL (``$MLSITTER_DB``).

The store writes one SQL, SQLite's. :class:`PostgresConnection` gives psycopg 3 the same face as
``sqlite3.Connection`` (``execute``/``executemany``, rows readable by position and by name) and turns
the few SQLite spellings into PostgreSQL's (``?`` placeholders, ``INSERT OR IGNORE``, ``BEGIN IMMEDIATE``,
``REAL``). What differs in substance (how a fenced insert locks the lease, the DDL, which errors
mean "the database is busy") is a :class:`Dialect`.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Protocol, Sequence

from mlsitter.errors import JournalCorruptError

if TYPE_CHECKING:
    import psycopg

DB_ENV = "MLSITTER_DB"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
CONNECT_TIMEOUT_S = 10


class Cursor(Protocol):
    """What the store reads from a statement's result (``sqlite3.Cursor`` and psycopg's cursor both do)."""

    @property
    def rowcount(self) -> int: ...

    @property
    def description(self) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """The part of ``sqlite3.Connection`` the store uses; :class:`PostgresConnection` has it too."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Dialect:
    """What differs between the two databases beyond spelling."""

    name: str
    fenced_insert: str
    """Append an event only while the writer holds the run's lease (one statement, no write to the run row)."""
    tables: str
    """The names of the store's tables that exist (to tell an empty database from a foreign one)."""
    errors: tuple[type[Exception], ...]
    json_text: str
    """A JSON text column's top-level ``key`` as text, to compare in SQL (``.format(column=..., key=...)``)."""


_FENCE = ("INSERT INTO events SELECT ?,?,?,?,?,?,? WHERE EXISTS"
          " (SELECT 1 FROM runs WHERE run_id=? AND lock_owner=?{lock})")
_STORE_TABLES = "('meta', 'runs', 'events')"

SQLITE = Dialect(
    name="sqlite",
    # SQLite has one writer at a time: the check and the insert cannot be split by a takeover.
    fenced_insert=_FENCE.format(lock=""),
    tables=f"SELECT name FROM sqlite_master WHERE type='table' AND name IN {_STORE_TABLES}",
    errors=(sqlite3.Error,),
    json_text="json_extract({column}, '$.{key}')",
)


def postgres_dialect() -> Dialect:
    """PostgreSQL: the fence takes a share lock on the run row, so a takeover (an UPDATE of ``lock_owner``)
    waits for the insert to commit, and an insert that waits for a takeover re-checks the new owner."""
    import psycopg

    return Dialect(
        name="postgresql",
        fenced_insert=_FENCE.format(lock=" FOR SHARE"),
        tables=("SELECT table_name FROM information_schema.tables WHERE table_schema=current_schema()"
                f" AND table_name IN {_STORE_TABLES}"),
        errors=(psycopg.Error,),
        json_text="({column}::jsonb ->> '{key}')",
    )


# SQLite functions the dashboard's read queries use, defined once per PostgreSQL database.
POSTGRES_FUNCTIONS = (
    "CREATE OR REPLACE FUNCTION json_extract(doc text, path text) RETURNS jsonb LANGUAGE sql IMMUTABLE"
    " AS $$ SELECT doc::jsonb #> string_to_array(substr(path, 3), '.') $$",
    "CREATE OR REPLACE FUNCTION instr(haystack text, needle text) RETURNS integer LANGUAGE sql IMMUTABLE"
    " AS $$ SELECT strpos(haystack, needle) $$",
)


def postgres_ddl(sqlite_script: str) -> list[str]:
    """SQLite's schema script as PostgreSQL statements: exact doubles for times (SQLite's REAL is 8 bytes,
    PostgreSQL's 4), 64-bit integers, no ``WITHOUT ROWID``."""
    script = re.sub(r"\bREAL\b", "DOUBLE PRECISION", sqlite_script)
    script = re.sub(r"\bINTEGER\b", "BIGINT", script).replace("WITHOUT ROWID", "")
    return [s.strip() for s in script.split(";") if s.strip()]


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and str(url).startswith(POSTGRES_SCHEMES)


def check_db_url(url: str) -> None:
    """Refuse an ``MLSITTER_DB`` that is not a PostgreSQL URL (SQLite needs none: it lives in the home)."""
    if not is_postgres_url(url):
        raise JournalCorruptError(
            f"{DB_ENV}={redact(url)!r} is not a PostgreSQL URL: expected postgresql://USER[:PASSWORD]@HOST[:PORT]/"
            f"DATABASE, or leave {DB_ENV} unset for the SQLite journal in MLSITTER_HOME"
        )


def redact(url: str) -> str:
    """The URL without its password, for messages and listings."""
    url = re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", url)


def connect_postgres(url: str) -> "PostgresConnection":
    """An autocommit connection to the journal database; each failure to reach it is said in one line."""
    try:
        import psycopg
    except ImportError:
        raise JournalCorruptError(
            f"{DB_ENV} names a PostgreSQL journal, but psycopg is not installed: "
            "pip install 'mlsitter[postgres]'"
        ) from None
    try:
        params = psycopg.conninfo.conninfo_to_dict(url)
        params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
        params.setdefault("application_name", "mlsitter")
        conn = psycopg.connect(autocommit=True, **params)  # type: ignore[arg-type]
    except psycopg.Error as exc:
        raise JournalCorruptError(
            f"cannot open the PostgreSQL journal {redact(url)} ({DB_ENV}): {_first_line(exc)}. "
            "Check the host, port, user, password and database name, and that the server is running."
        ) from None
    return PostgresConnection(conn)


def _first_line(exc: BaseException) -> str:
    """libpq's reason, without its hint line (the message gives its own)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__).removeprefix("connection failed: ").rstrip(".")


class Row(tuple[Any, ...]):
    """A result row readable by position and by column name, like ``sqlite3.Row``."""

    _index: dict[str, int]

    def __new__(cls, values: Sequence[Any], index: dict[str, int]) -> "Row":
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return super().__getitem__(self._index[key])
        return super().__getitem__(key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor: Any) -> Any:
    names = [c.name for c in cursor.description or ()]
    index = {name: i for i, name in enumerate(names)}

    def make(values: Sequence[Any]) -> Row:
        return Row(values, index)

    return make


class PostgresConnection:
    """psycopg 3 behind ``sqlite3.Connection``'s methods: autocommit, ``BEGIN``/``COMMIT`` spelled out."""

    def __init__(self, conn: "psycopg.Connection[Any]") -> None:
        self.raw = conn
        conn.row_factory = _row_factory

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any:
        if parameters:
            return self.raw.execute(translate(sql, True), tuple(parameters))
        return self.raw.execute(translate(sql, False))

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any:
        cursor = self.raw.cursor()
        cursor.executemany(translate(sql, True), [tuple(p) for p in parameters])
        return cursor

    def executescript(self, script: str) -> None:
        for statement in postgres_ddl(script):
            self.execute(statement)

    def close(self) -> None:
        self.raw.close()


@functools.lru_cache(maxsize=512)
def translate(sql: str, has_params: bool) -> str:
    """SQLite's spelling of one statement in PostgreSQL's: ``?`` becomes ``%s`` (and a literal ``%`` is doubled)
    outside quoted text; ``INSERT OR IGNORE`` becomes ``ON CONFLICT DO NOTHING``; ``BEGIN IMMEDIATE``, ``BEGIN``."""
    text = sql.strip()
    if text.upper() == "BEGIN IMMEDIATE":
        return "BEGIN"
    if text.upper().startswith("INSERT OR IGNORE "):
        text = "INSERT " + text[len("INSERT OR IGNORE "):] + " ON CONFLICT DO NOTHING"
    if not has_params:
        return text
    out, quoted = [], False
    for char in text:
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "?":
            char = "%s"
        elif char == "%":
            char = "%%"
        out.append(char)
    return "".join(out)
