"""The dashboard counts gates by outcome as its gates table shows them (a warn gate and an overridden gate are not
failures), a waiting run's duration stops where the wait began, and the artifacts verified are the ones listed."""

from __future__ import annotations

import html
import re
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

import mlsitter  # noqa: E402
from mlsitter.dashboard import formatting  # noqa: E402
from mlsitter.runtime import Store  # noqa: E402
from test_dashboard import TOKEN, make_client  # noqa: E402

SOURCE = textwrap.dedent('''
    from pathlib import Path

    from mlsitter import Context


    def counted(ctx: Context) -> dict:
        path = Path(ctx.workdir) / "report.html"
        path.write_text("<p>evidence</p>")
        report = ctx.artifact("report.html", path)
        ctx.gate("enough-rows", 100, ">=", 10)
        ctx.gate("calibration", 0.2, "<=", 0.1, on_fail="warn")
        ctx.gate("accuracy", 0.5, ">=", 0.8, on_fail="ask")
        ctx.breakpoint("Ship it?", artifacts=[report])
        return {"report": report}
''')


@pytest.fixture()
def waiting_run(mlsitter_home: Path, tmp_path: Path) -> tuple[Store, str]:
    path = tmp_path / "counted_procs.py"
    path.write_text(SOURCE)
    h = mlsitter.run(f"{path}:counted")
    assert h.status == "waiting" and "accuracy" in h.waiting["question"]
    h = mlsitter.approve(h.run_id, by="alice", resume=True)  # alice overrides the failed gate
    assert h.status == "waiting" and h.waiting["question"] == "Ship it?"
    store = Store()
    yield store, h.run_id
    store.close()


def page_text(client, url: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.unescape(client.get(url).text)))


def list_counts(client, run_id: str) -> str:
    """The runs list's ✓/⚠/✗ cell of one run, as text."""
    row = next(r for r in client.get("/runs").text.split("<tr>") if run_id in r)
    return re.sub(r"<[^>]+>|\s", "", re.search(r'class="num gate-counts">(.*?)</td>', row).group(1))


def test_warned_and_overridden_gates_are_not_counted_failed(waiting_run) -> None:
    store, run_id = waiting_run
    assert store.get_run(run_id).gates_failed == 2  # the runs row counts every missed threshold
    client = make_client(store)
    run_page = page_text(client, f"/runs/{run_id}")
    assert "1 passed · 1 warned · 1 overridden · 0 failed" in run_page
    assert list_counts(client, run_id) == "1/2/0"


def test_a_waiting_runs_duration_stops_when_the_wait_began(waiting_run, monkeypatch) -> None:
    store, run_id = waiting_run
    run = store.get_run(run_id)
    expected = formatting.seconds(run.updated_at - run.created_at)
    client = make_client(store)
    before = page_text(client, f"/runs/{run_id}")

    class Later:
        @staticmethod
        def time() -> float:
            return time.time() + 3600  # an hour later, nobody has answered

    monkeypatch.setattr(formatting, "time", Later)
    after = page_text(client, f"/runs/{run_id}")
    pattern = r"duration (\S+ \S+|\S+) until it began waiting"
    assert re.search(pattern, before).group(1) == re.search(pattern, after).group(1) == expected


def test_the_artifacts_verified_are_the_ones_listed(waiting_run) -> None:
    store, run_id = waiting_run
    done = mlsitter.approve(run_id, by="alice", resume=True)
    assert done.status == "completed"
    client = make_client(store)
    listed = client.get(f"/runs/{run_id}").text.count('class="artifact-link"')
    assert list_counts(client, run_id) == "1/2/0"  # completed: its missed gates were warned or overridden
    report = client.get(f"/api/runs/{run_id}/verify", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    # recorded once, named again by the question (and the wait) and by the result: one artifact, several references
    assert report["ok"] and report["artifacts"] == listed == 1  # one artifact, however many events name it
