"""Contract tests of a served model, each a named row with its measured value, threshold and verdict: the
request and response schemas, predictions a downstream consumer can use (in range, finite), quality on a
golden set, training reproducibility, and the environment against the model's pinned requirements.

The functions measure; the caller decides the thresholds. Nothing here starts a server or reads a journal."""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from mlsitter.naming import stable_name

_OPS: dict[str, Callable[[Any, Any], bool]] = {">=": operator.ge, "<=": operator.le, "==": operator.eq,
                                                ">": operator.gt, "<": operator.lt}


@stable_name("ml.testing.ContractTest")
@dataclass
class ContractTest:
    """One contract test: what it checks, the measured value, the rule, whether it passed and why."""

    name: str
    checks: str
    measured: Any
    op: str
    threshold: Any
    passed: bool
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"test": self.name, "checks": self.checks, "measured": self.measured,
                "rule": f"{self.op} {self.threshold}", "passed": self.passed, "detail": self.detail}


def contract_test(name: str, checks: str, measured: Any, op: str, threshold: Any, detail: str = "") -> ContractTest:
    """A row whose verdict is ``measured op threshold`` (a missing or NaN measurement fails)."""
    if op not in _OPS:
        raise ValueError(f"contract test {name!r}: unknown operator {op!r}; expected one of {', '.join(_OPS)}")
    usable = measured is not None and not (isinstance(measured, float) and math.isnan(measured))
    return ContractTest(name, checks, measured, op, threshold, bool(usable and _OPS[op](measured, threshold)), detail)


def pass_rate(tests: Sequence[ContractTest]) -> float:
    """The share of contract tests that passed (1.0 for none)."""
    return sum(t.passed for t in tests) / len(tests) if tests else 1.0


# -- responses and predictions ----------------------------------------------------------------------------
def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def response_problems(body: Any, *, label: str, labels: Sequence[Any] | None) -> list[str]:
    """What a single-record ``/predict`` answer lacks: the request id, the model's name and version as the
    registry names them, a prediction of the target's type (a label of ``labels`` for a classifier's type,
    a number for a regressor) and a score that is a number or null."""
    if not isinstance(body, dict):
        return [f"the answer is {type(body).__name__}, not a JSON object"]
    problems = [f"'{key}' is missing" for key in ("request_id", "model", "version", "prediction", "score")
                if key not in body]
    if f"{body.get('model')}/{body.get('version')}" != label:
        problems.append(f"model/version {body.get('model')}/{body.get('version')} is not {label}")
    prediction = body.get("prediction")
    if labels:
        kinds = {type(v).__name__ for v in labels}
        numeric = isinstance(prediction, (int, float)) and not isinstance(prediction, bool)
        if type(prediction).__name__ not in kinds and not (numeric and kinds <= {"int", "float"}):
            problems.append(f"prediction {prediction!r} is a {type(prediction).__name__}, the target's labels are "
                            f"{'/'.join(sorted(kinds))}")
    elif not isinstance(prediction, (int, float)) or isinstance(prediction, bool):
        problems.append(f"prediction {prediction!r} is not a number")
    score = body.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
        problems.append(f"score {score!r} is neither a number nor null")
    return problems


@stable_name("ml.testing.PredictionCheck")
@dataclass
class PredictionCheck:
    """What a downstream consumer found in the predictions it read: how many, how many were in range (a
    known label, a score in [0, 1]; a value within the stated bounds for a regressor), how many finite."""

    read: int
    in_range: int
    finite: int
    errors: int
    examples: list[str] = field(default_factory=list)

    @property
    def in_range_share(self) -> float:
        return self.in_range / self.read if self.read else 0.0

    @property
    def finite_share(self) -> float:
        return self.finite / self.read if self.read else 0.0


def check_predictions(entries: Sequence[dict[str, Any]], *, labels: Sequence[Any] | None,
                      bounds: tuple[float, float] | None = None) -> PredictionCheck:
    """Check prediction-log entries (``output``, ``score``, ``outcome``) against the output contract. A
    classifier's prediction must be one of ``labels`` and its score a finite number in [0, 1]; a regressor's
    prediction a finite number (within ``bounds`` when given)."""
    known = {repr(v) for v in labels} if labels else set()
    check = PredictionCheck(0, 0, 0, 0)
    for entry in entries:
        if entry.get("outcome") != "ok":
            check.errors += 1
            continue
        check.read += 1
        output, score = entry.get("output"), entry.get("score")
        if labels:
            finite = _finite(score)
            ok_range = repr(output) in known and (not finite or 0.0 <= float(score) <= 1.0)
        else:
            finite = _finite(output)
            ok_range = finite and (bounds is None or bounds[0] <= float(output) <= bounds[1])
        check.finite += finite
        check.in_range += ok_range
        if not (finite and ok_range) and len(check.examples) < 5:
            check.examples.append(f"request {entry.get('request_id', '')[:8]} record {entry.get('index', 0)}: "
                                  f"prediction {output!r}, score {score!r}")
    return check


