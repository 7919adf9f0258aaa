"""Business value of a binary classifier: a value per outcome (TP, FP, TN, FN) turned into the
expected value per decision of using the model vs a baseline policy, and the threshold maximising it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlsitter.errors import SpecError
from mlsitter.naming import stable_name

OUTCOMES = ("tp", "fp", "tn", "fn")


@stable_name("ml.evaluation.CostMatrix")
@dataclass(frozen=True)
class CostMatrix:
    """Value of each outcome per decision (negative = a cost)."""

    tp: float
    fp: float
    tn: float
    fn: float


def parse_cost_matrix(spec: str | dict[str, Any]) -> CostMatrix:
    """Read ``"tp=100,fp=-20,tn=0,fn=-50"``, a JSON object, or a path to a JSON file."""
    if isinstance(spec, str):
        text = spec.strip()
        if text.endswith(".json") and Path(text).exists():
            text = Path(text).read_text(encoding="utf-8")
        if text.startswith("{"):
            try:
                spec = json.loads(text)
            except json.JSONDecodeError as exc:
                raise SpecError(f"cost matrix JSON is invalid: {exc}") from None
        else:
            parsed: dict[str, Any] = {}
            for part in filter(None, (p.strip() for p in text.split(","))):
                if "=" not in part:
                    raise SpecError(f"cost matrix entry {part!r} must look like 'tp=100'; expected keys {OUTCOMES}")
                k, v = part.split("=", 1)
                parsed[k.strip().lower()] = v.strip()
            spec = parsed
    if not isinstance(spec, dict):
        raise SpecError(f"cost matrix must be a mapping of {OUTCOMES} to values; got {type(spec).__name__}")
    unknown = set(spec) - set(OUTCOMES)
    missing = set(OUTCOMES) - set(spec)
    if unknown or missing:
        raise SpecError(f"cost matrix needs exactly the keys {OUTCOMES}; missing {sorted(missing)}, unknown {sorted(unknown)}")
    try:
        return CostMatrix(**{k: float(spec[k]) for k in OUTCOMES})
    except (TypeError, ValueError):
        raise SpecError(f"cost matrix values must be numbers; got {spec}") from None


@stable_name("ml.evaluation.BusinessValue")
@dataclass
class BusinessValue:
    """Expected value per decision of the model (at the default and at the best threshold) vs baselines."""

    costs: CostMatrix
    n_rows: int
    default_threshold: float
    value_at_default: float
    best_threshold: float
    value_at_best: float
    baselines: dict[str, float]
    baseline_name: str
    baseline_value: float
    curve: list[tuple[float, float]] = field(default_factory=list)

    @property
    def uplift_per_decision(self) -> float:
        return self.value_at_best - self.baseline_value


def _value_at(yt: np.ndarray, act: np.ndarray, c: CostMatrix) -> float:
    tp = np.sum(yt & act); fp = np.sum(~yt & act); tn = np.sum(~yt & ~act); fn = np.sum(yt & ~act)
    return float((c.tp * tp + c.fp * fp + c.tn * tn + c.fn * fn) / len(yt))


def business_value(
    y_true: np.ndarray, y_score: np.ndarray, costs: CostMatrix, *, default_threshold: float = 0.5, grid: int = 101,
) -> BusinessValue:
    """Sweep thresholds (every distinct score, vectorised) for the one maximising mean value per decision.

    Baselines are the trivial policies (act on everyone, act on no one); the better of the two is the
    baseline the model must beat.
    """
    yt = np.asarray(y_true).astype(bool)
    score = np.asarray(y_score, dtype=np.float64)
    n = len(yt)
    order = np.argsort(-score, kind="mergesort")
    s, y = score[order], yt[order]
    tp = np.cumsum(y); fp = np.cumsum(~y)
    ends = np.append(np.flatnonzero(np.diff(s) != 0), n - 1)  # act on rows 0..end (score >= s[end])
    P, N = tp[-1], fp[-1]
    tp_e, fp_e = tp[ends], fp[ends]
    values = (costs.tp * tp_e + costs.fp * fp_e + costs.tn * (N - fp_e) + costs.fn * (P - tp_e)) / n
    none = (costs.tn * N + costs.fn * P) / n
    best = int(np.argmax(values))
    best_value, best_threshold = float(values[best]), float(s[ends[best]])
    if none > best_value:
        best_value, best_threshold = float(none), float(np.nextafter(s[0], np.inf))
    baselines = {"act on no one": float(none), "act on everyone": float((costs.tp * P + costs.fp * N) / n)}
    base_name = max(baselines, key=baselines.get)
    thresholds = np.linspace(0, 1, grid)
    curve = [(float(t), _value_at(yt, score >= t, costs)) for t in thresholds]
    return BusinessValue(costs, n, default_threshold, _value_at(yt, score >= default_threshold, costs), best_threshold,
                         best_value, baselines, base_name, baselines[base_name], curve)


def value_curve_figure(result: BusinessValue) -> Any:
    """Expected value per decision against the threshold, with the baseline and the best threshold."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot([t for t, _ in result.curve], [v for _, v in result.curve], label="model")
    ax.axhline(result.baseline_value, color="grey", ls="--", label=f"baseline ({result.baseline_name})")
    ax.axvline(result.best_threshold, color="green", ls=":", label=f"best threshold {result.best_threshold:.3f}")
    ax.set_xlabel("decision threshold on P(positive)")
    ax.set_ylabel("expected value per decision")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
