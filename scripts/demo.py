"""``make demo``: the lifecycle on bundled bank-marketing data (2008), then a later drifted slice (2010)
replayed through the served model: drift fires, retraining runs and the challenger goes through a canary.

The lifecycle runs under the bundled approval rules (``examples/mlsitter-approvals.yaml``): a question tagged
``production`` needs two release managers who did not start the run. The demo creates two users, ada and grace,
in its own users file; the OS account that starts the run is a release manager too, and is refused by separation
of duties. Both users answer through the dashboard's path (their password, then the dashboard's answer action).
Phase 2 runs under the deliberate override ``auto+production+fairness``, journaled as answered by policy."""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import mlsitter

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "examples" / "data"
POLICY = "auto"  # every question a person does not have to answer; the rules keep production for people
OVERRIDE = "auto+production+fairness"  # phase 2: a deliberate override, journaled as answered by policy
RULES = ROOT / "examples" / "mlsitter-approvals.yaml"
APPROVERS = ("ada", "grace")
CANARY = {"stages": "50,100", "shadow_seconds": 0, "stage_seconds": 10.0, "min_requests": 20, "min_labelled": 20,
          "max_extensions": 3, "latency_budget_ms": 5000.0, "max_p99_increase_ms": 1000.0,
          # after a drift the retrained model's scores move by design (45 % subscribe now, not 6 %): the canary
          # judges it on accuracy against labelled feedback and on errors, not on how far its scores moved
          "max_score_shift": 1.0}


def demo_users(home: Path) -> dict[str, str]:
    """Two release managers with dashboard passwords, and the OS account (who starts the runs) as a third, in
    the demo's own users file; the passwords stay in this process."""
    from mlsitter.runtime.identity import os_identity
    from mlsitter.runtime.users import load_users

    os.environ["MLSITTER_USERS_FILE"] = str(home / "users.json")
    accounts = load_users()
    passwords = {name: secrets.token_urlsafe(12) for name in APPROVERS}
    for name, password in passwords.items():
        accounts.add(name, ["release-manager"], password)
    accounts.add(os_identity().user, ["release-manager"])
    accounts.save()
    return passwords


def sign_off(run_id: str, passwords: dict[str, str], show_refusal: bool) -> None:
    """Answer the governed question ``run_id`` waits on as a person would: the starter tries first (refused by
    separation of duties), then each release manager logs in with their password and approves."""
    import socket

    from mlsitter.dashboard.actions import answer
    from mlsitter.errors import ApprovalRefusedError
    from mlsitter.runtime.identity import AUTH_DASHBOARD_PASSWORD, Identity
    from mlsitter.runtime.users import load_users

    runner = mlsitter.Runner()
    leaf = runner.waiting_leaf(run_id)
    waiting: dict[str, Any] = leaf.waiting or {}
    option = (waiting.get("options") or [None])[0]
    say(f"  {leaf.process} asks ({', '.join(waiting.get('tags') or [])}): {str(waiting.get('reason'))[:110]}")
    if show_refusal:
        try:
            mlsitter.approve(run_id, option=option)  # the run's starter, authenticated as the OS account
        except ApprovalRefusedError as refused:
            say(f"    the starter approves: refused: {refused}")
        else:
            raise SystemExit(f"the approval of run {run_id}'s starter was accepted: separation of duties not kept")
    for name in APPROVERS:
        if not load_users().check_password(name, passwords[name]):  # the dashboard's login
            raise SystemExit(f"the demo user {name} could not log in")
        answer(runner.store, run_id, approved=True, feedback=None, by="", option=option,
               identity=Identity(name, AUTH_DASHBOARD_PASSWORD, socket.gethostname()))
        quorum = runner.approval_status(run_id)
        if quorum is not None:
            say(f"    {name} approves: {len(quorum.approvals)} of {quorum.needed} approvals so far "
                f"({', '.join(a.user for a in quorum.approvals)}); the run still waits")
        else:
            say(f"    {name} approves: the rule is satisfied ({' and '.join(APPROVERS)}, neither the starter)")


