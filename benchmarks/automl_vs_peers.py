"""mlsitter ``automl`` against FLAML and AutoGluon-Tabular: same time budget, same train/test split, same metric.

Datasets: Adult, bank marketing (without ``duration``), German credit, Titanic, bike-sharing hourly
(regression on ``cnt`` without ``casual``/``registered``), scikit-learn's digits and wine. Metrics:
ROC AUC (binary), log loss (multiclass), R² (regression), all computed here from each tool's test
predictions with the same code. Each peer runs in its own venv in a subprocess, created on first use:
FLAML in ``benchmarks/.venv-flaml``, AutoGluon 1.6 in ``benchmarks/.venv-autogluon`` (presets
``medium_quality`` and ``best_quality``, ``time_limit`` = the budget). Also reports MLflow logging time as a
share of mlsitter's training time, and mlsitter's wall time (start to the winner's review) over the budget.

    .venv/bin/python benchmarks/automl_vs_peers.py [--budgets 60 300] [--datasets adult wine ...]
        [--peers flaml autogluon-medium autogluon-best] [--n-jobs 2] [--seed 0] [--tool-seeds 0 1 2]
        [--out results.json]

``--seed`` picks the train/test split. ``--tool-seeds`` are the seeds every tool searches with: each dataset runs
once per seed on the same split, and the summary compares each tool's mean over them, since on tiny data one
run's score swings by more than the gaps being measured. ``benchmarks/automl_vs_flaml.py`` is this script with
``--peers flaml``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# mlsitter's trials run in forked worker processes, one thread each. libgomp is not fork-safe: once the parent
# has run an OpenMP region (decoding a journaled LightGBM model on resume does), a forked child can hang in
# it. One OpenMP thread avoids that, and matches n_jobs=1 per worker. FLAML gets the environment without it.
_USER_OMP = os.environ.get("OMP_NUM_THREADS")
os.environ["OMP_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FLAML_VENV = HERE / ".venv-flaml"
AUTOGLUON_VENV = HERE / ".venv-autogluon"
PEERS = ("flaml", "autogluon-medium", "autogluon-best")
sys.path.insert(0, str(ROOT / "tests"))

DATASETS = ("adult", "bank", "german", "titanic", "bike", "digits", "wine")


def load(name: str) -> tuple[pd.DataFrame, str]:
    """The frame (features + target) and the target column of one benchmark dataset."""
    import realdata

    if name == "adult":
        return realdata.adult("train"), "class"
    if name == "bank":
        return realdata.bank(full=True).drop(columns=["duration"]), "y"  # duration leaks the outcome
    if name == "german":
        return realdata.german_credit(), "class"
    if name == "titanic":
        return realdata.titanic().drop(columns=["PassengerId", "Name", "Ticket", "Cabin"]), "Survived"
    if name == "bike":
        frame = realdata.bike_hour().drop(columns=["casual", "registered", "instant", "dteday"])
        return frame, "cnt"
    from sklearn.datasets import load_digits, load_wine

    bunch = (load_digits if name == "digits" else load_wine)(as_frame=True)
    frame = bunch.frame.rename(columns=str)
    return frame, "target"


def task_and_metric(y: pd.Series) -> tuple[str, str]:
    from mlsitter.ml.metrics._metric_catalog import default_training_metric as default_metric
    from mlsitter.ml.metrics._scoring import infer_task

    task = infer_task(y)
    return task, default_metric(task, int(y.nunique()))


def split(frame: pd.DataFrame, target: str, task: str, seed: int, folder: Path) -> tuple[Path, Path]:
    from sklearn.model_selection import train_test_split

    frame = frame[frame[target].notna()].reset_index(drop=True)
    train, test = train_test_split(frame, test_size=0.2, random_state=seed,
                                   stratify=frame[target] if task == "classification" else None)
    paths = folder / "train.parquet", folder / "test.parquet"
    train.reset_index(drop=True).to_parquet(paths[0])
    test.reset_index(drop=True).to_parquet(paths[1])
    return paths


def peer_python(venv: Path, check: str, packages: list[str]) -> Path:
    """The python of a peer's own venv, created and filled from the package index on first use."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    if subprocess.run([str(python), "-c", check], capture_output=True).returncode:
        subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], check=True)
    return python


def flaml_python() -> Path:
    return peer_python(FLAML_VENV, "import flaml.automl, lightgbm, xgboost, pyarrow",
                       ["flaml[automl]", "pandas<3", "pyarrow"])


