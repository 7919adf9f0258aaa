"""The runtime contract (DESIGN §2) on the real code path: journal, replay, gates, approvals, timers,
children, external effects, retries, executors, policies."""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import time
from pathlib import Path

import pytest

import mlsitter
from mlsitter import Store
from mlsitter.errors import (
    GateFailedError,
    InputError,
    NonDeterminismError,
    RunStateError,
    UnknownProcessError,
)

CASES = Path(__file__).parent / "runtime_cases.py"


def target(name: str) -> str:
    return f"{CASES}:{name}"


def counts(counter: Path) -> list[int]:
    return [int(x) for x in counter.read_text().split()] if counter.exists() else []


def test_run_completes_and_journal_verifies(tmp_path):
    counter = tmp_path / "counter"
    handle = mlsitter.run(target("steps"), counter=str(counter), n=5)
    assert handle.status == "completed"
    assert handle.result == {"total": sum(i * i for i in range(5))}
    assert counts(counter) == [0, 1, 2, 3, 4]
    report = Store().verify(handle.run_id)
    assert report.ok and report.events >= 12


def test_breakpoint_suspends_and_approve_resume_completes(tmp_path, journal_db):
    counter = tmp_path / "counter"
    handle = mlsitter.run(target("wait-then-steps"), counter=str(counter), n=2)
    assert handle.status == "waiting"
    assert handle.waiting["question"] == "Start the work?"
    assert counts(counter) == []  # nothing ran past the breakpoint; the process has returned
    assert mlsitter.get(handle.run_id).status == "waiting"
    mlsitter.approve(handle.run_id)
    with pytest.raises(RunStateError, match="no approval to answer"):
        mlsitter.approve(handle.run_id)  # answered once; the run is now ready to resume
    done = mlsitter.resume(handle.run_id)
    assert done.status == "completed" and done.result == {"results": [0, 1]}
    events = Store().events(handle.run_id, types=("breakpoint.answered",))
    assert events[0].data["approved"] is True and "@" in events[0].data["by"]


def test_reject_feedback_reaches_next_refine_attempt_and_changes_report():
    handle = mlsitter.run(target("review"))
    assert handle.status == "waiting"
    first = handle.waiting["artifacts"][0]
    handle = mlsitter.reject(handle.run_id, "add the missing-value table", resume=True)
    assert handle.status == "waiting"
    assert handle.waiting["context"]["attempt"] == 2
    second = handle.waiting["artifacts"][0]
    assert first["sha256"] != second["sha256"]
    store = Store()
    report_path = store.artifacts.find(second["sha256"])
    assert "add the missing-value table" in report_path.read_text()
    done = mlsitter.approve(handle.run_id, resume=True)
    assert done.status == "completed"
    assert done.result == {"feedbacks": [None, "add the missing-value table"], "attempts": 2}


def test_refine_out_of_attempts_fails_naming_the_loop():
    handle = mlsitter.run(target("review"), max_attempts=2)
    handle = mlsitter.reject(handle.run_id, "no", resume=True)
    handle = mlsitter.reject(handle.run_id, "still no", resume=True)
    assert handle.status == "failed"
    assert "refine loop 'report'" in handle.error and "2 attempts" in handle.error


def test_rejection_needs_feedback():
    handle = mlsitter.run(target("review"))
    with pytest.raises(InputError, match="feedback"):
        mlsitter.reject(handle.run_id, "   ")


def test_gate_fail_ends_run_naming_gate():
    handle = mlsitter.run(target("gated"), value=0.2)
    assert handle.status == "failed"
    assert "gate 'quality' failed" in handle.error and "0.2" in handle.error


def test_gate_warn_records_and_continues():
    handle = mlsitter.run(target("gated"), value=0.2, on_fail="warn")
    assert handle.status == "completed" and handle.result == {"passed": False, "overridden": False}
    gate = Store().events(handle.run_id, types=("gate.evaluated",))[0].data
    assert gate["value"] == 0.2 and gate["threshold"] == 0.5 and gate["passed"] is False


