"""Governed approvals from the command line: the OS account is who answers, roles come from `mlsitter users`."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlsitter.cli import main
from mlsitter.runtime.identity import os_identity
from mlsitter.runtime.runner import Runner
from mlsitter.runtime.store import Store
from mlsitter.runtime.users import load_users, users_path

CASES = Path(__file__).parents[1] / "runtime" / "runtime_cases.py"
POLICY = """\
version: 7
roles: [release-manager, approver]
rules:
  production: {roles: [release-manager], approvers: 2, starter_may_approve: false}
"""


def cli(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    (tmp_path / "mlsitter-approvals.yaml").write_text(POLICY)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _waiting_on_production() -> str:
    res = cli("run", f"{CASES}:release", "--json")
    run_id = json.loads(res.stdout)["run_id"]
    assert cli("approve", run_id, "--resume", "--json").exit_code == 3  # release notes: ungoverned
    return run_id


def test_users_add_list_remove_keep_a_0600_file_and_check_roles_against_the_policy(project):
    assert cli("users", "add", "bob", "--role", "release-manager").exit_code == 0
    assert stat.S_IMODE(users_path().stat().st_mode) == 0o600
    listed = json.loads(cli("users", "list", "--json").stdout)
    assert listed["users"] == [{"name": "bob", "roles": ["release-manager"], "password": False}]
    bad = cli("users", "add", "eve", "--role", "release-manager", "--role", "admin")
    assert bad.exit_code == 2 and "unknown role 'admin'" in bad.stderr and "declares release-manager, approver" in bad.stderr
    assert cli("users", "remove", "bob").exit_code == 0
    assert "no users" in cli("users", "list").stdout
    gone = cli("users", "remove", "bob")
    assert gone.exit_code == 2 and "no user 'bob'" in gone.stderr


def test_users_add_password_stores_only_an_scrypt_hash(project):
    res = cli("users", "add", "bob", "--role", "approver", "--password", input="bob-secret-22\nbob-secret-22\n")
    assert res.exit_code == 0
    stored = users_path().read_text()
    assert "bob-secret-22" not in stored and '"password": "scrypt$' in stored
    accounts = load_users()
    assert accounts.check_password("bob", "bob-secret-22") and not accounts.check_password("bob", "bob-secret-23")
    assert json.loads(cli("users", "list", "--json").stdout)["users"][0]["password"] is True
    assert cli("users", "add", "bob", "--role", "release-manager").exit_code == 0  # roles change, password stays
    assert load_users().check_password("bob", "bob-secret-22") and load_users().roles_of("bob") == ("release-manager",)
    short = cli("users", "add", "eve", "--role", "approver", "--password", input="short\nshort\n")
    assert short.exit_code == 2 and "at least 8 are needed" in short.stderr


def test_a_user_without_the_role_is_refused_from_the_cli(project):
    run_id = _waiting_on_production()
    res = cli("approve", run_id, "--option", "ship")
    me = os_identity().user
    assert res.exit_code == 2
    assert f"rule 'production.roles' refused the answer of {me} (os)" in res.stderr and "has no roles" in res.stderr
    assert Store().get_run(run_id).status == "waiting"


def test_the_starter_is_refused_and_two_distinct_approvers_are_needed(project):
    me = os_identity().user
    cli("users", "add", me, "--role", "release-manager")
    run_id = _waiting_on_production()
    res = cli("approve", run_id, "--option", "ship", "--by", "Someone Else")
    assert res.exit_code == 2 and f"rule 'production.starter_may_approve' refused the approval of {me}" in res.stderr
    # the journal, not the CLI, is the authority: a run another account started is judged the same way
    handle = Runner().start(f"{CASES}:release", starter=type(os_identity())("alice", "os"))
    Runner().answer(handle.run_id, approved=True)
    Runner().resume(handle.run_id)
    first = cli("approve", handle.run_id, "--option", "ship", "--by", "Release Desk")
    assert first.exit_code == 0 and "approval 1 of 2 journaled" in first.stdout and "1 more distinct approver" in first.stdout
    again = cli("approve", handle.run_id, "--option", "ship")
    assert again.exit_code == 2 and f"{me} already approved; it needs 2 distinct approvers" in again.stderr
    partial = Store().events(handle.run_id, types=("breakpoint.approval",))[-1].data
    assert partial["claimed_by"] == "Release Desk" and partial["identity"]["user"] == me
    assert partial["identity"]["auth"] == "os"


def test_an_edited_policy_is_reported_when_answering(project):
    run_id = _waiting_on_production()
    (project / "mlsitter-approvals.yaml").write_text(POLICY.replace("version: 7", "version: 8"))
    refused = cli("approve", run_id, "--option", "ship")
    assert refused.exit_code == 2 and "has no roles" in refused.stderr and "changed (sha256 now" in refused.stderr
    cli("users", "add", os_identity().user, "--role", "release-manager")
    res = cli("reject", run_id, "--feedback", "no")
    assert res.exit_code == 0 and "rejected run" in res.stdout
    assert "note: the approvals file" in res.stderr and "keeps the version it started with (version 7" in res.stderr


def test_a_malformed_policy_or_an_open_users_file_stops_the_run_before_it_exists(project):
    (project / "mlsitter-approvals.yaml").write_text(POLICY.replace("[release-manager]", "[releese-manager]"))
    res = cli("run", f"{CASES}:release")
    assert res.exit_code == 2 and "rule 'production': unknown role 'releese-manager'" in res.stderr
    (project / "mlsitter-approvals.yaml").write_text(POLICY)
    cli("users", "add", "bob", "--role", "approver")
    os.chmod(users_path(), 0o640)
    res = cli("run", f"{CASES}:release")
    assert res.exit_code == 2 and "can be read or written by other users" in res.stderr
    assert Store().list_runs() == []
