"""The `automl` process on real data (tiny budgets) and its ensemble / elimination building blocks."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import mlsitter
from mlsitter.errors import SpecError

import realdata


@pytest.fixture(scope="module")
def adult_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "adult.csv"
    realdata.adult().sample(1500, random_state=1).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def bike_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "bike_hour.csv"
    realdata.bike_hour().sample(1500, random_state=1).to_csv(path, index=False)
    return path


def test_ensemble_is_kept_only_when_it_wins_on_held_out_rows():
    from mlsitter.processes.execution.automl.search import select_ensemble
    from mlsitter.ml.metrics._scoring import get_metric

    rng = np.random.RandomState(0)
    y = rng.normal(size=600)
    mse = get_metric("rmse", "regression")
    # two models with independent errors: their average is better than either
    a, b = y + rng.normal(scale=1.0, size=600), y + rng.normal(scale=1.0, size=600)
    choice = select_ensemble([a, b], y, mse, None, seed=0)
    assert choice.keep and choice.members == 2 and choice.ensemble_score < choice.best_single_score
    assert sum(choice.weights) == pytest.approx(1.0)
    # one sharp model and pure noise: the ensemble adds nothing, so the single model stays (beside a blunter
    # model, a little noise shrinks the blend towards the mean and really does help held out)
    sharp, noise = y + rng.normal(scale=0.3, size=600), rng.normal(scale=5.0, size=600)
    choice = select_ensemble([sharp, noise], y, mse, None, seed=0)
    assert not choice.keep and choice.weights[0] > 0.9


def test_no_skill_scores_and_diverse_ensemble_library():
    from types import SimpleNamespace

    from mlsitter.processes.execution.automl.search import ensemble_candidates
    from mlsitter.ml.metrics._scoring import get_metric, no_skill_score

    y = np.array(["a"] * 30 + ["b"] * 60 + ["c"] * 10)
    entropy = -(0.3 * np.log(0.3) + 0.6 * np.log(0.6) + 0.1 * np.log(0.1))
    assert no_skill_score(get_metric("log_loss", "classification"), y, np.array(["a", "b", "c"])) == pytest.approx(entropy)
    assert no_skill_score(get_metric("accuracy", "classification"), y) == pytest.approx(0.6)
    assert no_skill_score(get_metric("roc_auc", "classification"), y[:90] == "b") == pytest.approx(0.5)
    assert no_skill_score(get_metric("r2", "regression"), np.arange(10.0)) == pytest.approx(0.0)
    # the library keeps each family's best few before filling up with near-copies of the leader
    auc = get_metric("roc_auc", "classification")
    def trial(family: str, value: float, number: int, seconds: float = 1.0, size: int = 1000) -> SimpleNamespace:
        return SimpleNamespace(family=family, value=value, number=number, seconds=seconds, size_bytes=size)

    outcomes = [trial("lightgbm", 0.90 - i / 1000, i) for i in range(20)]
    outcomes += [trial("linear", 0.85 - i / 100, 100 + i) for i in range(5)]
    library = ensemble_candidates(outcomes, auc, size=8, per_family=3)
    assert [o.family for o in library].count("linear") == 3 and len(library) == 8
    assert library[0].value == 0.90 and [o.value for o in library] == sorted((o.value for o in library), reverse=True)
    # a deep forest 40x the leader's size, or one 5x slower, stays out of the library
    library = ensemble_candidates(outcomes[:3] + [trial("extra_trees", 0.899, 200, size=40_000),
                                                  trial("random_forest", 0.898, 201, seconds=5.0)], auc)
    assert {o.family for o in library} == {"lightgbm"}
    # wine at 300 s: a fast linear leader sitting on its C boundary filled the library with copies of
    # itself and shut out every tree model, which took 20-60x its time; the median family sets the bar
    log_loss = get_metric("log_loss", "classification")
    leader = [trial("linear", 0.036 + i * 1e-7, 20 + i, seconds=0.05, size=2_000) for i in range(9)]
    trees = [trial(f, 0.048 + i / 1000, 300 + i, seconds=2.0, size=150_000)
             for i, f in enumerate(["xgboost", "lightgbm", "extra_trees", "random_forest"])]
    library = ensemble_candidates(leader + trees + [trial("knn", 0.12, 400, seconds=0.05)], log_loss)
    assert [o.family for o in library].count("linear") == 1
    assert {"xgboost", "lightgbm", "extra_trees", "random_forest"} <= {o.family for o in library}


def test_early_elimination_and_portfolio_validation():
    from mlsitter.processes.execution.automl.search import check_portfolio, families_to_eliminate
    from mlsitter.ml.metrics._scoring import get_metric

    auc = get_metric("roc_auc", "classification")
    best = {"lightgbm": 0.91, "xgboost": 0.905, "linear": 0.89, "knn": 0.80}
    # tolerance = share of the leader's gain over no skill (AUC 0.5): 10 % = 0.041, then 5 %, then 2 % = 0.0082
    assert set(families_to_eliminate(best, auc, round_number=1, no_skill=0.5)) == {"knn"}
    assert set(families_to_eliminate(best, auc, round_number=2, no_skill=0.5)) == {"knn"}
    assert set(families_to_eliminate(best, auc, round_number=3, no_skill=0.5)) == {"linear", "knn"}
    assert families_to_eliminate({"a": 0.9, "b": 0.1}, auc, 3, no_skill=0.5) == {}  # always keeps the top two
    # the same rule on log loss (lower is better, unbounded): a linear model 0.045 behind a 0.05 leader is
    # within 10 % of the gain over the class prior (1.09), so a default configuration does not doom it
    loss = get_metric("log_loss", "classification")
    wine = {"lightgbm": 0.050, "linear": 0.095, "xgboost": 0.108, "knn": 0.157}
    assert set(families_to_eliminate(wine, loss, round_number=1, no_skill=1.09)) == {"knn"}
    assert set(families_to_eliminate(wine, loss, round_number=3, no_skill=1.09)) == {"xgboost", "knn"}
    assert check_portfolio(None)[0] == "lightgbm" and len(check_portfolio(None)) == 7
    with pytest.raises(SpecError, match="unknown model family 'svm'"):
        check_portfolio(["lightgbm", "svm"])


def test_automl_on_adult_needs_a_human_even_with_auto_approval(adult_csv):
    from mlsitter.ml.tracking._registry import lineage, load_registered_model

    # the trial cap, not the clock, ends this search (a generous budget): the counts below hold on a slow machine
    run = mlsitter.run("automl", approve="auto", data=str(adult_csv), target="class", time_budget_s=300, folds=3,
                       max_trials=3, model_name="adult-automl")
    assert run.status == "waiting"  # the winner's check is tagged 'production': never auto-approved
    assert "production" in str(run.waiting)
    done = mlsitter.approve(run.run_id, resume=True)
    assert done.status == "completed", done.error
    r = done.result
    assert r.accepted and r.version == 1 and r.task == "classification" and r.metric == "roc_auc"
    assert r.test_score > 0.8 and r.trials_run == 3 and len(r.families_tried) == 3  # round one: one per family
    if r.ensemble_kept:
        assert r.ensemble_heldout_score > r.best_single_heldout_score and r.winner.startswith("ensemble")
    rows = list(csv.DictReader(open(r.leaderboard_csv)))
    assert len(rows) == r.trials_run
    assert {"rank", "family", "cv_roc_auc", "cv_std", "seconds", "size_kb"} <= set(rows[0])
    import mlflow

    from mlsitter.ml.tracking import _tracking as tracking

    tracking.configure()  # the MLflow params name the rows the winner was trained and tested on
    params = mlflow.get_run(r.mlflow_run_id).data.params
    assert int(params["train_rows"]) + int(params["test_rows"]) == 1500 and params["target"] == "class"
    assert "dropped_columns" in params
    card = Path(r.model_card).read_text()
    assert "Intended use" in card and "Training data" in card and r.dataset_version in card
    assert lineage("adult-automl@challenger")["run"]["process"] == "automl"
    model = load_registered_model("adult-automl@challenger")
    proba = model.predict_proba(realdata.adult().head(4).drop(columns=["class"]))
    assert proba.shape == (4, 2) and np.allclose(proba.sum(axis=1), 1.0)


def test_a_leaderboard_scored_on_one_holdout_is_headed_so():
    from types import SimpleNamespace

    from mlsitter.processes.execution.automl.tasks import leaderboard_rows

    board = [SimpleNamespace(rank=1, family="lightgbm", trial=0, state="complete", cv_score=0.91, cv_std=0.0,
                             seconds=1.5, size_bytes=2048, params={"n_estimators": 100})]
    held = leaderboard_rows(board, "roc_auc", holdout=True)[0]
    assert held["holdout_roc_auc"] == 0.91 and "cv_roc_auc" not in held and "cv_std" not in held  # no spread to show
    cv = leaderboard_rows(board, "roc_auc", holdout=False)[0]
    assert cv["cv_roc_auc"] == 0.91 and cv["cv_std"] == 0.0


def test_automl_regression_on_bike_sharing_and_rejection_registers_nothing(bike_csv):
    from mlsitter.ml.tracking._registry import resolve_model
    from mlsitter.errors import InputError

    run = mlsitter.run("automl", data=str(bike_csv), target="cnt", drop=["casual", "registered"], time_budget_s=300,
                       families=["lightgbm", "linear", "knn"], folds=3, max_trials=3, model_name="bike-automl")
    assert run.status == "waiting"
    done = mlsitter.reject(run.run_id, feedback="not this one", resume=True)
    assert done.status == "completed", done.error
    r = done.result
    assert not r.accepted and r.version is None and r.feedback == "not this one"
    assert r.task == "regression" and r.metric == "r2" and r.test_score > 0.5
    with pytest.raises(InputError):
        resolve_model("bike-automl")


def test_search_stops_when_no_family_fits_the_time_left(adult_csv, monkeypatch):
    from types import SimpleNamespace

    from mlsitter import Store
    from mlsitter.processes.execution.automl import process as automl_process
    # every trial now looks longer than any time left: after the first trial the
    # search must end at once, not poll the (journaled) clock until the budget runs out
    monkeypatch.setattr(automl_process, "statistics", SimpleNamespace(median=lambda xs: 1e9))
    run = mlsitter.run("automl", data=str(adult_csv), target="class", time_budget_s=300, folds=3,
                       families=["linear", "lightgbm"], model_name="adult-stop")
    assert run.status == "waiting", run.error
    events = Store().events(run.run_id)
    trials = [e for e in events if e.type == "step.started" and e.data["name"].endswith("evaluate_family_trial")]
    clock_reads = [e for e in events if e.type == "value.recorded"]
    # nor does a family not yet tried, judged by the others; the tail reads the clock three times for its phases
    assert len(trials) == 1 and len(clock_reads) < 13


def test_automl_bad_inputs_fail_clearly(adult_csv):
    from mlsitter import Store
    from mlsitter.errors import InvalidInputError

    # pure value errors are refused before a run exists (see tests/runtime/test_inputs_at_the_door.py)
    with pytest.raises(InvalidInputError, match=r"'metric' parameter of automl must be a str among \{.*'roc_auc'.*"
                                                r"Got 'gini' instead"):
        mlsitter.run("automl", approve="auto", data=str(adult_csv), target="class", metric="gini")
    with pytest.raises(InvalidInputError, match=r"'families' parameter of automl must be a list of str among "
                                                r"\{'lightgbm'.*Got \['lightgbm', 'svm'\] instead"):
        mlsitter.run("automl", approve="auto", data=str(adult_csv), target="class", families=["lightgbm", "svm"])
    with pytest.raises(InvalidInputError, match=r"'time_budget_s' parameter of automl must be a float in the range "
                                                r"\(0, inf\)\. Got 0\.0 instead"):
        mlsitter.run("automl", approve="auto", data=str(adult_csv), target="class", time_budget_s=0)
    with pytest.raises(InvalidInputError, match=r"'max_trials' parameter of automl must be an int in the range "
                                                r"\[1, inf\) or None\. Got 0 instead"):
        mlsitter.run("automl", approve="auto", data=str(adult_csv), target="class", max_trials=0)
    assert Store().count_runs() == 0


def test_small_data_is_judged_on_repeated_cv():
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    from mlsitter.processes.execution.automl.search import cv_repeats
    from mlsitter.ml.modeling._cross_validation import cross_validate, split_indices
    from mlsitter.ml.metrics._scoring import get_metric

    assert [cv_repeats(n) for n in (50, 142, 300, 599, 600, 5000)] == [5, 4, 2, 1, 1, 1]
    y = np.repeat([0, 1, 2], 40)
    splits = split_indices(y, "classification", 5, seed=3, repeats=3)
    assert len(splits) == 15
    assert np.bincount(np.concatenate([val for _, val in splits]), minlength=120).tolist() == [3] * 120
    one = split_indices(y, "classification", 5, seed=3)  # one repeat: the plain stratified K-fold
    plain = StratifiedKFold(5, shuffle=True, random_state=3).split(np.zeros(120), y)
    assert all((a[1] == b[1]).all() for a, b in zip(one, plain))
    X = pd.DataFrame({"a": np.random.RandomState(0).normal(size=120) + y, "b": np.random.RandomState(1).normal(size=120)})
    res = cross_validate(LogisticRegression(), X, pd.Series(y), task="classification", metric=get_metric("log_loss", "classification"),
                         splits=splits, classes=np.array([0, 1, 2]))
    per_repeat = [cross_validate(LogisticRegression(), X, pd.Series(y), task="classification",
                                 metric=get_metric("log_loss", "classification"), splits=splits[5 * r:5 * r + 5],
                                 classes=np.array([0, 1, 2])).oof for r in range(3)]
    assert len(res.fold_scores) == 15 and np.allclose(res.oof, np.mean(per_repeat, axis=0))
    assert np.allclose(res.oof.sum(axis=1), 1.0)


def test_automl_on_wine_repeats_cv_and_logs_from_the_runner(tmp_path):
    from sklearn.datasets import load_wine

    from mlsitter import Store

    path = tmp_path / "wine.csv"
    load_wine(as_frame=True).frame.to_csv(path, index=False)
    # a generous budget, so the trial cap (not the machine's speed) is what ends the search
    run = mlsitter.run("automl", data=str(path), target="target", time_budget_s=300, families=["linear", "lightgbm"],
                       executor="process", parallel=2, model_name="wine-automl", max_trials=3)
    assert run.status == "waiting", run.error
    done = mlsitter.approve(run.run_id, resume=True)
    r = done.result
    assert done.status == "completed" and r.metric == "log_loss" and r.test_score < 0.3 and r.version == 1
    assert r.trials_run == 3  # the cap holds even when a round of two parallel trials would pass it
    assert "5-fold CV repeated 4 times" in Path(r.report).read_text()  # 142 training rows
    where = {e.data["name"].rsplit(".", 1)[-1]: e.data["executor"] for e in Store().events(run.run_id, types=("step.started",))}
    assert where["evaluate_family_trial"] == "process" and where["log_automl"] == "inline"
    import mlflow

    assert mlflow.get_run(r.mlflow_run_id).data.tags["mlsitter.run_id"] == run.run_id