def drive(handle: mlsitter.RunHandle, passwords: dict[str, str] | None = None, limit: float = 900.0) -> mlsitter.RunHandle:
    """Resume through durable timers (as `mlsitter worker` would); with ``passwords``, the demo users answer each
    governed question the run waits on; stop when it ends or waits on anything else."""
    deadline, asked = time.monotonic() + limit, 0
    while handle.status == "waiting" and time.monotonic() < deadline:
        leaf = mlsitter.Runner().waiting_leaf(handle.run_id)
        if passwords and (leaf.waiting or {}).get("kind") == "breakpoint":
            sign_off(handle.run_id, passwords, show_refusal=asked == 0)
            asked += 1
        elif (handle.waiting or {}).get("kind") in ("timer", "child") and handle.wake_at:
            time.sleep(max(0.0, handle.wake_at - time.time()) + 0.05)
        else:
            break
        handle = mlsitter.resume(handle.run_id)
    return handle


def say(text: str = "") -> None:
    print(text, flush=True)


def require(handle: mlsitter.RunHandle, what: str) -> None:
    if handle.status != "completed":
        say(f"{what}: run {handle.run_id} {handle.status}: {handle.error or handle.waiting}")
        sys.exit(1)


def main() -> None:
    import pandas as pd

    from mlsitter.ml.serving import LoadGenerator, load_state, stop_all

    from mlsitter.runtime.home import mlsitter_home
    from mlsitter.runtime.identity import os_identity

    started = time.monotonic()
    home = mlsitter_home()
    os.environ["MLSITTER_APPROVALS"] = str(RULES)
    passwords = demo_users(home)
    say(f"approval rules {RULES.relative_to(ROOT)}: production needs 2 release managers who did not start the run")
    say(f"users ({os.environ['MLSITTER_USERS_FILE']}): {', '.join(APPROVERS)} (dashboard passwords) and "
        f"{os_identity().user} (the OS account that starts the runs), all release managers")
    say("\n== phase 1: the lifecycle on bank-marketing 2008 (2,500 calls) ==")
    first = drive(mlsitter.run("lifecycle", approve=POLICY, data=str(DATA / "bank-marketing-2008.csv.gz"), target="y",
                               name="bank", model_name="bank-marketing",
                               steps=str(ROOT / "examples" / "lifecycle-demo.yaml")), passwords)
    require(first, "lifecycle")
    life = first.result
    for child in life.children:
        say(f"  {child['process']:<16} {child['run_id']}  {child['status']}")
    say(f"  model {life.model} serves at {life.router}")
    say(f"  lifecycle report: {life.report}")

    say("\n== phase 2: 2010 traffic (1,200 calls, other rates, 45 % subscribe) through the served model ==")
    say(f"  (unattended: --approve {OVERRIDE}, a deliberate override journaled as answered by policy)")
    late = DATA / "bank-marketing-2010.csv.gz"
    frame = pd.read_csv(late)
    records = json.loads(frame.drop(columns=["y"]).to_json(orient="records"))
    load = LoadGenerator(life.router, records, labels=frame["y"].tolist(), concurrency=2, rate=15,
                         max_requests=100_000, max_seconds=900).start()
    try:
        drift = drive(mlsitter.run("drift", approve=OVERRIDE, reference=life.train, current=str(late), target="y"))
        require(drift, "drift")
        say(f"  drift: {drift.result.status}; alerts: {'; '.join(drift.result.alerts)[:300]}")
        signal = json.dumps({"status": drift.result.status, "alerts": drift.result.alerts,
                             **drift.result.recommendation}, default=str)
        retrain = drive(mlsitter.run("retraining", approve=OVERRIDE, model="bank-marketing@champion", data=str(late),
                                     target="y", drift=signal, reference=life.holdout, metric="accuracy",
                                     sensitive=["marital"], trials=4, folds=3, deploy_options=json.dumps(CANARY)))
        require(retrain, "retraining")
    finally:
        summary = load.stop()
    r = retrain.result
    say(f"  retraining: {r.status}: {r.reason}")
    for t in r.triggers:
        say(f"    trigger {t['name']:<18} {'fired' if t['fired'] else 'no'}: {t['why'][:140]}")
    if r.comparison:
        c = r.comparison
        say(f"    {r.champion} {c['metric']} {c['champion']:.4f} vs {r.challenger} {c['challenger']:.4f} "
            f"({c['test']}, one-sided p={c['p_value']:.3g}) on {c['n']} fresh holdout rows")
    say(f"  retraining report: {r.report}")
    say(f"  traffic replayed: {summary.requests} requests ({summary.ok} answered)" +
        (f", by version {summary.by_version}" if summary.by_version else ""))
    state = load_state("bank-marketing")
    if state is not None:
        stop_all(state)
    bundle = compliance(first.run_id, home)
    test_score("bank-marketing@champion", late)
    say(f"\nfinished in {time.monotonic() - started:.0f} s. The served model was stopped; its logs stay in the home.")
    say(f"  journal: {mlsitter.Store().location}")
    say(f"  every run:      mlsitter runs;   the chain: mlsitter status {first.run_id}")
    say("  lineage:        mlsitter lineage bank-marketing@champion")
    say("  dashboard:      mlsitter ui   (then open the printed address)")
    say("  MLflow UI:      mlflow ui --backend-store-uri sqlite:///$MLSITTER_HOME/mlflow.db")
    say(f"  compliance:     mlsitter compliance {first.run_id}   (verify the bundle: mlsitter compliance verify "
        f"{bundle})")
    say(f"  compliance bundle: {bundle}")
    say("In phase 1 the production questions waited for two people; in real use they answer with mlsitter approve RUN "
        "(as their OS account) or in the dashboard (mlsitter users add NAME --role release-manager --password).")


