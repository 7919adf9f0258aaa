"""The first steps of a run that trains models (``training``, ``automl``): the prepared data split, the
Optuna storage and the code version recorded with the model."""

from __future__ import annotations

from typing import Any

from mlsitter.runtime import task


@task(name="training.prepare_data")
def prepare_data(**kwargs: Any) -> Any:
    """Read the data, check target/columns/metric, split train/test, fix the dataset version.

    When nothing decided the features (no charter's ``exclude``, no feature pipeline's ``inputs``),
    identifier columns are dropped and added to ``dropped_columns``, unless they are all the features.
    The rule reads the arguments the step always had, so runs journaled before it resume unchanged.
    """
    from dataclasses import replace

    from mlsitter.ml.data._identifiers import find_identifiers
    from mlsitter.ml.modeling._training_data import load_and_prepare

    prep = load_and_prepare(**kwargs)
    undecided = not kwargs.get("exclude") and kwargs.get("inputs") is None
    found = [f.column for f in find_identifiers(prep.X_train)] if undecided else []
    if not found or len(found) == prep.X_train.shape[1]:
        return prep
    return replace(prep, X_train=prep.X_train.drop(columns=found), X_test=prep.X_test.drop(columns=found),
                   dropped_columns=[*prep.dropped_columns, *found])


def identifier_warning(prep: Any, decided: list[str] | None) -> str:
    """The warning for identifier columns ``prepare_data`` dropped ('' when none were); ``decided``: the
    columns the inputs or a charter dropped."""
    found = [c for c in prep.dropped_columns if c not in (decided or [])]
    if not found:
        return ""
    return (f"dropped identifier column(s) {', '.join(found)}: a distinct value on every row names a row rather "
            "than describing it (no charter decided the features; give one from scoping to choose)")


@task(name="training.optuna_storage")
def optuna_storage() -> str:
    """The Optuna storage URL under the mlsitter home."""
    from mlsitter.ml.modeling._hpo import storage_url

    return storage_url()


@task(name="training.process_code_version")
def process_code_version() -> str:
    """git commit of the code (or a hash of this module's source)."""
    from mlsitter.ml.tracking._tracking import code_version

    return code_version(__file__)


def dropped_note(prep: Any) -> str:
    """The report line naming the columns left out of the features ('' when none were)."""
    if not prep.dropped_columns:
        return ""
    return (f"Columns not used as features: {', '.join(prep.dropped_columns)} (the drop input, a charter's "
            "exclusions, and identifier columns: a distinct value on every row).")