def test_gate_ask_override_is_journaled_with_who():
    handle = mlsitter.run(target("gated"), value=0.2, on_fail="ask")
    assert handle.status == "waiting" and "Gate 'quality' failed" in handle.waiting["question"]
    done = mlsitter.approve(handle.run_id, feedback="known seasonal dip", by="alice", resume=True)
    assert done.status == "completed" and done.result == {"passed": False, "overridden": True}
    over = Store().events(handle.run_id, types=("gate.overridden",))[0].data
    assert over["by"] == "alice" and over["feedback"] == "known seasonal dip"


def test_gate_ask_refused_override_fails():
    handle = mlsitter.run(target("gated"), value=0.2, on_fail="ask")
    done = mlsitter.reject(handle.run_id, "too low", resume=True)
    assert done.status == "failed" and "override refused" in done.error


def test_gate_passes_on_measured_value():
    handle = mlsitter.run(target("gated"), value=0.9)
    assert handle.status == "completed" and handle.result["passed"] is True


def test_policies_auto_gates_passed_and_production():
    auto = mlsitter.run(target("policy-check"), approve="auto")
    assert auto.status == "waiting" and auto.waiting["question"] == "Deploy to production?"
    allowed = mlsitter.run(target("policy-check"), approve="auto+production")
    assert allowed.status == "completed" and allowed.result["second_by"] == "policy:auto+production"
    gp = mlsitter.run(target("policy-check"), approve="gates-passed", value=1.0)
    assert gp.status == "waiting" and gp.waiting["question"] == "Deploy to production?"
    gp_fail = mlsitter.run(target("policy-check"), approve="gates-passed", value=0.1)
    assert gp_fail.status == "waiting" and gp_fail.waiting["question"] == "Ordinary approval?"
    with pytest.raises(InputError, match="approval policy"):
        mlsitter.run(target("policy-check"), approve="yolo")


def test_external_effect_pending_invalid_and_valid_result():
    from mlsitter.runtime import Runner

    handle = mlsitter.run(target("external"))
    assert handle.status == "waiting"
    pending = Runner().pending()
    assert [p.run_id for p in pending] == [handle.run_id]
    assert pending[0].waiting["spec"]["question"] == "label this row"
    assert pending[0].waiting["schema"]["required"] == ["label", "score"]
    with pytest.raises(InputError, match="schema"):
        Runner().post_external(handle.run_id, None, {"label": "cat"})
    with pytest.raises(InputError, match="score"):
        Runner().post_external(handle.run_id, None, {"label": "cat", "score": "high"})
    assert Store().verify(handle.run_id).ok
    Runner().post_external(handle.run_id, handle.waiting["key"], {"label": "cat", "score": 0.9}, by="bob")
    done = mlsitter.resume(handle.run_id)
    assert done.status == "completed" and done.result == {"got": {"label": "cat", "score": 0.9}}


def test_agent_adapter_runs_configured_command(tmp_path, monkeypatch):
    agent = tmp_path / "agent.py"
    agent.write_text(
        "import json, sys\n"
        "req = json.load(sys.stdin)\n"
        "assert req['spec']['question'] == 'label this row'\n"
        "print(json.dumps({'label': 'dog', 'score': 0.75}))\n"
    )
    monkeypatch.setenv("MLSITTER_AGENT_COMMAND", f"{sys.executable} {agent}")
    done = mlsitter.run(target("external"), kind="agent")
    assert done.status == "completed" and done.result == {"got": {"label": "dog", "score": 0.75}}
    by = Store().events(done.run_id, types=("external.completed",))[0].data["by"]
    assert by.startswith("agent:")


