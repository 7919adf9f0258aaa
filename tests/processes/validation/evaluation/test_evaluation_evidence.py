"""``evaluation`` decides with its evidence: the fairness question carries the per-group table, the figure and
the per-row predictions (enough to recompute the gaps with fairlearn alone); equalized odds counts the events
its rates divide by; a gap too uncertain to judge fails no gate; a perturbation that touched nothing is not run."""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import demographic_parity_ratio, equalized_odds_difference
from sklearn.linear_model import LogisticRegression

import mlsitter
from mlsitter.runtime.store import Store


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """Two large groups whose scores differ (a demographic-parity gap) and a group of 69 rows with 7 positives."""
    folder = tmp_path_factory.mktemp("evidence")
    rng = np.random.default_rng(0)
    sizes, shift = {"A": 700, "B": 700, "C": 69}, {"A": 0.6, "B": -0.6, "C": 0.0}
    group = np.concatenate([[g] * n for g, n in sizes.items()])
    x1 = rng.normal(0, 1, len(group)) + np.array([shift[g] for g in group])
    x2 = rng.normal(0, 1, len(group))
    y = (x1 + 0.5 * x2 + rng.normal(0, 0.7, len(group)) > 0.4).astype(int)
    c = np.flatnonzero(group == "C")
    y[c] = 0
    y[c[:7]] = 1  # 7 positives in C, around the decision boundary: a TPR on 7 events
    x1[c[:7]], x2[c[:7]] = [-0.4, 0.0, 0.2, 0.4, 0.6, 0.8, 1.2], 0.0
    frame = pd.DataFrame({"x1": x1, "x2": x2, "group": group, "approved": y})
    model = LogisticRegression().fit(frame[["x1", "x2"]], frame["approved"])
    joblib.dump(model, folder / "model.joblib")
    frame.to_csv(folder / "eval.csv", index=False)
    return {"model": str(folder / "model.joblib"), "data": str(folder / "eval.csv"), "frame": frame}


def gates_of(run_id: str) -> dict[str, dict]:
    return {e.data["name"]: e.data for e in Store().events(run_id, types=("gate.evaluated",))}


def test_fairness_question_carries_its_evidence_and_counts_events(case):
    h = mlsitter.run("evaluation", model=case["model"], data=case["data"], target="approved", sensitive=["group"],
                     n_resamples=50)
    assert h.status == "waiting" and h.waiting["options"] == ["mitigate", "accept", "reject"], h.error
    files = {a["name"]: a["path"] for a in h.waiting["artifacts"]}
    assert {"fairness-by-group.csv", "fairness.png", "predictions.csv"} <= set(files)
    # the exported predictions alone reproduce the reported gaps with fairlearn
    pred = pd.read_csv(files["predictions.csv"])
    assert list(pred.columns) == ["row", "label", "y_true", "score", "y_pred", "prediction", "group"]
    assert len(pred) == len(case["frame"]) and (pred["y_true"] == case["frame"]["approved"]).all()
    gaps = h.waiting["context"]["gaps"]["group"]
    assert gaps["dp_ratio"][0] == pytest.approx(demographic_parity_ratio(pred.y_true, pred.y_pred, sensitive_features=pred.group))
    # C has 69 rows (enough for a selection rate) but 7 positives: it is left out of equalized odds
    big = pred[pred.group != "C"]
    assert gaps["eo_difference"][0] == pytest.approx(
        equalized_odds_difference(big.y_true, big.y_pred, sensitive_features=big.group))
    table = pd.read_csv(files["fairness-by-group.csv"]).set_index("group")
    assert table.loc["C", "in_dp_gap"] and not table.loc["C", "in_eo_gap"] and table.loc["A", "in_eo_gap"]
    gates = gates_of(h.run_id)
    assert not gates["fairness-group-dp-ratio"]["passed"]
    # floats only: category swaps touched nothing, so they are not run (no gate), never passed
    assert "robustness-category_swap" not in gates and "robustness-numeric_noise" in gates


def test_a_gap_with_a_wide_ci_fails_no_gate(case):
    # with min_group_size=5, C's 7 positives enter equalized odds: the gap's CI is far wider than 0.3
    h = mlsitter.run("evaluation", model=case["model"], data=case["data"], target="approved", sensitive=["group"],
                     n_resamples=50, min_group_size=5, min_dp_ratio=0.0, targets="roc_auc>=0.99")
    # a metric target out of reach asks for an override with the metrics table and the predictions attached
    assert h.status == "waiting" and "metric-roc_auc" in h.waiting["question"]
    files = {a["name"]: a["path"] for a in h.waiting["artifacts"]}
    assert set(files) == {"metrics.csv", "predictions.csv"}
    table = pd.read_csv(files["metrics.csv"]).set_index("metric")
    assert table.loc["roc_auc", "ci_low"] <= table.loc["roc_auc", "value"] < 0.99
    h = mlsitter.approve(h.run_id, by="reviewer", resume=True)
    gates = gates_of(h.run_id)
    width = gates["fairness-group-eo-difference-ci-width"]
    assert width["value"] > 0.3 and not width["passed"] and width["on_fail"] == "warn"
    assert "fairness-group-eo-difference" not in gates
    # nothing judged failed: no fairness question, straight to the readiness decision
    assert h.status == "waiting" and h.waiting["options"] == ["ready", "not-ready"]


def test_integer_coded_categories_are_swapped_not_noised():
    from mlsitter.ml.evaluation._robustness import add_numeric_noise, robustness_report, swap_categories

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"education": rng.integers(1, 5, 400), "income": rng.normal(50, 10, 400),
                          "children": rng.integers(0, 400, 400)})  # many distinct integers: a quantity
    noisy, n_noise = add_numeric_noise(frame, 0.5, np.random.default_rng(0))
    swapped, n_swap = swap_categories(frame, 0.5, np.random.default_rng(0))
    assert (n_noise, n_swap) == (2, 1)
    assert (noisy["education"] == frame["education"]).all() and (noisy["income"] != frame["income"]).all()
    assert set(swapped["education"]) <= {1, 2, 3, 4} and (swapped["education"] != frame["education"]).any()
    results = robustness_report(None, frame[["income"]], np.zeros(400), lambda m, X, y: 1.0, "score")
    swap = next(r for r in results if r.perturbation == "category_swap")
    assert swap.status == "not run" and swap.columns == 0 and "no column" in swap.note and swap.perturbed != swap.perturbed
