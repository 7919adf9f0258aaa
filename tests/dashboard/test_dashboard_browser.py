"""The dashboard in headless Chromium: inbox -> report -> reject with feedback -> next attempt -> approve;
and a second local web server, visited by the same browser, never receives a credential that works.

Uses Debian's /usr/bin/chromium driven by Playwright (never a browser download); skipped with the
reason when it is missing (`scripts/install-chromium.sh` installs it as root). Saves screenshots of
the runs list, a run page and the inbox under test-output/screenshots/.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason=f"headless Chromium is missing at {CHROMIUM}: run scripts/install-chromium.sh "
                              "as root (apt-get install chromium) to run the browser tests"),
]
pytest.importorskip("fastapi")
playwright_api = pytest.importorskip("playwright.sync_api")

import mlsitter  # noqa: E402
from mlsitter.dashboard import create_app  # noqa: E402
from mlsitter.dashboard.serve import listen, running  # noqa: E402
from mlsitter.runtime import Store  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling test module, under any import mode
from test_dashboard import PROCESS_SOURCE, TOKEN  # noqa: E402


@pytest.fixture()
def procs(tmp_path: Path) -> Path:
    path = tmp_path / "dash_procs.py"
    path.write_text(PROCESS_SOURCE)
    return path


@dataclass
class Served:
    """A running dashboard: its base URL under the random host name, its port and its app."""

    url: str
    port: int
    app: object

    def login_url(self) -> str:
        return self.app.state.dashboard.login_url(self.port, self.app.state.dashboard.sessions.new_login_code())


@pytest.fixture()
def served(mlsitter_home: Path):
    """A real server on 127.0.0.1 and a free port, in a thread; stopped after the test."""
    store = Store()
    app = create_app(store, TOKEN, resume_on_answer=True, user="browser")
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    try:
        with running(app, sock):
            yield Served(f"http://{app.state.dashboard.host_name}:{port}", port, app)
            app.state.dashboard.resumer.wait()
    finally:
        store.close()


@pytest.fixture()
def dashboard_url(served: Served) -> str:
    return served.url


@pytest.fixture()
def page():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 820})
        pg = context.new_page()
        pg.set_default_timeout(20_000)
        yield pg
        context.close()
        browser.close()


def test_review_reject_refine_approve_in_the_browser(served: Served, page, procs: Path) -> None:
    dashboard_url = served.url
    expect = playwright_api.expect
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # Some history for the runs list: a finished parent/child pair, a failed gate, an external task.
    mlsitter.run(f"{procs}:parent")
    mlsitter.run(f"{procs}:report_loop", n=0)
    mlsitter.run(f"{procs}:label_task")
    run_id = mlsitter.run(f"{procs}:report_loop", n=4).run_id

    page.goto(served.login_url())
    expect(page).to_have_url(f"{dashboard_url}/runs")  # the one-time code left the URL for a session cookie
    expect(page.locator("table.runs tbody tr")).to_have_count(5)
    page.screenshot(path=str(SCREENSHOTS / "runs.png"))

    # Inbox: the waiting report review and the external task.
    page.click("header.top >> text=Inbox")
    item = page.locator(f"#item-{run_id}")
    expect(item.locator("h2.question")).to_have_text("Approve the report?")
    expect(page.locator("section.item")).to_have_count(2)
    page.screenshot(path=str(SCREENSHOTS / "inbox.png"), full_page=True)

    # Open the report: shown in a sandboxed frame whose script cannot touch the dashboard.
    item.locator("a.review-link").click()
    report = page.frame_locator("iframe.report")
    expect(report.locator("h1")).to_have_text("Report attempt 1")
    assert report.locator("#plot").evaluate("img => img.complete && img.naturalWidth") == 1  # embedded plots show
    page.screenshot(path=str(SCREENSHOTS / "review.png"), full_page=True)
    assert page.locator("iframe.report").get_attribute("sandbox") == ""
    assert page.title() != "hacked"
    review_url = page.url
    page.goto(dashboard_url + page.locator("section.artifact h2 a").get_attribute("href"))
    expect(page.locator("h1")).to_have_text("Report attempt 1")
    assert page.title() == "report"  # opened on its own, its script still does not run (CSP sandbox)
    page.goto(review_url)

    # Reject with feedback; the dashboard resumes the run, which asks again with attempt 2.
    page.fill("textarea[name=feedback]", "Name the data source in the title")
    page.click("button.reject")
    expect(page).to_have_url(f"{dashboard_url}/inbox")
    expect(page.locator("p.notice")).to_contain_text(f"Answer for run {run_id} journaled")
    expect(page.locator(f"#item-{run_id} b.attempt")).to_have_text("2", timeout=20_000)  # live update, after the background resume
    expect(page.locator(f"#item-{run_id} .refine q")).to_have_text("Name the data source in the title")

    page.locator(f"#item-{run_id} a.review-link").click()
    expect(report.locator("h1")).to_have_text("Report attempt 2")
    expect(report.locator("#fb")).to_have_text("Feedback applied: Name the data source in the title")
    page.click("button.approve")

    # The run completes by itself; its page shows the answered attempts and who answered.
    page.goto(f"{dashboard_url}/runs/{run_id}")
    expect(page.locator("h1 .badge")).to_have_text("completed")  # live update while it finishes
    expect(page.locator("tr.refine-attempt")).to_have_count(2)
    expect(page.locator("table.approvals")).to_contain_text("dashboard:browser")
    expect(page.locator("#verify")).to_contain_text("verified")
    page.screenshot(path=str(SCREENSHOTS / "run.png"), full_page=True)
    assert Store().get_run(run_id).status == "completed"


def test_run_page_updates_live_while_the_run_executes(served: Served, page, procs: Path, tmp_path: Path) -> None:
    expect = playwright_api.expect
    flag = tmp_path / "release"
    worker = threading.Thread(target=mlsitter.run, args=(f"{procs}:slow",), kwargs={"flag": str(flag)}, daemon=True)
    worker.start()
    store = Store()
    deadline = time.monotonic() + 20
    while not store.list_runs(status="running", process="slow"):
        assert time.monotonic() < deadline, "the slow run did not start"
        time.sleep(0.05)
    run_id = store.list_runs(process="slow")[0].run_id
    page.goto(served.login_url())
    page.goto(f"{served.url}/runs/{run_id}")
    expect(page.locator("h1 .badge")).to_have_text("running")
    expect(page.locator("table.timeline tr.step-running")).to_have_count(1)
    flag.write_text("go")
    worker.join(30)
    expect(page.locator("h1 .badge")).to_have_text("completed")  # no reload: the page polls and swaps
    expect(page.locator("table.timeline tr.step-completed")).to_have_count(1)
    expect(page.locator("pre.result")).to_contain_text("released")
    store.close()


def test_page_without_login_is_refused_in_the_browser(dashboard_url: str, page) -> None:
    response = page.goto(f"{dashboard_url}/runs")
    assert response is not None and response.status == 401
    assert "Login needed" in page.content()
    page.goto(f"{dashboard_url}/runs?token={TOKEN}")  # the token in a URL is no way in any more
    assert "Login needed" in page.content()
    page.goto(f"{dashboard_url}/login")
    page.fill("input[name=token]", TOKEN)  # the token pasted into a form: a POST body, not history
    page.click("#token-login button[type=submit]")
    playwright_api.expect(page).to_have_url(f"{dashboard_url}/runs")


def test_a_named_user_without_the_role_is_refused_and_one_with_it_approves(served: Served, page, tmp_path: Path,
                                                                           monkeypatch) -> None:
    from test_dashboard_users import CASES, POLICY

    from mlsitter.runtime.identity import Identity
    from mlsitter.runtime.runner import Runner
    from mlsitter.runtime.users import load_users

    expect = playwright_api.expect
    (tmp_path / "mlsitter-approvals.yaml").write_text(POLICY.replace("approvers: 2", "approvers: 1"))
    monkeypatch.chdir(tmp_path)
    users = load_users()
    users.add("dave", ["data-scientist"], "dave-secret-333")
    users.add("alice", ["release-manager"], "alice-secret-1")
    users.save()
    runner = Runner()
    run_id = runner.start(f"{CASES}:release", starter=Identity("carol", "os")).run_id
    runner.answer(run_id, approved=True)
    assert runner.resume(run_id).status == "waiting"

    def log_in(user: str, password: str) -> None:
        page.goto(f"{served.url}/login")
        page.fill("#user-login input[name=user]", user)
        page.fill("#user-login input[name=password]", password)
        page.click("#user-login button[type=submit]")
        expect(page).to_have_url(f"{served.url}/runs")

    log_in("dave", "dave-secret-333")
    page.goto(f"{served.url}/inbox")
    page.locator(f"#item-{run_id} button.approve").click()
    expect(page.locator("body")).to_contain_text("rule 'production.roles' refused the answer of dave "
                                                 "(dashboard-password)")
    assert Store().get_run(run_id).status == "waiting"

    page.context.clear_cookies()
    log_in("alice", "alice-secret-1")
    page.goto(f"{served.url}/inbox")
    page.locator(f"#item-{run_id}").locator("select[name=option]").select_option("ship")
    page.locator(f"#item-{run_id} button.approve").click()
    expect(page.locator("p.notice")).to_contain_text(f"Answer for run {run_id} journaled")
    page.goto(f"{served.url}/runs/{run_id}")
    expect(page.locator("h1 .badge")).to_have_text("completed")  # resumed by the dashboard after the quorum
    answered = Store().events(run_id, types=("breakpoint.answered",))[-1].data
    assert answered["identity"]["user"] == "alice" and answered["identity"]["auth"] == "dashboard-password"


class _Recorder(BaseHTTPRequestHandler):
    """Another web server on this machine: it records every Cookie header a browser sends it."""

    received: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).received.append(self.headers.get("Cookie") or "")
        body = b"<!doctype html><title>other local server</title><p>hello"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def other_server():
    """A second local web server on 127.0.0.1 and a free port, in a thread; stopped after the test."""
    _Recorder.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], _Recorder.received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_another_local_server_never_receives_a_credential_that_works(served: Served, page, other_server) -> None:
    """Cookies ignore ports. The session cookie is host-only on the random mlsitter-....localhost name, so
    a server on another port visited as 127.0.0.1 or localhost never sees it, and nothing it does see
    opens the dashboard."""
    import httpx

    expect = playwright_api.expect
    port, received = other_server
    page.goto(served.login_url())
    expect(page).to_have_url(f"{served.url}/runs")
    cookies = page.context.cookies()
    ours = [c for c in cookies if c["name"].startswith("mlsitter_session")]
    assert len(ours) == 1 and ours[0]["domain"] == served.app.state.dashboard.host_name  # host-only
    assert ours[0]["httpOnly"] and ours[0]["sameSite"] == "Strict" and ours[0]["value"] != TOKEN
    for url in (f"http://127.0.0.1:{port}/", f"http://localhost:{port}/", f"http://127.0.0.1:{port}/?from=dash"):
        page.goto(url)
        expect(page.locator("p")).to_have_text("hello")
    # The dashboard itself, reached by the shared loopback names, has no cookie there either.
    assert page.goto(f"http://127.0.0.1:{served.port}/runs").status == 401
    assert len(received) >= 3 and not any("mlsitter" in c for c in received), received  # (and /favicon.ico)
    # Replaying whatever the other server got, as cookie or as token, opens nothing.
    with httpx.Client(base_url=f"http://127.0.0.1:{served.port}", timeout=10,
                      headers={"Host": f"{served.app.state.dashboard.host_name}:{served.port}"}) as client:
        for header in [h for h in [*received, *(c["value"] for c in cookies)] if h]:
            assert client.get("/api/runs", headers={"Cookie": header}).status_code == 401
            assert client.get("/api/runs", headers={"Authorization": f"Bearer {header}"}).status_code == 401
    # The recorder does see cookies: one set for 127.0.0.1 (as earlier versions did) reaches any port there.
    page.context.add_cookies([{"name": "probe", "value": "set-for-127.0.0.1", "domain": "127.0.0.1", "path": "/"}])
    page.goto(f"http://127.0.0.1:{port}/")
    assert "probe=set-for-127.0.0.1" in received[-1] or "probe=set-for-127.0.0.1" in received[-2]