def test_agent_result_breaking_schema_fails_run(tmp_path, monkeypatch):
    agent = tmp_path / "agent.py"
    agent.write_text("print('{\"label\": 3}')\n")
    monkeypatch.setenv("MLSITTER_AGENT_COMMAND", f"{sys.executable} {agent}")
    done = mlsitter.run(target("external"), kind="agent")
    assert done.status == "failed" and "schema" in done.error


def test_timer_suspends_until_due_then_resume_due_wakes_it(monkeypatch):
    from mlsitter.runtime import Runner

    handle = mlsitter.run(target("sleeper"), seconds=2.6)
    assert handle.status == "waiting" and handle.waiting["kind"] == "timer"
    run = Store().get_run(handle.run_id)
    assert run.wake_at and run.wake_at >= run.created_at + 2.6  # the timer starts at the sleep, after the run began
    with monkeypatch.context() as m:  # half a second before it is due, however long the lines above took
        m.setattr(time, "time", lambda: run.wake_at - 0.5)
        assert Runner().resume_due() == []  # not yet due
    time.sleep(max(0.0, run.wake_at - time.time()) + 0.1)
    woken = Runner().resume_due()
    assert [h.run_id for h in woken] == [handle.run_id] and woken[0].status == "completed"


def test_parent_waits_on_child_breakpoint_and_completes_after_child_approved(journal_db):
    handle = mlsitter.run(target("rt-parent"), value=4)
    assert handle.status == "waiting" and handle.waiting["kind"] == "child"
    store = Store()
    child_id = handle.waiting["child_run_id"]
    child = store.get_run(child_id)
    assert child.status == "waiting" and child.parent_run_id == handle.run_id
    # approving the parent routes to the child's breakpoint; resuming the child wakes the parent
    mlsitter.approve(handle.run_id, by="carol")
    mlsitter.resume(child_id)
    parent = mlsitter.get(handle.run_id)
    assert parent.status == "completed"
    assert parent.result == {"child": {"value": 40, "approved_by": "carol"}}
    assert store.verify(handle.run_id).ok and store.verify(child_id).ok


def test_task_retries_with_backoff_are_journaled(tmp_path):
    handle = mlsitter.run(target("flaky"), state=str(tmp_path / "state"), fail_times=2)
    assert handle.status == "completed" and handle.result == "ok"
    types = [e.type for e in Store().events(handle.run_id) if e.type.startswith("step.")]
    assert types == ["step.started", "step.failed", "step.retried", "step.failed", "step.retried", "step.completed"]


def test_task_out_of_retries_fails_run(tmp_path):
    handle = mlsitter.run(target("flaky"), state=str(tmp_path / "state"), fail_times=5)
    assert handle.status == "failed" and "transient failure 3" in handle.error


@pytest.mark.parametrize("executor", ["inline", "process"])
def test_map_results_in_order_on_each_executor(executor):
    handle = mlsitter.run(target("mapper"), n=6, executor=executor)
    assert handle.status == "completed" and handle.result == [0, 1, 4, 9, 16, 25]
    keys = [e.data["key"] for e in Store().events(handle.run_id, types=("step.completed",))]
    assert sorted(keys) == [f"1.{i}" for i in range(6)]


def test_local_tasks_run_in_the_runner_and_prefetch_imports_there():
    assert "mailbox" not in sys.modules
    handle = mlsitter.run(target("placement"), module="mailbox", wait=True, executor="process")
    r = handle.result
    assert handle.status == "completed", handle.error
    assert r["local"] == r["runner"] and r["parallel"][1] == r["runner"]  # @task(local=True)
    assert r["plain"] != r["runner"] and r["parallel"][0] != r["runner"]  # the pool
    assert r["prefetched"]  # loaded by the runner's background import
    started = {e.data["key"]: e.data["executor"] for e in Store().events(handle.run_id, types=("step.started",))}
    assert sorted(started.values()) == ["inline", "inline", "process", "process"]
    # inline executor: everything in the runner; prefetch is a no-op there, an unknown module never fails a run
    inline = mlsitter.run(target("placement"), module="no_such_module_here", executor="inline")
    assert inline.status == "completed" and inline.result["plain"] == inline.result["runner"]
    assert inline.result["prefetched"] is False


