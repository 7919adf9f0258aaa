"""The dashboard's compliance page and bundle, partial approvals on the run page, and who posted a task result."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from mlsitter.runtime.bundle import verify_bundle  # noqa: E402
from mlsitter.runtime.identity import Identity  # noqa: E402
from mlsitter.runtime.runner import Runner  # noqa: E402
from mlsitter.runtime.store import Store  # noqa: E402
from mlsitter.runtime.users import load_users  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_dashboard import TOKEN, csrf_of, make_client, text  # noqa: E402
from test_dashboard_users import _client_as  # noqa: E402

TESTS = Path(__file__).parents[1] / "runtime"
POLICY = """\
version: 9
roles: [release-manager]
rules:
  production: {roles: [release-manager], approvers: 2, starter_may_approve: false}
"""
PASSWORDS = {"alice": "alice-secret-1", "bob": "bob-secret-22"}


@pytest.fixture
def at_production(tmp_path, monkeypatch) -> str:
    """An audited release started by carol, its child approved, waiting on a two-approver production gate."""
    (tmp_path / "mlsitter-approvals.yaml").write_text(POLICY)
    monkeypatch.chdir(tmp_path)
    users = load_users()
    for name, password in PASSWORDS.items():
        users.add(name, ["release-manager"], password)
    users.save()
    runner = Runner()
    handle = runner.start(f"{TESTS / 'compliance_cases.py'}:audited-release", starter=Identity("carol", "os"))
    runner.answer(handle.run_id, approved=True, identity=Identity("carol", "os"))
    assert runner.resume(handle.run_id).status == "waiting"
    return handle.run_id


def test_a_partial_approval_shows_on_the_run_page_and_the_compliance_page_lists_checkpoints(at_production, tmp_path):
    store = Store()
    alice = _client_as(store, "alice")
    r = alice.post(f"/runs/{at_production}/answer", data={"csrf_token": csrf_of(alice), "decision": "approve",
                                                          "option": "ship"}, follow_redirects=False)
    assert r.status_code == 303 and store.get_run(at_production).status == "waiting"
    page = text(alice.get(f"/runs/{at_production}"))
    assert "1 of 2 approvals so far" in page and "alice <span class=\"muted\">[dashboard-password]</span>" in page

    compliance = text(alice.get(f"/runs/{at_production}/compliance"))
    for title in ("Data understanding", "Evaluation", "Deployment", "Data quality", "Explainability and model card"):
        assert title in compliance
    assert "partial approval" in compliance and "latency-p99-ms" in compliance and "started the run" in compliance

    bundle = alice.get(f"/runs/{at_production}/compliance/bundle")
    assert bundle.status_code == 200 and bundle.headers["content-type"] == "application/zip"
    path = tmp_path / "from-dashboard.zip"
    path.write_bytes(bundle.content)
    report = verify_bundle(path)
    assert report.ok and report.run_id == at_production, report.problems


def test_an_unknown_run_has_no_compliance_page():
    client = make_client(Store())
    r = client.get("/runs/no-such-run/compliance")
    assert r.status_code == 404 and "no-such-run" in text(r)


def test_a_task_result_posted_in_the_dashboard_records_who_posted_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    users = load_users()
    users.add("bob", [], PASSWORDS["bob"])
    users.save()
    store = Store()
    cases = TESTS / "runtime_cases.py"
    first = Runner().start(f"{cases}:external")
    bob = _client_as(store, "bob")
    r = bob.post(f"/api/runs/{first.run_id}/external", json={"result": {"label": "cat", "score": 0.9}},
                 headers={"X-CSRF-Token": csrf_of(bob)})
    assert r.status_code == 200 and r.json()["by"] == "bob", r.text
    posted = store.events(first.run_id, types=("external.completed",))[-1].data
    assert posted["identity"]["user"] == "bob" and posted["identity"]["auth"] == "dashboard-password"

    second = Runner().start(f"{cases}:external")
    r = make_client(store).post(f"/api/runs/{second.run_id}/external", json={"result": {"label": "dog", "score": 0.8}},
                                headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.text
    posted = store.events(second.run_id, types=("external.completed",))[-1].data
    assert posted["identity"]["auth"] == "dashboard-token" and posted["claimed_by"].startswith("dashboard:tester")
