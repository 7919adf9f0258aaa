"""The first steps of a run that trains models (``training``, ``automl``): the prepared data split, the
Optuna storage and the code version recorded with the model."""

from __future__ import annotations

from typing import Any

from mlsitter.runtime import task


@task(name="training.prepare_data")
def prepare_data(**kwargs: Any) -> Any:
    """Read the data, check target/columns/metric, split train/test, fix the dataset version."""
    from mlsitter.ml.modeling._training_data import load_and_prepare

    return load_and_prepare(**kwargs)


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