def test_values_are_journaled_and_replayed_identically(journal_db):
    handle = mlsitter.run(target("values"), rows=4, seed=7)
    assert handle.status == "completed" and handle.result["rows"] == 4 and handle.result["mean"] == 0.75
    again = mlsitter.run(target("values"), rows=4, seed=7)
    assert again.result["seed"] == handle.result["seed"]  # same run seed -> same derived seed
    assert again.result["uuid"] != handle.result["uuid"]


def test_run_seed_reaches_a_process_seed_input_unless_the_inputs_name_one():
    # mlsitter.run("training", ..., seed=3) and `mlsitter run training --seed 3` must search with seed 3
    assert mlsitter.run(target("seeded"), seed=3).result["input"] == 3
    explicit = mlsitter.run(target("seeded"), {"seed": 5}, seed=3)
    assert explicit.result["input"] == 5 and Store().get_run(explicit.run_id).seed == 3
    assert mlsitter.run(target("seeded")).result["input"] == 0  # no run seed: the process default
    assert "seed" not in Store().get_run(mlsitter.run(target("values"), rows=2, seed=7).run_id).inputs


def test_determinism_error_names_position_and_both_steps(tmp_path, journal_db):
    proc = tmp_path / "proc.py"
    template = (
        "from mlsitter import process\n"
        "def load(n: int) -> int:\n    return n\n"
        "def clean(n: int) -> int:\n    return n + 1\n"
        "def scale(n: int) -> int:\n    return n * 2\n"
        "@process('editable')\n"
        "def editable(ctx, n: int = 1):\n"
        "    a = ctx.task(load, n=n)\n"
        "    b = ctx.task({step}, n=a)\n"
        "    ctx.breakpoint('continue?')\n"
        "    return b\n"
    )
    proc.write_text(template.format(step="clean"))
    handle = mlsitter.run(f"{proc}:editable")
    assert handle.status == "waiting"
    mlsitter.approve(handle.run_id)
    proc.write_text(template.format(step="scale"))
    for name in [m for m in sys.modules if m.startswith("mlsitter_user_")]:
        del sys.modules[name]
    with pytest.raises(NonDeterminismError) as info:
        mlsitter.resume(handle.run_id)
    message = str(info.value)
    assert "position 2" in message and ".clean'" in message and ".scale'" in message
    assert Store().get_run(handle.run_id).status == "ready"  # the run is kept; restoring the code finishes it
    assert Store().verify(handle.run_id).ok
    proc.write_text(template.format(step="clean"))
    for name in [m for m in sys.modules if m.startswith("mlsitter_user_")]:
        del sys.modules[name]
    assert mlsitter.resume(handle.run_id).result == 2


def test_tamper_with_event_or_artifact_is_detected(journal_db):
    handle = mlsitter.run(target("review"))
    store = Store()
    assert store.verify(handle.run_id).ok
    sha = handle.waiting["artifacts"][0]["sha256"]
    path = store.artifacts.find(sha)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[10] ^= 1
    path.write_bytes(bytes(data))
    report = store.verify(handle.run_id)
    assert not report.ok and any("report-1.html" in p and "modified" in p for p in report.problems)

    other = mlsitter.run(target("gated"), value=0.9)
    with contextlib.closing(Store().conn) if journal_db else sqlite3.connect(store.db_path) as conn:
        conn.execute("UPDATE events SET data=replace(data, '0.9', '0.1') WHERE run_id=? AND type='gate.evaluated'",
                     (other.run_id,))
    report = Store().verify(other.run_id)
    assert not report.ok and any("gate.evaluated" in p and "modified" in p for p in report.problems)


