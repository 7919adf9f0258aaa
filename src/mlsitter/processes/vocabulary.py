"""The names several processes' inputs accept (metrics, model families, gate policies), declared once.

Each is a ``Literal`` for the input declarations (``Annotated[MetricName, Normalize(metric_spelling)]``),
so a misspelt name is refused before a run exists and ``mlsitter describe`` lists the choices. The
spelling functions compare a value the way the ``ml`` lookups read it (case, surrounding spaces, aliases);
the value itself still reaches the process as the user wrote it. ``tests/processes/test_process_contract.py`` checks
that these lists and the ``ml`` tables agree. Nothing here imports ``ml`` at import time.
"""

from __future__ import annotations

from typing import Annotated, Literal

from mlsitter.runtime.inputs import Doc, Interval

#: Every spelling of a metric the metric catalogue knows (its names plus ``roc_auc_ovr`` and ``pr_auc``).
MetricName = Literal["roc_auc", "roc_auc_ovr", "average_precision", "pr_auc", "log_loss", "accuracy",
                     "balanced_accuracy", "f1", "f1_macro", "precision", "recall", "r2", "rmse", "mae", "mape"]
#: A metric to tune on, or ``auto`` / empty for the task's default.
TrainingMetric = Literal["auto", "", MetricName]
#: The model families with a search space (``ml.modeling`` ``families()``).
ModelFamily = Literal["lightgbm", "xgboost", "hist_gradient_boosting", "random_forest", "extra_trees", "linear",
                      "knn"]
#: What a failed gate does (``ctx.gate``'s ``on_fail``).
GatePolicy = Literal["fail", "ask", "warn"]


def metric_spelling(text: str) -> str:
    """A metric name as the metric lookups read it: case and surrounding spaces do not matter."""
    return text.strip().lower()


def family_spelling(text: str) -> str:
    """A model family name as ``check_family`` reads it (case, ``-`` for ``_``, aliases such as ``lgbm``);
    a name it does not know comes back unchanged."""
    from mlsitter.errors import SpecError
    from mlsitter.ml.modeling import check_family

    try:
        return check_family(text)
    except SpecError:
        return text


# Inputs several processes declare alike, with one meaning.
Seed = Annotated[int, Doc("seed of the split, the search and the models")]
TestSize = Annotated[float, Interval(0.05, 0.5), Doc("share of rows held out as the test split (unless test_data "
                                                     "is given)")]
TestData = Annotated[str, Doc("a separate test table with the same columns, instead of a split")]
DropColumns = Annotated[list[str] | None, Doc("columns that are not features")]
DatasetVersion = Annotated[str, Doc("dataset version recorded as lineage (default: a content hash of the data)")]
ModelReference = Annotated[str, Doc("the model: a registry reference (name@alias, name/version) or a model file")]
