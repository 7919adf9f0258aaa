"""The success metrics a brief may name, with their sklearn scorer, direction and valid range.

One table so the brief validator, feasibility, model comparison and the charter agree on what a
metric means (e.g. ``rmse`` is lower-is-better and scored by sklearn as a negated value).
"""

from __future__ import annotations

from dataclasses import dataclass

from mlsitter.errors import SpecError
from mlsitter.naming import stable_name


@stable_name("ml.metrics.MetricInfo")
@dataclass(frozen=True)
class MetricInfo:
    """A metric: its task, sklearn scorer name, direction and the range a threshold may take."""

    name: str
    task: str  # "classification" | "regression"
    scorer: str
    greater_is_better: bool
    low: float | None
    high: float | None
    binary_only: bool = False

    def from_scorer(self, value: float) -> float:
        """Turn a sklearn scorer value into the metric's natural value (undo the negation)."""
        return float(value) if self.greater_is_better else -float(value)

    def meets(self, value: float, threshold: float) -> bool:
        """Whether a natural metric value reaches ``threshold`` in the metric's direction."""
        return value >= threshold if self.greater_is_better else value <= threshold


METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in [
        MetricInfo("roc_auc", "classification", "roc_auc", True, 0.0, 1.0, binary_only=True),
        MetricInfo("roc_auc_ovr", "classification", "roc_auc_ovr", True, 0.0, 1.0),
        MetricInfo("accuracy", "classification", "accuracy", True, 0.0, 1.0),
        MetricInfo("balanced_accuracy", "classification", "balanced_accuracy", True, 0.0, 1.0),
        MetricInfo("f1", "classification", "f1", True, 0.0, 1.0, binary_only=True),
        MetricInfo("f1_macro", "classification", "f1_macro", True, 0.0, 1.0),
        MetricInfo("precision", "classification", "precision", True, 0.0, 1.0, binary_only=True),
        MetricInfo("recall", "classification", "recall", True, 0.0, 1.0, binary_only=True),
        MetricInfo("average_precision", "classification", "average_precision", True, 0.0, 1.0, binary_only=True),
        MetricInfo("log_loss", "classification", "neg_log_loss", False, 0.0, None),
        MetricInfo("r2", "regression", "r2", True, None, 1.0),
        MetricInfo("rmse", "regression", "neg_root_mean_squared_error", False, 0.0, None),
        MetricInfo("mae", "regression", "neg_mean_absolute_error", False, 0.0, None),
        MetricInfo("mape", "regression", "neg_mean_absolute_percentage_error", False, 0.0, None),
    ]
}


def metric_info(name: str) -> MetricInfo:
    """Look a metric up by name; an unknown name is a SpecError listing the known ones."""
    key = str(name).strip().lower()
    if key not in METRICS:
        raise SpecError(f"unknown metric {name!r}; expected one of: {', '.join(sorted(METRICS))}")
    return METRICS[key]


def default_metric(task: str, n_classes: int = 2) -> str:
    """The metric used when none is given: ROC AUC for binary, balanced accuracy for multiclass, R² for regression."""
    if task == "regression":
        return "r2"
    return "roc_auc" if n_classes == 2 else "balanced_accuracy"
