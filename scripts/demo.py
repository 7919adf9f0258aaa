"""``make demo``: the lifecycle on bundled bank-marketing data (2008), then a later drifted slice (2010)
replayed through the served model: drift fires, retraining runs and the challenger goes through a canary.

Every approval is given by the policy ``auto+production`` so the demo runs unattended; in real use the
questions tagged ``production`` wait for a person (``mlsitter approve`` or the dashboard)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import mlsitter

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "examples" / "data"
POLICY = "auto+production"
CANARY = {"stages": "50,100", "shadow_seconds": 0, "stage_seconds": 10.0, "min_requests": 20, "min_labelled": 20,
          "max_extensions": 3, "latency_budget_ms": 5000.0, "max_p99_increase_ms": 1000.0,
          # after a drift the retrained model's scores move by design (45 % subscribe now, not 6 %): the canary
          # judges it on accuracy against labelled feedback and on errors, not on how far its scores moved
          "max_score_shift": 1.0}


def drive(handle: mlsitter.RunHandle, limit: float = 600.0) -> mlsitter.RunHandle:
    """Resume through durable timers (as `mlsitter worker` would) until the run ends or waits on a person."""
    deadline = time.monotonic() + limit
    while handle.status == "waiting" and (handle.waiting or {}).get("kind") in ("timer", "child") \
            and handle.wake_at and time.monotonic() < deadline:
        time.sleep(max(0.0, handle.wake_at - time.time()) + 0.05)
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

    started = time.monotonic()
    say("== phase 1: the lifecycle on bank-marketing 2008 (2,500 calls) ==")
    first = drive(mlsitter.run("lifecycle", approve=POLICY, data=str(DATA / "bank-marketing-2008.csv.gz"), target="y",
                               name="bank", model_name="bank-marketing",
                               steps=str(ROOT / "examples" / "lifecycle-demo.yaml")))
    require(first, "lifecycle")
    life = first.result
    for child in life.children:
        say(f"  {child['process']:<16} {child['run_id']}  {child['status']}")
    say(f"  model {life.model} serves at {life.router}")
    say(f"  lifecycle report: {life.report}")

    say("\n== phase 2: 2010 traffic (1,200 calls, other rates, 45 % subscribe) through the served model ==")
    late = DATA / "bank-marketing-2010.csv.gz"
    frame = pd.read_csv(late)
    records = json.loads(frame.drop(columns=["y"]).to_json(orient="records"))
    load = LoadGenerator(life.router, records, labels=frame["y"].tolist(), concurrency=2, rate=15,
                         max_requests=100_000, max_seconds=900).start()
    try:
        drift = drive(mlsitter.run("drift", approve=POLICY, reference=life.train, current=str(late), target="y"))
        require(drift, "drift")
        say(f"  drift: {drift.result.status}; alerts: {'; '.join(drift.result.alerts)[:300]}")
        signal = json.dumps({"status": drift.result.status, "alerts": drift.result.alerts,
                             **drift.result.recommendation}, default=str)
        retrain = drive(mlsitter.run("retraining", approve=POLICY, model="bank-marketing@champion", data=str(late),
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
    home = mlsitter.Store().location
    say(f"\nfinished in {time.monotonic() - started:.0f} s. The served model was stopped; its logs stay in the home.")
    say(f"  journal: {home}")
    say(f"  every run:      mlsitter runs;   the chain: mlsitter status {first.run_id}")
    say("  lineage:        mlsitter lineage bank-marketing@champion")
    say("  dashboard:      mlsitter ui   (then open the printed address)")
    say("  MLflow UI:      mlflow ui --backend-store-uri sqlite:///$MLSITTER_HOME/mlflow.db")
    say("Every approval above was given by the policy auto+production. In real use, questions tagged 'production' "
        "(readiness, promotion, deploying a retrained model) wait for a person: mlsitter approve RUN or the dashboard.")


if __name__ == "__main__":
    main()
