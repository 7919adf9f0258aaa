"""What the dashboard changes: answers, external results, resumes, retries and cancels, shared by pages and the API.

Answers go through :class:`Runner` (journaled, with who answered); the resume that may follow runs in
a background thread with its own database connection, so the request returns at once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlsitter.errors import InputError, MlsitterError, RunStateError
from mlsitter.runtime.identity import AUTH_DASHBOARD_TOKEN, Identity
from mlsitter.runtime.runner import RecoveryPolicy, Runner
from mlsitter.runtime.store import FINAL, RunRecord, Store

log = logging.getLogger("mlsitter.dashboard")
MAX_FEEDBACK_CHARS = 10_000


@dataclass
class Resumer:
    """Resumes runs in daemon threads; remembers the threads so a test or shutdown can wait for them."""

    home: Path
    recover: RecoveryPolicy | None = None
    """Also resume runs whose runner died, as ``mlsitter worker --recover`` does (None: leave them)."""
    threads: list[threading.Thread] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def start(self, run_id: str) -> threading.Thread:
        thread = threading.Thread(target=self._resume, args=(run_id,), name=f"resume-{run_id}", daemon=True)
        self.threads = [t for t in self.threads if t.is_alive()]
        self.threads.append(thread)
        thread.start()
        return thread

    def _resume(self, run_id: str) -> None:
        store = Store(self.home)
        try:
            run = store.get_run(run_id)
            if run.status in FINAL or store.is_locked_by_live_process(run):
                return
            Runner(store).resume(run_id)
            self.errors.pop(run_id, None)
        except MlsitterError as exc:
            self.errors[run_id] = str(exc)
            log.warning("resuming run %s failed: %s", run_id, exc)
        except Exception as exc:  # a background thread must not die silently
            self.errors[run_id] = f"{type(exc).__name__}: {exc}"
            log.exception("resuming run %s failed", run_id)
        finally:
            store.close()

    def wait(self, timeout: float = 30.0) -> None:
        for thread in list(self.threads):
            thread.join(timeout)

    def resume_due(self) -> list[str]:
        """Resume, one after the other, runs whose answer arrived (e.g. from the CLI) or whose timer is due,
        and under :attr:`recover` the interrupted runs it allows."""
        store = Store(self.home)
        try:
            due = store.due_runs()
            if self.recover is not None:
                due += [r for r in self.recover.recoverable(store) if r not in due]
        finally:
            store.close()
        busy = {t.name.removeprefix("resume-") for t in self.threads if t.is_alive()}
        resumed = []
        for run_id in due:
            if run_id not in busy:
                self._resume(run_id)
                resumed.append(run_id)
        return resumed

    def watch(self, interval: float, stop: threading.Event) -> threading.Thread:
        """A daemon thread calling :meth:`resume_due` every ``interval`` seconds until ``stop`` is set."""

        def loop() -> None:
            while not stop.wait(interval):
                try:
                    self.resume_due()
                except Exception:  # the store may be busy; look again next time
                    log.exception("looking for due runs failed")

        thread = threading.Thread(target=loop, name="resume-due", daemon=True)
        thread.start()
        return thread


def _expect_key(run: RunRecord, key: str | None) -> None:
    """Refuse an answer meant for an earlier question than the one the run waits on now."""
    waiting = run.waiting or {}
    if key and str(waiting.get("key")) != str(key):
        raise RunStateError(
            f"run {run.run_id} no longer waits on question #{key} (it is {run.status}"
            + (f", waiting on #{waiting.get('key')}" if waiting.get("key") else "") + "); reload and answer again"
        )


def answer(store: Store, run_id: str, *, approved: bool, feedback: str | None, by: str, key: str | None = None,
           option: str | None = None, identity: Identity | None = None) -> RunRecord:
    """Journal an approval or a rejection (which needs feedback) on the breakpoint the run waits on, as the
    named user who logged in (``identity``) or, without one, as the holder of the shared token."""
    runner = Runner(store)
    leaf = runner.waiting_leaf(run_id)
    _expect_key(leaf, key)
    feedback = (feedback or "").strip() or None
    if feedback is not None and len(feedback) > MAX_FEEDBACK_CHARS:
        raise InputError(f"the feedback is {len(feedback):,} characters long; at most {MAX_FEEDBACK_CHARS:,} are "
                         "accepted: shorten it, or record the details as an artifact and refer to it")
    who, claimed = _who(identity, by)
    return runner.answer(leaf.run_id, approved=approved, feedback=feedback, by=claimed, option=option or None,
                         identity=who)


def _who(identity: Identity | None, by: str) -> tuple[Identity, str | None]:
    """Who a dashboard action is journaled as: a named user as themselves, nothing claimed; otherwise the shared
    token, which proves only that the caller holds it, with the dashboard's name (dashboard:<user>) as a claim.
    Approval rules give the token no roles."""
    if identity is not None:
        return identity, None
    return Identity(AUTH_DASHBOARD_TOKEN, AUTH_DASHBOARD_TOKEN), by


def post_external(store: Store, run_id: str, *, result: Any, by: str, key: str | None = None,
                  identity: Identity | None = None) -> RunRecord:
    """Journal the result of the external effect the run waits on (checked against its schema), with who posted
    it as for answers."""
    runner = Runner(store)
    leaf = runner.waiting_leaf(run_id)
    _expect_key(leaf, key)
    who, claimed = _who(identity, by)
    return runner.post_external(leaf.run_id, None, result, by=claimed, identity=who)


def parse_json_result(text: str) -> Any:
    """The result typed into the inbox form, as JSON."""
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"the result is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None


def resumable(store: Store, run_id: str) -> RunRecord:
    """The run, if a resume makes sense now (ready, or waiting on a timer that is due, or interrupted)."""
    run = store.get_run(run_id)
    if run.status in FINAL:
        raise RunStateError(f"run {run.run_id} has already {run.status}; it cannot be resumed")
    if store.is_locked_by_live_process(run):
        raise RunStateError(f"run {run.run_id} is executing right now")
    return run


def retry(store: Store, run_id: str, *, by: str, reason: str = "", identity: Identity | None = None) -> RunRecord:
    """Make a failed run (and its failed children) ready to run again, journaled with who asked as for answers;
    the caller resumes it."""
    who, claimed = _who(identity, by)
    return Runner(store).mark_retried(run_id, by=claimed, reason=reason.strip(), identity=who)


def cancel(store: Store, run_id: str, *, by: str, reason: str = "", identity: Identity | None = None) -> RunRecord:
    """Cancel a run that is not executing right now (and its unfinished children), journaled with who did it."""
    run = store.get_run(run_id)
    if run.status not in FINAL and store.is_locked_by_live_process(run):
        raise RunStateError(f"run {run.run_id} is executing right now; stop its runner first, then cancel it")
    who, claimed = _who(identity, by)
    return Runner(store).cancel(run.run_id, by=claimed, reason=reason.strip(), identity=who)
