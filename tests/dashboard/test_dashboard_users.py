"""Named dashboard users: their own password opens a session; answers are journaled under their name and judged
by the approval rules; the shared token is an admin bootstrap that no rule gives a role."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from mlsitter.runtime.identity import Identity  # noqa: E402
from mlsitter.runtime.runner import Runner  # noqa: E402
from mlsitter.runtime.store import Store  # noqa: E402
from mlsitter.runtime.users import load_users  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_dashboard import COOKIE, csrf_of, make_client, text  # noqa: E402

CASES = Path(__file__).parents[1] / "runtime" / "runtime_cases.py"
POLICY = """\
version: 4
roles: [release-manager]
rules:
  production: {roles: [release-manager], approvers: 2, starter_may_approve: false}
"""
PASSWORDS = {"alice": "alice-secret-1", "bob": "bob-secret-22", "dave": "dave-secret-333"}


@pytest.fixture
def governed(tmp_path, monkeypatch) -> str:
    """A project with approval rules, three accounts with passwords, and a release run waiting on production."""
    (tmp_path / "mlsitter-approvals.yaml").write_text(POLICY)
    monkeypatch.chdir(tmp_path)
    users = load_users()
    users.add("alice", ["release-manager"], PASSWORDS["alice"])
    users.add("bob", ["release-manager"], PASSWORDS["bob"])
    users.add("dave", ["data-scientist"], PASSWORDS["dave"])
    users.save()
    runner = Runner()
    handle = runner.start(f"{CASES}:release", starter=Identity("carol", "os"))
    runner.answer(handle.run_id, approved=True)
    assert runner.resume(handle.run_id).status == "waiting"
    return handle.run_id


def _client_as(store: Store, user: str, password: str | None = None):
    client = make_client(store, login=False)
    r = client.post("/login", data={"user": user, "password": password or PASSWORDS[user]}, follow_redirects=False)
    assert r.status_code == 303 and COOKIE in r.headers["set-cookie"], text(r)
    return client


def _answer(client, run_id: str, **fields: str):
    return client.post(f"/runs/{run_id}/answer", data={"csrf_token": csrf_of(client), **fields}, follow_redirects=False)


def test_a_wrong_password_or_unknown_user_is_refused(governed):
    client = make_client(Store(), login=False)
    for user, password in (("alice", "not-her-password"), ("mallory", "whatever-123")):
        r = client.post("/login", data={"user": user, "password": password}, follow_redirects=False)
        assert r.status_code == 401 and "Unknown user or wrong password" in text(r) and "set-cookie" not in r.headers


def test_two_named_users_approve_and_each_is_journaled_with_their_identity(governed):
    store = Store()
    alice = _client_as(store, "alice")
    assert _answer(alice, governed, decision="approve", option="ship").status_code == 303
    assert store.get_run(governed).status == "waiting"  # one of two approvals
    again = _answer(alice, governed, decision="approve", option="ship")
    assert again.status_code == 409 and "alice already approved; it needs 2 distinct approvers" in text(again)
    bob = _client_as(store, "bob")
    api = bob.post(f"/api/runs/{governed}/answer", json={"approved": True, "option": "ship"},
                   headers={"X-CSRF-Token": csrf_of(bob)})
    assert api.status_code == 200 and api.json()["by"] == "bob" and api.json()["status"] == "ready"
    partial, final = store.events(governed, types=("breakpoint.approval", "breakpoint.answered"))[-2:]
    assert partial.data["identity"]["user"] == "alice" and partial.data["identity"]["auth"] == "dashboard-password"
    assert final.data["identity"]["user"] == "bob" and final.data["by"] == f"bob@{socket.gethostname()}" and "claimed_by" not in final.data
    assert final.data["approvers"] == ["alice", "bob"]


def test_a_user_without_the_role_and_the_shared_token_are_refused(governed):
    store = Store()
    dave = _client_as(store, "dave")
    r = _answer(dave, governed, decision="approve", option="ship")
    assert r.status_code == 409 and "rule 'production.roles' refused the answer of dave (dashboard-password)" in text(r)
    admin = make_client(store)  # the one-time login code: an admin session of the shared token
    r = _answer(admin, governed, decision="approve", option="ship")
    assert r.status_code == 409 and "dashboard-token (dashboard-token)" in text(r)
    assert store.get_run(governed).status == "waiting" and not store.events(governed, types=("breakpoint.approval",))
