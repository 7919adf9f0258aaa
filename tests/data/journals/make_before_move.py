"""Write ``tests/data/journals/before-move/``: mlsitter stores written by the code of commit 915b4ee (before
``ml/`` and ``processes/`` were reorganised), holding runs that wait for a person and runs whose runner died
mid-step, plus what finishing them with that same code gives. ``tests/runtime/test_resume_across_move.py``
finishes them with today's code and compares.

RUN IT WITH THE OLD CODE, never with the code of the working tree::

    git worktree add /tmp/wt-915b4ee 915b4ee
    PYTHONPATH=/tmp/wt-915b4ee/src .venv/bin/python tests/data/journals/make_before_move.py
    git worktree remove --force /tmp/wt-915b4ee

It refuses to run when ``import mlsitter`` resolves to this checkout's ``src`` (``--allow-current`` overrides
that, to try the script itself). About five minutes on two cores; ``--only CASE`` (repeatable) generates a
subset, for trying the script only (it rewrites the archive and expected.json with that subset).

Each case lives in its own folder ``ROOT/<case>/``: ``home/`` is its ``MLSITTER_HOME`` (journal database,
artifacts, run work folders, MLflow store) and ``data/`` the inputs, named by paths relative to the case
folder (the runs were started with the case folder as working directory). ROOT is a fixed absolute path
because a store records absolute paths (``ctx.workdir`` arguments of tasks are part of their journal key),
so the store only replays at the place it was written; see the README.

Outputs: ``before-move/stores.tar.xz`` (every case folder, as left by the old code) and
``before-move/expected.json`` (per case: its runs, the answers given and the questions asked when the old
code finished the run, its result, and which result fields vary from one finish to the next).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from comparable import plain  # noqa: E402  (beside this script)

COMMIT = "915b4ee"
ROOT = Path(f"/tmp/mlsitter-before-move-{COMMIT}")
HERE = Path(__file__).resolve().parent
OUT = HERE / "before-move"
REPO = HERE.parents[2]
TITANIC = REPO / "examples" / "data" / "titanic.csv"
REVIEWER = "fixture-reviewer"

# -- the cases ------------------------------------------------------------------------------------------
# name -> process, state, description. The prepare_<name> functions below create the state; answer_<name>
# (or the default) says how a person answers each breakpoint when the run is finished.
CASES: dict[str, dict[str, str]] = {
    "eda-waiting": {
        "process": "eda", "state": "waiting",
        "about": "profile, associations, outliers, target analysis and report done (a polars frame and ~40 "
                 "dataclasses of the ml modules in the journal); waits at the review of report attempt 1; "
                 "approving builds the result from the decoded analysis"},
    "data-validation-waiting": {
        "process": "data-validation", "state": "waiting",
        "about": "a completed first run inferred data/contract.yaml; the second run (a new column, a changed "
                 "type) waits at the schema-change breakpoint; approving updates the contract, measures, "
                 "quarantines and versions the data"},
    "data-validation-half-finished": {
        "process": "data-validation", "state": "half-finished",
        "about": "two sources read by ctx.map; the runner was SIGKILLed while reading the second (map.started, "
                 "item 0 completed, item 1 started); resuming re-reads item 1 only and completes"},
    "features-half-finished": {
        "process": "features", "state": "half-finished",
        "about": "leakage check, column selection and the fitted feature pipeline (pickled to the run's work "
                 "folder by the old code) done; SIGKILLed inside check_serving_skew; resuming re-runs it, so "
                 "today's code unpickles the old pipeline file, then writes the report and waits at the "
                 "design review; approved"},
    "model-selection-waiting": {
        "process": "model-selection", "state": "waiting",
        "about": "waits at the recommendation review (or a gate before it); the comparison (dataclass with "
                 "fold scores) and the unfitted sklearn feature pipeline (skops) are decoded; approving writes "
                 "selection.json"},
    "training-waiting": {
        "process": "training", "state": "waiting",
        "about": "Optuna search, final fit (fitted model), MLflow run logged; waits at the first breakpoint of "
                 "the registration loop; approving registers the model in the store's MLflow registry"},
    "automl-waiting": {
        "process": "automl", "state": "waiting",
        "about": "search, ensemble choice and MLflow logging done; waits at the production-tagged acceptance; "
                 "finishing rejects it with feedback (nothing is registered)"},
    "evaluation-waiting": {
        "process": "evaluation", "state": "waiting",
        "about": "scored, metrics, calibration, slices, robustness and fairness done; waits at the fairness "
                 "breakpoint (Sex); finishing picks 'mitigate' (ThresholdOptimizer runs on today's code), "
                 "then answers the production readiness breakpoint 'ready'"},
    "explain-half-finished": {
        "process": "explain", "state": "half-finished",
        "about": "SHAP, permutation importance and PDP done; SIGKILLed inside run_counterfactuals; resuming "
                 "re-runs it, the stability gate, the report and the model card, waits at the card review; "
                 "approved"},
    "ab-test-half-finished": {
        "process": "ab-test", "state": "half-finished",
        "about": "cleaned table (Parquet in the run's work folder) and SRM check done; SIGKILLed inside "
                 "compute_readout; resuming re-runs it, writes the report and waits at the decision; 'ship'"},
    "scoping-waiting": {
        "process": "scoping", "state": "waiting",
        "about": "availability and feasibility measured, charter built; waits at the charter sign-off; "
                 "approved"},
    "experiment-plan-waiting": {
        "process": "experiment-plan", "state": "waiting",
        "about": "infeasible sample size: waits at the larger-mde / longer-duration breakpoint; finishing picks "
                 "'longer-duration', which re-plans and asks for the plan review; approved"},
    "child-run-waiting": {
        "process": "plan-and-summarize (data/parent_process.py) -> experiment-plan", "state": "waiting",
        "about": "a parent process (a file in the fixture) called experiment-plan with ctx.call; the child waits "
                 "at its plan review, the parent waits on the child; approving the parent answers the child, "
                 "which completes and wakes the parent, which completes with a summary of the child's result"},
}

KILL_EXIT = -signal.SIGKILL


# -- data (small, deterministic) --------------------------------------------------------------------------
def _titanic(case_dir: Path) -> str:
    target = case_dir / "data" / "titanic.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TITANIC, target)
    return "data/titanic.csv"


def _customers(path: Path, rows: int, seed: int, version: int, first_id: int = 1) -> None:
    """A small customer table; version 2 adds a column and turns 'visits' into decimals."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "customer_id": np.arange(first_id, first_id + rows),
        "signup": pd.date_range("2025-01-01", periods=rows, freq="D").strftime("%Y-%m-%d"),
        "age": rng.integers(18, 80, rows),
        "country": rng.choice(["DE", "FR", "US", "NL"], rows),
        "visits": rng.integers(0, 40, rows),
        "spend": np.round(rng.gamma(2.0, 30.0, rows), 2),
    })
    if version == 2:
        frame["visits"] = np.round(frame["visits"] + rng.random(rows), 1)
        frame["segment"] = rng.choice(["new", "regular", "vip"], rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def _ab_table(path: Path, n: int = 600, seed: int = 7) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    variant = np.where(rng.random(n) < 0.5, "treatment", "control")
    treated = variant == "treatment"
    pre = rng.gamma(2.0, 10.0, n)
    pd.DataFrame({
        "unit": np.arange(n), "variant": variant,
        "converted": (rng.random(n) < np.where(treated, 0.16, 0.10)).astype(int),
        "revenue": np.round(pre * 0.8 + rng.normal(0, 6, n) + np.where(treated, 3.0, 0.0), 3),
        "pre_revenue": np.round(pre, 3), "latency_ms": np.round(rng.normal(200, 20, n), 2),
        "country": rng.choice(["US", "DE", "FR"], n),
    }).to_csv(path, index=False)


def _titanic_model(case_dir: Path) -> str:
    """A logistic-regression pipeline on Titanic (plain scikit-learn objects, saved with joblib)."""
    import joblib
    import pandas as pd
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    data = _titanic(case_dir)
    frame = pd.read_csv(data)
    num, cat = ["Pclass", "Age", "SibSp", "Parch", "Fare"], ["Sex", "Embarked"]
    pre = make_column_transformer(
        (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num),
        (make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")), cat),
    )
    model = make_pipeline(pre, LogisticRegression(max_iter=500)).fit(frame[num + cat], frame["Survived"])
    joblib.dump(model, case_dir / "data" / "titanic-logreg.joblib")
    return "data/titanic-logreg.joblib"


def _die_inside(module: Any, name: str, on_call: int = 1) -> None:
    """Replace ``module.name`` by a task that SIGKILLs this process on its ``on_call``-th call, after the runner
    journaled ``step.started`` and before any result: the journal of a runner that died mid-step. The wrapper
    keeps the task's module, qualname and options, so the journal names the real task."""
    original = getattr(module, name)
    calls = {"n": 0}

    @functools.wraps(original)
    def dying(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] >= on_call:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)

    setattr(module, name, dying)


# -- prepare: runs in a fresh interpreter with the case folder as working directory -----------------------
def prepare_eda_waiting(case_dir: Path) -> dict[str, str]:
    import mlsitter

    h = mlsitter.run("eda", data=_titanic(case_dir), target="Survived", sample=400, seed=3)
    assert h.status == "waiting", (h.status, h.error)
    return {"top": h.run_id}


def prepare_data_validation_waiting(case_dir: Path) -> dict[str, str]:
    import mlsitter

    _customers(case_dir / "data" / "customers-2025-06.csv", 300, 1, 1)
    _customers(case_dir / "data" / "customers-2025-07.csv", 300, 2, 2)
    first = mlsitter.run("data-validation", approve="auto", data=["data/customers-2025-06.csv"], name="customers",
                         contract="data/contract.yaml", keys=["customer_id"], min_quality=50, min_dimension=50)
    assert first.status == "completed", (first.status, first.error)
    second = mlsitter.run("data-validation", data=["data/customers-2025-07.csv"], name="customers",
                          contract="data/contract.yaml", keys=["customer_id"], min_quality=50, min_dimension=50)
    assert second.status == "waiting", (second.status, second.error)
    return {"top": second.run_id, "contract-created-by": first.run_id}


def prepare_data_validation_half_finished(case_dir: Path) -> dict[str, str]:
    import mlsitter
    from mlsitter.processes.execution import data_validation as dv

    _customers(case_dir / "data" / "shop-a.csv", 200, 3, 1)
    _customers(case_dir / "data" / "shop-b.csv", 200, 4, 1, first_id=201)
    _die_inside(dv, "read_one_source", on_call=2)
    mlsitter.run("data-validation", data=["data/shop-a.csv", "data/shop-b.csv"], name="shops",
                 keys=["customer_id"], min_quality=50, min_dimension=50)
    raise AssertionError("the run should have been killed")


def prepare_features_half_finished(case_dir: Path) -> dict[str, str]:
    import mlsitter
    from mlsitter.processes.planning import features as ft

    data = _titanic(case_dir)
    _die_inside(ft, "check_serving_skew")
    mlsitter.run("features", data=data, target="Survived", max_iterations=1, cv_folds=3, skew_rows=50, seed=5)
    raise AssertionError("the run should have been killed")


def prepare_model_selection_waiting(case_dir: Path) -> dict[str, str]:
    import mlsitter

    h = mlsitter.run("model-selection", data=_titanic(case_dir), target="Survived", candidates="tree",
                     exclude="PassengerId,Name,Ticket,Cabin", cv_folds=3, cv_repeats=1, seed=11)
    assert h.status == "waiting", (h.status, h.error)
    return {"top": h.run_id}


def prepare_training_waiting(case_dir: Path) -> dict[str, str]:
    import mlsitter

    h = mlsitter.run("training", data=_titanic(case_dir), target="Survived", family="lightgbm", trials=3, folds=3,
                     parallel=1, drop=["PassengerId", "Name", "Ticket", "Cabin"], model_name="titanic-survival",
                     patience=3, seed=0)
    assert h.status == "waiting", (h.status, h.error)
    return {"top": h.run_id}


def prepare_automl_waiting(case_dir: Path) -> dict[str, str]:
    import mlsitter

    h = mlsitter.run("automl", data=_titanic(case_dir), target="Survived", drop=["PassengerId", "Name", "Ticket"],
                     time_budget_s=60, max_trials=4, ensemble_size=5, folds=3, families=["linear", "lightgbm"],
                     model_name="titanic-automl", seed=2)
    assert h.status == "waiting", (h.status, h.error)
    return {"top": h.run_id}


def prepare_evaluation_waiting(case_dir: Path) -> dict[str, str]:
    import mlsitter

    model = _titanic_model(case_dir)
    h = mlsitter.run("evaluation", model=model, data="data/titanic.csv", target="Survived", sensitive=["Sex"],
                     n_resamples=60, seed=1)
    assert h.status == "waiting", (h.status, h.error)
    assert "fairness" in (h.waiting or {}).get("tags", []), h.waiting
    return {"top": h.run_id}


def prepare_explain_half_finished(case_dir: Path) -> dict[str, str]:
    import mlsitter
    from mlsitter.processes.validation import explain_steps as ex

    model = _titanic_model(case_dir)
    _die_inside(ex, "run_counterfactuals")
    mlsitter.run("explain", model=model, data="data/titanic.csv", target="Survived", sensitive=["Sex"], max_rows=200,
                 n_resamples=40, n_local=2, top_features=3, seed=4)
    raise AssertionError("the run should have been killed")


def prepare_ab_test_half_finished(case_dir: Path) -> dict[str, str]:
    import mlsitter
    from mlsitter.processes.validation import ab_test_steps as steps

    (case_dir / "data").mkdir(parents=True, exist_ok=True)
    _ab_table(case_dir / "data" / "ab.csv")
    _die_inside(steps, "compute_readout")
    mlsitter.run("ab-test", data="data/ab.csv", metric="revenue", covariate="pre_revenue", guardrails=["latency_ms:higher"],
                 segments=["country"], n_resamples=100, n_looks=5, seed=9)
    raise AssertionError("the run should have been killed")


def prepare_scoping_waiting(case_dir: Path) -> dict[str, str]:
    import yaml

    import mlsitter

    data = _titanic(case_dir)
    brief = case_dir / "data" / "brief.yaml"
    brief.write_text(yaml.safe_dump({
        "name": "titanic-survival", "objective": "Understand who survived", "decision": "Lifeboat policy review",
        "target": "Survived", "positive_class": "1", "success_metric": {"name": "roc_auc", "threshold": 0.75},
        "constraints": {"interpretability": "preferred"}}, sort_keys=False), encoding="utf-8")
    h = mlsitter.run("scoping", brief="data/brief.yaml", data=data, cv_folds=3, feasibility_rows=891)
    assert h.status == "waiting", (h.status, h.error)
    return {"top": h.run_id}


def prepare_experiment_plan_waiting(case_dir: Path) -> dict[str, str]:
    import mlsitter

    h = mlsitter.run("experiment-plan", mde=0.01, baseline=0.1, daily_traffic=800, max_days=14,
                     guardrails="latency_ms:higher:0.05", segments="country")
    assert h.status == "waiting", (h.status, h.error)
    assert h.waiting.get("options") == ["larger-mde", "longer-duration"], h.waiting
    return {"top": h.run_id}


PARENT_PROCESS = '''"""A process of the fixture: plan an experiment as a child run, then summarise the approved plan."""

from mlsitter import process


def summarize_plan(plan) -> dict:
    """A task that takes the child's result (an ExperimentPlanResult dataclass) as an argument."""
    return {"metric": plan.metric, "units": plan.total, "days": plan.planned_days, "feasible": plan.feasible,
            "kind": type(plan).__name__}


@process("plan-and-summarize")
def plan_and_summarize(ctx, mde: float = 0.02, baseline: float = 0.1, daily_traffic: float = 4000.0):
    plan = ctx.call("experiment-plan", mde=mde, baseline=baseline, daily_traffic=daily_traffic, max_days=28)
    summary = ctx.task(summarize_plan, plan=plan)
    return {"summary": summary, "child_mde": plan.mde, "child_attempts": plan.attempts}
'''


def prepare_child_run_waiting(case_dir: Path) -> dict[str, str]:
    import mlsitter

    path = case_dir / "data" / "parent_process.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(PARENT_PROCESS, encoding="utf-8")
    h = mlsitter.run("data/parent_process.py:plan-and-summarize", mde=0.02)
    assert h.status == "waiting" and h.waiting["kind"] == "child", (h.status, h.error, h.waiting)
    return {"top": h.run_id, "child": h.waiting["child_run_id"]}



# -- answers: how a person answers each breakpoint when a run is finished ------------------------------
def answer_default(waiting: dict[str, Any], n: int) -> dict[str, Any]:
    return {"do": "approve"}


def answer_evaluation_waiting(waiting: dict[str, Any], n: int) -> dict[str, Any]:
    tags = waiting.get("tags") or []
    if "fairness" in tags:
        return {"do": "approve", "option": "mitigate", "feedback": "mitigate the gap before readiness"}
    if "readiness" in tags:
        return {"do": "approve", "option": "ready", "feedback": "ready with the mitigated model"}
    return {"do": "approve"}


def answer_ab_test_half_finished(waiting: dict[str, Any], n: int) -> dict[str, Any]:
    tags = waiting.get("tags") or []
    if "decision" in tags:
        return {"do": "approve", "option": "ship"}
    if "early-stop" in tags:
        return {"do": "approve", "option": "stop"}
    return {"do": "approve"}


def answer_automl_waiting(waiting: dict[str, Any], n: int) -> dict[str, Any]:
    if "production" in (waiting.get("tags") or []):
        return {"do": "reject", "feedback": "keep the current champion for now"}
    return {"do": "approve"}


def answer_experiment_plan_waiting(waiting: dict[str, Any], n: int) -> dict[str, Any]:
    if waiting.get("options") == ["larger-mde", "longer-duration"]:
        return {"do": "approve", "option": "longer-duration", "feedback": "we can run longer"}
    return {"do": "approve"}


# -- finishing (also what the test does, with the recorded answers) -------------------------------------


def the_run(store: Any, ids: dict[str, str]) -> str:
    """The run to finish: recorded for waiting runs; the only unfinished top-level run for killed ones."""
    if "top" in ids:
        return ids["top"]
    open_ = [r for r in store.list_runs(limit=1000) if r.status not in ("completed", "failed", "cancelled")
             and not r.parent_run_id]
    assert len(open_) == 1, [(r.run_id, r.status) for r in open_]
    return open_[0].run_id


def finish(run_id: str, answer: Callable[[dict[str, Any], int], dict[str, Any]]) -> dict[str, Any]:
    """Resume / answer the run until it completes; return the answers given and the questions seen."""
    import mlsitter

    runner = mlsitter.Runner()
    actions: list[dict[str, Any]] = []
    run = runner.store.get_run(run_id)
    if run.status in ("running", "interrupted", "ready"):
        actions.append({"do": "resume", "status_before": run.status})
        mlsitter.resume(run_id)
    for n in range(20):
        run = runner.store.get_run(run_id)
        if run.status != "waiting":
            break
        leaf = runner.waiting_leaf(run_id)
        waiting = leaf.waiting or {}
        assert waiting.get("kind") == "breakpoint", waiting
        action = answer(waiting, n)
        actions.append({**action, "leaf": "self" if leaf.run_id == run_id else "child",
                        "waits_at": {"key": waiting["key"], "question": waiting["question"],
                                     "tags": waiting.get("tags") or [], "options": waiting.get("options")}})
        call = mlsitter.approve if action["do"] == "approve" else mlsitter.reject
        kwargs = {"by": REVIEWER, "resume": True}
        if action.get("option"):
            kwargs["option"] = action["option"]
        if action["do"] == "approve":
            call(run_id, action.get("feedback"), **kwargs)
        else:
            call(run_id, action["feedback"], **kwargs)
    handle = mlsitter.get(run_id)
    return {"actions": actions, "status": handle.status, "error": handle.error, "result": plain(handle.result),
            "result_type": type(handle.result).__qualname__}


def volatile_paths(a: Any, b: Any, where: str = "") -> list[str]:
    """Paths (a/b/0/c) where two finishes of the same stored run differ (timings, mostly)."""
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        return [p for k in a for p in volatile_paths(a[k], b[k], f"{where}/{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [p for i, (x, y) in enumerate(zip(a, b)) for p in volatile_paths(x, y, f"{where}/{i}")]
    return [] if a == b else [where or "/"]


# -- driver ---------------------------------------------------------------------------------------------
def _case_env(case: str) -> tuple[Path, dict[str, str]]:
    case_dir = ROOT / case
    env = {**os.environ, "MLSITTER_HOME": str(case_dir / "home"), "MPLBACKEND": "Agg", "MLSITTER_USER": "fixture",
           "PYTHONHASHSEED": "0"}
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLSITTER_EXECUTOR", "MLSITTER_DB"):
        env.pop(key, None)
    return case_dir, env


def _child(args: list[str], case: str) -> subprocess.CompletedProcess:
    case_dir, env = _case_env(case)
    return subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], cwd=case_dir, env=env,
                          capture_output=True, text=True, timeout=1800)


def _check_old_code(allow_current: bool) -> str:
    import mlsitter

    where = Path(mlsitter.__file__).resolve()
    if (REPO / "src") in where.parents and not allow_current:
        sys.exit(f"mlsitter is imported from {where}, this checkout's code. Run with PYTHONPATH=<a worktree of "
                 f"{COMMIT}>/src (see the docstring), or pass --allow-current to try the script.")
    return str(where)


def _lock_cases(cases: list[str]) -> list[Any]:
    """Hold the lock the test takes per case (a test session may be using ROOT/<case> right now)."""
    import fcntl

    ROOT.mkdir(parents=True, exist_ok=True)
    held = []
    for case in sorted(cases):
        fh = open(ROOT.parent / f"{ROOT.name}-{case}.lock", "w")
        fcntl.flock(fh, fcntl.LOCK_EX)
        held.append(fh)
    return held


def _libraries() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for name in ("pandas", "polars", "numpy", "pyarrow", "scikit-learn", "skops", "lightgbm", "optuna", "mlflow",
                 "shap", "fairlearn", "statsmodels", "scipy", "matplotlib"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def generate(cases: list[str], allow_current: bool) -> None:
    source = _check_old_code(allow_current)
    held = _lock_cases(cases)
    for case in cases:
        if (ROOT / case).exists():
            shutil.rmtree(ROOT / case)
    ids: dict[str, dict[str, str]] = {}
    for case in cases:
        (ROOT / case).mkdir()
        proc = _child(["prepare", case], case)
        state = CASES[case]["state"]
        if state == "half-finished":
            if proc.returncode != KILL_EXIT:
                sys.exit(f"{case}: expected the runner to die by SIGKILL, got exit {proc.returncode}\n{proc.stderr[-4000:]}")
            ids[case] = {}
        else:
            if proc.returncode != 0:
                sys.exit(f"{case}: prepare failed ({proc.returncode})\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
            ids[case] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"prepared {case}", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    archive = ROOT / "stores.tar.xz"  # moved into OUT at the end, with expected.json
    with tarfile.open(archive, "w:xz", preset=9) as tar:
        for case in cases:
            tar.add(ROOT / case, arcname=case, filter=_tar_filter)
    print(f"wrote {archive} ({archive.stat().st_size:,} bytes)", flush=True)

    expected: dict[str, Any] = {"commit": COMMIT, "root": str(ROOT), "written_by": source, "python": sys.version.split()[0],
                                "libraries": _libraries(), "cases": {}}
    for case in cases:
        finishes = []
        for _ in range(2):  # twice from the same archive: fields that differ between the two are volatile
            _extract(archive, case)
            proc = _child(["finish", case, json.dumps(ids[case])], case)
            if proc.returncode != 0:
                sys.exit(f"{case}: finishing with the old code failed\n{proc.stdout[-3000:]}\n{proc.stderr[-4000:]}")
            finishes.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        first, second = finishes
        assert first["status"] == "completed", (case, first["status"], first["error"])
        assert [a.get("waits_at") for a in first["actions"]] == [a.get("waits_at") for a in second["actions"]], case
        expected["cases"][case] = {
            **CASES[case], "runs": first["runs"], "top": first["top"], "state_in_store": first["state_in_store"],
            "killed_step": first.get("killed_step"), "actions": first["actions"], "final_status": first["status"],
            "result_type": first["result_type"], "result": first["result"], "volatile": volatile_paths(first["result"], second["result"]),
        }
        print(f"finished {case} twice with the old code: {len(first['actions'])} action(s), volatile "
              f"{expected['cases'][case]['volatile']}", flush=True)
    (ROOT / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(archive, OUT / "stores.tar.xz")
    os.replace(ROOT / "expected.json", OUT / "expected.json")
    for case in cases:
        shutil.rmtree(ROOT / case, ignore_errors=True)
    for fh in held:
        fh.close()
    print(f"wrote {OUT / 'stores.tar.xz'} and {OUT / 'expected.json'}")


def _tar_filter(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    if info.name.endswith("-shm") or "__pycache__" in info.name:
        return None  # the WAL index is rebuilt from the WAL; a killed runner's WAL itself is kept as it was left
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _extract(archive: Path, case: str) -> None:
    target = ROOT / case
    if target.exists():
        shutil.rmtree(target)
    with tarfile.open(archive, "r:xz") as tar:
        members = [m for m in tar.getmembers() if m.name == case or m.name.startswith(case + "/")]
        tar.extractall(ROOT, members=members, filter="data")


def _store_state(store: Any, run_id: str) -> dict[str, Any]:
    run = store.get_run(run_id)
    events = store.events(run_id)
    last = events[-1]
    out = {"status": run.status, "events": len(events), "last_event": last.type}
    if run.waiting:
        out["waiting"] = {"kind": run.waiting.get("kind"), "key": run.waiting.get("key"),
                          "reason": run.waiting.get("reason")}
    started = {e.data["key"]: e.data["name"] for e in events if e.type == "step.started"}
    ended = {e.data["key"] for e in events if e.type in ("step.completed", "step.failed")}
    unfinished = [{"key": k, "name": n} for k, n in started.items() if k not in ended]
    if unfinished:
        out["unfinished_steps"] = unfinished
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", default="generate", choices=["generate", "prepare", "finish"])
    parser.add_argument("case", nargs="?")
    parser.add_argument("ids", nargs="?")
    parser.add_argument("--only", action="append", help="generate only these cases (for trying the script)")
    parser.add_argument("--allow-current", action="store_true")
    args = parser.parse_args()
    if args.command == "generate":
        generate(args.only or list(CASES), args.allow_current)
        return
    case_dir = Path.cwd()
    fn = globals()[f"{args.command}_" + args.case.replace("-", "_")] if args.command == "prepare" else None
    if args.command == "prepare":
        print(json.dumps(fn(case_dir)))
        return
    import mlsitter

    store = mlsitter.Store()
    top = the_run(store, json.loads(args.ids))
    state = _store_state(store, top)
    answer = globals().get("answer_" + args.case.replace("-", "_"), answer_default)
    done = finish(top, answer)
    runs = {r.run_id: {"process": r.process, "status": r.status, "parent": r.parent_run_id}
            for r in store.list_runs(limit=1000)}
    for run_id in runs:
        report = store.verify(run_id)
        assert report.ok, (run_id, report.problems)
    print(json.dumps({**done, "top": top, "runs": runs, "state_in_store": state,
                      "killed_step": (state.get("unfinished_steps") or [None])[0]}))


if __name__ == "__main__":
    main()
