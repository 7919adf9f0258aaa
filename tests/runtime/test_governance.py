"""Approval rules as code: roles, distinct approvers, separation of duties, validity, and a bound policy version."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlsitter.errors import ApprovalRefusedError, SpecError, UsersFileError
from mlsitter.runtime import approvals
from mlsitter.runtime.identity import Identity
from mlsitter.runtime.runner import Runner
from mlsitter.runtime.store import Store
from mlsitter.runtime.users import load_users, users_path

CASES = Path(__file__).parent / "runtime_cases.py"
RELEASE = f"{CASES}:release"
POLICY = """\
version: 1
roles: [release-manager, approver]
rules:
  production:
    roles: [release-manager, approver]
    approvers: 2
    starter_may_approve: false
    valid_for: 24h
"""
ALICE, BOB, CAROL, DAVE = (Identity(n, "os", "test-host") for n in ("alice", "bob", "carol", "dave"))


@pytest.fixture
def policy_file(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "project" / "mlsitter-approvals.yaml"
    path.parent.mkdir()
    path.write_text(POLICY)
    monkeypatch.chdir(path.parent)  # the default lookup: ./mlsitter-approvals.yaml
    users = load_users()
    for name in ("alice", "bob", "carol"):
        users.add(name, ["release-manager"])
    users.add("dave", ["data-scientist"])
    users.save()
    return path


def _at_production(runner: Runner, starter: Identity = ALICE) -> str:
    handle = runner.start(RELEASE, starter=starter)
    runner.answer(handle.run_id, approved=True, identity=starter)  # the ungoverned release-notes sign-off
    handle = runner.resume(handle.run_id)
    assert handle.status == "waiting" and handle.waiting["tags"] == ["production"]
    return handle.run_id


def test_production_needs_two_distinct_approvers_and_refuses_the_starter(policy_file, journal_db):
    runner = Runner()
    run_id = _at_production(runner)
    bound = runner.bound_event(run_id)
    assert bound["starter"]["user"] == "alice" and bound["rules"]["version"] == "1"
    assert bound["rules"]["sha256"] == approvals.load_rules().sha256

    with pytest.raises(ApprovalRefusedError, match=r"rule 'production.starter_may_approve' refused .* alice started"):
        runner.answer(run_id, approved=True, option="ship", identity=ALICE)

    assert runner.answer(run_id, approved=True, option="ship", identity=BOB).status == "waiting"
    state = runner.approval_status(run_id)
    assert [a.user for a in state.approvals] == ["bob"] and state.needed == 2 and state.drift is None
    with pytest.raises(ApprovalRefusedError, match=r"rule 'production.approvers' .* bob already approved; it needs 2"):
        runner.answer(run_id, approved=True, option="ship", identity=BOB)
    with pytest.raises(ApprovalRefusedError, match="chose option 'ship'"):
        runner.answer(run_id, approved=True, option="hold", identity=CAROL)

    assert runner.answer(run_id, approved=True, option="ship", identity=CAROL, by="Carol C.").status == "ready"
    done = runner.resume(run_id)
    assert done.status == "completed" and done.result == {"shipped": True, "by": "Carol C.", "option": "ship"}
    events = Store().events(run_id, types=("breakpoint.approval", "breakpoint.answered"))
    partial, final = events[-2], events[-1]
    assert partial.type == "breakpoint.approval" and partial.data["identity"] == BOB.as_dict()
    assert final.data["identity"] == {"user": "carol", "auth": "os", "host": "test-host"}
    assert final.data["claimed_by"] == "Carol C." and final.data["approvers"] == ["bob", "carol"]
    assert final.data["policy"] == {"version": "1", "sha256": bound["rules"]["sha256"], "tags": ["production"]}


def test_a_user_without_the_role_is_refused_and_the_run_keeps_waiting(policy_file):
    runner = Runner()
    run_id = _at_production(runner)
    with pytest.raises(ApprovalRefusedError, match=r"rule 'production.roles' refused the answer of dave \(os\): it "
                                                   r"needs one of the roles release-manager, approver"):
        runner.answer(run_id, approved=False, feedback="not yet", identity=DAVE)
    with pytest.raises(ApprovalRefusedError, match="erin has no roles"):
        runner.answer(run_id, approved=True, identity=Identity("erin", "os"))
    assert runner.handle(run_id).status == "waiting" and runner.approval_status(run_id).approvals == []


def test_a_rejection_by_a_role_holder_ends_the_wait_even_from_the_starter(policy_file):
    runner = Runner()
    run_id = _at_production(runner)
    assert runner.answer(run_id, approved=False, feedback="hold it", identity=ALICE).status == "ready"
    assert runner.resume(run_id).result["shipped"] is False


def test_an_expired_approval_no_longer_counts(policy_file, monkeypatch):
    runner = Runner()
    run_id = _at_production(runner)
    runner.answer(run_id, approved=True, option="ship", identity=BOB)
    later = approvals.now_ts() + 25 * 3600  # past valid_for: 24h
    monkeypatch.setattr(approvals, "now_ts", lambda: later)
    assert runner.approval_status(run_id).approvals == []
    assert runner.answer(run_id, approved=True, option="ship", identity=CAROL).status == "waiting"
    assert runner.answer(run_id, approved=True, option="ship", identity=BOB).status == "ready"


def test_a_policy_edited_while_the_run_waits_is_detected_and_the_run_keeps_its_version(policy_file):
    runner = Runner()
    run_id = _at_production(runner)
    policy_file.write_text(POLICY.replace("version: 1", "version: 2").replace("approvers: 2", "approvers: 1"))
    state = runner.approval_status(run_id)
    assert state.version == "1" and "changed" in state.drift and "keeps the version it started with" in state.drift
    assert runner.answer(run_id, approved=True, option="ship", identity=BOB).status == "waiting"  # still two
    assert runner.answer(run_id, approved=True, option="ship", identity=CAROL).status == "ready"
    final = Store().events(run_id, types=("breakpoint.answered",))[-1]
    assert final.data["policy"]["version"] == "1" and "changed (sha256 now" in final.data["policy"]["drift"]
    fresh = runner.start(RELEASE, starter=ALICE)  # a new run binds the file as it is now
    assert runner.bound_event(fresh.run_id)["rules"]["version"] == "2"


def test_auto_never_approves_a_governed_tag_unless_it_names_it(policy_file):
    runner = Runner()
    waiting = runner.start(RELEASE, approve="auto", starter=ALICE)
    assert waiting.status == "waiting" and waiting.waiting["tags"] == ["production"]
    done = runner.start(RELEASE, approve="auto+production", starter=ALICE)
    assert done.status == "completed" and done.result["by"] == "policy:auto+production"
    answered = Store().events(done.run_id, types=("breakpoint.answered",))[-1]
    assert answered.data["identity"]["auth"] == "policy"


def test_a_child_run_inherits_the_rules_and_the_starter_of_its_parent(policy_file):
    runner = Runner()
    handle = runner.start(f"{CASES}:rt-parent", starter=ALICE)
    child = Store().list_runs(parent=handle.run_id)[0]
    bound = runner.bound_event(child.run_id)
    assert bound["inherited_from"] == handle.run_id and bound["starter"]["user"] == "alice"


@pytest.mark.parametrize("text, message", [
    ("version: 1\nroles: [a]\nrules: {production: {roles: [b]}}\n", "rule 'production': unknown role 'b'; the file declares a"),
    ("version: 1\nroles: [a]\nrules: {production: {roles: [a], approver: 2}}\n", "unknown field 'approver'"),
    ("version: 1\nroles: [a]\nrules: {production: {roles: [a], approvers: 0}}\n", "'approvers' must be a whole number >= 1"),
    ("version: 1\nroles: [a]\nrules: {production: {roles: [a], valid_for: soon}}\n", "'valid_for' must be a positive duration"),
    ("roles: [a]\nrules: {production: {roles: [a]}}\n", "'version' is required"),
    ("version: 1\nroles: [a]\nrules: {production: {roles: [a]}\n", "is not valid YAML"),
])
def test_a_bad_policy_file_is_refused_with_the_field_named_and_no_run_is_created(policy_file, text, message):
    policy_file.write_text(text)
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace("[", r"\[")):
        Runner().start(RELEASE, starter=ALICE)
    assert Store().list_runs() == []


def test_a_named_policy_file_must_exist(tmp_path, monkeypatch):
    monkeypatch.setenv(approvals.APPROVALS_ENV, str(tmp_path / "nowhere.yaml"))
    with pytest.raises(SpecError, match="nowhere.yaml does not exist"):
        Runner().start(RELEASE)
    assert Store().list_runs() == []


def test_a_users_file_others_can_read_stops_runs_and_answers(policy_file):
    runner = Runner()
    run_id = _at_production(runner)
    os.chmod(users_path(), 0o644)
    with pytest.raises(UsersFileError, match=r"can be read or written by other users .*`chmod 600"):
        runner.answer(run_id, approved=True, option="ship", identity=BOB)
    with pytest.raises(UsersFileError):
        runner.start(RELEASE, starter=ALICE)
    assert runner.handle(run_id).status == "waiting" and len(Store().list_runs()) == 1


def test_without_an_approvals_file_answers_still_record_who_and_how(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = Runner()
    handle = runner.start(RELEASE)
    assert runner.bound_event(handle.run_id) is None
    runner.answer(handle.run_id, approved=True, by="someone")
    answered = Store().events(handle.run_id, types=("breakpoint.answered",))[-1].data
    assert answered["by"] == "someone" and answered["claimed_by"] == "someone"
    assert answered["identity"]["auth"] == "os" and answered["identity"]["user"] not in ("", "someone")


def test_a_run_its_creator_did_not_bind_binds_at_first_start_or_does_not_start(policy_file):
    from mlsitter.runtime.definitions import resolve

    spec = resolve(RELEASE)
    store = Store()

    def unbound() -> str:  # what a creator that died between the run row and approvals.bound leaves
        return store.create_run(process=spec.name, target=spec.target, inputs={}, policy="auto", executor="inline",
                                seed=1)

    broken = unbound()
    policy_file.write_text("version: 1\nroles: [a]\nrules: {production: {roles: [b]}}\n")
    with pytest.raises(SpecError, match="unknown role 'b'"):
        Runner(store).drive(broken)
    assert store.get_run(broken).status == "created" and not store.events(broken, types=("run.started",))

    policy_file.write_text(POLICY)
    handle = Runner(store).drive(unbound())
    assert handle.status == "waiting" and handle.waiting["tags"] == ["production"]  # auto did not approve it
    types = [e.type for e in store.events(handle.run_id)]
    assert types[:3] == ["run.created", "approvals.bound", "run.started"]
