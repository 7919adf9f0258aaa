"""The web dashboard over HTTP (no browser): logins, sessions, Host allow-list, CSRF, limits, artifact paths,
pages, filters, the JSON API and the `mlsitter ui` command."""

from __future__ import annotations

import html
import logging
import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from urllib.parse import quote, unquote

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

import mlsitter  # noqa: E402
from mlsitter.dashboard import create_app  # noqa: E402
from mlsitter.runtime import Store  # noqa: E402

TOKEN = "test-token-0123456789"
HOST = "mlsitter-test0.localhost"  # the random host name the browser logs in under (fixed for tests)
BASE = f"http://{HOST}:8765"
COOKIE = "mlsitter_session_8765"

PROCESS_SOURCE = textwrap.dedent('''
    from pathlib import Path
    from mlsitter import Context, task


    PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


    def write_report(attempt: int, feedback, out_dir: str) -> str:
        path = Path(out_dir) / f"report-{attempt}.html"
        applied = feedback or "none yet"
        path.write_text(
            "<!doctype html><html><head><title>report</title></head><body>"
            f"<h1>Report attempt {attempt}</h1><p id='fb'>Feedback applied: {applied}</p>"
            f"<img id='plot' alt='plot' src='data:image/png;base64,{PIXEL}'>"
            "<script>parent.document.title = 'hacked'</script></body></html>"
        )
        return str(path)


    def measure(x: int) -> float:
        return 0.5 + x / 10


    def report_loop(ctx: Context, n: int = 3) -> dict:
        acc = ctx.task(measure, x=n)
        ctx.gate("accuracy", acc, ">=", 0.6)
        ctx.gate("latency-ms", 12.0, "<=", 50.0, on_fail="warn")
        ctx.log("info", "measured accuracy")
        for attempt in ctx.refine("report", max_attempts=3):
            path = ctx.task(write_report, attempt=attempt.number, feedback=attempt.feedback, out_dir=str(ctx.workdir))
            ref = ctx.artifact("report.html", path)
            attempt.review("Approve the report?", artifacts=[ref])
        return {"accuracy": acc, "attempts": attempt.number}


    @task(retries=2, backoff=0)
    def flaky(marker: str) -> str:
        path = Path(marker)
        if not path.exists():
            path.write_text("failed once")
            raise RuntimeError("first attempt fails")
        return "ok"


    def boom() -> None:
        raise ValueError("this step always fails")


    def retrying(ctx: Context, marker: str) -> str:
        value = ctx.task(flaky, marker=marker)
        ctx.task(boom)
        return value


    def wait_for(flag: str) -> str:
        import time

        deadline = time.monotonic() + 60
        while not Path(flag).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return "released"


    def slow(ctx: Context, flag: str) -> str:
        ctx.log("info", "waiting for the flag")
        return ctx.task(wait_for, flag=flag)


    def make_dataset(ctx: Context) -> dict:
        return {"dataset_version": "ds-abc123", "rows": 10}


    def train(ctx: Context, dataset_version: str) -> dict:
        return {"model_name": "churn", "version": 2, "dataset_version": dataset_version}


    def artifacts_demo(ctx: Context) -> dict:
        table = ctx.artifact("scores.csv", b"model,auc\\nlogreg,0.81\\ngbm,0.86\\n")
        rows = ctx.artifact("slices.json", [{"slice": "age<30", "n": 120}, {"slice": "age>=30", "n": 300}])
        plot = ctx.artifact("roc.png", bytes.fromhex("89504e470d0a1a0a") + b"not really a png")
        notes = ctx.artifact("notes.md", b"# Notes\\n<script>alert(1)</script>")
        return {"refs": [table.sha256, rows.sha256, plot.sha256, notes.sha256]}


    def child(ctx: Context, x: int = 1) -> int:
        return ctx.task(measure, x=x) > 0


    def parent(ctx: Context) -> dict:
        ok = ctx.call(__file__ + ":child", x=2)
        return {"child_ok": ok}


    def label_task(ctx: Context) -> dict:
        return ctx.external("person", {"what": "label 3 rows"},
                            {"type": "object", "properties": {"labels": {"type": "array"}}, "required": ["labels"]})


    def check_flag(flag: str) -> str:
        if not Path(flag).exists():
            raise FileNotFoundError(f"{flag} is missing")
        return "found"


    def needs_flag(ctx: Context, flag: str) -> str:
        ctx.task(measure, x=1)
        return ctx.task(check_flag, flag=flag)


    def ship(ctx: Context) -> bool:
        return ctx.breakpoint("Ship it?", tags=["production", "readiness"]).approved
''')


@pytest.fixture()
def procs(tmp_path: Path) -> Path:
    path = tmp_path / "dash_procs.py"
    path.write_text(PROCESS_SOURCE)
    return path


@pytest.fixture()
def store(mlsitter_home: Path) -> Store:
    s = Store()
    yield s
    s.close()


class Clock:
    """A clock the test moves by hand (login codes expire after a minute; nobody sleeps a minute)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_client(store: Store, *, resume_on_answer: bool = False, login: bool = True, clock: Clock | None = None,
                base_url: str = BASE, **options) -> TestClient:
    app = create_app(store, TOKEN, resume_on_answer=resume_on_answer, user="tester", host_name=HOST,
                     clock=clock or time.monotonic, **options)
    client = TestClient(app, base_url=base_url)
    if login:
        log_in(client)
    return client


def log_in(client: TestClient) -> None:
    """The browser's way in: the one-time code `mlsitter ui` prints, traded for the session cookie."""
    code = client.app.state.dashboard.sessions.new_login_code()
    r = client.get(f"/login?code={code}", follow_redirects=False)
    assert r.status_code == 303 and COOKIE in r.headers["set-cookie"]


