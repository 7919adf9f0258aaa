"""Compliance checkpoints and the signed bundle: who approved what on which numbers, verified offline."""

from __future__ import annotations

import json
import threading
import time
import zipfile
from pathlib import Path

import pytest

from mlsitter.errors import InputError, JournalCorruptError, RunNotFoundError, RunStateError
from mlsitter.runtime.bundle import check_store, export_bundle, read_bundle, verify_bundle
from mlsitter.runtime.compliance import build_record, journals
from mlsitter.runtime.identity import Identity
from mlsitter.runtime.keys import JournalKey
from mlsitter.runtime.runner import Runner
from mlsitter.runtime.store import Store
from mlsitter.runtime.users import load_users

CASES = Path(__file__).parent / "compliance_cases.py"
POLICY = """\
version: 5
roles: [release-manager, validator]
rules:
  production: {roles: [release-manager], approvers: 2, starter_may_approve: false}
"""
ALICE, BOB, CAROL = (Identity(n, "os", "audit-host") for n in ("alice", "bob", "carol"))


@pytest.fixture
def released(tmp_path, monkeypatch) -> str:
    """A completed audited release: alice started it and approved the child's model card; bob and carol
    approved production (bob's approval partial, carol's completing the quorum)."""
    (tmp_path / "mlsitter-approvals.yaml").write_text(POLICY)
    monkeypatch.chdir(tmp_path)
    users = load_users()
    for name in ("alice", "bob", "carol"):
        users.add(name, ["release-manager"])
    users.save()
    runner = Runner()
    handle = runner.start(f"{CASES}:audited-release", starter=ALICE)
    runner.answer(handle.run_id, approved=True, identity=ALICE)  # the child's model card (ungoverned)
    assert runner.resume(handle.run_id).status == "waiting"
    runner.answer(handle.run_id, approved=True, option="ship", identity=BOB)
    runner.answer(handle.run_id, approved=True, option="ship", identity=CAROL, by="Carol (release desk)")
    assert runner.resume(handle.run_id).status == "completed"
    return handle.run_id


def _record(run_id: str):
    runs = journals(Store(), run_id)
    return build_record(runs, run_id)


def test_the_record_groups_checkpoints_by_phase_with_who_approved_what_on_which_numbers(released):
    record = _record(released)
    assert [p.name for p in record.phases] == ["business-understanding", "data-understanding", "data-preparation",
                                                "modeling", "evaluation", "deployment"]
    assert [r.process for r in record.runs] == ["audited-release", "audit-validation"]
    assert record.runs[0].policy["version"] == "5" and record.runs[0].starter["user"] == "alice"

    deployment = record.checkpoint("deployment")
    assert deployment.outcome == "passed" and [g.name for g in deployment.gates] == ["latency-p99-ms"]
    (production,) = deployment.approvals
    assert production.outcome == "approved" and production.option == "ship" and production.needed == 2
    assert [(s.user, s.auth, s.partial, s.by_starter) for s in production.signatures] == [
        ("bob", "os", True, False), ("carol", "os", False, False)]
    assert production.signatures[1].claimed_by == "Carol (release desk)"
    assert production.policy["version"] == "5" and production.policy["tags"] == ["production"]
    assert [(n["name"], n["value"], n["outcome"]) for n in production.numbers] == [
        ("data-quality", 0.97, "passed"), ("rows-loaded", 891, "passed"), ("latency-p99-ms", 41.5, "passed")]

    fairness = record.checkpoint("fairness")
    assert fairness.gates[0].value == 0.91 and fairness.gates[0].process == "audit-validation"
    card = record.checkpoint("explainability").approvals[0]
    assert card.signatures[0].user == "alice" and card.signatures[0].by_starter  # separation of duties not kept
    assert card.artifacts[0]["name"] == "model-card.json" and len(card.artifacts[0]["sha256"]) == 64
    assert record.checkpoint("independent-validation").approvals == [card]  # one question, two checkpoints
    assert record.checkpoint("independent-validation").outcome == "passed"
    assert record.checkpoint("privacy").outcome == "no evidence"
    assert [g.name for g in record.untagged_gates] == ["rows-loaded"]


def test_the_bundle_verifies_offline_and_pins_the_store(journal_db, released, tmp_path):
    """On SQLite and on PostgreSQL (``journal_db``): the bundle reads the journal only through the Store."""
    info = export_bundle(Store(), released, tmp_path / "out" / "bundle.zip")
    assert set(info.members) == {f"journal/{r}.jsonl" for r in info.runs} | {
        "compliance.json", "compliance.html", "verify.json", "digest.json"}
    report = verify_bundle(info.path)
    assert report.ok, report.problems
    assert report.run_id == released and len(report.runs) == 2
    members = read_bundle(info.path)
    page = members["compliance.html"].decode()
    assert "Ship m-1 to production?" in page and "carol" in page and "<script" not in page
    assert json.loads(members["verify.json"])[0]["ok"] is True
    assert check_store(Store(), info.path) == []


