"""The `lifecycle` process driven through the CLI on a small bank-marketing sample: the children's
questions arrive in order under --approve manual, a rejected features design changes the next attempt,
the parent shows every child's gates and approvals, a SIGKILL inside training resumes without redoing
finished steps, and a bad steps file is refused before anything runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

import realdata
from mlsitter import Store
from mlsitter.cli import main
from mlsitter.runtime.codec import Codec

CHAIN = """
steps:
  - process: data-validation
  - process: features
    with: {cv_folds: 2, max_iterations: 1, skew_rows: 5, max_attempts: 2, on_gate_fail: warn}
  - process: training
    with: {trials: %d, folds: 2, patience: 0}
"""


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def bank_sample(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bank")
    frame = realdata.bank(full=False).drop(columns=["duration"]).sample(400, random_state=0)
    path = folder / "bank.csv"
    frame.to_csv(path, index=False)
    return path


#: the SIGKILL test drops features: a chain is data, and this one only needs a child before training
SHORT_CHAIN = """
steps:
  - process: data-validation
  - process: training
    with: {trials: %d, folds: 2, patience: 0}
"""


def steps_file(tmp_path, trials: int, chain: str = CHAIN):
    path = tmp_path / "steps.yaml"
    path.write_text(chain % trials, encoding="utf-8")
    return str(path)


def waiting_question(run_id: str) -> tuple[str, str]:
    """(process, question) of the child the lifecycle waits on."""
    from mlsitter.runtime.runner import Runner

    leaf = Runner().waiting_leaf(run_id)
    assert leaf.run_id != run_id and leaf.status == "waiting", (leaf.status, leaf.error)
    return leaf.process, leaf.waiting["reason"]


@pytest.mark.timeout(900)  # several child runs on real data; a shared 2-core machine
def test_manual_approvals_arrive_in_order_and_a_rejected_design_changes_the_next(bank_sample, tmp_path):
    res = cli("run", "lifecycle", "-i", f"data={bank_sample}", "-i", "target=y", "-i",
              f"steps={steps_file(tmp_path, 1)}", "--approve", "manual", "--json")
    assert res.exit_code == 3, res.output  # waiting
    run_id = json.loads(res.stdout)["run_id"]
    asked = [waiting_question(run_id)]
    assert asked[0][0] == "features"  # data-validation asked nothing (first contract); the design is next
    cli("reject", run_id, "--feedback", "drop: euribor3m", "--by", "dana")  # answers the child it waits on
    assert cli("resume", run_id).exit_code == 3
    asked.append(waiting_question(run_id))
    assert asked[1][0] == "features"  # the second attempt of the design
    cli("approve", run_id, "--by", "dana")
    assert cli("resume", run_id).exit_code == 3
    asked.append(waiting_question(run_id))
    assert asked[2][0] == "training"
    cli("approve", run_id, "--by", "erin")
    done = cli("resume", run_id, "--json")
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)["result"]
    assert [c["process"] for c in result["children"]] == ["data-validation", "features", "training"]
    assert all(c["status"] == "completed" for c in result["children"])
    store = Store()
    features = Codec(store.artifacts).decode(store.get_run(result["children"][1]["run_id"]).result)
    assert "euribor3m" not in features.selected_columns  # the feedback changed the design
    assert features.attempts == 2 and features.feedback == ["drop: euribor3m"]
    # the parent shows each child's gates and approvals, and its report names who approved what
    status = cli("status", run_id)
    line = next(x for x in status.output.splitlines() if "(features)" in x)
    assert "gates" in line and "questions: rejected by dana, approved by dana" in line, status.output
    md = [a for a in Store().events(run_id, types=("artifact.recorded",)) if a.data["name"] == "lifecycle-report.json"]
    body = json.loads(open(md[0].data["path"], encoding="utf-8").read())
    rows = {c["process"]: c for c in body["chain"]}
    answers = [(a["answer"], a["by"]) for a in rows["features"]["approvals"]]
    assert answers == [("rejected", "dana"), ("approved", "dana")]
    assert ("approved", "erin") in [(a["answer"], a["by"]) for a in rows["training"]["approvals"]]
    assert rows["training"]["gates"] and rows["data-validation"]["report"].endswith(".html")

    # the lifecycle's compliance record lists each checkpoint its children served, with evidence and who
    # approved; its signed bundle verifies offline and a tampered member fails, named
    bundle = tmp_path / "lifecycle-compliance.zip"
    assert cli("compliance", run_id, "-o", str(bundle)).exit_code == 0
    record = json.loads(cli("compliance", "show", run_id, "--json").stdout)
    served = {c["name"]: c for p in record["phases"] for c in p["checkpoints"] if c["outcome"] != "no evidence"}
    assert {"data-quality", "feature-integrity", "model-quality"} <= set(served), sorted(served)
    assert all(c["gates"] or c["approvals"] for c in served.values())
    signers = {s["claimed_by"] for c in served.values() for a in c["approvals"] for s in a["signatures"]}
    assert {"dana", "erin"} <= signers, signers  # the names given with --by, journaled as claimed
    verified = cli("compliance", "verify", str(bundle))
    assert verified.exit_code == 0 and "3 child run(s)" in verified.stdout, verified.stdout
    from bundle_tools import tamper

    tamper(bundle, "compliance.json", b'"erin"', b'"mallory"')
    tampered = cli("compliance", "verify", str(bundle))
    assert tampered.exit_code == 4 and "member compliance.json was modified" in tampered.stdout

    # the ML Test Score of this lifecycle's runs scores the rows their evidence supports and no others, and
    # leaving the features child out lowers exactly the rows it supplied
    from mlsitter.ml.testing import changed_rows
    from mlsitter.processes.validation.integration_test.tasks import resolve_model_under_test, score_rubric

    found = resolve_model_under_test(result["model"])
    every = score_rubric(found, repeated=2)
    supported = {"data-1", "data-2", "data-3", "data-6", "data-7", "model-1", "model-3", "monitor-3"}
    assert {k for k, v in every.scores().items() if v} == supported, every.scores()
    assert every.score == 0.0 and every.weakest == "infrastructure" and every.row("infra-6").supplier == "deploy"
    without_features = score_rubric(found, repeated=2, exclude_processes=["features"])
    assert set(changed_rows(every, without_features)) == {"data-2", "data-3", "data-6", "data-7", "monitor-3"}


@pytest.mark.timeout(900)  # several child runs on real data; a shared 2-core machine
def test_sigkill_inside_training_then_resume_finishes_without_redoing_steps(bank_sample, tmp_path):
    cmd = [sys.executable, "-m", "mlsitter", "run", "lifecycle", "-i", f"data={bank_sample}", "-i", "target=y",
           "-i", f"steps={steps_file(tmp_path, 8, SHORT_CHAIN)}", "--approve", "auto"]
    proc = subprocess.Popen(cmd, env={**os.environ, "MPLBACKEND": "Agg"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        end = time.time() + 240
        training = None
        while time.time() < end and proc.poll() is None:
            runs = [r for r in Store().list_runs() if r.process == "training"]
            if runs and len(Store().events(runs[0].run_id, types=("step.completed",))) >= 2:
                training = runs[0]
                break
            time.sleep(0.2)
        assert training is not None, "training should have started before the kill"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    store = Store()
    parent = next(r for r in store.list_runs() if r.process == "lifecycle")
    done_before = {e.data["key"] for e in store.events(training.run_id, types=("step.completed",))}
    assert store.get_run(training.run_id).status != "completed"
    res = cli("resume", parent.run_id, "--json")
    assert res.exit_code in (0, 3), res.output
    handle = json.loads(res.stdout)
    assert handle["status"] == "completed", handle["error"]
    assert store.get_run(training.run_id).status == "completed"
    assert [r.process for r in store.list_runs()].count("data-validation") == 1  # not run again
    assert [r.process for r in store.list_runs()].count("training") == 1  # the same child resumed
    resumed_at = store.events(training.run_id, types=("run.resumed",))[0].seq
    again = {e.data["key"] for e in store.events(training.run_id, after=resumed_at, types=("step.started",))}
    assert not (again & done_before)  # the steps finished before the kill came from the journal


def test_a_bad_steps_file_is_refused_with_what_was_expected(bank_sample, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - process: no-such-process\n", encoding="utf-8")
    res = cli("run", "lifecycle", "-i", f"data={bank_sample}", "-i", "target=y", "-i", f"steps={bad}", "--json")
    assert res.exit_code != 0
    error = json.loads(res.stdout)["error"]
    assert "no-such-process" in error and "not installed" in error and "training" in error


def group_tables(folder, seed: int = 7) -> dict[str, str]:
    """The champion's table, where the outcome follows x1 (and a little x2) alone, and later traffic where x2
    moved (drift) and the labels also follow the group g (B mostly 'yes', A mostly 'no'): a challenger fitted on
    that traffic scores better on it by leaning on g, so it is less fair than the champion."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)

    def table(n: int, shift: float, x2_mean: float) -> pd.DataFrame:
        g = rng.choice(["A", "B"], n)
        x1, x2 = rng.normal(size=n), rng.normal(x2_mean, 1.0, size=n)
        logit = 2.0 * x1 + 0.5 * (x2 - x2_mean) + np.where(g == "B", shift, -shift)
        return pd.DataFrame({"x1": x1, "x2": x2, "g": g,
                             "y": np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")})

    paths = {}
    for name, n, shift, x2_mean in (("before", 400, 0.0, 0.0), ("after", 500, 3.0, 1.0)):
        paths[name] = str(folder / f"{name}.csv")
        table(n, shift, x2_mean).to_csv(paths[name], index=False)
    return paths


DRIFT_THEN_RETRAIN = """
steps:
  - process: drift
    when: traffic
  - process: retraining
    when: drift
    with: {metric: accuracy, trials: 1, folds: 2, n_resamples: 200, min_group_size: 20}
"""


@pytest.mark.timeout(900)  # a champion, then drift, retraining, its training and two evaluations; a shared 2-core machine
def test_drift_starts_retraining_in_the_chain_and_a_better_but_less_fair_challenger_is_not_deployed(tmp_path):
    import mlsitter
    from mlsitter.ml.tracking import promote

    tables = group_tables(tmp_path)
    champion = mlsitter.run("training", approve="auto", data=tables["before"], target="y", trials=1, folds=2,
                            model_name="groups", metric="accuracy")
    assert champion.status == "completed", champion.error
    promote("groups/1")
    steps = tmp_path / "steps.yaml"
    steps.write_text(DRIFT_THEN_RETRAIN, encoding="utf-8")
    # auto+production: a challenger that passed every check would be deployed without asking anyone
    run = mlsitter.run("lifecycle", approve="auto+production", data=tables["before"], target="y", sensitive=["g"],
                       traffic=tables["after"], model_name="groups", steps=str(steps))
    assert run.status == "completed", run.error
    store = Store()

    def children(run_id: str) -> list[tuple[str, str]]:
        return [(store.get_run(e.data["child_run_id"]).process, e.data["child_run_id"])
                for e in store.events(run_id, types=("child.started",))]

    chain = children(run.run_id)
    assert [p for p, _ in chain] == ["drift", "retraining"] and run.result.retrained
    assert any(m.startswith("step retraining done (drift alerts: ") for m in
               [e.data["message"] for e in store.events(run.run_id, types=("log",))])  # why it ran, journaled
    retraining = chain[1][1]
    assert [p for p, _ in children(retraining)] == ["training", "evaluation", "evaluation"]  # fairness: child evaluations
    result = Codec(store.artifacts).decode(store.get_run(retraining).result)
    fired = {t["name"] for t in result.triggers if t["fired"]}
    assert "drift" in fired, result.triggers  # the drift step's result is the trigger
    comparison, fairness = result.comparison, result.fairness
    assert comparison["challenger"] > comparison["champion"] and comparison["p_value"] <= 0.05  # better on accuracy
    assert result.status == "challenger-less-fair", (result.status, result.reason, fairness)
    assert fairness["challenger"]["dp_ratio"] < fairness["champion"]["dp_ratio"] - 0.05
    assert "less fair than groups/1" in result.reason and "allowed drop 0.05" in result.reason
    assert "deploy" not in [r.process for r in store.list_runs()]  # no deploy child, anywhere
    gates = {e.data["name"]: e.data["passed"] for e in store.events(retraining, types=("gate.evaluated",))}
    assert gates["challenger-better-p-value"] and not gates["fairness-dp_ratio-not-worse"]
    logged = [e.data["message"] for e in store.events(retraining, types=("log",))]
    assert any(m.startswith("retraining: challenger-less-fair: groups/2 is less fair than groups/1") for m in logged)


def test_observability_runs_only_when_deploy_serves_the_model():
    from mlsitter.errors import SpecError
    from mlsitter.processes.lifecycle.lifecycle.tasks import child_inputs, condition_holds

    state = {"data": "d.csv", "target": "y", "name": "d", "model_name": "bank", "sensitive": [], "traffic": ""}
    runs, why = condition_holds("deployment", state)
    assert not runs and why == "no deploy step served the model"
    with pytest.raises(SpecError, match="needs deployment from an earlier step .*deploy for the deployment"):
        child_inputs("observability", state, {})
    served = {**state, "router": "http://127.0.0.1:9"}
    assert condition_holds("deployment", served) == (True, "bank serves at http://127.0.0.1:9")
    assert child_inputs("observability", served, {"duration": 8}) == {"deployment": "bank", "duration": 8}