def autogluon_python() -> Path:
    return peer_python(AUTOGLUON_VENV, "import autogluon.tabular, pyarrow",
                       ["autogluon.tabular[all]==1.6.3", "pandas<3", "pyarrow"])


FLAML_WORKER = r"""
import json, sys, time
import numpy as np, pandas as pd
from flaml import AutoML
train, test, target, task, metric, budget, n_jobs, seed, out = sys.argv[1:10]
tr, te = pd.read_parquet(train), pd.read_parquet(test)
X, y = tr.drop(columns=[target]), tr[target]
for frame in (X,):
    for c in frame.columns:
        if frame[c].dtype == object:
            frame[c] = frame[c].astype("category")
Xt = te.drop(columns=[target])
for c in Xt.columns:
    if c in X and str(X[c].dtype) == "category":
        Xt[c] = pd.Categorical(Xt[c], categories=X[c].cat.categories)
automl = AutoML()
started = time.perf_counter()
automl.fit(X, y, task=task, metric=metric, time_budget=float(budget), seed=int(seed), n_jobs=int(n_jobs), verbose=0)
seconds = time.perf_counter() - started
pred = automl.predict_proba(Xt) if task == "classification" else automl.predict(Xt)
np.save(out, np.asarray(pred, dtype=float))
classes = [str(c) for c in automl.classes_] if task == "classification" else []
print(json.dumps({"seconds": seconds, "best": automl.best_estimator, "classes": classes}))
"""

AUTOGLUON_WORKER = r"""
import json, sys, time
import numpy as np, pandas as pd
from autogluon.tabular import TabularPredictor
train, test, target, task, metric, budget, n_jobs, seed, out, preset, folder = sys.argv[1:12]
tr, te = pd.read_parquet(train), pd.read_parquet(test)
problem = "regression" if task == "regression" else ("binary" if tr[target].nunique() == 2 else "multiclass")
started = time.perf_counter()
predictor = TabularPredictor(label=target, problem_type=problem, eval_metric=metric, path=folder, verbosity=0)
predictor.fit(tr, time_limit=float(budget), presets=preset, num_cpus=int(n_jobs), num_gpus=0,
              ag_args_fit={"random_seed": int(seed)})
seconds = time.perf_counter() - started
Xt = te.drop(columns=[target])
if task == "classification":
    proba = predictor.predict_proba(Xt, as_multiclass=True)
    pred, classes = proba.to_numpy(dtype=float), [str(c) for c in proba.columns]
else:
    pred, classes = predictor.predict(Xt).to_numpy(dtype=float), []
np.save(out, pred)
print(json.dumps({"seconds": seconds, "best": str(predictor.model_best), "classes": classes}))
"""


def run_peer(peer: str, python: Path, train: Path, test: Path, target: str, task: str, metric: str, budget: float,
             n_jobs: int, seed: int, folder: Path) -> dict:
    """One peer's run in its venv: its test predictions, best model and wall time."""
    out = folder / f"{peer}_pred.npy"
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # peers get the user's environment
    if _USER_OMP is not None:
        env["OMP_NUM_THREADS"] = _USER_OMP
    args = [str(train), str(test), target, task, metric, str(budget), str(n_jobs), str(seed), str(out)]
    if peer == "flaml":
        command = [str(python), "-c", FLAML_WORKER, *args]
    else:
        preset = {"autogluon-medium": "medium_quality", "autogluon-best": "best_quality"}[peer]
        command = [str(python), "-c", AUTOGLUON_WORKER, *args, preset, str(folder / f"{peer}-models")]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    if proc.returncode:  # recorded as a failure of that tool on that dataset; the campaign goes on
        error = (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]
        print(f"  {peer} failed: {error}", flush=True)
        return {"failed": error, "wall_seconds": time.perf_counter() - started, "best": "failed", "pred": None,
                "classes": []}
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    info["wall_seconds"] = time.perf_counter() - started
    info["pred"] = np.load(out)
    return info