def _rewrite(path: Path, name: str, change) -> None:
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    members[name] = change(members[name])
    with zipfile.ZipFile(path, "w") as zf:
        for member, data in members.items():
            zf.writestr(member, data)


@pytest.mark.parametrize("member", ["compliance.json", "compliance.html", "verify.json", "digest.json", "journal"])
def test_tampering_with_any_member_fails_verification_naming_it(released, tmp_path, member):
    info = export_bundle(Store(), released, tmp_path / "bundle.zip")
    name = f"journal/{released}.jsonl" if member == "journal" else member
    _rewrite(Path(info.path), name, lambda data: data.replace(b"carol", b"carl").replace(b"0.97", b"0.99")
             .replace(b'"ok": true', b'"ok": false').replace(b'"events": ', b'"events": 1'))
    report = verify_bundle(info.path)
    assert not report.ok
    assert any(p.startswith(f"member {name} was modified") for p in report.problems), report.problems


def test_a_journal_rewritten_with_a_new_manifest_hash_still_fails_without_the_key(released, tmp_path):
    info = export_bundle(Store(), released, tmp_path / "bundle.zip")
    name = f"journal/{released}.jsonl"
    edited = read_bundle(info.path)[name].replace(b"0.97", b"0.99")
    _rewrite(Path(info.path), name, lambda _: edited)
    import hashlib

    def new_manifest(data: bytes) -> bytes:
        manifest = json.loads(data)
        manifest["members"][name] = hashlib.sha256(edited).hexdigest()
        return json.dumps(manifest).encode()

    _rewrite(Path(info.path), "manifest.json", new_manifest)
    problems = verify_bundle(info.path).problems
    assert any("manifest.json: its signature does not match" in p for p in problems)
    assert any(f"member {name}: event #" in p and "does not match its keyed hash" in p for p in problems)
    assert "member compliance.json does not say what the journals say" in problems


def test_an_added_member_or_another_key_fails(released, tmp_path):
    info = export_bundle(Store(), released, tmp_path / "bundle.zip")
    with zipfile.ZipFile(info.path, "a") as zf:
        zf.writestr("extra.txt", "hello")
    assert "member extra.txt is not in the manifest (added after the bundle was signed)" in \
        verify_bundle(info.path).problems
    other = verify_bundle(info.path, JournalKey(b"k" * 32, "a test key"))
    assert not other.ok and "the bundle was signed with key id" in other.problems[0]


def test_a_store_journal_edited_after_export_fails_against_the_bundle_and_blocks_new_bundles(released, tmp_path):
    info = export_bundle(Store(), released, tmp_path / "bundle.zip")
    store = Store()
    store.conn.execute("UPDATE events SET data=replace(data, '0.97', '0.99') WHERE run_id=? AND type='gate.evaluated'",
                       (released,))
    assert verify_bundle(info.path).ok  # the bundle itself still holds what was signed
    problems = check_store(store, info.path)
    assert any(p.startswith(f"run {released} in the store: event #") and "does not match its keyed hash" in p
               for p in problems), problems
    with pytest.raises(JournalCorruptError, match="fail verification"):
        export_bundle(store, released, tmp_path / "again.zip")


def test_bad_input_is_refused_clearly(released, tmp_path):
    with pytest.raises(RunNotFoundError):
        journals(Store(), "no-such-run")
    not_zip = tmp_path / "notes.zip"
    not_zip.write_text("just text")
    with pytest.raises(InputError, match="is not a compliance bundle"):
        verify_bundle(not_zip)
    with pytest.raises(InputError, match="no bundle at"):
        verify_bundle(tmp_path / "missing.zip")
    failed = Runner().start(f"{CASES}:mislabelled")
    assert failed.status == "failed"
    assert "gate 'x': unknown compliance checkpoint 'fairnes'; expected one of scope, privacy" in failed.error


def test_a_running_run_has_no_bundle_yet(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    flag = tmp_path / "flag"
    runner = Runner()
    run_id = runner.create(f"{CASES}:held", {"flag": str(flag)})
    thread = threading.Thread(target=lambda: Runner().drive(run_id))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while Store().get_run(run_id).status != "running" and time.monotonic() < deadline:
            time.sleep(0.02)
        with pytest.raises(RunStateError, match="is running; make its compliance bundle once it has stopped"):
            export_bundle(Store(), run_id, tmp_path / "bundle.zip")
    finally:
        flag.touch()
        thread.join(20)
    assert Store().get_run(run_id).status == "completed"
    assert verify_bundle(export_bundle(Store(), run_id, tmp_path / "bundle.zip").path).ok


def test_the_bundled_approvals_file_asks_two_approvers_for_production_without_the_starter():
    from mlsitter.runtime.approvals import load_rules

    rules = load_rules(Path(__file__).parents[2] / "examples" / "mlsitter-approvals.yaml")
    production = rules.rules["production"]
    assert (production.approvers, production.starter_may_approve, production.valid_for) == (2, False, 86400.0)
    assert rules.rules["fairness"].roles == ("risk-officer",) and set(rules.rules) >= {"schema-change", "data-change"}

