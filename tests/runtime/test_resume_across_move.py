"""Runs written by the code of commit 915b4ee (before ``ml/`` and ``processes/`` were reorganised) are finished
by today's code: waiting runs are answered until they complete, runs whose runner died mid-step are resumed.

The stores are ``tests/data/journals/before-move/stores.tar.xz`` (see its README, and ``make_before_move.py``
beside it, which must be run with the OLD code). Each case is extracted to the absolute place it was written at
(a store records absolute paths; see the README), then finished with the answers recorded when the old code
finished the same store; the questions asked on the way, the final status and the result must be those of the
old code, no replay may diverge (NonDeterminismError) and every run of the store must verify.

A failure here after moving a module means runs that users have in flight today would not finish after an
upgrade: a step renamed (``module.qualname`` is part of a step's journal key), a stored type tag
(``$t: dataclass``/``pickle``/``skops`` naming a module) that no longer imports, or a changed computation.
"""

from __future__ import annotations

import fcntl
import functools
import importlib.util
import json
import math
import shutil
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

import mlsitter
from mlsitter import Store

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "journals" / "before-move"
ARCHIVE = FIXTURE / "stores.tar.xz"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text(encoding="utf-8"))
ROOT = Path(EXPECTED["root"])
CASES = EXPECTED["cases"]
# Computations corrected since the fixture's old code: a run in flight gets today's numbers from the steps it runs
# after the upgrade (a step the journal holds is never recomputed). Per case, what changed on purpose and why:
# result paths (with everything below them), or "answer N" for the question asked there.
CHANGED_ON_PURPOSE: dict[str, dict[str, str]] = {
    "evaluation-waiting": {
        "/mitigated_fairness": "issue 24: bootstrap CIs are bias-corrected so that they contain their estimate "
                               "(the mitigation runs after the wait)",
        "/robustness": "issue 24: each perturbation says which columns it touched and whether it ran at all",
    },
    "ab-test-half-finished": {
        "answer 2": "issue 24: the readout the old runner died in is computed again and reports the one-sided p of "
                    "the directional hypothesis",
        **{path: "issue 24: one-sided p (the two-sided one kept beside it), the SRM band's status and counts, "
                 "secondary metrics and winsorizing in the readout"
           for path in ("/p_value", "/reasons", "/p_value_two_sided", "/srm_status", "/units_per_variant",
                        "/secondary", "/winsorized")},
        "/tests/bootstrap": "issue 24: the bootstrap CI of the difference is bias-corrected, as every other bootstrap CI",
    },
    "automl-waiting": {
        "/budget": "issue 25: the result says how the time budget was spent (phases, tail reserve, whether it held)",
    },
}


# -- helpers ----------------------------------------------------------------------------------------------
def plain(value: Any) -> Any:
    """A result as comparable JSON, by the conversion make_before_move.py recorded the old results with; a field
    added since (``ADDED_LATER``) that holds its default is left out, as the old code had none."""
    import dataclasses

    from mlsitter.naming import ADDED_LATER

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not (f.metadata.get(next(iter(ADDED_LATER))) and getattr(value, f.name) == _default(f))}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return _comparable().plain(value)


def _default(f: Any) -> Any:
    import dataclasses

    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