def csrf_of(client: TestClient) -> str:
    """The CSRF token of the client's session, as its pages carry it."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/runs").text)
    assert match, "a logged-in page carries the session's CSRF token"
    return match.group(1)


def start_report_run(procs: Path) -> str:
    handle = mlsitter.run(f"{procs}:report_loop", n=3)
    assert handle.status == "waiting"
    return handle.run_id


def text(response) -> str:
    """The response body with HTML entities decoded (messages are escaped in pages)."""
    return html.unescape(response.text)


def form(client: TestClient, **fields: str) -> dict[str, str]:
    return {"csrf_token": csrf_of(client), **fields}


# -- login, sessions, Host allow-list -------------------------------------------------------------------
def test_every_page_and_api_call_needs_a_login(store: Store, procs: Path) -> None:
    run_id = start_report_run(procs)
    client = make_client(store, login=False)
    for url in ("/runs", f"/runs/{run_id}", "/inbox", "/api/runs", f"/api/runs/{run_id}", "/api/pending",
                f"/api/runs/{run_id}/events", "/api/openapi.json", "/static/dashboard.css"):
        r = client.get(url)
        assert r.status_code == 401, url
        assert "log in" in text(r) and "/login" in text(r)
    assert client.get("/api/runs", headers={"Authorization": "Bearer wrong-token-xyz"}).status_code == 401
    assert client.get("/api/runs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_the_token_in_the_url_or_as_a_cookie_no_longer_logs_a_browser_in(store: Store) -> None:
    client = make_client(store, login=False)
    r = client.get(f"/runs?token={TOKEN}", follow_redirects=False)
    assert r.status_code == 401 and "set-cookie" not in r.headers
    client.cookies.set(COOKIE, TOKEN)
    client.cookies.set("mlsitter_token_8765", TOKEN)  # the cookie of earlier versions carried the token itself
    assert client.get("/runs").status_code == 401


def test_a_login_code_becomes_a_session_cookie_that_is_not_the_token(store: Store) -> None:
    client = make_client(store, login=False)
    code = client.app.state.dashboard.sessions.new_login_code()
    r = client.get(f"/login?code={code}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/runs"  # a clean URL: the code leaves the bar
    cookie = r.headers["set-cookie"]
    attributes = [a.strip().lower() for a in cookie.split(";")]
    assert attributes[0].startswith(f"{COOKIE}=") and {"httponly", "samesite=strict", "path=/"} <= set(attributes)
    assert not any(a.startswith("domain") for a in attributes)  # host-only: sent to mlsitter-....localhost only
    session = client.cookies[COOKIE]
    assert TOKEN not in session and code not in session and len(session) >= 32
    assert client.get("/runs").status_code == 200
    assert client.get("/api/runs", headers={"Authorization": f"Bearer {session}"}).status_code == 401
    other = make_client(store, login=False)
    log_in(other)
    assert other.cookies[COOKIE] != session  # random per login, not derived from anything


def test_a_login_code_works_once(store: Store) -> None:
    client = make_client(store, login=False)
    code = client.app.state.dashboard.sessions.new_login_code()
    assert client.get(f"/login?code={code}", follow_redirects=False).status_code == 303
    again = make_client(store, login=False)
    again.app = client.app
    r = again.get(f"/login?code={code}", follow_redirects=False)
    assert r.status_code == 401 and "set-cookie" not in r.headers
    assert "already used or has expired" in text(r)
    assert again.get("/runs").status_code == 401
    assert again.get("/login?code=made-up-code", follow_redirects=False).status_code == 401


def test_a_login_code_expires_after_a_minute(store: Store) -> None:
    clock = Clock()
    client = make_client(store, login=False, clock=clock)
    sessions = client.app.state.dashboard.sessions
    late, in_time = sessions.new_login_code(), sessions.new_login_code()
    clock.now += 59
    assert client.get(f"/login?code={in_time}", follow_redirects=False).status_code == 303
    client.cookies.clear()
    clock.now += 2  # 61 s after it was printed
    r = client.get(f"/login?code={late}", follow_redirects=False)
    assert r.status_code == 401 and "already used or has expired" in text(r)
    assert client.get("/runs").status_code == 401


def test_a_session_ends_after_twelve_hours(store: Store) -> None:
    clock = Clock()
    client = make_client(store, clock=clock)
    clock.now += 11.9 * 3600
    assert client.get("/runs").status_code == 200
    clock.now += 0.2 * 3600
    r = client.get("/runs")
    assert r.status_code == 401 and "log in" in text(r)


def test_a_session_works_only_on_the_server_that_opened_it(store: Store) -> None:
    first = make_client(store)
    second = make_client(store, login=False)  # same store, same token, another server process
    second.cookies.set(COOKIE, first.cookies[COOKIE])
    assert first.get("/runs").status_code == 200
    assert second.get("/runs").status_code == 401


def test_logins_happen_only_under_the_random_host_name(store: Store) -> None:
    """A cookie set for 127.0.0.1 or localhost would also go to every other local server on any port."""
    for shared in ("http://127.0.0.1:8765", "http://localhost:8765", "http://[::1]:8765"):
        client = make_client(store, login=False, base_url=shared)
        code = client.app.state.dashboard.sessions.new_login_code()
        r = client.get(f"/login?code={code}", follow_redirects=False)
        assert r.status_code == 303 and "set-cookie" not in r.headers
        assert r.headers["location"] == f"{BASE}/login?code={code}"
        r = client.post("/login", data={"token": TOKEN}, follow_redirects=False)
        assert r.status_code == 307 and r.headers["location"] == f"{BASE}/login" and "set-cookie" not in r.headers
        moved = TestClient(client.app, base_url=BASE)
        assert moved.get(f"/login?code={code}", follow_redirects=False).status_code == 303  # the code still works


def test_the_login_form_takes_the_token_in_the_body(store: Store) -> None:
    client = make_client(store, login=False)
    assert 'name="token"' in client.get("/login").text
    r = client.post("/login", data={"token": "wrong-token-xyz"}, follow_redirects=False)
    assert r.status_code == 401 and "not this dashboard's access token" in text(r)
    r = client.post("/login", data={"token": TOKEN}, headers={"Origin": "http://evil.example"}, follow_redirects=False)
    assert r.status_code == 403 and "set-cookie" not in r.headers
    r = client.post("/login", data={"token": TOKEN}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/runs" and COOKIE in r.headers["set-cookie"]
    assert client.get("/runs").status_code == 200


def test_logging_out_ends_the_session(store: Store) -> None:
    client = make_client(store)
    session = client.cookies[COOKIE]
    assert client.post("/logout", data={}).status_code == 403  # a forged logout lacks the CSRF token
    r = client.post("/logout", data={"csrf_token": csrf_of(client)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    client.cookies.set(COOKIE, session)
    assert client.get("/runs").status_code == 401


@pytest.mark.parametrize("host", ["evil.example:8765", "evil.example", "127.0.0.1.evil.example:8765",
                                  "127.0.0.1:9999", "mlsitter-other.localhost:8765", "", "[::1:8765"])
def test_requests_naming_another_host_are_refused(store: Store, host: str) -> None:
    """DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1 still names its own Host."""
    client = make_client(store, login=False)
    r = client.get("/api/runs", headers={"Host": host, "Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 421
    assert "answers only to the host names it was started for" in r.json()["detail"]
    assert f"{host!r}" in r.json()["detail"]


def test_the_host_names_the_server_was_started_for_are_accepted(store: Store) -> None:
    client = make_client(store, login=False, allowed_hosts=["ml-box.example"])
    for host in (f"{HOST}:8765", "127.0.0.1:8765", "localhost:8765", "[::1]:8765", "ml-box.example:8765",
                 "LOCALHOST:8765", "127.0.0.1"):
        r = client.get("/api/runs", headers={"Host": host, "Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200, host


def test_the_answered_banner_comes_from_the_server_not_the_url(store: Store, procs: Path) -> None:
    run_id = start_report_run(procs)
    client = make_client(store)
    forged = text(client.get("/inbox?answered=20260101-000000-fake"))
    assert "journaled" not in forged and "fake" not in forged
    r = client.post(f"/runs/{run_id}/answer", data=form(client, decision="approve", next="/inbox"),
                    follow_redirects=False)
    assert r.headers["location"] == "/inbox"
    notice = re.search(r'<p class="notice" role="status">(.*?)</p>', client.get("/inbox").text)
    assert notice and re.sub("<[^>]+>", "", notice.group(1)).startswith(f"Answer for run {run_id} journaled")
    assert "journaled" not in text(client.get("/inbox"))  # shown once


def test_long_feedback_and_large_bodies_are_refused(store: Store, procs: Path) -> None:
    run_id = start_report_run(procs)
    client = make_client(store)
    r = client.post(f"/runs/{run_id}/answer", data=form(client, decision="reject", feedback="x" * 1_000_000))
    assert r.status_code == 400 and "1,000,000 characters long; at most 10,000 are accepted" in text(r)
    r = client.post(f"/api/runs/{run_id}/answer", json={"approved": False, "feedback": "y" * 10_001},
                    headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 400 and "at most 10,000" in r.json()["detail"]
    r = client.post(f"/api/runs/{run_id}/answer", content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                    headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    assert r.status_code == 413 and "at most 1,048,576 are accepted" in r.json()["detail"]
    r = client.post(f"/api/runs/{run_id}/answer", content=iter([b'{"approved": true}']),
                    headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    assert r.status_code == 411 and "Content-Length" in r.json()["detail"]
    assert not store.events(run_id, types=("breakpoint.answered",))
    r = client.post(f"/runs/{run_id}/answer", data=form(client, decision="reject", feedback="z" * 10_000),
                    follow_redirects=False)
    assert r.status_code == 303  # exactly at the cap: accepted
    assert store.events(run_id, types=("breakpoint.answered",))[-1].data["feedback"] == "z" * 10_000


def test_a_nul_byte_in_a_file_path_is_a_clean_error(store: Store, procs: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    start_report_run(procs)
    client = make_client(store)
    caplog.set_level(logging.DEBUG)
    for url in ("/files/ab%00cd", "/files/%00", "/files/ab/c%00.html?name=x"):
        r = client.get(url)
        assert r.status_code in (400, 404), url
        assert "NUL byte" in text(r)
    assert not [rec for rec in caplog.records if rec.levelno >= logging.WARNING]


def test_error_pages_do_not_show_where_the_store_is(store: Store) -> None:
    client = make_client(store)
    paths = {str(store.home), str(Path(store.home).resolve())}
    page = client.get("/runs/no-such-run")
    api = client.get("/api/runs/no-such-run", headers={"Accept": "application/json"})
    assert page.status_code == api.status_code == 404
    for body in (text(page), api.json()["detail"]):
        assert "no run with id 'no-such-run'" in body
        assert not any(p in body for p in paths), body


def test_run_search_treats_percent_and_underscore_literally(store: Store) -> None:
    for i, run_id in enumerate(("a_1", "ab1", "a%1", "az1", "a_b")):
        store.create_run(process="eda", target="x:y", inputs={}, policy="manual", executor="inline", seed=i,
                         run_id=run_id)
    client = make_client(store)

    def listed(q: str) -> list[str]:
        page = client.get("/runs", params={"q": q}).text
        return sorted(unquote(m) for m in re.findall(r'<td class="mono"><a href="/runs/([^"]+)"', page))

    assert listed("a_") == ["a_1", "a_b"]
    assert listed("a%") == ["a%1"]
    api = client.get("/api/runs", params={"q": "a_"}).json()
    assert api["total"] == 2 and sorted(i["run_id"] for i in api["items"]) == ["a_1", "a_b"]
    assert [i["run_id"] for i in client.get("/api/runs", params={"q": "a%"}).json()["items"]] == ["a%1"]


def test_pages_forbid_framing_and_foreign_scripts(store: Store) -> None:
    r = make_client(store).get("/runs")
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert r.headers["x-frame-options"] == "DENY"


# -- CSRF ------------------------------------------------------------------------------------------------
def test_forged_posts_without_the_csrf_token_are_refused(store: Store, procs: Path) -> None:
    run_id = start_report_run(procs)
    client = make_client(store)
    forged = {"decision": "approve", "feedback": "", "key": ""}
    r = client.post(f"/runs/{run_id}/answer", data=forged, follow_redirects=False)
    assert r.status_code == 403 and "CSRF" in text(r)
    r = client.post(f"/runs/{run_id}/answer", data={**forged, "csrf_token": "0" * 64}, follow_redirects=False)
    assert r.status_code == 403
    r = client.post(f"/api/runs/{run_id}/answer", json={"approved": True})
    assert r.status_code == 403  # cookie-authenticated JSON call without X-CSRF-Token
    r = client.post(f"/runs/{run_id}/answer", data=form(client, **forged), headers={"Origin": "http://evil.example"},
                    follow_redirects=False)
    assert r.status_code == 403 and "cross-origin" in text(r)
    assert client.post(f"/runs/{run_id}/resume", data={}).status_code == 403
    assert store.get_run(run_id).status == "waiting"
    assert not store.events(run_id, types=("breakpoint.answered",))


def test_answer_form_with_csrf_token_is_journaled_with_who_answered(store: Store, procs: Path) -> None:
    run_id = start_report_run(procs)
    client = make_client(store)
    r = client.post(f"/runs/{run_id}/answer", data=form(client, decision="reject", feedback="add a calibration plot",
                                                         next="/inbox"), follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/inbox"
    answered = store.events(run_id, types=("breakpoint.answered",))[-1].data
    assert answered["approved"] is False
    assert answered["feedback"] == "add a calibration plot"
    assert answered["by"] == "dashboard:tester"
    assert store.get_run(run_id).status == "ready"  # resume_on_answer off: it waits for `resume`


def test_open_redirects_are_refused(store: Store, procs: Path) -> None:
    run_id = start_report_run(procs)
    client = make_client(store)
    r = client.post(f"/runs/{run_id}/answer", data=form(client, decision="approve", next="//evil.example/x"),
                    follow_redirects=False)
    assert r.headers["location"].startswith(f"/runs/{run_id}")


def test_bad_answers_get_clear_errors(store: Store, procs: Path) -> None:
    run_id = start_report_run(procs)
    client = make_client(store)
    r = client.post(f"/runs/{run_id}/answer", data=form(client, decision="reject", feedback="  "))
    assert r.status_code == 400 and "rejection needs feedback" in text(r)
    r = client.post(f"/runs/{run_id}/answer", data=form(client, decision="maybe"))
    assert r.status_code == 400 and "'approve' or 'reject'" in text(r)
    r = client.post(f"/runs/{run_id}/answer", data=form(client, decision="approve", key="999"))
    assert r.status_code == 409 and "no longer waits on question #999" in text(r)
    client.post(f"/runs/{run_id}/answer", data=form(client, decision="approve"))
    r = client.post(f"/runs/{run_id}/answer", data=form(client, decision="approve"))
    assert r.status_code == 409 and "no approval to answer" in text(r)
    assert client.get("/runs/no-such-run").status_code == 404


# -- artifact paths ------------------------------------------------------------------------------------
def _report_file_url(client: TestClient, run_id: str) -> str:
    page = client.get(f"/runs/{run_id}/review").text
    match = re.search(r'<iframe class="report" sandbox="" referrerpolicy="no-referrer" src="([^"]+)"', page)
    assert match, "the review page shows the report in a sandboxed iframe"
    return match.group(1).replace("&amp;", "&")


def test_report_is_served_sandboxed(store: Store, procs: Path) -> None:
    run_id = start_report_run(procs)
    client = make_client(store)
    r = client.get(_report_file_url(client, run_id))
    assert r.status_code == 200
    assert "Report attempt 1" in text(r)
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert csp.startswith("sandbox;") and "default-src 'none'" in csp and "allow-" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    download = client.get(_report_file_url(client, run_id) + "&download=1")
    assert download.headers["content-disposition"].startswith("attachment")


@pytest.mark.parametrize("path", [
    "/files/..%2Fmlsitter.db",
    "/files/..%2F..%2F..%2Fetc%2Fpasswd",
    "/files/ab%2F..%2F..%2Fmlsitter.db",
    "/files/%2Fetc%2Fpasswd",
])
def test_artifact_paths_cannot_escape_the_store(store: Store, procs: Path, path: str) -> None:
    start_report_run(procs)
    r = make_client(store).get(path)
    assert r.status_code == 403
    assert "outside the artifact store" in text(r)
    assert "SQLite" not in text(r) and "root:" not in text(r)


def test_a_link_inside_the_store_pointing_outside_is_refused(store: Store, procs: Path) -> None:
    start_report_run(procs)
    (store.artifacts.root / "zz").mkdir(parents=True, exist_ok=True)
    (store.artifacts.root / "zz" / "escape.txt").symlink_to(store.db_path)
    assert make_client(store).get("/files/zz/escape.txt").status_code == 403


# -- pages -------------------------------------------------------------------------------------------------
def test_run_page_shows_timeline_gates_approvals_refines_logs_inputs_result_and_verification(
        store: Store, procs: Path) -> None:
    run_id = start_report_run(procs)
    mlsitter.reject(run_id, "bigger fonts please", by="dashboard:alice", resume=True)
    mlsitter.approve(run_id, by="dashboard:bob", resume=True)
    assert store.get_run(run_id).status == "completed"
    page = text(make_client(store).get(f"/runs/{run_id}"))
    assert "completed" in page
    assert f'data-verify-url="/api/runs/{run_id}/verify"' in page  # filled in by the page's script
    assert "9 events" not in page and f"{store.count_events(run_id)} events" in page
    assert "measure" in page and "write_report" in page and 'class="bar"' in page  # timeline
    assert "accuracy" in page and ">= 0.6" in page and "latency-ms" in page  # gates with rules
    assert "bigger fonts please" in page and "dashboard:alice" in page and "dashboard:bob" in page
    assert page.count('class="refine-attempt"') == 2
    assert "measured accuracy" in page  # logs
    assert '"n": 3' in page  # inputs
    assert '"attempts": 2' in page  # result
    assert "report.html" in page


def test_fast_run_view_reads_steps_like_the_runtime_and_counts_retries(store: Store, procs: Path, tmp_path: Path) -> None:
    from dataclasses import asdict

    from mlsitter.dashboard.queries import run_view
    from mlsitter.runtime.views import build_view

    failed = mlsitter.run(f"{procs}:retrying", marker=str(tmp_path / "marker"))
    assert failed.status == "failed"
    done = start_report_run(procs)
    mlsitter.approve(done, resume=True)
    for run_id in (failed.run_id, done):
        fast, full = run_view(store, run_id), build_view(store, run_id)
        # build_view leaves out step.retried; the dashboard counts those attempts, all else is the same.
        assert [{**asdict(s), "attempts": 0} for s in fast.steps] == [{**asdict(s), "attempts": 0} for s in full.steps]
        assert (fast.gates, fast.breakpoints, fast.refine_attempts, fast.logs, fast.events, fast.error_detail) == (
            full.gates, full.breakpoints, full.refine_attempts, full.logs, full.events, full.error_detail)
    steps = run_view(store, failed.run_id).steps
    assert [(s.status, s.attempts) for s in steps] == [("completed", 2), ("failed", 1)]
    page = text(make_client(store).get(f"/runs/{failed.run_id}"))
    assert "this step always fails" in page and "step-failed" in page


def test_child_runs_are_linked_both_ways(store: Store, procs: Path) -> None:
    handle = mlsitter.run(f"{procs}:parent")
    assert handle.status == "completed"
    child = store.list_runs(parent=handle.run_id)[0]
    client = make_client(store)
    assert f'href="/runs/{child.run_id}"' in client.get(f"/runs/{handle.run_id}").text
    assert f'href="/runs/{handle.run_id}"' in client.get(f"/runs/{child.run_id}").text


def test_artifact_page_and_lineage(store: Store, procs: Path) -> None:
    run_id = start_report_run(procs)
    sha = store.events(run_id, types=("artifact.recorded",))[0].data["sha256"]
    client = make_client(store)
    page = client.get(f"/runs/{run_id}/artifacts/{sha}").text
    assert "<iframe" in page and 'sandbox=""' in page and "Download" in page
    lineage = client.get(f"/artifacts/{sha}/lineage").text
    assert run_id in lineage and "content matches its hash" in lineage
    assert client.get("/artifacts/not-a-sha/lineage").status_code == 400
    assert client.get(f"/runs/{run_id}/artifacts/{'0' * 64}").status_code == 404


def test_artifacts_show_as_tables_images_and_text_and_download(store: Store, procs: Path) -> None:
    handle = mlsitter.run(f"{procs}:artifacts_demo")
    table, rows, plot, notes = handle.result["refs"]
    client = make_client(store)
    page = text(client.get(f"/runs/{handle.run_id}/artifacts/{table}"))
    assert "<th>model</th><th>auc</th>" in page and "<td>gbm</td><td>0.86</td>" in page
    page = text(client.get(f"/runs/{handle.run_id}/artifacts/{rows}"))
    assert "<th>slice</th><th>n</th>" in page
    assert "<td>age&gt;=30</td>" in client.get(f"/runs/{handle.run_id}/artifacts/{rows}").text  # escaped
    page = client.get(f"/runs/{handle.run_id}/artifacts/{plot}").text
    assert '<img class="plot" src="/files/' in page
    page = client.get(f"/runs/{handle.run_id}/artifacts/{notes}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    run_page = client.get(f"/runs/{handle.run_id}").text
    downloads = re.findall(r'href="(/files/[^"]+download=1)"', run_page)
    assert len(downloads) == 4
    r = client.get(downloads[0].replace("&amp;", "&"))
    assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment")


def test_model_and_dataset_versions_link_to_their_lineage(store: Store, procs: Path) -> None:
    made = mlsitter.run(f"{procs}:make_dataset")
    trained = mlsitter.run(f"{procs}:train", dataset_version="ds-abc123")
    client = make_client(store)
    page = client.get(f"/runs/{trained.run_id}").text
    assert 'href="/lineage/dataset/ds-abc123"' in page and 'href="/lineage/model/churn/2"' in page
    dataset = client.get("/lineage/dataset/ds-abc123").text
    assert made.run_id in dataset and trained.run_id in dataset
    model = text(client.get("/lineage/model/churn/2"))
    assert trained.run_id in model and made.run_id not in model
    assert "no registered model named 'churn'; registered models: none" in model  # the registry is empty
    assert client.get("/lineage/dataset/ds-other").status_code == 200
    assert client.get("/lineage/widget/x").status_code == 404


def test_inbox_lists_questions_with_gates_and_artifacts_and_external_effects(store: Store, procs: Path) -> None:
    run_id = start_report_run(procs)
    ext = mlsitter.run(f"{procs}:label_task")
    assert ext.status == "waiting"
    client = make_client(store)
    page = text(client.get("/inbox"))
    assert "2 waiting" in page
    assert "Approve the report?" in page and "report.html" in page and "accuracy" in page
    assert "label 3 rows" in page and '"labels"' in page
    r = client.post(f"/runs/{ext.run_id}/external", data=form(client, result="{not json"))
    assert r.status_code == 400 and "not valid JSON" in text(r)
    r = client.post(f"/runs/{ext.run_id}/external", data=form(client, result='{"labels": "x"}'))
    assert r.status_code == 400 and "schema" in text(r)
    r = client.post(f"/runs/{ext.run_id}/external", data=form(client, result='{"labels": [1, 0, 1]}'), follow_redirects=False)
    assert r.status_code == 303
    assert mlsitter.resume(ext.run_id).result == {"labels": [1, 0, 1]}
    assert run_id in client.get("/inbox").text


def test_answering_resumes_the_run_in_the_background(store: Store, procs: Path) -> None:
    run_id = start_report_run(procs)
    client = make_client(store, resume_on_answer=True)
    resumer = client.app.state.dashboard.resumer
    client.post(f"/runs/{run_id}/answer", data=form(client, decision="reject", feedback="mention the data source"))
    resumer.wait()
    run = store.get_run(run_id)
    assert run.status == "waiting" and run.waiting["context"]["attempt"] == 2
    review = client.get(f"/runs/{run_id}/review").text
    assert '<b class="attempt">2</b>' in review and "mention the data source" in review
    client.post(f"/runs/{run_id}/answer", data=form(client, decision="approve", key=run.waiting["key"]))
    resumer.wait()
    assert store.get_run(run_id).status == "completed"
    assert "Nothing waits for an answer" in client.get("/inbox").text


def test_retry_and_cancel_buttons_journal_who_pressed_them(store: Store, procs: Path, tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    failed = mlsitter.run(f"{procs}:needs_flag", flag=str(flag))
    assert failed.status == "failed"
    client = make_client(store)
    page = text(client.get(f"/runs/{failed.run_id}"))
    assert "Retry from the failed step" in page and "Cancel run" not in page
    flag.write_text("here")
    r = client.post(f"/runs/{failed.run_id}/retry", data=form(client, reason="flag restored"), follow_redirects=False)
    assert r.status_code == 303
    client.app.state.dashboard.resumer.wait()
    assert store.get_run(failed.run_id).status == "completed"
    page = text(client.get(f"/runs/{failed.run_id}"))
    assert "retried by dashboard:tester: flag restored" in page and "is missing" in page  # the error it had
    steps = [e.data["name"] for e in store.events(failed.run_id, types=("step.started",))]
    assert [n.rsplit(".", 1)[1] for n in steps] == ["measure", "check_flag", "check_flag"]  # measure: from the journal
    # a completed run has neither button; the API refuses a retry with the reason
    assert "Retry from the failed step" not in page and "Cancel run" not in page
    refused = client.post(f"/api/runs/{failed.run_id}/retry", json={"reason": "again"},
                          headers={"X-CSRF-Token": csrf_of(client)})
    assert refused.status_code == 409 and "only a failed run can be retried" in refused.text
    waiting = start_report_run(procs)
    assert "Cancel run" in text(client.get(f"/runs/{waiting}"))
    done = client.post(f"/api/runs/{waiting}/cancel", json={"reason": "superseded"},
                       headers={"X-CSRF-Token": csrf_of(client)})
    assert done.status_code == 200 and done.json()["status"] == "cancelled"
    [cancelled] = store.events(waiting, types=("run.cancelled",))
    assert cancelled.data["reason"] == "superseded" and cancelled.data["claimed_by"] == "dashboard:tester"
    no_token = client.post(f"/runs/{waiting}/cancel", data={"reason": "x"}, follow_redirects=False)
    assert no_token.status_code == 403  # CSRF: a form without the session's token changes nothing


def test_inbox_pages_through_many_waiting_runs(store: Store) -> None:
    for i in range(60):
        run_id = store.create_run(process="eda", target="x:y", inputs={}, policy="manual", executor="inline",
                                  seed=i, run_id=f"w{i:03d}")
        store.update_run(run_id, status="waiting", created_at=1000.0 + i,
                         waiting={"kind": "breakpoint", "key": "1", "question": f"question {i}?",
                                  "reason": f"approval: question {i}?"})
    client = make_client(store)
    first = text(client.get("/inbox"))
    assert "60 waiting" in first and "page 1 of 2" in first
    assert first.count('<section class="item"') == 50 and "question 0?" in first and "question 55?" not in first
    second = text(client.get("/inbox?page=2"))
    assert second.count('<section class="item"') == 10 and "question 59?" in second
    assert len(client.get("/api/pending", params={"limit": 5, "offset": 58}).json()) == 2


def test_runs_answered_elsewhere_are_resumed_by_the_dashboard(store: Store, procs: Path) -> None:
    run_id = start_report_run(procs)
    mlsitter.approve(run_id)  # answered from the CLI / Python: the run is ready, nobody resumed it
    resumer = make_client(store).app.state.dashboard.resumer
    assert resumer.resume_due() == [run_id]
    assert store.get_run(run_id).status == "completed"
    assert resumer.resume_due() == []


def test_runs_list_filters_search_and_pagination(store: Store) -> None:
    ids = []
    for i in range(120):
        run_id = store.create_run(process="train" if i % 3 else "eda", target="x:y", inputs={}, policy="manual",
                                  executor="inline", seed=i, run_id=f"r{i:04d}")
        store.update_run(run_id, status="failed" if i % 10 == 0 else "completed", created_at=1000.0 + i)
        ids.append(run_id)
    client = make_client(store)
    first = client.get("/runs").text
    assert "120" in first and "page 1 of 3" in first
    assert first.count('<td class="mono"><a href="/runs/') == 50
    assert "r0119" in first and "r0069" not in first  # newest first
    last = client.get("/runs?page=3").text
    assert last.count('<td class="mono"><a href="/runs/') == 20 and "r0000" in last
    failed = client.get("/runs?status=failed").text
    assert failed.count('<td class="mono"><a href="/runs/') == 12
    eda = client.get("/runs?process=eda&per=100").text
    assert eda.count('<td class="mono"><a href="/runs/') == 40
    found = client.get("/runs?q=r011").text
    assert found.count('<td class="mono"><a href="/runs/') == 10
    r = client.get("/runs?status=bogus")
    assert r.status_code == 400 and "unknown status 'bogus'" in text(r)
    assert client.get("/runs?per=7").status_code == 400
    assert client.get("/runs?page=0").status_code == 422
    api = client.get("/api/runs", params={"status": "failed", "limit": 5, "offset": 10}).json()
    assert api["total"] == 12 and [i["run_id"] for i in api["items"]] == ["r0010", "r0000"]


def test_runs_list_filters_by_date_input_and_asked_tag_and_sorts(store: Store, procs: Path) -> None:
    import datetime as dt

    day = dt.datetime(2026, 11, 20, 12, 0).timestamp()  # local noon, as the page shows times
    for i in range(6):
        run_id = store.create_run(process="deploy" if i % 2 else "eda", target="x:y", policy="manual",
                                  inputs={"model": f"bank@{'champion' if i < 3 else 'challenger'}", "trials": i,
                                          "note": "50%_off"}, executor="inline", seed=i, run_id=f"d{i}")
        store.update_run(run_id, status="completed", created_at=day + i * 86400, ended_at=day + i * 86400 + i)
    asked = mlsitter.run(f"{procs}:ship").run_id  # asks a question tagged production
    start_report_run(procs)  # asks an untagged one
    client = make_client(store)

    def shown(query: str) -> list[str]:
        return re.findall(r'<td class="mono"><a href="/runs/([^"]+)"', client.get(f"/runs?{query}").text)

    assert shown("since=2026-11-21&until=2026-11-23") == ["d3", "d2", "d1"]  # both days included
    assert shown("input=model%3Dbank%40champion&order=oldest") == ["d0", "d1", "d2"]
    assert shown("input=trials%3D4") == ["d4"] and shown("input=note%3D50%25_off&process=eda") == ["d4", "d2", "d0"]
    assert shown("input=note%3D50%25") == []  # a value matches whole, and % is not a wildcard
    assert shown("order=longest&process=deploy") == ["d5", "d3", "d1"]
    assert shown("order=process&since=2026-11-20&until=2026-11-25")[:3] == ["d5", "d3", "d1"]
    assert [r.run_id for r in store.list_runs(tag="production")] == [asked] == shown("tag=production")
    assert shown("tag=readiness") == [asked] and shown("tag=product") == [] and shown("tag=fairness") == []
    page = client.get("/runs?process=deploy&order=status").text
    assert 'href="/runs?status=&amp;process=deploy&amp;q=&amp;since=&amp;until=&amp;input=&amp;tag=&amp;order=longest' in page
    for query, message in (("since=20-11-2026", "since must be a date as YYYY-MM-DD"),
                           ("input=trials", "an input filter looks like KEY=VALUE"),
                           ("order=random", "unknown order 'random'")):
        r = client.get(f"/runs?{query}")
        assert r.status_code == 400 and message in text(r), query
    api = client.get("/api/runs", params={"input": "model=bank@challenger", "order": "oldest"}).json()
    assert api["total"] == 3 and [i["run_id"] for i in api["items"]] == ["d3", "d4", "d5"]


# -- JSON API ----------------------------------------------------------------------------------------------
def test_json_api_runs_run_events_pending_answer(store: Store, procs: Path) -> None:
    run_id = start_report_run(procs)
    client = make_client(store, login=False)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    runs = client.get("/api/runs", headers=auth).json()
    assert runs["total"] == 1 and runs["items"][0]["waiting_reason"] == "approval: Approve the report?"
    run = client.get(f"/api/runs/{run_id}", headers=auth).json()
    assert run["status"] == "waiting" and run["gates"][0]["outcome"] == "pass"
    assert [s["name"].rsplit(".", 1)[-1] for s in run["steps"]] == ["measure", "write_report"]
    events = client.get(f"/api/runs/{run_id}/events", params={"after": 2}, headers=auth).json()
    assert events[0]["seq"] == 3 and events[-1]["type"] == "run.waiting"
    pending = client.get("/api/pending", headers=auth).json()
    assert pending[0]["run_id"] == run_id and pending[0]["refine"]["attempt"] == 1
    assert pending[0]["artifacts"][0]["name"] == "report.html"
    r = client.post(f"/api/runs/{run_id}/answer", json={"approved": False}, headers=auth)
    assert r.status_code == 400 and "feedback" in r.json()["detail"]
    r = client.post(f"/api/runs/{run_id}/answer", json={"approved": False, "feedback": "shorter"}, headers=auth)
    assert r.status_code == 200 and r.json()["by"] == "dashboard:tester" and r.json()["status"] == "ready"
    assert client.get(f"/api/runs/{run_id}/verify", headers=auth).json()["ok"] is True
    assert client.get("/api/runs/nope", headers=auth).status_code == 404


def test_cookie_api_calls_may_change_state_with_the_csrf_header(store: Store, procs: Path) -> None:
    run_id = start_report_run(procs)
    client = make_client(store)
    r = client.post(f"/api/runs/{run_id}/answer", json={"approved": True}, headers={"X-CSRF-Token": csrf_of(client)})
    assert r.status_code == 200 and r.json()["status"] == "ready"


def test_openapi_schema_documents_the_api(store: Store) -> None:
    schema = make_client(store).get("/api/openapi.json").json()
    for path in ("/api/runs", "/api/runs/{run_id}", "/api/runs/{run_id}/events", "/api/pending",
                 "/api/runs/{run_id}/answer"):
        assert path in schema["paths"], path
    assert not any(p.startswith("/runs") for p in schema["paths"])  # HTML pages stay out of the API


def test_live_stamps_change_when_a_run_moves(store: Store, procs: Path) -> None:
    run_id = start_report_run(procs)
    client = make_client(store)
    before = {u: client.get(u).json()["stamp"] for u in ("/api/stamps/runs", "/api/stamps/inbox",
                                                          f"/api/runs/{run_id}/stamp")}
    assert f'data-stamp-url="/api/runs/{run_id}/stamp"' in client.get(f"/runs/{run_id}").text
    mlsitter.approve(run_id, resume=True)
    after = {u: client.get(u).json()["stamp"] for u in before}
    assert all(before[u] != after[u] for u in before)
    assert "data-stamp-url" not in client.get(f"/runs/{run_id}").text  # a finished run stops polling


def test_create_app_refuses_a_short_token(store: Store) -> None:
    with pytest.raises(ValueError, match="at least 8"):
        create_app(store, "short")


def test_ui_command_is_registered_and_checks_its_token() -> None:
    from click.testing import CliRunner

    from mlsitter.cli import main

    runner = CliRunner()
    help_text = runner.invoke(main, ["ui", "--help"]).output
    for option in ("--host", "--port", "--token", "--resume-on-answer / --no-resume-on-answer"):
        assert option in help_text
    result = runner.invoke(main, ["ui", "--token", "abc"])
    assert result.exit_code == 2 and "at least 8 characters" in result.output
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = runner.invoke(main, ["ui", "--port", str(port), "--token", TOKEN])
    assert result.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in result.output


def _fake_serving(monkeypatch: pytest.MonkeyPatch) -> dict:
    """Run `mlsitter ui` without serving: bind loopback whatever --host says, and return at once."""
    import uvicorn

    from mlsitter.dashboard import serve

    seen: dict = {}
    real_listen = serve.listen

    def listen(host: str, port: int, backlog: int = 128) -> socket.socket:
        seen["host"] = host
        sock = real_listen("127.0.0.1", 0)
        seen["port"] = sock.getsockname()[1]
        return sock

    def run(self, sockets=None) -> None:
        seen["app"] = self.config.app
        for sock in sockets or ():
            sock.close()

    monkeypatch.setattr(serve, "listen", listen)
    monkeypatch.setattr(uvicorn.Server, "run", run)
    return seen


def test_ui_warns_on_stderr_when_the_dashboard_is_reachable_from_the_network(
        mlsitter_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from mlsitter.cli import main

    seen = _fake_serving(monkeypatch)
    result = CliRunner().invoke(main, ["ui", "--host", "0.0.0.0", "--token", TOKEN, "--allow-host", "ml-box.lan"])
    assert result.exit_code == 0, result.output
    assert seen["host"] == "0.0.0.0"
    assert "WARNING: --host 0.0.0.0 makes the dashboard reachable from the network" in result.stderr
    assert "without TLS" in result.stderr and "access token" in result.stderr
    assert "WARNING" not in result.stdout
    assert "ml-box.lan" in seen["app"].state.dashboard.allowed_hosts
    for host in ("127.0.0.1", "localhost", "::1"):
        result = CliRunner().invoke(main, ["ui", "--host", host, "--token", TOKEN])
        assert result.exit_code == 0 and result.stderr == "", host


def test_ui_prints_a_login_url_with_a_one_time_code_and_keeps_the_token_out_of_it(
        mlsitter_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from mlsitter.cli import main

    seen = _fake_serving(monkeypatch)
    result = CliRunner().invoke(main, ["ui", "--port", "0"])
    assert result.exit_code == 0, result.output
    port = seen["port"]
    match = re.search(r"open: http://(mlsitter-[0-9a-f]+\.localhost):(\d+)/login\?code=(\S+)", result.stdout)
    assert match and int(match.group(2)) == port
    token = re.search(r"API token: (\S+)", result.stdout).group(1)
    assert token not in match.group(0)
    client = TestClient(seen["app"], base_url=f"http://{match.group(1)}:{port}")
    assert client.get(f"/login?code={match.group(3)}", follow_redirects=False).status_code == 303
    assert client.get("/runs").status_code == 200
    assert client.get("/api/runs", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_mlsitter_ui_serves_a_login_that_works_once(mlsitter_home: Path) -> None:
    """The real command in a subprocess, on 127.0.0.1 and a free port, stopped even when the test fails."""
    import httpx

    env = {**os.environ, "MLSITTER_UI_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-c", "from mlsitter.cli import main; main()", "ui", "--port", "0",
                             "--no-resume-on-answer"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
        reader.start()
        deadline = time.monotonic() + 60
        while not any("stop with Ctrl-C" in line for line in lines):
            assert proc.poll() is None and time.monotonic() < deadline, f"mlsitter ui did not start: {lines}"
            time.sleep(0.05)
        match = re.search(r"open: http://(\S+):(\d+)(/login\?code=\S+)", "".join(lines))
        assert match, lines
        host, port, login = match.group(1), int(match.group(2)), match.group(3)
        assert TOKEN not in "".join(lines)  # given by the environment: not echoed
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Host": f"{host}:{port}"}, timeout=10) as c:
            r = c.get(login)
            assert r.status_code == 303 and r.headers["location"] == "/runs"
            assert r.cookies[f"mlsitter_session_{port}"]
            assert c.get("/runs").status_code == 200  # the session cookie, kept by the client
            c.cookies.clear()
            assert c.get(login).status_code == 401  # used once already
            assert c.get("/api/runs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
            assert c.get("/api/runs", headers={"Host": f"evil.example:{port}",
                                               "Authorization": f"Bearer {TOKEN}"}).status_code == 421
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    assert "Traceback" not in proc.stderr.read()


@pytest.mark.parametrize("loop", ["asyncio", "auto"])
def test_accepted_connections_get_tcp_nodelay(mlsitter_home: Path, loop: str) -> None:
    """Without TCP_NODELAY each response on a kept-alive connection waits for the client's delayed ACK.

    ``asyncio`` is the loop of a plain ``pip install mlsitter[ui]``; ``auto`` picks uvloop where installed.
    """
    import httpx

    from mlsitter.dashboard.serve import listen, running

    store = Store()
    app = create_app(store, TOKEN, resume_on_answer=False)
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    try:
        with running(app, sock, loop=loop) as server, httpx.Client(
                base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {TOKEN}"}) as c:
            assert c.get("/api/stamps/runs").status_code == 200
            flags = [conn.transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                     for conn in server.server_state.connections]
            assert flags and all(flags), flags
    finally:
        store.close()


def test_gate_trends_across_runs_and_two_runs_side_by_side(store: Store, procs: Path) -> None:
    runs = []
    for n in (1, 2, 3, 0):  # accuracy 0.6, 0.7, 0.8 pass; 0.5 misses the 0.6 threshold and fails the run
        handle = mlsitter.run(f"{procs}:report_loop", n=n)
        runs.append(handle.run_id)
    client = make_client(store)
    process = store.get_run(runs[0]).process
    page = client.get("/trends", params={"process": process})
    assert page.status_code == 200
    body = page.text
    assert "accuracy" in body and "latency-ms" in body and "4 run(s), oldest first" in body
    accuracy = body[body.index("<h2>accuracy"):body.index("</svg>", body.index("<h2>accuracy"))]
    titles = re.findall(r"<title>([^<]+)</title>", html.unescape(accuracy))
    assert [t.split(":")[0] for t in titles] == runs  # oldest first, one dot per run, each linked
    assert [t.split(": ")[1].split(" ")[0] for t in titles] == ["0.6", "0.7", "0.8", "0.5"]
    assert accuracy.count('class="fail"') == 1 and accuracy.count('class="pass"') == 3
    assert 'class="threshold"' in accuracy and "latest 0.5 against 0.6" in html.unescape(accuracy)
    assert client.get("/trends?process=nope").status_code == 400
    assert "no runs of process 'nope'" in text(client.get("/trends?process=nope"))
    assert client.get("/trends", params={"process": process, "runs": 7}).status_code == 400

    compared = text(client.get(f"/compare?a={runs[0]}&b={runs[3]}"))
    rows = dict(re.findall(r"<td>([^<]+)</td><td class=\"num\">[^<]*</td><td class=\"num\">[^<]*</td>"
                           r"<td class=\"num\">([^<]*)</td>", compared))
    assert rows["n"] == "-1" and rows["accuracy"] == "-0.1" and rows["accuracy outcome"] == "≠"
    assert rows["status"] == "≠" and rows["latency-ms"] == "≠"  # B failed on accuracy before measuring latency
    same = text(client.get(f"/compare?a={runs[0]}&b={runs[1]}"))
    assert re.search(r"<td>latency-ms</td><td class=\"num\">12</td><td class=\"num\">12</td><td class=\"num\">0</td>",
                     same)
    assert "lines differ" in compared and f'href="/runs/{runs[3]}"' in compared
    assert f'href="/trends?process={quote(process)}"' in client.get(f"/runs/{runs[0]}").text
    missing = client.get(f"/compare?a={runs[0]}&b=nonexistent")
    assert missing.status_code == 404 and "nonexistent" in text(missing)


def test_the_timeline_compresses_waits_so_a_long_approval_does_not_squash_the_steps(store: Store, procs: Path) -> None:
    from mlsitter.dashboard.run_page import TimeAxis

    day = 86400.0
    axis = TimeAxis(0.0, 20.0 + day, [(10.0, 10.0 + day)])  # 10 s of work, a day's wait, 10 s more
    assert axis.at(0.0) == 0.0 and axis.at(20.0 + day) == 100.0
    assert round(axis.at(10.0), 6) == 48.0 and round(axis.at(10.0 + day), 6) == 52.0  # the wait: 4 % of the axis
    assert round(axis.at(5.0), 6) == 24.0 and round(axis.at(10.0 + day / 2), 6) == 50.0
    many = TimeAxis(0.0, 100.0, [(i * 10.0 + 1, i * 10.0 + 9) for i in range(10)])
    assert round(many.at(1.0), 6) == 3.5 and round(many.at(9.0) - many.at(1.0), 6) == 3.0  # waits: 30 % in all,
    assert round(many.at(100.0) - many.at(91.0), 6) == 6.5  # 20 s of work the other 70 %: a wait and 1 s of work
    run_id = start_report_run(procs)
    mlsitter.approve(run_id, resume=True)
    page = text(make_client(store).get(f"/runs/{run_id}"))
    assert 'waited: approval: Approve the report?' in page and 'class="bar wait"' in page
    rows = re.findall(r'<tr class="(step step-\w+|wait)">', page)
    assert rows == ["step step-completed", "step step-completed", "wait"], rows  # the wait after the report


def test_two_refine_attempts_reports_side_by_side_with_what_the_feedback_changed(store: Store, procs: Path) -> None:
    run_id = start_report_run(procs)
    mlsitter.reject(run_id, "mention the data source", resume=True)
    client = make_client(store)
    run_page = client.get(f"/runs/{run_id}").text
    link = f"/runs/{run_id}/refine/report?a=1&amp;b=2"
    assert link in run_page and "compare with attempt 1" in run_page
    page = client.get(html.unescape(link))
    assert page.status_code == 200
    body = page.text
    assert body.count('<iframe class="report" sandbox=""') == 2 and "2 line(s) added, 2 removed" in body
    shown = html.unescape(re.sub(r"<[^>]+>", "", body)).replace("\xa0", " ")  # the diff table's text
    assert "Report attempt 1" in shown and "Report attempt 2" in shown
    assert "Feedback applied: mention the data source" in shown and "Feedback applied: none yet" in shown
    assert "parent.document.title" not in body  # the report's script is not text to compare, nor run here
    bad = client.get(f"/runs/{run_id}/refine/report?a=1&b=3")
    assert bad.status_code == 400 and "no reviewed attempt 3; reviewed: 1, 2" in text(bad)
    assert "no refine loop 'nope'" in text(client.get(f"/runs/{run_id}/refine/nope?a=1&b=2"))
