"""Hyperparameter search spaces: defaults per model family and validation of user-written specs.

A space maps parameter names to specs::

    {"learning_rate": {"type": "float", "low": 0.01, "high": 0.3, "log": true},
     "num_leaves":    {"type": "int", "low": 8, "high": 256, "log": true},
     "class_weight":  {"type": "categorical", "choices": [null, "balanced"]}}

A bare list is shorthand for a categorical. User specs are merged over the family's defaults.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Mapping

from mlsitter.errors import SpecError
from mlsitter.ml.metrics._scoring import CLASSIFICATION, REGRESSION
from mlsitter.ml.modeling._family_names import find_family
from mlsitter.naming import stable_name

_TYPES = ("int", "float", "categorical")


@stable_name("ml.modeling.ParamSpec")
@dataclass(frozen=True)
class ParamSpec:
    """One validated hyperparameter range or choice list."""

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        if self.type == "categorical":
            return {"type": "categorical", "choices": list(self.choices)}
        return {"type": self.type, "low": self.low, "high": self.high, "log": self.log}


def _i(low: int, high: int, log: bool = False) -> dict[str, Any]:
    return {"type": "int", "low": low, "high": high, "log": log}


def _f(low: float, high: float, log: bool = False) -> dict[str, Any]:
    return {"type": "float", "low": low, "high": high, "log": log}


def _c(*choices: Any) -> dict[str, Any]:
    return {"type": "categorical", "choices": list(choices)}


_BALANCE = _c(None, "balanced")
_FOREST = {"n_estimators": _i(50, 300, True), "max_depth": _i(4, 30), "min_samples_leaf": _i(1, 20, True),
           "max_features": _f(0.1, 1.0)}

_DEFAULT_SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "linear": {"C": _f(1e-3, 1e2, True)},
    "knn": {"n_neighbors": _i(3, 50, True), "weights": _c("uniform", "distance")},
    "random_forest": dict(_FOREST),
    "extra_trees": dict(_FOREST),
    "hist_gradient_boosting": {"learning_rate": _f(0.01, 0.3, True), "max_iter": _i(50, 500, True),
                               "max_leaf_nodes": _i(8, 128, True), "min_samples_leaf": _i(5, 100, True),
                               "l2_regularization": _f(1e-6, 10.0, True)},
    "lightgbm": {"n_estimators": _i(50, 1000, True), "learning_rate": _f(0.01, 0.3, True),
                 "num_leaves": _i(8, 256, True), "min_child_samples": _i(5, 100, True),
                 "subsample": _f(0.5, 1.0), "colsample_bytree": _f(0.4, 1.0), "reg_lambda": _f(1e-6, 10.0, True)},
    "xgboost": {"n_estimators": _i(50, 1000, True), "learning_rate": _f(0.01, 0.3, True), "max_depth": _i(3, 10),
                "min_child_weight": _f(0.01, 20.0, True), "subsample": _f(0.5, 1.0),
                "colsample_bytree": _f(0.4, 1.0), "reg_lambda": _f(1e-6, 10.0, True)},
}
_CLASS_WEIGHTED = {"linear", "random_forest", "extra_trees", "hist_gradient_boosting", "lightgbm"}
_REGRESSION_RENAMES = {"linear": {"C": ("alpha", _f(1e-3, 1e3, True))}}

#: Parameters each family accepts (beyond its default space) so user specs are checked by name.
_EXTRA_ALLOWED: dict[str, set[str]] = {
    "linear": {"C", "alpha", "class_weight", "l1_ratio"},
    "knn": {"p", "leaf_size"},
    "random_forest": {"criterion", "min_samples_split", "bootstrap", "class_weight", "max_samples"},
    "extra_trees": {"criterion", "min_samples_split", "bootstrap", "class_weight"},
    "hist_gradient_boosting": {"max_depth", "max_features", "max_bins", "class_weight"},
    "lightgbm": {"max_depth", "reg_alpha", "min_split_gain", "class_weight", "subsample_freq"},
    "xgboost": {"gamma", "reg_alpha", "max_bin", "scale_pos_weight", "colsample_bylevel"},
}


_DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "linear": {"C": 1.0, "alpha": 1.0, "class_weight": None},
    "knn": {"n_neighbors": 15, "weights": "distance"},
    "random_forest": {"n_estimators": 100, "max_depth": 30, "min_samples_leaf": 1, "max_features": 0.5, "class_weight": None},
    "extra_trees": {"n_estimators": 100, "max_depth": 30, "min_samples_leaf": 1, "max_features": 0.5, "class_weight": None},
    "hist_gradient_boosting": {"learning_rate": 0.1, "max_iter": 100, "max_leaf_nodes": 31, "min_samples_leaf": 20,
                               "l2_regularization": 1e-6, "class_weight": None},
    "lightgbm": {"n_estimators": 100, "learning_rate": 0.1, "num_leaves": 31, "min_child_samples": 20, "subsample": 1.0,
                 "colsample_bytree": 1.0, "reg_lambda": 1e-6, "class_weight": None},
    "xgboost": {"n_estimators": 100, "learning_rate": 0.3, "max_depth": 6, "min_child_weight": 1.0, "subsample": 1.0,
                "colsample_bytree": 1.0, "reg_lambda": 1.0},
}


def default_params(family: str, space: Mapping[str, ParamSpec]) -> dict[str, Any]:
    """The library-default configuration of ``family``, restricted to what ``space`` allows (tried first)."""
    out: dict[str, Any] = {}
    for name, value in _DEFAULT_PARAMS[check_family(family)].items():
        spec = space.get(name)
        if spec is None:
            continue
        if spec.type == "categorical" and value in spec.choices:
            out[name] = value
        elif spec.type != "categorical" and value is not None and spec.low <= value <= spec.high:
            out[name] = value
    return out


def families() -> list[str]:
    """The model families with a default search space."""
    return list(_DEFAULT_SPACES)


def check_family(family: str) -> str:
    """The canonical name of a family with a search space, from any spelling the family vocabulary
    (:mod:`mlsitter.ml.modeling._family_names`) accepts; other names raise SpecError listing the tunable ones."""
    found = find_family(family)
    if found is None:
        raise SpecError(f"unknown model family {family!r}; expected one of: {', '.join(families())}")
    if found.name not in _DEFAULT_SPACES:
        raise SpecError(f"model family {family!r} has no search space, so it cannot be tuned; expected one of: "
                        f"{', '.join(families())}")
    return found.name


def default_space(family: str, task: str) -> dict[str, ParamSpec]:
    """The default search space of ``family`` for ``task`` ('classification' or 'regression')."""
    name = check_family(family)
    raw = dict(_DEFAULT_SPACES[name])
    if task == REGRESSION:
        for old, (new, spec) in _REGRESSION_RENAMES.get(name, {}).items():
            raw.pop(old, None)
            raw[new] = spec
    elif task == CLASSIFICATION and name in _CLASS_WEIGHTED:
        raw["class_weight"] = _BALANCE
    return {k: validate_param(k, v, f"default space of {name}") for k, v in raw.items()}


def parse_space(spec: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """Read a user spec given as a mapping, a JSON string or a path to a JSON/YAML file."""
    if spec is None or spec == "" or spec == {}:
        return {}
    if isinstance(spec, Mapping):
        return dict(spec)
    text = str(spec).strip()
    from pathlib import Path

    if not text.startswith("{") and Path(text).is_file():
        import yaml

        loaded = yaml.safe_load(Path(text).read_text(encoding="utf-8"))
        where = text
    else:
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"search space is not valid JSON ({exc.msg} at character {exc.pos}); expected an object "
                            "like {\"learning_rate\": {\"type\": \"float\", \"low\": 0.01, \"high\": 0.3}} "
                            "or a path to a JSON/YAML file") from None
        where = "search space"
    if not isinstance(loaded, Mapping):
        raise SpecError(f"{where}: expected a mapping of parameter name -> spec, got {type(loaded).__name__}")
    return dict(loaded)


def build_space(family: str, task: str, user: str | Mapping[str, Any] | None = None) -> dict[str, ParamSpec]:
    """The family's default space with the user's specs merged over it, every spec validated."""
    name = check_family(family)
    space = default_space(name, task)
    allowed = set(space) | _EXTRA_ALLOWED.get(name, set())
    for key, raw in parse_space(user).items():
        if key not in allowed:
            raise SpecError(f"search space: {key!r} is not a parameter of family {name!r}; "
                            f"expected one of: {', '.join(sorted(allowed))}")
        space[key] = validate_param(key, raw, "search space")
    return space


def validate_param(name: str, raw: Any, where: str) -> ParamSpec:
    if isinstance(raw, (list, tuple)):
        raw = {"type": "categorical", "choices": list(raw)}
    if not isinstance(raw, Mapping):
        raise SpecError(f"{where}: {name!r} must be a mapping with 'type' (int, float or categorical) or a list of "
                        f"choices; got {raw!r}")
    kind = raw.get("type")
    if kind not in _TYPES:
        raise SpecError(f"{where}: {name!r} has type {kind!r}; expected one of: {', '.join(_TYPES)}")
    unknown = set(raw) - {"type", "low", "high", "log", "choices"}
    if unknown:
        raise SpecError(f"{where}: {name!r} has unknown keys {sorted(unknown)}; expected type, low, high, log, choices")
    if kind == "categorical":
        choices = raw.get("choices")
        if not isinstance(choices, (list, tuple)) or not choices:
            raise SpecError(f"{where}: categorical {name!r} needs a non-empty 'choices' list; got {choices!r}")
        for choice in choices:
            if choice is not None and not isinstance(choice, (bool, int, float, str)):
                raise SpecError(f"{where}: choices of {name!r} must be null, booleans, numbers or strings; got {choice!r}")
        return ParamSpec(name, "categorical", choices=tuple(choices))
    low, high, log = raw.get("low"), raw.get("high"), bool(raw.get("log", False))
    for label, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SpecError(f"{where}: {name!r} needs a finite numeric '{label}'; got {value!r}")
        if kind == "int" and float(value) != int(value):
            raise SpecError(f"{where}: int parameter {name!r} needs whole-number bounds; got {label}={value!r}")
    if low >= high:
        raise SpecError(f"{where}: {name!r} needs low < high; got low={low!r}, high={high!r}")
    if log and low <= 0:
        raise SpecError(f"{where}: {name!r} is on a log scale, so low must be > 0; got low={low!r}")
    if kind == "int":
        return ParamSpec(name, "int", int(low), int(high), log)
    return ParamSpec(name, "float", float(low), float(high), log)


def suggest(trial: Any, space: Mapping[str, ParamSpec], prefix: str = "") -> dict[str, Any]:
    """Draw one configuration from ``space`` with an Optuna trial (names prefixed for joint spaces)."""
    params: dict[str, Any] = {}
    for name, spec in space.items():
        key = prefix + name
        if spec.type == "int":
            params[name] = trial.suggest_int(key, int(spec.low), int(spec.high), log=spec.log)
        elif spec.type == "float":
            params[name] = trial.suggest_float(key, float(spec.low), float(spec.high), log=spec.log)
        else:
            params[name] = trial.suggest_categorical(key, list(spec.choices))
    return params


def space_to_dict(space: Mapping[str, ParamSpec]) -> dict[str, Any]:
    """A JSON-able copy of a space (for logging and reports)."""
    return {k: v.to_dict() for k, v in space.items()}