def run_mlsitter(train: Path, test: Path, target: str, metric: str, budget: float, n_jobs: int, seed: int,
                 name: str) -> dict:
    import mlsitter

    started = time.perf_counter()
    # trials run two at a time on the process executor, one thread each (LightGBM/OpenMP threads contend badly
    # on a shared 2-core machine), so both tools use n_jobs cores
    handle = mlsitter.run("automl", approve="auto", executor="process" if n_jobs > 1 else None, data=str(train),
                          test_data=str(test), target=target, metric=metric, time_budget_s=budget, parallel=n_jobs,
                          n_jobs=1, seed=seed, model_name=f"bench-{name}")
    review_seconds = time.perf_counter() - started  # start to the winner's review, what the budget bounds
    if handle.status == "waiting":  # the winner's review is production-tagged: approve it explicitly
        handle = mlsitter.approve(handle.run_id, by="benchmark", resume=True)
    if handle.status != "completed":
        raise RuntimeError(f"mlsitter automl on {name}: {handle.status} {handle.error}")
    r = handle.result
    return {"wall_seconds": time.perf_counter() - started, "review_seconds": review_seconds, "result": r}


def score_peer(pred: np.ndarray, test: Path, target: str, task: str, metric: str, classes: list[str]) -> float:
    from mlsitter.ml.metrics._scoring import get_metric, score

    y = pd.read_parquet(test)[target]
    if task == "classification":
        y = y.astype(str) if not pd.api.types.is_numeric_dtype(y) else y
        cls = np.array(classes)
        y_cmp = y.astype(str).to_numpy()
        return score(get_metric(metric, task), y_cmp, pred, cls)
    return score(get_metric(metric, task), y.to_numpy(dtype=float), pred)


def ranks(metric: str, scores: dict[str, float]) -> dict[str, float]:
    """Each tool's rank on one dataset (1 = best; ties share the mean rank)."""
    from mlsitter.ml.metrics._scoring import METRICS

    sign = 1.0 if METRICS[metric].greater_is_better else -1.0
    out = {}
    for tool, value in scores.items():
        better = sum(1 for v in scores.values() if sign * v > sign * value)
        ties = sum(1 for v in scores.values() if v == value)
        out[tool] = better + (ties + 1) / 2
    return out


def worse_by(metric: str, mine: float, others: dict[str, float]) -> float:
    """How much worse mlsitter is than the best peer, in % of that peer's score (negative: better than all)."""
    from mlsitter.ml.metrics._scoring import METRICS

    m = METRICS[metric]
    best = max(others.values()) if m.greater_is_better else min(others.values())
    a, b = (mine, best) if m.greater_is_better else (-mine, -best)
    return 100 * (b - a) / max(abs(best), 1e-12)


def summarise(rows: list[dict], budgets: list[float], tools: list[str]) -> None:
    """Per budget: each dataset's scores averaged over the tool seeds, then each tool's mean rank, mlsitter's
    worst gap to the best peer, the MLflow share and mlsitter's wall time over the budget."""
    print("\n(scores averaged over tool seeds per dataset; gap: mlsitter vs the best peer)")
    for budget in budgets:
        sub = [r for r in rows if r["budget_s"] == budget]
        all_ranks: dict[str, list[float]] = {t: [] for t in tools}
        gaps = []
        for name in dict.fromkeys(r["dataset"] for r in sub):
            runs = [r for r in sub if r["dataset"] == name]
            means = {t: float(np.mean([r["scores"][t] for r in runs])) for t in tools
                     if all(r["scores"].get(t) is not None for r in runs)}  # a tool that failed a run is left out
            failed = [t for t in tools if t not in means]
            for t in failed:  # ranked last on that dataset
                all_ranks[t].append(float(len(tools)))
            for t, rank in ranks(runs[0]["metric"], means).items():
                all_ranks[t].append(rank)
            gap = worse_by(runs[0]["metric"], means["mlsitter"], {t: v for t, v in means.items() if t != "mlsitter"}
                           or {"mlsitter": means["mlsitter"]})
            gaps.append((gap, name))
            print(f"  [{budget:g}s] {name:8s} " + "  ".join(f"{t} {v:.4f}" for t, v in means.items())
                  + f"  gap {gap:+.2f}%" + (f"  ({len(runs)} tool seeds)" if len(runs) > 1 else "")
                  + (f"  failed: {', '.join(failed)}" if failed else ""))
        worst = max(gaps)
        walls = [r["mlsitter_review_s"] / budget for r in sub]
        print(f"{budget:>5g}s  mean rank " + "  ".join(f"{t} {np.mean(v):.2f}" for t, v in all_ranks.items())
              + f"  worst gap {worst[0]:+.2f}% ({worst[1]})  mlflow share (median) "
              f"{np.median([r['mlflow_share_pct'] for r in sub]):.2f}%  mlsitter start-to-review/budget max {max(walls):.3f}x "
              f"median {np.median(walls):.3f}x")


