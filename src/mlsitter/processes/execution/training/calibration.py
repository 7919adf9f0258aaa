"""Calibration of the refitted binary classifier on the test split, flagged in ``training`` as ``evaluation``
flags it: a search that picks ``class_weight='balanced'`` (or any reweighting) can trade calibration for the
metric it optimises, and the probabilities it then serves are off without a word."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlsitter.naming import stable_name
from mlsitter.runtime import Context, GateResult, task


@stable_name("training.Calibration")
@dataclass
class Calibration:
    """Expected calibration error of the test-split probabilities, with its CI and the settings that reweight."""

    ece: float
    ece_low: float
    ece_high: float
    positive_class: str
    reweighting: dict[str, Any]


@task(name="training.measure_calibration")
def measure_calibration(final: Any, prep: Any, params: dict[str, Any]) -> Calibration | None:
    """ECE (10 equal-width bins, bootstrap CI) of a binary classifier's test probabilities; None otherwise."""
    from mlsitter.ml.metrics._calibration import expected_calibration_error

    classes = list(getattr(final.model, "classes_", []))
    if len(classes) != 2 or not hasattr(final.model, "predict_proba"):
        return None
    proba = np.asarray(final.model.predict_proba(prep.X_test), dtype=np.float64)[:, 1]
    y = np.asarray(prep.y_test) == classes[1]
    res = expected_calibration_error(y, proba, n_resamples=200, seed=0)
    weights = {k: v for k, v in params.items() if "weight" in k and v not in (None, 1, 1.0, "none")}
    return Calibration(float(res.ece.value), float(res.ece.low), float(res.ece.high), str(classes[1]), weights)


def calibration_gate(ctx: Context, calibration: Calibration, max_ece: float) -> GateResult:
    """The ``calibration-ece`` warn gate; a failure says so in the journal, naming any reweighting chosen."""
    gate = ctx.gate("calibration-ece", round(calibration.ece, 6), "<=", max_ece, on_fail="warn")
    if not gate.passed:
        why = (" The search chose " + ", ".join(f"{k}={v!r}" for k, v in calibration.reweighting.items())
               + ", which shifts probabilities away from observed rates.") if calibration.reweighting else ""
        ctx.log("warning", f"the model's probabilities are miscalibrated: ECE {calibration.ece:.3f} (95% CI "
                           f"{calibration.ece_low:.3f}-{calibration.ece_high:.3f}) > {max_ece} on the test split.{why} "
                           "Recalibrate (evaluation recalibrate=isotonic) before using the scores as probabilities.")
    return gate