def test_bad_inputs_and_unknown_processes_are_clear(tmp_path):
    with pytest.raises(UnknownProcessError, match="unknown process 'nope'"):
        mlsitter.run("nope")
    with pytest.raises(UnknownProcessError, match="no function 'missing'"):
        mlsitter.run(target("missing"))
    with pytest.raises(UnknownProcessError, match="does not exist"):
        mlsitter.run(f"{tmp_path}/absent.py:fn")
    with pytest.raises(InputError, match="needs the input 'counter'"):
        mlsitter.run(target("steps"))
    with pytest.raises(InputError, match="must be an integer; got 'many'"):
        mlsitter.run(target("steps"), counter="x", n="many")
    with pytest.raises(InputError, match="has no input 'bogus'"):
        mlsitter.run(target("steps"), counter="x", bogus=1)
    assert Store().count_runs() == 0  # nothing half-created


def test_finished_run_cannot_be_resumed_or_cancelled(tmp_path):
    handle = mlsitter.run(target("steps"), counter=str(tmp_path / "c"), n=1)
    with pytest.raises(RunStateError, match="already completed"):
        mlsitter.resume(handle.run_id)
    with pytest.raises(RunStateError):
        mlsitter.cancel(handle.run_id)


def test_a_failed_run_retried_runs_only_what_did_not_complete(tmp_path, journal_db):
    counter, flag = tmp_path / "counter", tmp_path / "upstream.csv"
    failed = mlsitter.run(target("needs-file"), counter=str(counter), flag=str(flag))
    assert failed.status == "failed" and "is not there yet" in failed.error
    flag.write_text("fixed")
    done = mlsitter.retry(failed.run_id, reason="upstream file restored")
    assert done.status == "completed", done.error
    assert done.result == {"first": 1, "found": "fixed", "last": 4}
    assert counter.read_text().split() == ["1", "2"]  # the step that completed before the failure ran once
    [retried] = Store().events(failed.run_id, types=("run.retried",))
    assert retried.data["reason"] == "upstream file restored" and "is not there yet" in retried.data["error"]
    assert retried.data["identity"]["user"] and Store().verify(failed.run_id).ok  # who asked; the row agrees
    with pytest.raises(RunStateError, match="is completed; only a failed run can be retried"):
        mlsitter.retry(failed.run_id)


def test_retrying_a_parent_retries_its_failed_child_and_a_failed_gate_stays_failed(tmp_path, journal_db):
    counter, flag = tmp_path / "counter", tmp_path / "upstream.csv"
    failed = mlsitter.run(target("needs-file-parent"), counter=str(counter), flag=str(flag))
    [child] = Store().list_runs(parent=failed.run_id)
    assert failed.status == "failed" and child.status == "failed"
    flag.write_text("fixed")
    done = mlsitter.retry(failed.run_id)
    assert done.status == "completed", done.error
    assert done.result["child"]["found"] == "fixed" and mlsitter.get(child.run_id).status == "completed"
    assert counter.read_text().split() == ["1", "2"]
    assert Store().verify(failed.run_id).ok and Store().verify(child.run_id).ok
    gated = mlsitter.run(target("gated"), value=0.1)  # a recorded decision: retrying does not undo a failed gate
    assert gated.status == "failed"
    again = mlsitter.retry(gated.run_id)
    assert again.status == "failed" and again.error == gated.error


def test_cancel_waiting_run_and_its_child():
    handle = mlsitter.run(target("rt-parent"))
    child_id = handle.waiting["child_run_id"]
    mlsitter.cancel(handle.run_id, reason="not needed")
    assert mlsitter.get(handle.run_id).status == "cancelled"
    assert mlsitter.get(child_id).status == "cancelled"
    with pytest.raises(RunStateError):
        mlsitter.approve(handle.run_id)


