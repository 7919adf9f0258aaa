"""`mlsitter compliance RUN [-o BUNDLE]`, `mlsitter compliance verify BUNDLE`, partial approvals in `status`,
and who cancelled a run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bundle_tools import tamper
from mlsitter.cli import main
from mlsitter.runtime.identity import Identity, os_identity
from mlsitter.runtime.keys import default_key_path
from mlsitter.runtime.runner import Runner
from mlsitter.runtime.store import Store
from mlsitter.runtime.users import load_users

CASES = Path(__file__).parents[1] / "runtime" / "compliance_cases.py"
POLICY = "version: 2\nroles: [release-manager]\nrules:\n  production: {roles: [release-manager], approvers: 2}\n"


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def waiting(tmp_path, monkeypatch) -> str:
    """An audited release waiting on production with one of its two approvals (bob's)."""
    (tmp_path / "mlsitter-approvals.yaml").write_text(POLICY)
    monkeypatch.chdir(tmp_path)
    users = load_users()
    for name in ("bob", "carol"):
        users.add(name, ["release-manager"])
    users.save()
    runner = Runner()
    handle = runner.start(f"{CASES}:audited-release")
    runner.answer(handle.run_id, approved=True)
    runner.resume(handle.run_id)
    runner.answer(handle.run_id, approved=True, option="ship", identity=Identity("bob", "os", "h"), by="Bob B.")
    return handle.run_id


def test_status_shows_the_approvals_short_of_the_quorum(waiting):
    res = cli("status", waiting)
    assert res.exit_code == 3 and "1 of 2 approvals so far: bob (Bob B.)" in res.stdout
    listed = json.loads(cli("status", waiting, "--json").stdout)["breakpoints"][-1]
    assert listed["needed"] == 2 and listed["approvals"][0]["user"] == "bob" and listed["approvals"][0]["auth"] == "os"


def test_compliance_prints_checkpoints_writes_a_bundle_that_verifies_and_names_a_tampered_member(waiting, tmp_path):
    Runner().answer(waiting, approved=True, option="ship", identity=Identity("carol", "os", "h"))
    Runner().resume(waiting)
    bundle = tmp_path / "bundle.zip"
    res = cli("compliance", waiting, "-o", str(bundle))
    assert res.exit_code == 0, res.output
    assert "Deployment\n  Deployment: passed" in res.stdout and "bob (os, h) at" in res.stdout
    assert "on the numbers: data-quality 0.97 >= 0.9 (passed)" in res.stdout and f"written to {bundle}" in res.stderr
    record = json.loads(cli("compliance", "show", waiting, "--json").stdout)
    assert [p["name"] for p in record["phases"]][0] == "business-understanding"

    ok = cli("compliance", "verify", str(bundle))
    assert ok.exit_code == 0 and "OK — run" in ok.stdout and "1 child run(s)" in ok.stdout
    key_file = default_key_path(Store().store_id)
    assert cli("compliance", "verify", str(bundle), "--key-file", str(key_file), "--against-store").exit_code == 0

    tamper(bundle, "compliance.json", b'"bob"', b'"mallory"')
    bad = cli("compliance", "verify", str(bundle))
    assert bad.exit_code == 4 and "FAILED" in bad.stdout and "member compliance.json was modified" in bad.stdout


def test_bad_input_unknown_run_not_a_bundle_and_a_run_still_waiting_is_marked(waiting, tmp_path):
    unknown = cli("compliance", "no-such-run")
    assert unknown.exit_code == 2 and "no-such-run" in unknown.stderr
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    res = cli("compliance", "verify", str(junk))
    assert res.exit_code == 2 and "is not a compliance bundle" in res.stderr
    shown = cli("compliance", waiting)
    assert "(waiting)" in shown.stdout and "'Ship m-1 to production?': partial (ship)" in shown.stdout


def test_cancel_journals_the_os_account_and_a_claimed_name(waiting):
    assert cli("cancel", waiting, "--reason", "superseded", "--by", "Ops Desk").exit_code == 0
    data = Store().events(waiting, types=("run.cancelled",))[-1].data
    assert data["identity"] == os_identity().as_dict() and data["claimed_by"] == "Ops Desk"
    assert data["by"] == "Ops Desk" and data["reason"] == "superseded"
