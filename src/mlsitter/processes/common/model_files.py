"""Pin a registered model's files in the journal, so ``mlsitter verify`` detects a later change to them."""

from __future__ import annotations

from typing import Any

from mlsitter.runtime import Context, task


@task(name="common.locate_model_files", local=True)
def locate_model_files(model_uri: str) -> str:
    """The local folder holding the logged model's files (the store's own copy for a file-based store)."""
    import mlflow

    return str(mlflow.artifacts.download_artifacts(model_uri))


def record_model_files(ctx: Context, registered: Any) -> None:
    """Record the content hash of the registered version's files (what the registry's hash covers too)."""
    folder = ctx.task(locate_model_files, model_uri=registered.model_uri)
    ctx.record_file(f"model {registered.name}/{registered.version}", folder, exclude=("registered_model_meta",))
