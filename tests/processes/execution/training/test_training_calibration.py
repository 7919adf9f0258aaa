"""``training`` flags calibration as ``evaluation`` does: a search that reweights classes (``class_weight=
'balanced'``) on rare positives serves probabilities far above the observed rates, and the run says so."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

import mlsitter
from mlsitter.runtime.store import Store


def test_a_balanced_class_weight_gets_a_calibration_warning(tmp_path):
    rng = np.random.default_rng(0)
    n = 1500
    x = rng.normal(0, 1, (n, 3))
    y = rng.random(n) < 1 / (1 + np.exp(-(x[:, 0] - 3.0)))  # about 7% positives
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "churn": np.where(y, "yes", "no")}).to_csv(
        tmp_path / "churn.csv", index=False)
    space = json.dumps({"class_weight": {"type": "categorical", "choices": ["balanced"]}})
    h = mlsitter.run("training", approve="auto", data=str(tmp_path / "churn.csv"), target="churn", family="linear",
                     trials=1, folds=2, search_space=space, model_name="churn-balanced")
    assert h.status == "completed", h.error
    assert h.result.best_params["class_weight"] == "balanced"
    events = Store().events(h.run_id, types=("gate.evaluated", "log"))
    gate = next(e.data for e in events if e.type == "gate.evaluated" and e.data["name"] == "calibration-ece")
    assert gate["value"] > 0.1 and not gate["passed"] and gate["on_fail"] == "warn"
    warning = next(e.data["message"] for e in events if e.type == "log" and "miscalibrated" in e.data.get("message", ""))
    assert "class_weight='balanced'" in warning and f"ECE {gate['value']:.3f}" in warning
    assert "calibration-ece" in open(h.result.report, encoding="utf-8").read()
