"""The PostgreSQL journal (``MLSITTER_DB``) on a real throwaway server: one writer per run across homes that
share a database, the dashboard and ``mlsitter runs`` on it, and one clear line for each bad database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import mlsitter
from mlsitter.errors import JournalCorruptError, RunLockedError
from mlsitter.runtime.dialects import DB_ENV
from mlsitter.runtime.pgserver import ThrowawayPostgres, free_port
from mlsitter.runtime.store import Store

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'mlsitter[postgres]')")
CASES = Path(__file__).parent / "runtime_cases.py"


def mlsitter_cli(*args: str, home: Path, db: str) -> subprocess.Popen[str]:
    env = {**os.environ, "MLSITTER_HOME": str(home), DB_ENV: db}
    return subprocess.Popen([sys.executable, "-m", "mlsitter", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_until(predicate, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.05)


def test_two_runners_on_two_homes_sharing_one_database_cannot_both_own_a_run(tmp_path, fresh_postgres):
    home_a, home_b, release = tmp_path / "a", tmp_path / "b", tmp_path / "release"
    first = mlsitter_cli("run", f"{CASES}:held", "-i", f"release={release}", home=home_a, db=fresh_postgres)
    try:
        other = Store(home_b)  # another home: nothing shared but the database (and the journal key)
        wait_until(lambda: [(r.status, r.lock_pid) for r in other.list_runs()] == [("running", first.pid)])
        run = other.list_runs()[0]
        with pytest.raises(RunLockedError, match=f"already being executed by process {first.pid}"):
            other.acquire(run.run_id)
        second = mlsitter_cli("resume", run.run_id, home=home_b, db=fresh_postgres)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 5 and "only one runner may write a run" in err and "Traceback" not in err, err
        release.touch()
        _, err = first.communicate(timeout=60)
        assert first.returncode == 0, err
    finally:
        first.kill()
    done = Store(home_b).get_run(run.run_id)
    assert done.status == "completed" and done.result == {"steps": [0, 1]} and done.lock_owner is None
    events = Store(home_b).events(run.run_id)
    assert [e.type for e in events].count("run.resumed") == 0  # the refused runner wrote nothing
    assert Store(home_b).verify(run.run_id).ok


def test_racing_runners_on_the_database_leave_exactly_one_owner(tmp_path, fresh_postgres):
    run_id = Store(tmp_path / "a").create_run(process="p", target="t", inputs={}, policy="auto", executor="inline",
                                              seed=0)
    stores = [Store(tmp_path / f"home-{i}") for i in range(6)]
    start, won, refused = threading.Barrier(len(stores)), [], []

    def take(store: Store) -> None:
        start.wait()
        try:
            won.append(store.acquire(run_id))
        except RunLockedError:
            refused.append(store)

    threads = [threading.Thread(target=take, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(won) == 1 and len(refused) == len(stores) - 1
    assert Store(tmp_path / "a").get_run(run_id).lock_owner == won[0]


def test_runs_list_and_dashboard_read_the_postgresql_journal(tmp_path, fresh_postgres):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from mlsitter.dashboard import create_app

    waiting = mlsitter.run(f"{CASES}:wait-then-steps", counter=str(tmp_path / "c"), n=2)
    done = mlsitter.run(f"{CASES}:steps", counter=str(tmp_path / "d"), n=3)
    listed = mlsitter_cli("runs", "--json", home=tmp_path / "elsewhere", db=fresh_postgres)
    out, err = listed.communicate(timeout=60)
    assert listed.returncode == 0, err
    assert {(r["run_id"], r["status"]) for r in json.loads(out)} == \
        {(waiting.run_id, "waiting"), (done.run_id, "completed")}

    store = Store()
    app = create_app(store, "test-token-0123456789", user="tester", host_name="mlsitter-pg.localhost")
    client = TestClient(app, base_url="http://mlsitter-pg.localhost:8765")
    code = client.app.state.dashboard.sessions.new_login_code()
    assert client.get(f"/login?code={code}", follow_redirects=False).status_code == 303
    runs = client.get("/api/runs").json()
    assert runs["total"] == 2 and {r["run_id"] for r in runs["items"]} == {waiting.run_id, done.run_id}
    one = client.get(f"/api/runs/{done.run_id}").json()
    assert [s["status"] for s in one["steps"]] == ["completed"] * 3
    assert client.get(f"/api/runs/{done.run_id}/verify").json()["ok"] is True
    assert [p["run_id"] for p in client.get("/api/pending").json()] == [waiting.run_id]
    inbox = client.get("/inbox")
    assert inbox.status_code == 200 and waiting.run_id in inbox.text


@pytest.fixture
def bad_databases(postgres_server: ThrowawayPostgres, tmp_path) -> dict[str, tuple[str, str]]:
    """Each kind of bad ``MLSITTER_DB``, with the words its one-line error must say."""
    foreign = postgres_server.create_schema("foreign_app")
    with psycopg.connect(foreign, autocommit=True) as conn:
        conn.execute("CREATE TABLE runs(id serial PRIMARY KEY, name text)")
    return {
        "not postgres": ("mysql://me@127.0.0.1/jobs", "is not a PostgreSQL URL"),
        "wrong password": (postgres_server.database_url("postgres", password="not-the-password"),
                           'password authentication failed for user "mlsitter"'),
        "no server": (f"postgresql://mlsitter:pw@127.0.0.1:{free_port()}/postgres", "Connection refused"),
        "no database": (postgres_server.database_url("no_such_db"), 'database "no_such_db" does not exist'),
        "foreign schema": (foreign, "is not an mlsitter journal: it has tables named runs but no mlsitter schema"),
    }


def test_each_bad_database_gets_one_clear_line_without_a_traceback(tmp_path, bad_databases, monkeypatch):
    for name, (url, words) in bad_databases.items():
        monkeypatch.setenv(DB_ENV, url)
        with pytest.raises(JournalCorruptError) as refused:
            Store(tmp_path)
        message = str(refused.value)
        assert words in message and "\n" not in message and "not-the-password" not in message, (name, message)
    # and on the command line: that line, the store errors' exit code, no traceback
    url, words = bad_databases["wrong password"]
    proc = mlsitter_cli("runs", home=tmp_path, db=url)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 4 and err.startswith("error:") and words in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and "not-the-password" not in err


def test_a_postgresql_journal_newer_than_this_code_is_refused(fresh_postgres):
    Store()
    with psycopg.connect(fresh_postgres, autocommit=True) as conn:
        conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(JournalCorruptError, match="schema 99, newer than this mlsitter understands"):
        Store()


def test_events_keep_exact_times_and_text_across_the_round_trip(fresh_postgres):
    store = Store()
    run_id = store.create_run(process="p", target="t", inputs={"x": "50% of ?s — ünïcode"}, policy="auto",
                              executor="inline", seed=2**40)
    writer = store.journal(run_id, store.acquire(run_id))
    writer.append("run.started", {}, run={"status": "running"})
    sent = writer.append("step.completed", {"key": "1", "text": "it's 100%? yes\n\ttab", "value": 1 / 3})
    got = Store().events(run_id)[-1]
    assert (got.at, got.data, got.hash) == (sent.at, sent.data, sent.hash)
    assert Store().get_run(run_id).seed == 2**40 and Store().verify(run_id).ok


def test_sqlite_spelling_becomes_postgresql_outside_quoted_text_and_passwords_never_show():
    from mlsitter.runtime.dialects import redact, translate

    assert translate("SELECT * FROM t WHERE a=? AND b LIKE '50%?' AND c=?", True) == \
        "SELECT * FROM t WHERE a=%s AND b LIKE '50%%?' AND c=%s"
    assert translate("INSERT OR IGNORE INTO meta(key, value) VALUES(?, ?)", True) == \
        "INSERT INTO meta(key, value) VALUES(%s, %s) ON CONFLICT DO NOTHING"
    assert translate("BEGIN IMMEDIATE", False) == "BEGIN" and translate("SELECT '%'", False) == "SELECT '%'"
    assert redact("postgresql://me:s3cret@db:5432/j?password=s3cret&sslmode=require") == \
        "postgresql://me:***@db:5432/j?password=***&sslmode=require"
