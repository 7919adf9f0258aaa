"""Stable names for what the journal records: a step's name and a stored value's type.

A journal outlives the code layout. A task or result type carries a registered name (``"eda.profile"``)
that is written to the journal instead of its module path, so a file can move without breaking a waiting
run. Journals written before names existed hold module paths; :data:`MOVED_MODULES` maps those to where
the code lives now, and :func:`locate` follows it. Imported by the runtime and by ``ml/`` alike, so it
imports neither.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any, Callable, TypeVar

T = TypeVar("T")

ATTRIBUTE = "__mlsitter_name__"
# Field metadata of a field added to a journaled dataclass after runs recorded it:
# ``field(default=..., metadata=ADDED_LATER)``. While it holds its default it is left out of a step's
# argument hash, so runs recorded before it existed replay with the arguments they recorded.
ADDED_LATER = {"mlsitter_added_later": True}
_BY_NAME: dict[str, Any] = {}

# Module paths recorded by journals written at or before 915b4ee -> the module that holds the code now.
MOVED_MODULES: dict[str, str] = {
    **{f"mlsitter.ml.{old}": f"mlsitter.ml.{new}" for old, new in {
        "ingest": "io._ingest", "table_reader": "io._table_reader", "frames": "io._frames",
        "timeseries": "io._timeseries",
        "profiling": "data._profiling", "correlation": "data._correlation", "outliers": "data._outliers",
        "target_analysis": "data._target_analysis", "quality": "data._quality", "quarantine": "data._quarantine",
        "schema_contract": "data._schema_contract", "dataset_version": "data._dataset_version",
        "pii": "data._pii", "leakage": "data._leakage", "data_split": "data._data_split",
        "feature_pipeline": "features._pipeline", "feature_transformers": "features._transformers",
        "feature_selection": "features._selection", "serving_skew": "features._serving_skew",
        "problem_type": "modeling._problem_type", "model_families": "modeling._model_families",
        "candidates": "modeling._candidates", "search_space": "modeling._search_space", "hpo": "modeling._hpo",
        "cross_validation": "modeling._cross_validation", "final_fit": "modeling._final_fit",
        "training_data": "modeling._training_data", "training_plots": "modeling._training_plots",
        "model_loading": "modeling._model_loading", "model_comparison": "modeling._model_comparison",
        "thread_limits": "modeling._thread_limits",
        "scoring": "metrics._scoring", "metric_catalog": "metrics._metric_catalog", "metrics": "metrics._metrics",
        "bootstrap": "metrics._bootstrap", "calibration": "metrics._calibration",
        "slices": "evaluation._slices", "robustness": "evaluation._robustness", "fairness": "evaluation._fairness",
        "business_value": "evaluation._business_value",
        "explainers": "explain._explainers", "feature_effects": "explain._feature_effects",
        "counterfactuals": "explain._counterfactuals", "importance_stability": "explain._importance_stability",
        "model_card": "explain._model_card",
        "ab_stats": "experiments._ab_stats", "sequential": "experiments._sequential",
        "ab_cleaning": "experiments._ab_cleaning", "ab_readout": "experiments._ab_readout",
        "power": "experiments._power", "ab_plan": "experiments._ab_plan",
        "tracking": "tracking._tracking", "registry": "tracking._registry",
        "charter": "handoffs._charter", "handoff": "handoffs._handoff", "review_feedback": "handoffs._review_feedback",
    }.items()},
    "mlsitter.ml.report": "mlsitter.report",
    **{f"mlsitter.{old}": f"mlsitter.processes.{new}" for old, new in {
        "ml.eda_analysis": "planning.eda.analysis", "ml.eda_report": "planning.eda.report",
        "ml.eda_plots": "planning.eda.plots", "ml.eda_feedback": "planning.eda.feedback",
        "ml.quality_score": "planning.eda.quality_score",
        "ml.brief": "planning.scoping.brief", "ml.data_availability": "planning.scoping.data_availability",
        "ml.feasibility": "planning.scoping.feasibility", "ml.project_risks": "planning.scoping.risks",
        "ml.scoping_report": "planning.scoping.report",
        "ml.features_report": "planning.features.report",
        "ml.model_selection_report": "planning.model_selection.report",
        "ml.experiment_design": "planning.experiment_plan.design",
        "ml.experiment_plan_report": "planning.experiment_plan.report",
        "ml.validation_report": "execution.data_validation.report",
        "ml.automl": "execution.automl.search",
        "processes.validation.evaluation_steps": "validation.evaluation.tasks",
        "processes.validation.evaluation_report": "validation.evaluation.report",
        "processes.validation.explain_steps": "validation.explain.tasks",
        "processes.validation.ab_test_steps": "validation.ab_test.tasks",
    }.items()},
    # Process modules that became packages: their story now lives in the package's process.py.
    **{f"mlsitter.processes.{p}": f"mlsitter.processes.{p}.process" for p in (
        "planning.eda", "planning.scoping", "planning.features", "planning.model_selection",
        "planning.experiment_plan", "execution.data_validation", "execution.training", "execution.automl",
        "validation.evaluation", "validation.explain", "validation.ab_test")},
}


def stable_name(name: str) -> Callable[[T], T]:
    """Decorator: record ``name`` in the journal for this function or class, wherever it lives."""

    def decorate(obj: T) -> T:
        register(obj, name)
        return obj

    return decorate


def register(obj: Any, name: str) -> None:
    """Give ``obj`` the stable ``name``; one name per object and one object per name."""
    if not name or any(c.isspace() or c in ",:" for c in name):
        raise ValueError(f"a stable name must be non-empty without spaces, ',' or ':'; got {name!r}")
    current = name_of(obj)
    if current is not None and current != name:
        raise ValueError(f"{_where(obj)} is already named {current!r}; cannot also name it {name!r}")
    taken = _BY_NAME.get(name)
    if taken is not None and taken is not obj and _where(taken) != _where(obj):  # a reload is the same object
        raise ValueError(f"the stable name {name!r} belongs to {_where(taken)}; {_where(obj)} needs another")
    setattr(obj, ATTRIBUTE, name)
    _BY_NAME[name] = obj


def name_of(obj: Any) -> str | None:
    """The stable name given to ``obj`` itself (a subclass does not inherit its parent's)."""
    return getattr(obj, "__dict__", {}).get(ATTRIBUTE)


def named(name: str) -> Any | None:
    """The function or class registered under ``name``, if its module has been imported."""
    return _BY_NAME.get(name)


def locate(module: str, qualname: str) -> Any:
    """Import ``module`` (following :data:`MOVED_MODULES`) and return ``qualname`` from it."""
    obj: Any = None
    for candidate in _candidates(module):
        try:
            obj = importlib.import_module(candidate)
        except ImportError:
            continue
        try:
            for part in qualname.split("."):
                obj = getattr(obj, part)
            return obj
        except AttributeError:
            continue
    raise ImportError(f"cannot find {module}:{qualname} (nor where it moved to)")


def _candidates(module: str) -> list[str]:
    moved = MOVED_MODULES.get(module)
    return [moved, module] if moved else [module]


def _where(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Lets ``import`` of a moved module's old path give the module at its new path, for pickled and
    skops-stored objects written before the move (their bytes name the old module)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in MOVED_MODULES or MOVED_MODULES[fullname].startswith(fullname + "."):
            return None  # a package that still exists at the old path imports as usual
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: Any) -> ModuleType:
        return importlib.import_module(MOVED_MODULES[spec.name])

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module at the new path is already imported."""


def install_moved_module_finder() -> None:
    """Once per interpreter: old module paths import as their new modules."""
    if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())