# -- quality and reproducibility -------------------------------------------------------------------------
def golden_quality(metric: Any, y: Sequence[Any], predictions: Sequence[Any], scores: Sequence[Any],
                   classes: Sequence[Any] | None) -> tuple[float | None, int]:
    """(the metric on the rows with a usable answer, rows left out). A classifier's metric takes the score of
    the positive class (binary) as the probability; rows whose score is not finite are left out (the
    finiteness test reports them)."""
    import numpy as np

    y_arr = np.asarray(y)
    if classes is not None and len(classes):
        s = np.asarray([v if _finite(v) else np.nan for v in scores], dtype=float)
        keep = np.isfinite(s)
        if len(classes) == 2:
            proba = np.column_stack([1 - s[keep], s[keep]])
        else:  # the served score is the top class's: fall back to one-hot predictions
            pred = np.asarray(predictions, dtype=object)[keep]
            proba = np.column_stack([(pred == c).astype(float) for c in classes])
        if not keep.any():
            return None, int(len(y_arr))
        return float(metric.compute(y_arr[keep], proba, np.asarray(classes))), int((~keep).sum())
    values = np.asarray([v if _finite(v) else np.nan for v in predictions], dtype=float)
    keep = np.isfinite(values)
    if not keep.any():
        return None, int(len(y_arr))
    return float(metric.compute(y_arr[keep].astype(float), values[keep], np.asarray([]))), int((~keep).sum())


@stable_name("ml.testing.Reproduction")
@dataclass
class Reproduction:
    """Two fits of the same estimator with one seed on the same rows, scored on the same golden rows."""

    first: float | None
    second: float | None
    difference: float | None
    seed: int
    train_rows: int
    golden_rows: int
    detail: str = ""


def _seeded(estimator: Any, seed: int) -> Any:
    """A fresh clone of ``estimator`` with every ``random_state`` parameter set to ``seed``."""
    from sklearn.base import clone

    fresh = clone(estimator)
    params = {k: seed for k in fresh.get_params(deep=True) if k == "random_state" or k.endswith("__random_state")}
    return fresh.set_params(**params) if params else fresh


def reproduce_training(estimator: Any, X: Any, y: Any, X_golden: Any, y_golden: Any, *, metric: Any, seed: int,
                       classes: Sequence[Any] | None) -> Reproduction:
    """Fit two clones of ``estimator`` (same seed, same rows) and score both on the golden rows with
    ``metric``; an estimator scikit-learn cannot clone is a failed reproduction naming why."""
    import numpy as np

    try:
        fits = [_seeded(estimator, seed).fit(X, y) for _ in range(2)]
    except Exception as exc:  # not a scikit-learn estimator, or it cannot be refitted
        return Reproduction(None, None, None, seed, len(X), len(X_golden),
                            f"the model could not be refitted: {type(exc).__name__}: {exc}")
    values = []
    for fitted in fits:
        if classes is not None and len(classes):
            proba = np.asarray(fitted.predict_proba(X_golden), dtype=float)
            keep = np.isfinite(proba).all(axis=1)
            values.append(float(metric.compute(np.asarray(y_golden)[keep], proba[keep], np.asarray(classes))))
        else:
            values.append(float(metric.compute(np.asarray(y_golden, dtype=float),
                                               np.asarray(fitted.predict(X_golden), dtype=float), np.asarray([]))))
    return Reproduction(values[0], values[1], abs(values[0] - values[1]), seed, len(X), len(X_golden))


# -- the environment ---------------------------------------------------------------------------------------
def requirement_mismatches(model_dir: str | Path) -> tuple[int, list[str]]:
    """(pinned requirements checked, those whose installed version differs or is missing) of an MLflow
    model directory's ``requirements.txt``: the dependency changes a model would silently be served under."""
    import re
    from importlib import metadata

    path = Path(model_dir) / "requirements.txt"
    if not path.is_file():
        return 0, [f"{model_dir} has no requirements.txt"]
    checked, differing = 0, []
    for line in path.read_text(encoding="utf-8").splitlines():
        found = re.match(r"^\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)", line)
        if not found:
            continue
        name, pinned = found.groups()
        checked += 1
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            differing.append(f"{name}=={pinned} is not installed")
            continue
        if installed != pinned:
            differing.append(f"{name}: model pinned {pinned}, installed {installed}")
    return checked, differing