@functools.cache
def _comparable() -> Any:
    spec = importlib.util.spec_from_file_location("before_move_comparable", FIXTURE.parent / "comparable.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def differences(got: Any, want: Any, skip: set[str], where: str = "") -> list[str]:
    """Where ``got`` differs from ``want`` (floats to 1e-9 relative), ignoring the paths in ``skip``."""
    if where in skip or any(where.startswith(path + "/") for path in skip):
        return []
    if isinstance(want, dict) and isinstance(got, dict):
        if {k for k in got if f"{where}/{k}" not in skip} != {k for k in want if f"{where}/{k}" not in skip}:
            return [f"{where or '/'}: keys {sorted(got)} != {sorted(want)}"]
        return [d for k in want if k in got for d in differences(got[k], want[k], skip, f"{where}/{k}")]
    if isinstance(want, list) and isinstance(got, list):
        if len(got) != len(want):
            return [f"{where or '/'}: {len(got)} items != {len(want)}"]
        return [d for i, (g, w) in enumerate(zip(got, want)) for d in differences(g, w, skip, f"{where}/{i}")]
    if isinstance(want, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
        return [] if math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12) else [f"{where}: {got!r} != {want!r}"]
    return [] if got == want and type(got) is type(want) else [f"{where or '/'}: {got!r} != {want!r}"]


@pytest.fixture(scope="session")
def unpacked(tmp_path_factory) -> Path:
    """The archive decompressed once per session (each case is then copied to its place)."""
    folder = tmp_path_factory.mktemp("before-move")
    with tarfile.open(ARCHIVE, "r:xz") as tar:
        tar.extractall(folder, filter="data")
    return folder


def _place(unpacked: Path, case: str) -> Path:
    source, target = unpacked / case, ROOT / case
    assert source.is_dir(), f"{case} is not in {ARCHIVE}"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    return target


def _unfinished_steps(events: list[Any]) -> list[dict[str, str]]:
    started = {e.data["key"]: e.data["name"] for e in events if e.type == "step.started"}
    ended = {e.data["key"] for e in events if e.type in ("step.completed", "step.failed")}
    return [{"key": k, "name": n} for k, n in started.items() if k not in ended]


def _shown(status: str) -> str:
    """A run the old code left ``running`` (its runner killed) shows today as ``interrupted``: its lease ran out."""
    return "interrupted" if status == "running" else status


@pytest.fixture
def old_store(request, monkeypatch, unpacked):
    """The case's store and data, extracted where the old code wrote them; cwd and MLSITTER_HOME point there."""
    case = request.param
    if not sys.platform.startswith("linux") or Path("/tmp").resolve() != Path("/tmp"):
        pytest.skip(f"the stores replay only at {ROOT} on a Linux /tmp that is no symlink (they record absolute paths)")
    ROOT.mkdir(parents=True, exist_ok=True)
    with open(ROOT.parent / f"{ROOT.name}-{case}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test sessions on one machine share the place
        case_dir = _place(unpacked, case)
        monkeypatch.chdir(case_dir)
        monkeypatch.setenv("MLSITTER_HOME", str(case_dir / "home"))
        for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLSITTER_EXECUTOR"):
            monkeypatch.delenv(key, raising=False)
        try:
            yield case, case_dir
        finally:
            shutil.rmtree(case_dir, ignore_errors=True)


# -- the test ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("old_store", list(CASES), indirect=True, ids=list(CASES))
def test_old_run_finishes_with_todays_code(old_store):
    case, case_dir = old_store
    spec = CASES[case]
    store = Store()
    top = spec["top"]
    before = store.get_run(top)
    stored = spec["state_in_store"]
    events_before = store.events(top)
    assert (before.status, len(events_before), events_before[-1].type) == \
        (_shown(stored["status"]), stored["events"], stored["last_event"]), f"{case}: the extracted store is not the one recorded"
    # every step the old code completed, per run: replay must return these from the journal, never run them again
    old_journals = {r.run_id: store.events(r.run_id) for r in store.list_runs(limit=1000)}
    completed_before = {run_id: ({e.data["key"] for e in events if e.type == "step.completed"}, len(events))
                        for run_id, events in old_journals.items()}
    if spec["state"] == "half-finished":
        # the runner died inside this step: started, never completed; its lease ran out long ago
        assert before.status == "interrupted" and _unfinished_steps(events_before) == [spec["killed_step"]]
        assert before.interrupted and f"runner pid {before.lock_pid}" in before.interrupted

    runner = mlsitter.Runner()
    for n, action in enumerate(spec["actions"]):
        if action["do"] == "resume":
            assert store.get_run(top).status == _shown(action["status_before"])
            mlsitter.resume(top)
            continue
        run = store.get_run(top)
        assert run.status == "waiting", (f"{case}, answer {n + 1}: the run is {run.status} ({run.error}), but the old "
                                         f"code asked {action['waits_at']['question']!r} here")
        leaf = runner.waiting_leaf(top)
        waiting = leaf.waiting or {}
        asked = {"key": waiting.get("key"), "question": waiting.get("question"), "tags": waiting.get("tags") or [],
                 "options": waiting.get("options")}
        if f"answer {n + 1}" in CHANGED_ON_PURPOSE.get(case, {}):
            asked["question"] = action["waits_at"]["question"]
        assert asked == action["waits_at"], f"{case}, answer {n + 1}: today's code asks something else than the old code"
        assert ("self" if leaf.run_id == top else "child") == action["leaf"]
        kwargs = {"by": "fixture-reviewer", "resume": True}
        if action.get("option"):
            kwargs["option"] = action["option"]
        if action["do"] == "approve":
            mlsitter.approve(top, action.get("feedback"), **kwargs)
        else:
            mlsitter.reject(top, action["feedback"], **kwargs)

    done = mlsitter.get(top)
    assert done.status == spec["final_status"] == "completed", f"{case}: {done.status}: {done.error}"
    assert type(done.result).__qualname__ == spec["result_type"]
    skip = set(spec["volatile"]) | {p for p in CHANGED_ON_PURPOSE.get(case, {}) if p.startswith("/")}
    diff = differences(plain(done.result), spec["result"], skip)
    assert not diff, f"{case}: the result differs from the old code's:\n  " + "\n  ".join(diff[:60])

    runs = {r.run_id: r for r in store.list_runs(limit=1000)}
    assert {i: (r.process, r.status, r.parent_run_id) for i, r in runs.items()} == \
        {i: (r["process"], r["status"], r["parent"]) for i, r in spec["runs"].items()}
    for run_id in runs:
        assert not store.events(run_id, types=("run.replay_failed",)), f"{case}: replay of {run_id} diverged"
        done_keys, old_length = completed_before.get(run_id, (set(), 0))
        rerun = {e.data["key"] for e in store.events(run_id, after=old_length, types=("step.started",))} & done_keys
        assert not rerun, f"{case}: steps {sorted(rerun)} of run {run_id}, completed by the old code, ran again"
        report = store.verify(run_id)
        assert report.ok, f"{case}: run {run_id} does not verify: {report.problems}"
    if spec["state"] == "half-finished":
        events = store.events(top)
        resumed = next(e.seq for e in events if e.type == "run.resumed")
        again = [e.data for e in events if e.seq > resumed and e.type == "step.started"]
        redo = [d for d in again if d["key"] == spec["killed_step"]["key"]]
        assert redo and redo[0]["attempt"] == 2  # its journaled name may be today's name of the same task
        assert any(e.type == "step.completed" and e.data["key"] == spec["killed_step"]["key"] and e.seq > resumed
                   for e in events)

    from click.testing import CliRunner

    from mlsitter.cli import main

    out = CliRunner().invoke(main, ["verify", "--all"])
    assert out.exit_code == 0, out.output
