"""The journal database the runtime tests run on: SQLite in the test's home, or a throwaway PostgreSQL server.

Tests that take ``journal_db`` run once per database. The PostgreSQL server is started once per test session
(per xdist worker) on a free 127.0.0.1 port and stopped at its end, even on failure; each test gets a fresh
schema in it. Without PostgreSQL's binaries (``make test`` installs them where apt-get can) those runs skip.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from mlsitter.runtime.dialects import DB_ENV
from mlsitter.runtime.pgserver import ThrowawayPostgres, postgres_bin


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ThrowawayPostgres]:
    if postgres_bin() is None:
        pytest.skip("PostgreSQL's initdb/pg_ctl are not installed (apt-get install postgresql-15, or `make test`)")
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'mlsitter[postgres]')")
    # No fsync: the tests kill runners, never the machine; the server's own crash safety is not under test.
    server = ThrowawayPostgres(settings={"fsync": "off", "full_page_writes": "off"})
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_postgres(postgres_server: ThrowawayPostgres, monkeypatch: pytest.MonkeyPatch) -> str:
    """``MLSITTER_DB`` set to a new empty schema of the throwaway server (its URL is returned)."""
    url = postgres_server.create_schema(f"t_{uuid.uuid4().hex[:12]}")
    monkeypatch.setenv(DB_ENV, url)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def journal_db(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """Runs the test on each journal database: None for SQLite, else the PostgreSQL URL in ``MLSITTER_DB``."""
    if request.param == "sqlite":
        monkeypatch.delenv(DB_ENV, raising=False)
        return None
    return str(request.getfixturevalue("fresh_postgres"))
