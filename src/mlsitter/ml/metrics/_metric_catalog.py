"""The metric catalogue: every metric mlsitter scores or a brief may name, in one table.

One row per metric gives its task, direction, how it is computed on predictions (training, AutoML,
HPO, cross-validation), its scikit-learn scorer (feasibility, model comparison, the charter), the range
a success threshold may take, and its other spellings. Both sides read this table, so a metric means
the same thing everywhere (e.g. ``rmse`` is lower-is-better, and sklearn scores it as a negated value).

Two lookups serve the two sides: :func:`get_metric` gives the :class:`Metric` that is computed, and
:func:`metric_info` gives the plain :class:`MetricInfo` a brief or charter records. ROC AUC is one
metric with two spellings: ``roc_auc`` (binary) and ``roc_auc_ovr``, the name and sklearn scorer of its
one-vs-rest average that a brief must use for a multiclass target; training and AutoML compute both as
``roc_auc`` (which averages one-vs-rest on a multiclass target).

The metric used when none is given depends on what it is for, so there are two named rules over this
table: :func:`default_training_metric` (what a model is tuned on) and :func:`default_success_metric`
(what a planning report states success in).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from mlsitter.errors import SpecError
from mlsitter.naming import stable_name

CLASSIFICATION = "classification"
REGRESSION = "regression"


@stable_name("ml.metrics.Metric")
@dataclass(frozen=True)
class Metric:
    """A row of the catalogue: a metric, its direction, how it is computed and how else it is spelled.

    ``compute(y, prediction, classes)`` takes class probabilities (columns in ``classes`` order) for
    classification and predicted values for regression, and returns the metric in its natural units.
    """

    name: str
    task: str
    greater_is_better: bool
    compute: Callable[[np.ndarray, np.ndarray, np.ndarray], float]
    #: whether its value has a fixed scale (gaps are then absolute, not relative to the value)
    bounded: bool = True
    #: the scikit-learn scorer of the metric (``cross_val_score(..., scoring=scorer)``)
    scorer: str = ""
    #: the range a success threshold may take (None: unbounded on that side)
    low: float | None = None
    high: float | None = None
    #: defined for a binary target only (not computed for a multiclass one)
    binary_only: bool = False
    #: other spellings every lookup accepts for this metric
    aliases: tuple[str, ...] = ()
    #: the spelling (and sklearn scorer) a brief uses for a multiclass target, where that differs
    multiclass_name: str = ""

    def loss(self, value: float) -> float:
        """The metric as a quantity to minimise."""
        return -value if self.greater_is_better else value

    def is_better(self, a: float, b: float) -> bool:
        """True if ``a`` is strictly better than ``b``."""
        return a > b if self.greater_is_better else a < b

    def info(self, spelling: str = "") -> "MetricInfo":
        """What a brief or charter records for this metric under ``spelling`` (default: its name)."""
        if self.multiclass_name and spelling == self.multiclass_name:
            return MetricInfo(spelling, self.task, spelling, self.greater_is_better, self.low, self.high)
        # with a separate multiclass spelling, this one (and its sklearn scorer) is the binary metric
        return MetricInfo(self.name, self.task, self.scorer, self.greater_is_better, self.low, self.high,
                          binary_only=self.binary_only or bool(self.multiclass_name))


@stable_name("ml.metrics.MetricInfo")
@dataclass(frozen=True)
class MetricInfo:
    """A metric as a brief or charter names it: task, sklearn scorer, direction, threshold range.

    Plain data (no callables), made from a catalogue row by :func:`metric_info`."""

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


# -- how each metric is computed ----------------------------------------------------------------------
def _labels(proba: np.ndarray, classes: np.ndarray) -> np.ndarray:
    return classes[np.argmax(proba, axis=1)]


def _roc_auc(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if len(classes) == 2:
        return _binary_auc(y == classes[1], proba[:, 1])
    return float(roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes))


def _binary_auc(positive: np.ndarray, score_: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic on average ranks (equal to sklearn's, much faster in loops)."""
    from scipy.stats import rankdata

    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise SpecError("ROC AUC needs both classes among the scored rows")
    ranks = rankdata(score_)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _avg_precision(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    if len(classes) != 2:
        raise SpecError("metric 'average_precision' needs a binary target; use 'roc_auc' or 'f1_macro' for multiclass")
    return float(average_precision_score(y == classes[1], proba[:, 1]))


def _log_loss(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    from sklearn.metrics import log_loss

    clipped = np.clip(np.asarray(proba, dtype=np.float64), 1e-15, 1)
    return float(log_loss(y, clipped / clipped.sum(axis=1, keepdims=True), labels=classes))


def _label_metric(fn_name: str, **kwargs: Any) -> Callable[[np.ndarray, np.ndarray, np.ndarray], float]:
    def compute(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
        import sklearn.metrics as skm

        pred = _labels(proba, classes)
        extra = dict(kwargs)
        if extra.get("average") == "binary":
            if len(classes) != 2:
                raise SpecError(f"metric {fn_name.removesuffix('_score')!r} needs a binary target; "
                                "use 'f1_macro' or 'balanced_accuracy' for multiclass")
            extra["pos_label"] = classes[1]
        return float(getattr(skm, fn_name)(y, pred, **extra))

    return compute


def _reg(fn_name: str, root: bool = False) -> Callable[[np.ndarray, np.ndarray, np.ndarray], float]:
    def compute(y: np.ndarray, pred: np.ndarray, _classes: np.ndarray) -> float:
        import sklearn.metrics as skm

        value = float(getattr(skm, fn_name)(y, pred))
        return float(np.sqrt(value)) if root else value

    return compute


# -- the table ------------------------------------------------------------------------------------------
METRICS: dict[str, Metric] = {m.name: m for m in [
    Metric("roc_auc", CLASSIFICATION, True, _roc_auc, scorer="roc_auc", low=0.0, high=1.0,
           multiclass_name="roc_auc_ovr"),
    Metric("average_precision", CLASSIFICATION, True, _avg_precision, scorer="average_precision", low=0.0, high=1.0,
           binary_only=True, aliases=("pr_auc",)),
    Metric("log_loss", CLASSIFICATION, False, _log_loss, bounded=False, scorer="neg_log_loss", low=0.0),
    Metric("accuracy", CLASSIFICATION, True, _label_metric("accuracy_score"), scorer="accuracy", low=0.0, high=1.0),
    Metric("balanced_accuracy", CLASSIFICATION, True, _label_metric("balanced_accuracy_score"),
           scorer="balanced_accuracy", low=0.0, high=1.0),
    Metric("f1", CLASSIFICATION, True, _label_metric("f1_score", average="binary"), scorer="f1", low=0.0, high=1.0,
           binary_only=True),
    Metric("f1_macro", CLASSIFICATION, True, _label_metric("f1_score", average="macro"), scorer="f1_macro",
           low=0.0, high=1.0),
    Metric("precision", CLASSIFICATION, True, _label_metric("precision_score", average="binary"), scorer="precision",
           low=0.0, high=1.0, binary_only=True),
    Metric("recall", CLASSIFICATION, True, _label_metric("recall_score", average="binary"), scorer="recall",
           low=0.0, high=1.0, binary_only=True),
    Metric("r2", REGRESSION, True, _reg("r2_score"), scorer="r2", high=1.0),
    Metric("rmse", REGRESSION, False, _reg("mean_squared_error", root=True), bounded=False,
           scorer="neg_root_mean_squared_error", low=0.0),
    Metric("mae", REGRESSION, False, _reg("mean_absolute_error"), bounded=False, scorer="neg_mean_absolute_error",
           low=0.0),
    Metric("mape", REGRESSION, False, _reg("mean_absolute_percentage_error"), bounded=False,
           scorer="neg_mean_absolute_percentage_error", low=0.0),
]}

#: every other spelling -> the name of the metric it means (derived from the table's ``aliases`` and
#: ``multiclass_name`` columns: ``pr_auc`` -> ``average_precision``, ``roc_auc_ovr`` -> ``roc_auc``)
ALIASES: dict[str, str] = {
    **{alias: m.name for m in METRICS.values() for alias in m.aliases},
    **{m.multiclass_name: m.name for m in METRICS.values() if m.multiclass_name},
}


def _key(name: str) -> str:
    return str(name).strip().lower()


def find_metric(name: str) -> Metric | None:
    """The catalogue row ``name`` (any spelling, case-insensitive) means, or None if it is unknown."""
    key = _key(name)
    return METRICS.get(ALIASES.get(key, key))


def charter_metric_names() -> list[str]:
    """The spellings a brief or charter names metrics by (each metric's name, plus its multiclass spelling)."""
    return sorted([*METRICS, *(m.multiclass_name for m in METRICS.values() if m.multiclass_name)])


def get_metric(name: str, task: str) -> Metric:
    """The metric called ``name`` (any spelling) for ``task``, as training, AutoML and HPO compute it;
    unknown names or a task mismatch raise SpecError."""
    metric = find_metric(name)
    valid = sorted(m.name for m in METRICS.values() if m.task == task)
    if metric is None:
        raise SpecError(f"unknown metric {name!r} for {task}; expected one of: {', '.join(valid)}")
    if metric.task != task:
        raise SpecError(f"metric {name!r} is a {metric.task} metric but the target calls for {task}; "
                        f"expected one of: {', '.join(valid)}")
    return metric


def metric_info(name: str) -> MetricInfo:
    """The metric a brief or charter names ``name``: its sklearn scorer, direction and threshold range.
    An unknown name is a SpecError listing the known ones."""
    metric = find_metric(name)
    if metric is None:
        raise SpecError(f"unknown metric {name!r}; expected one of: {', '.join(charter_metric_names())}")
    return metric.info(_key(name))


def default_training_metric(task: str, n_classes: int = 2) -> str:
    """The metric a model is tuned and scored on when none is given (training, AutoML, HPO): ROC AUC for
    binary, log loss for multiclass (a proper scoring rule over every class's probability), R² for regression."""
    if task == REGRESSION:
        return "r2"
    return "roc_auc" if n_classes == 2 else "log_loss"


def default_success_metric(task: str, n_classes: int = 2) -> str:
    """The metric planning measures a problem in when no charter names one (model selection's comparison,
    feature quality, the leakage probes): ROC AUC for binary, balanced accuracy for multiclass (a rate a
    stakeholder reads, fair to rare classes), R² for regression."""
    if task == REGRESSION:
        return "r2"
    return "roc_auc" if n_classes == 2 else "balanced_accuracy"
