"""Model registry on MLflow: versions with aliases, lineage to the mlsitter run and the dataset version,
and loading that checks the artifact's content hash before anything is unpickled.

Usage by other processes::

    from mlsitter.ml.tracking._registry import load_registered_model, resolve_model
    model = load_registered_model("adult-income@champion")   # or "adult-income/3", or "adult-income" (latest)
    info = resolve_model("adult-income@challenger")            # RegisteredVersion: lineage, hash, metrics
"""

from __future__ import annotations

import re
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlsitter.errors import InputError, MlsitterError, SpecError
from mlsitter.ml.tracking import _tracking as tracking
from mlsitter.naming import stable_name
CHALLENGER = "challenger"
CHAMPION = "champion"
TAG_SHA = "mlsitter.artifact_sha256"
#: lineage tags retraining adds to a challenger: the version it was trained to replace, and why
TAG_PARENT = "mlsitter.parent_version"
TAG_TRIGGER = "mlsitter.trigger"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_REF = re.compile(r"^(?P<name>[^@/]+?)(?:@(?P<alias>[A-Za-z0-9_\-]+)|/(?P<version>\d+))?$")


class ModelIntegrityError(MlsitterError):
    """A registered model's stored artifact does not match the content hash recorded at registration."""


@stable_name("ml.tracking.RegisteredVersion")
@dataclass
class RegisteredVersion:
    """One registered model version and its lineage (model version -> mlsitter run -> dataset version)."""

    name: str
    version: int
    aliases: list[str]
    mlsitter_run_id: str
    dataset_version: str
    code_version: str
    mlflow_run_id: str
    model_uri: str
    artifact_sha256: str
    metrics: dict[str, float] = field(default_factory=dict)
    process: str = ""
    parent_version: str = ""  # NAME/VERSION the version was trained to replace (retraining)
    trigger: str = ""  # why it was trained (retraining's triggers)
    created_at: float = 0.0  # registration time, seconds since the epoch

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@stable_name("ml.tracking.ModelRef")
@dataclass
class ModelRef:
    """A parsed ``name``, ``name@alias`` or ``name/version`` reference."""

    name: str
    alias: str | None = None
    version: int | None = None


