"""Load the model a validation process should judge: from the model registry (``name@alias``,
``name/3``, ``name``) or from a model file the user gives (joblib / pickle / skops).

Unpickling a file runs whatever code it contains, so a user-given joblib/pickle file is loaded only
after a clear warning (logged and returned, so the process can journal it). ``.skops`` files are
loaded with skops, which refuses unknown types unless they are listed as trusted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlsitter.errors import DataError, InputError
from mlsitter.naming import stable_name

log = logging.getLogger("mlsitter.ml.modeling._model_loading")

PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
UNTRUSTED_WARNING = (
    "Loading model file {path} with {loader}: unpickling runs any code the file contains. Only load files "
    "you created or trust; prefer a registered model ('name@alias'), whose artifact hash is checked, or a .skops file."
)


@stable_name("ml.modeling.LoadedModel")
@dataclass
class LoadedModel:
    """The model, where it came from, and the warning given when it came from an untrusted file."""

    model: Any
    source: str
    kind: str  # "registry" | "file"
    warning: str = ""
    description: str = ""


def is_registry_ref(spec: str) -> bool:
    """A spec that names no existing file and no model-file suffix is a registry reference."""
    p = Path(spec)
    return not p.exists() and p.suffix.lower() not in PICKLE_SUFFIXES + (".skops",)


def describe_model(model: Any) -> str:
    """Short human description: the estimator class, and the steps of a pipeline."""
    steps = getattr(model, "steps", None)
    if steps:
        return "Pipeline(" + " -> ".join(type(s).__name__ for _, s in steps) + ")"
    return type(model).__name__


def load_model(spec: str, *, warn: bool = True) -> LoadedModel:
    """Load ``spec``: a registry reference, or a path to a ``.joblib``/``.pkl``/``.pickle``/``.skops`` file."""
    if not spec or not str(spec).strip():
        raise InputError("no model given: expected a registry reference like 'adult-income@champion' or a model file path")
    spec = str(spec).strip()
    if is_registry_ref(spec):
        from mlsitter.ml.tracking._registry import load_registered_model

        model = load_registered_model(spec)
        return LoadedModel(model, spec, "registry", "", describe_model(model))
    path = Path(spec)
    if not path.is_file():
        raise DataError(f"model file {spec!r} does not exist; expected a .joblib, .pkl, .pickle or .skops file")
    suffix = path.suffix.lower()
    message = ""
    try:
        if suffix == ".skops":
            import skops.io as sio

            untrusted = sio.get_untrusted_types(file=path)
            message = (f"Loading skops file {path}; trusting the types it declares: {', '.join(untrusted)}"
                       if untrusted else "")
            if warn and message:
                log.warning(message)
            model = sio.load(path, trusted=untrusted)
        elif suffix in PICKLE_SUFFIXES:
            import joblib

            message = UNTRUSTED_WARNING.format(path=path, loader="joblib")
            if warn:
                log.warning(message)
            model = joblib.load(path)
        else:
            raise DataError(f"model file {spec!r} has suffix {suffix!r}; expected .joblib, .pkl, .pickle or .skops")
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"model file {spec!r} could not be loaded: {type(exc).__name__}: {exc}") from None
    if not (hasattr(model, "predict")):
        raise DataError(f"model file {spec!r} holds a {type(model).__name__}, which has no predict(); expected a fitted estimator")
    return LoadedModel(model, str(path), "file", message, describe_model(model))