def main(default_peers: tuple[str, ...] = PEERS) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budgets", type=float, nargs="+", default=[60.0, 300.0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--peers", nargs="+", default=list(default_peers), choices=PEERS)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="train/test split seed")
    parser.add_argument("--tool-seeds", type=int, nargs="+", default=[0],
                        help="search seeds given to every tool; each dataset runs once per seed")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="mlsitter-automl-bench-"))
    print(f"mlsitter home: {home / 'home'} (MLflow UI: mlflow ui --backend-store-uri sqlite:///{home / 'home' / 'mlflow.db'})")
    os.environ["MLSITTER_HOME"] = str(home / "home")
    os.environ.setdefault("MPLBACKEND", "Agg")
    pythons = {p: flaml_python() if p == "flaml" else autogluon_python() for p in args.peers}
    tools = ["mlsitter", *args.peers]
    rows = []
    for budget in args.budgets:
        for name in args.datasets:
            frame, target = load(name)
            task, metric = task_and_metric(frame[target])
            data_folder = home / f"{name}-{budget:g}"
            data_folder.mkdir(parents=True)
            train, test = split(frame, target, task, args.seed, data_folder)
            for tool_seed in args.tool_seeds:
                folder = data_folder / f"t{tool_seed}"
                folder.mkdir()
                peers = {p: run_peer(p, pythons[p], train, test, target, task, metric, budget, args.n_jobs, tool_seed,
                                     folder) for p in args.peers}
                ml = run_mlsitter(train, test, target, metric, budget, args.n_jobs, tool_seed,
                                  f"{name}-{budget:g}-t{tool_seed}")
                r = ml["result"]
                scores = {"mlsitter": r.test_score, **{p: None if info["pred"] is None else score_peer(
                    info["pred"], test, target, task, metric, info["classes"]) for p, info in peers.items()}}
                done = {p: v for p, v in scores.items() if v is not None}
                train_seconds = r.total_seconds
                row = {
                    "budget_s": budget, "split_seed": args.seed, "tool_seed": tool_seed, "dataset": name,
                    "task": task, "metric": metric, "rows": int(len(frame)), "scores": scores,
                    "ranks": ranks(metric, done), "peer_errors": {p: i["failed"] for p, i in peers.items() if "failed" in i},
                    "mlsitter_worse_by_pct": worse_by(metric, r.test_score, {p: v for p, v in done.items()
                                                                             if p != "mlsitter"} or {"mlsitter": r.test_score}),
                    "mlsitter_winner": r.winner[:80], "ensemble_kept": r.ensemble_kept,
                    "peer_best": {p: info["best"] for p, info in peers.items()},
                    "trials": r.trials_run, "eliminated": sorted(r.eliminated),
                    "mlsitter_wall_s": ml["wall_seconds"], "mlsitter_review_s": ml["review_seconds"], "mlsitter_run_s": r.total_seconds,
                    "peer_wall_s": {p: info["wall_seconds"] for p, info in peers.items()},
                    "mlflow_log_s": r.mlflow_logging_seconds, "mlsitter_train_s": train_seconds,
                    "mlflow_share_pct": 100 * r.mlflow_logging_seconds / (train_seconds + r.mlflow_logging_seconds),
                    "load_avg": os.getloadavg(),
                }
                rows.append(row)
                print(f"[{budget:g}s] {name:8s} t{tool_seed} {metric:8s} "
                      + "  ".join(f"{t} {v:.4f}" if v is not None else f"{t} failed" for t, v in scores.items())
                      + f"  gap {row['mlsitter_worse_by_pct']:+.2f}%  walls mlsitter {ml['review_seconds']:.1f}s to review "
                      + " ".join(f"{p} {info['wall_seconds']:.0f}s" for p, info in peers.items())
                      + f"  mlflow {row['mlflow_share_pct']:.1f}%  load {os.getloadavg()[0]:.1f}  winner {r.winner[:60]}",
                      flush=True)
                if args.out:  # written after every run, so a long campaign cut short keeps what it measured
                    args.out.write_text(json.dumps(rows, indent=2, default=str))
    summarise(rows, args.budgets, tools)
    if args.out:
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