def validate_model_name(name: str) -> str:
    """A registered model name: letters, digits, ``_ . -``; raises SpecError otherwise."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise SpecError(
            f"model name {name!r} is invalid: expected 1-128 characters of letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return name


def default_model_name(data: str, target: str) -> str:
    """``<file stem>-<target>`` made safe for the registry."""
    stem = Path(data).stem or "model"
    return re.sub(r"[^A-Za-z0-9_.\-]+", "-", f"{stem}-{target}").strip("-.")[:120] or "model"


def parse_model_ref(ref: str) -> ModelRef:
    """Parse ``"name@alias"``, ``"name/3"`` or ``"name"`` (latest version)."""
    match = _REF.match(ref.strip()) if isinstance(ref, str) else None
    if not match:
        raise SpecError(f"model reference {ref!r} is invalid: expected 'NAME', 'NAME@ALIAS' or 'NAME/VERSION'")
    name = validate_model_name(match["name"])
    version = int(match["version"]) if match["version"] else None
    if version is not None and version < 1:
        raise SpecError(f"model reference {ref!r}: versions start at 1")
    return ModelRef(name=name, alias=match["alias"], version=version)


def _client() -> Any:
    import mlflow

    tracking.configure()
    return mlflow.MlflowClient()


def register_model(
    name: str,
    *,
    model_uri: str,
    mlflow_run_id: str,
    artifact_sha256: str,
    mlsitter_run_id: str,
    dataset_version: str,
    code_version: str = "",
    process: str = "",
    metrics: dict[str, float] | None = None,
    alias: str = CHALLENGER,
    description: str = "",
) -> RegisteredVersion:
    """Register the logged model as a new version with ``alias`` (``challenger`` by default).

    The stored artifact is hashed first and must equal ``artifact_sha256`` (the hash computed when it
    was logged); the hash is kept on the version so every later load can check it. Calling again for
    the same mlsitter run and model returns the existing version (safe to retry).
    """
    validate_model_name(name)
    client = _client()
    _verify_artifact(model_uri, artifact_sha256, f"{name} (before registration)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            client.get_registered_model(name)
        except Exception:
            client.create_registered_model(name, description="Registered by mlsitter")
        for existing in client.search_model_versions(f"name = '{name}'"):
            if existing.tags.get(tracking.TAG_RUN_ID) == mlsitter_run_id and existing.source == model_uri:
                client.set_registered_model_alias(name, alias, existing.version)
                return resolve_model(f"{name}/{existing.version}")
        tags = {
            TAG_SHA: artifact_sha256,
            tracking.TAG_RUN_ID: mlsitter_run_id,
            tracking.TAG_DATASET_VERSION: dataset_version,
            tracking.TAG_CODE_VERSION: code_version,
            tracking.TAG_PROCESS: process,
        }
        for key, value in (metrics or {}).items():
            tags[f"metric.{key}"] = repr(float(value))
        version = client.create_model_version(
            name, source=model_uri, run_id=mlflow_run_id, tags=tags, description=description or None,
        )
        client.set_registered_model_alias(name, alias, version.version)
    return resolve_model(f"{name}/{version.version}")


def promote(ref: str, alias: str = CHAMPION) -> RegisteredVersion:
    """Move ``alias`` (``champion`` by default) to the version ``ref`` names."""
    found = resolve_model(ref)
    _client().set_registered_model_alias(found.name, alias, str(found.version))
    return resolve_model(f"{found.name}/{found.version}")


def resolve_model(ref: str) -> RegisteredVersion:
    """Find the version ``ref`` names and read its lineage; unknown names/aliases/versions raise InputError."""
    parsed = parse_model_ref(ref)
    client = _client()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            registered = client.get_registered_model(parsed.name)
        except Exception:
            known = sorted(m.name for m in client.search_registered_models())
            raise InputError(
                f"no registered model named {parsed.name!r}; registered models: {', '.join(known) or 'none'}"
            ) from None
        try:
            if parsed.alias:
                mv = client.get_model_version_by_alias(parsed.name, parsed.alias)
            elif parsed.version:
                mv = client.get_model_version(parsed.name, str(parsed.version))
            else:
                versions = client.search_model_versions(f"name = '{parsed.name}'")
                mv = max(versions, key=lambda v: int(v.version))
        except Exception:
            aliases = sorted(getattr(registered, "aliases", {}) or {})
            versions = sorted(int(v.version) for v in client.search_model_versions(f"name = '{parsed.name}'"))
            raise InputError(
                f"model {ref!r} not found: {parsed.name!r} has versions {versions} and aliases {aliases}"
            ) from None
        aliases = sorted(a for a, v in (getattr(registered, "aliases", {}) or {}).items() if str(v) == str(mv.version))
    tags = dict(mv.tags or {})
    return RegisteredVersion(
        name=parsed.name,
        version=int(mv.version),
        aliases=aliases,
        mlsitter_run_id=tags.get(tracking.TAG_RUN_ID, ""),
        dataset_version=tags.get(tracking.TAG_DATASET_VERSION, ""),
        code_version=tags.get(tracking.TAG_CODE_VERSION, ""),
        mlflow_run_id=mv.run_id or "",
        model_uri=mv.source,
        artifact_sha256=tags.get(TAG_SHA, ""),
        metrics={k[len("metric."):]: float(v) for k, v in tags.items() if k.startswith("metric.")},
        process=tags.get(tracking.TAG_PROCESS, ""),
        parent_version=tags.get(TAG_PARENT, ""),
        trigger=tags.get(TAG_TRIGGER, ""),
        created_at=float(mv.creation_timestamp or 0) / 1000.0,
    )


def tag_lineage(ref: str, *, parent_version: str, trigger: str) -> RegisteredVersion:
    """Record on version ``ref`` which version it was trained to replace and why (shown by ``mlsitter lineage``)."""
    found = resolve_model(ref)
    client = _client()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client.set_model_version_tag(found.name, str(found.version), TAG_PARENT, parent_version)
        client.set_model_version_tag(found.name, str(found.version), TAG_TRIGGER, trigger)
    return resolve_model(f"{found.name}/{found.version}")


#: MLflow run tags naming what a model was trained from upstream: training's feature pipeline and selection
UPSTREAM_TAGS = {"feature_pipeline": "mlsitter.feature_pipeline", "model_selection": "mlsitter.model_selection"}


def lineage(ref: str) -> dict[str, Any]:
    """Model version -> mlsitter run -> dataset version, and the feature pipeline and model-selection hand-off it
    was trained from (its MLflow run's tags), as a plain dict (what ``mlsitter lineage`` prints)."""
    found = resolve_model(ref)
    info = {
        "model": {"name": found.name, "version": found.version, "aliases": found.aliases,
                  "artifact_sha256": found.artifact_sha256, "metrics": found.metrics},
        "run": {"mlsitter_run_id": found.mlsitter_run_id, "process": found.process,
                "mlflow_run_id": found.mlflow_run_id, "code_version": found.code_version},
        "dataset": {"dataset_version": found.dataset_version},
        "parent": {"version": found.parent_version, "trigger": found.trigger},
    }
    upstream = _upstream(found.mlflow_run_id)
    if upstream:
        info["upstream"] = upstream
    return info


def _upstream(mlflow_run_id: str) -> dict[str, str]:
    """The upstream hand-offs the MLflow run's tags name ({} when the run is gone or names none)."""
    if not mlflow_run_id:
        return {}
    try:
        tags = _client().get_run(mlflow_run_id).data.tags
    except Exception:  # a run deleted from the tracking store: the registry's lineage still stands
        return {}
    return {key: tags[tag] for key, tag in UPSTREAM_TAGS.items() if tags.get(tag)}


def _verify_artifact(model_uri: str, expected: str, label: str) -> str:
    """Download (or locate) the model artifact and check its content hash; returns the local path."""
    import mlflow

    if not expected:
        raise ModelIntegrityError(f"model {label} has no recorded content hash; refusing to load it")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = mlflow.artifacts.download_artifacts(model_uri)
    actual = tracking.directory_hash(local)
    if actual != expected:
        raise ModelIntegrityError(
            f"model {label}: artifact content hash {actual} does not match the recorded {expected}; "
            "the stored model was changed after it was logged, so it is not loaded"
        )
    return local


def load_registered_model(ref: str) -> Any:
    """Load the fitted pipeline of ``"name@alias"``, ``"name/3"`` or ``"name"`` (latest) from the registry.

    The artifact is hashed and compared with the hash recorded at registration before it is unpickled;
    a mismatch raises :class:`ModelIntegrityError` and nothing is loaded.
    """
    import mlflow.sklearn

    found = resolve_model(ref)
    local = _verify_artifact(found.model_uri, found.artifact_sha256, f"{found.name}/{found.version}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mlflow.sklearn.load_model(local)