def test_import_is_light():
    import subprocess

    code = "import mlsitter, sys; print(sorted(m for m in ('pandas','numpy','sklearn','mlflow','fastapi','jsonschema') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_status_view_counts_retries(tmp_path):
    from mlsitter.runtime.views import build_view

    handle = mlsitter.run(target("flaky"), state=str(tmp_path / "state"), fail_times=2)
    view = build_view(Store(), handle.run_id)
    assert [(s.attempts, s.status) for s in view.steps] == [(3, "completed")]


def test_replayed_dicts_keep_their_order(tmp_path):
    proc = tmp_path / "order.py"
    proc.write_text(
        "from mlsitter import process\n"
        "def scores() -> dict:\n    return {'zeta': 1, 'alpha': 2, 'mid': 3}\n"
        "def use(name: str) -> str:\n    return name.upper()\n"
        "@process('order')\n"
        "def order(ctx):\n"
        "    s = ctx.task(scores)\n"
        "    first = ctx.task(use, name=next(iter(s)))\n"
        "    ctx.breakpoint('go?')\n"
        "    return [first, list(s)]\n"
    )
    handle = mlsitter.run(f"{proc}:order")
    done = mlsitter.approve(handle.run_id, resume=True)
    assert done.status == "completed" and done.result == ["ZETA", ["zeta", "alpha", "mid"]]


def test_waiting_breakpoint_lists_artifact_paths():
    handle = mlsitter.run(target("review"))
    art = handle.waiting["artifacts"][0]
    assert Path(art["path"]).read_text().startswith("<html>")


def test_process_pool_runs_tasks_from_a_user_file_with_its_own_classes(tmp_path):
    proc = tmp_path / "geo.py"
    proc.write_text(
        "from dataclasses import dataclass\n"
        "from mlsitter import process\n"
        "@dataclass\n"
        "class Point:\n    x: float\n    y: float\n"
        "def norm(p: Point) -> float:\n    return (p.x ** 2 + p.y ** 2) ** 0.5\n"
        "@process('geo')\n"
        "def geo(ctx):\n    return ctx.map(norm, [Point(3, 4), Point(6, 8)])\n"
        "if __name__ == '__main__':\n    raise SystemExit('must not run in workers')\n"
    )
    handle = mlsitter.run(f"{proc}:geo", executor="process")
    assert handle.status == "completed", handle.error
    assert handle.result == [5.0, 10.0]


def test_patched_lets_a_run_begun_before_a_change_finish_on_the_old_path(tmp_path, monkeypatch):
    """ctx.patched: a waiting run written by the old code replays without the step added before its wait and
    takes the one added after it; a run begun with today's code replays its own additions from the journal."""
    old_counter, new_counter = tmp_path / "old", tmp_path / "new"
    monkeypatch.delenv("MLSITTER_TEST_UPGRADED", raising=False)
    old = mlsitter.run(target("upgraded"), counter=str(old_counter))
    assert old.status == "waiting" and counts(old_counter) == [1]
    monkeypatch.setenv("MLSITTER_TEST_UPGRADED", "1")  # the code is upgraded while the run waits
    done = mlsitter.approve(old.run_id, by="lead", resume=True)
    assert done.status == "completed", done.error
    assert done.result == {"first": 1, "added": None, "after": 9} and counts(old_counter) == [1, 3]
    new = mlsitter.run(target("upgraded"), counter=str(new_counter))
    assert new.status == "waiting" and counts(new_counter) == [1, 2]
    finished = mlsitter.approve(new.run_id, by="lead", resume=True)
    assert finished.result == {"first": 1, "added": 4, "after": 9} and counts(new_counter) == [1, 2, 3]  # none again
    markers = [e.data["name"] for e in Store().events(new.run_id, types=("patch.recorded",))]
    assert markers == ["upgraded.before-wait", "upgraded.after-wait"]
    assert Store().verify(old.run_id).ok and Store().verify(new.run_id).ok
