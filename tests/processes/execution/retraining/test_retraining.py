"""The `retraining` process on real bank-marketing slices: a champion trained on 2008 calls does not
retrain on more 2008 calls (each trigger's reason journaled with its numbers), retrains on the drifted
2010 calls and stops at a production approval, and a challenger that is not better is never deployed.
DeLong's test is checked against a direct computation of both AUCs."""

from __future__ import annotations

import json

import numpy as np
import pytest

import mlsitter
import realdata
from mlsitter import Store


@pytest.fixture(scope="module")
def slices(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bank-slices")
    frame = realdata.bank(full=True).drop(columns=["duration"])
    paths = {}
    for name, part, rows, seed in (("train", frame.iloc[:30000], 500, 0), ("reference", frame.iloc[:30000], 300, 1),
                                   ("healthy", frame.iloc[:30000], 300, 2), ("late", frame.iloc[-4000:], 800, 3)):
        paths[name] = folder / f"{name}.csv"
        part.sample(rows, random_state=seed).to_csv(paths[name], index=False)
    return {k: str(v) for k, v in paths.items()}


def messages(run_id: str) -> list[str]:
    return [e.data["message"] for e in Store().events(run_id, types=("log",))]


@pytest.mark.timeout(900)  # several child runs on real data; a shared 2-core machine
def test_triggers_decide_with_their_numbers_and_only_a_better_challenger_reaches_the_approval(slices):
    from mlsitter.ml.tracking import lineage, promote

    champion = mlsitter.run("training", approve="auto", data=slices["train"], target="y", trials=1, folds=2,
                            model_name="bank")
    assert champion.status == "completed", champion.error
    promote("bank/1")
    common = dict(model="bank@champion", target="y", reference=slices["reference"], metric="accuracy", trials=1,
                  folds=2, n_resamples=200)

    healthy = mlsitter.run("retraining", approve="auto", data=slices["healthy"], **common)
    assert healthy.status == "completed", healthy.error
    assert healthy.result.status == "not-triggered"
    fired = {t["name"]: t["fired"] for t in healthy.result.triggers}
    assert fired == {"drift": False, "performance-decay": False, "data-volume": False, "model-age": False}
    logs = messages(healthy.run_id)
    decay = next(m for m in logs if "performance-decay did not fire" in m)
    assert "accuracy" in decay and "against" in decay and "allowed 0.03" in decay  # why, with the numbers
    assert any("data-volume did not fire: 300 new labelled rows" in m for m in logs)

    drift = json.dumps({"status": "drift", "alerts": ["window 1: 9 features drifted"], "action": "retrain"})
    decayed = mlsitter.run("retraining", approve="auto", data=slices["late"], drift=drift, **common)
    assert decayed.status == "waiting", decayed.error or (decayed.result.reason, decayed.result.comparison)
    assert "production" in decayed.waiting["tags"]  # auto does not deploy to production
    events = Store().events(decayed.run_id, types=("log",))
    assert any("performance-decay FIRED" in e.data["message"] for e in events)
    assert any("drift FIRED" in e.data["message"] for e in events)
    info = lineage("bank/2")
    assert info["parent"]["version"] == "bank/1" and "performance-decay" in info["parent"]["trigger"]
    assert info["dataset"]["dataset_version"].startswith("sha256:")
    rejected = mlsitter.reject(decayed.run_id, feedback="not this week", by="lead", resume=True)
    assert rejected.status == "completed" and rejected.result.status == "rejected"
    comparison = rejected.result.comparison
    assert comparison["test"] == "paired-bootstrap" and comparison["difference"] > 0 and comparison["p_value"] <= 0.05
    assert "deploy" not in [r.process for r in Store().list_runs()]

    # the model-age trigger fires on more 2008 calls: the challenger is not better, so nothing is deployed
    aged = mlsitter.run("retraining", approve="auto+production", data=slices["healthy"], max_age_days=1e-9, **common)
    assert aged.status == "completed", aged.error
    assert aged.result.status == "challenger-not-better", aged.result.reason
    assert "deploy" not in [r.process for r in Store().list_runs()]
    gate = [e.data for e in Store().events(aged.run_id, types=("gate.evaluated",))][0]
    assert gate["name"] == "challenger-better-p-value" and not gate["passed"]


def test_delong_matches_the_two_aucs_and_detects_a_better_model():
    from sklearn.metrics import roc_auc_score

    from mlsitter.ml.modeling import delong_test

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 600)
    weak, strong = y + rng.normal(0, 1.5, 600), y + rng.normal(0, 0.7, 600)
    result = delong_test(y, weak, strong)
    assert result.champion == pytest.approx(roc_auc_score(y, weak)) and result.challenger == pytest.approx(
        roc_auc_score(y, strong))
    assert result.p_value < 1e-3 and result.ci_low > 0
    same = delong_test(y, strong, strong + rng.normal(0, 1e-3, 600))
    assert same.p_value > 0.05