def compliance(run_id: str, home: Path) -> str:
    """The lifecycle's deployment checkpoint with its signers, and its signed compliance bundle."""
    from mlsitter.runtime.bundle import export_bundle
    from mlsitter.runtime.compliance import build_record, journals

    store = mlsitter.Store()
    record = build_record(journals(store, run_id), run_id)
    deployment = record.checkpoint("deployment")
    say(f"\n== compliance of the lifecycle: checkpoint {deployment.title}: {deployment.outcome} ==")
    for q in deployment.approvals:
        signers = [f"{s.user} ({s.auth}{', partial' if s.partial else ''})" for s in q.signatures]
        say(f"  {q.process} #{q.key} {q.outcome}: {', '.join(signers) or 'no signature'}"
            + (f"; rules {', '.join(q.policy.get('tags', []))} version {q.policy.get('version')}, "
               f"{q.needed} approvers" if q.policy else ""))
    return export_bundle(store, run_id, home / f"compliance-{run_id}.zip").path


def test_score(model: str, data: Path) -> None:
    """The ML Test Score (Breck et al. 2017) of the demo's runs, read from their journals, and what is missing."""
    from mlsitter.processes.validation.integration_test.tasks import resolve_model_under_test, score_rubric

    scored = score_rubric(resolve_model_under_test(model), repeated=2)
    say(f"\n== ML Test Score of these runs, from their journals: {scored.score:g} (the weakest section, "
        f"{scored.weakest}) ==")
    say("  sections: " + ", ".join(f"{name} {total:g}" for name, total in scored.sections.items()))
    missing = [r for r in scored.rows if r.score == 0]
    say(f"  shown by no run ({len(missing)} of 28): " + ", ".join(f"{r.id} ({r.supplier})" for r in missing))
    say(f"  the contract tests and the full table: mlsitter run integration-test -i model={model} "
        f"-i data={data.relative_to(ROOT)} -i target=y")


if __name__ == "__main__":
    main()
