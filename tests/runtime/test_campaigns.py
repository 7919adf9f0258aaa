"""The crash and load campaigns of issue 16 at a small size: benchmarks/crash_campaign.py and
benchmarks/load_campaign.py with real OS processes, SIGKILLs and one shared SQLite store.

They assert the invariants (every run completes with the plain program's result, verify passes, no
completed step runs again, only in-flight steps re-run, no lost event, no locked database), never speed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from mlsitter import Runner, Store
from mlsitter.errors import MlsitterError

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
CASES = Path(__file__).parent / "runtime_cases.py"
sys.path.insert(0, str(BENCHMARKS))  # the campaign scripts, as `python benchmarks/<script>.py` sees them

import crash_campaign  # noqa: E402
import load_campaign  # noqa: E402
from _campaign_store import scratch_store, store_home  # noqa: E402


@pytest.mark.timeout(240)
def test_crash_campaign_every_killed_run_completes_and_no_completed_step_runs_again(tmp_path):
    report = crash_campaign.campaign(tmp_path / "store", runs=12, max_kills=1, jobs=3, rows=4000, work_s=0.03,
                                     process_share=0.1, seed=16)
    assert report.problems == []
    assert report.killed_runs == 12 and report.completed == report.runs >= 12
    assert report.verify_failures == 0 and report.cli_verify_ok
    assert report.executed_after_completion == 0 and report.started_after_completion == 0
    assert report.reexecuted_in_flight <= report.in_flight_at_kills
    assert report.executions == report.steps + report.reexecuted_in_flight
    # every named kill point was hit, and the journal places each kill where it was aimed
    cooperative = {k.cooperative: k.phase for o in report.outcomes for k in o.kills if k.cooperative}
    assert cooperative == {"step": "step (between start and result)", "map": "map (items in flight)",
                           "artifact": "artifact write (result encode: Parquet frame)", "child": "child run: step"}
    assert all(o.kills for o in report.outcomes if o.missed_kills == 0)  # a run was killed, or ended before its kill
    assert report.kills >= 12


@pytest.mark.timeout(180)
def test_load_campaign_runners_on_one_store_lose_nothing_and_never_see_a_locked_database(tmp_path):
    report = load_campaign.load(tmp_path / "store", runners=4, runs=5, steps=20)
    _load_invariants(report, runs=20)


@pytest.mark.timeout(180)
def test_load_campaign_on_a_postgresql_journal_loses_nothing(fresh_postgres):
    report = load_campaign.load(fresh_postgres, runners=4, runs=2, steps=10)  # smaller: the suite's time is short
    _load_invariants(report, runs=8)


def _load_invariants(report: load_campaign.LoadReport, runs: int) -> None:
    assert report.problems == []
    assert report.runs == report.completed == report.runs_in_store == runs
    assert report.database_locked == 0 and report.runner_failures == 0
    assert report.verify_failures == 0 and report.event_count_mismatches == 0
    assert set(report.step_latency_ms) == {"p50", "p90", "p99", "max"}


def test_campaign_store_location_takes_a_folder_or_a_postgresql_url_and_a_scratch_store_keeps_its_key(
        tmp_path, monkeypatch):
    assert store_home(tmp_path / "home") == (tmp_path / "home").resolve()
    with pytest.raises(SystemExit, match="expected a folder .SQLite. or a postgresql:// URL"):
        store_home("mysql://me:secret@localhost/mlsitter")
    monkeypatch.delenv("MLSITTER_DB", raising=False)
    home = store_home("postgresql://me@127.0.0.1/mlsitter")
    assert os.environ["MLSITTER_DB"] == "postgresql://me@127.0.0.1/mlsitter" and home.is_dir()
    monkeypatch.delenv("MLSITTER_DB")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    scratch = Path(scratch_store("mlsitter-test-"))  # a throwaway store keeps its journal key beside it
    assert os.environ["XDG_CONFIG_HOME"] == str(scratch.parent / "config")
    handle = Runner(Store(store_home(scratch))).start(f"{CASES}:steps", {"counter": str(tmp_path / "c"), "n": 1})
    assert handle.status == "completed"
    assert len(list((scratch.parent / "config" / "mlsitter" / "keys").glob("*.key"))) == 1


_DIE_AT_RUN_COMPLETED = """
import os, signal, sys
from mlsitter import Runner

def die(event):  # called once the event is committed: the SIGKILL lands right after run.completed
    if event.type == "run.completed":
        os.kill(os.getpid(), signal.SIGKILL)

Runner(on_event=die).start(sys.argv[1], {"counter": sys.argv[2], "n": 2})
"""


def test_a_kill_right_after_run_completed_leaves_a_run_that_resume_does_not_continue(tmp_path):
    """Found while building the campaign (its run.completed-once check) at 608c0a3: run.completed and the
    runs row were two commits; a kill between them let a resume journal run.resumed and a second
    run.completed. 93a77ec writes both in one commit."""
    died = subprocess.run([sys.executable, "-c", _DIE_AT_RUN_COMPLETED, f"{CASES}:steps", str(tmp_path / "counter")],
                          capture_output=True, text=True, timeout=120)
    assert died.returncode == -signal.SIGKILL, died.stderr
    store = Store()
    run_id = store.list_runs()[0].run_id
    try:
        Runner(store).resume(run_id)
    except MlsitterError:
        pass  # refusing the resume is fine (the run had completed); journaling after its end is not
    types = [e.type for e in store.events(run_id)]
    assert types.count("run.completed") == 1 and types[-1] == "run.completed", types
    assert store.get_run(run_id).status == "completed"
