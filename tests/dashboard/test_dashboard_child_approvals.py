"""The run page of a parent lists the questions its child runs asked: who answered each (the authenticated
account, how, and any claimed name), the approvals short of the quorum, and the approval rule that applied,
as `mlsitter status PARENT` lists the children's answers."""

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
from test_dashboard import csrf_of, text  # noqa: E402
from test_dashboard_users import _client_as  # noqa: E402

CASES = Path(__file__).with_name("child_approval_cases.py")
POLICY = """\
version: 4
roles: [release-manager]
rules:
  production: {roles: [release-manager], approvers: 2, starter_may_approve: false, valid_for: 24h}
"""
PASSWORDS = {"alice": "alice-secret-1", "bob": "bob-secret-22"}
RULE = "production (version 4): one of release-manager, 2 distinct approvers, not the run's starter, valid 24h"


def child_table(page: str) -> str:
    """The 'Approvals in child runs' table of a run page."""
    assert "Approvals in child runs" in page, page
    return page.split("Approvals in child runs", 1)[1].split("</table>", 1)[0]


def test_the_parent_page_lists_who_answered_each_child_question_under_which_rule(tmp_path, monkeypatch):
    (tmp_path / "mlsitter-approvals.yaml").write_text(POLICY)
    monkeypatch.chdir(tmp_path)
    users = load_users()
    for name, password in PASSWORDS.items():
        users.add(name, ["release-manager"], password)
    users.save()
    store, runner = Store(), Runner()
    parent = runner.start(f"{CASES}:chain-release", starter=Identity("carol", "os")).run_id
    child = runner.waiting_leaf(parent).run_id
    assert child != parent
    runner.answer(parent, approved=True, by="Carol C.", identity=Identity("carol", "os"))  # ungoverned: carol may
    assert runner.resume(parent).status == "waiting"

    alice = _client_as(store, "alice")
    r = alice.post(f"/runs/{parent}/answer", data={"csrf_token": csrf_of(alice), "decision": "approve"},
                   follow_redirects=False)  # the parent's page answers the child it waits on
    assert r.status_code == 303 and store.get_run(parent).status == "waiting"
    table = child_table(text(alice.get(f"/runs/{parent}")))
    assert f"chain-check <a class=\"mono\" href=\"/runs/{child}\">{child}</a>" in table
    assert "Carol C. <span class=\"muted\">[carol · os]</span>" in table  # the claim and who was authenticated
    assert "no approval rule" in table  # the data question is ungoverned
    assert "alice <span class=\"muted\">[dashboard-password]</span>" in table and "1 of 2 approvals so far" in table
    assert RULE in table

    bob = _client_as(store, "bob")
    r = bob.post(f"/runs/{parent}/answer", data={"csrf_token": csrf_of(bob), "decision": "approve"},
                 follow_redirects=False)
    assert r.status_code == 303
    assert runner.resume(parent).status == "completed"
    table = child_table(text(bob.get(f"/runs/{parent}")))
    assert table.count("approved</span>") == 2 and "pending" not in table
    assert (f"alice <span class=\"muted\">[dashboard-password]</span>, bob@{socket.gethostname()} <span "
            "class=\"muted\">[bob · dashboard-password]</span>") in table  # both signers of the production question
    assert RULE in table and "approvals so far" not in table
    # a run without children has no such table
    assert "Approvals in child runs" not in text(bob.get(f"/runs/{child}"))
