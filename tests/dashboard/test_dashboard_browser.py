"""The dashboard in headless Chromium: inbox -> report -> reject with feedback -> next attempt -> approve.

Uses Debian's /usr/bin/chromium driven by Playwright (never a browser download); skipped with the
reason when it is missing (`scripts/install-chromium.sh` installs it as root). Saves screenshots of
the runs list, a run page and the inbox under test-output/screenshots/.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
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

import uvicorn  # noqa: E402

import mlsitter  # noqa: E402
from mlsitter.dashboard import create_app  # noqa: E402
from mlsitter.runtime import Store  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling test module, under any import mode
from test_dashboard import PROCESS_SOURCE, TOKEN  # noqa: E402


@pytest.fixture()
def procs(tmp_path: Path) -> Path:
    path = tmp_path / "dash_procs.py"
    path.write_text(PROCESS_SOURCE)
    return path


@pytest.fixture()
def dashboard_url(mlsitter_home: Path):
    """A real server on 127.0.0.1 and a free port, in a thread; stopped after the test."""
    store = Store()
    app = create_app(store, TOKEN, resume_on_answer=True, user="browser")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the dashboard server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    app.state.dashboard.resumer.wait()
    server.should_exit = True
    thread.join(10)
    sock.close()
    store.close()


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


def test_review_reject_refine_approve_in_the_browser(dashboard_url: str, page, procs: Path) -> None:
    expect = playwright_api.expect
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # Some history for the runs list: a finished parent/child pair, a failed gate, an external task.
    mlsitter.run(f"{procs}:parent")
    mlsitter.run(f"{procs}:report_loop", n=0)
    mlsitter.run(f"{procs}:label_task")
    run_id = mlsitter.run(f"{procs}:report_loop", n=4).run_id

    page.goto(f"{dashboard_url}/?token={TOKEN}")
    expect(page).to_have_url(f"{dashboard_url}/runs")  # the token left the URL for an HttpOnly cookie
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
    expect(page).to_have_url(f"{dashboard_url}/inbox?answered={run_id}")
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


def test_run_page_updates_live_while_the_run_executes(dashboard_url: str, page, procs: Path, tmp_path: Path) -> None:
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
    page.goto(f"{dashboard_url}/runs/{run_id}?token={TOKEN}")
    expect(page.locator("h1 .badge")).to_have_text("running")
    expect(page.locator("table.timeline tr.step-running")).to_have_count(1)
    flag.write_text("go")
    worker.join(30)
    expect(page.locator("h1 .badge")).to_have_text("completed")  # no reload: the page polls and swaps
    expect(page.locator("table.timeline tr.step-completed")).to_have_count(1)
    expect(page.locator("pre.result")).to_contain_text("released")
    store.close()


def test_page_without_token_is_refused_in_the_browser(dashboard_url: str, page) -> None:
    response = page.goto(f"{dashboard_url}/runs")
    assert response is not None and response.status == 401
    assert "Access token needed" in page.content()
