"""The steps of ``feature-store``: each reads or writes the Feast repo through ``ml.features`` and returns
plain values the journal records."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mlsitter import task
from mlsitter.errors import InputError, SpecError
from mlsitter.naming import stable_name


@stable_name("feature-store.PreparedDefinitions")
@dataclass
class PreparedDefinitions:
    """The definitions to apply, checked against the data, with their diff against the applied ones."""

    repo: str
    project: str
    definitions: Any
    applied_version: str | None
    changes: list[Any]
    source_path: str | None
    data_path: str | None
    timestamp: str | None

    @property
    def breaking(self) -> list[Any]:
        return [c for c in self.changes if c.breaking]

    @property
    def unchanged(self) -> bool:
        return bool(self.applied_version == self.definitions.version)


@task(name="feature-store.resolve_repo")
def resolve_repo(project: str, repo: str, spec: str, data: str) -> dict[str, str]:
    """The repo folder (a user's Feast repo, else $MLSITTER_HOME/feature_store/<project>) and the project name."""
    from mlsitter.ml.features._feature_definitions import load_spec
    from mlsitter.ml.features._feature_store import create_local_repo, require_feast
    from mlsitter.runtime.home import mlsitter_home

    require_feast()
    if repo:
        folder = Path(repo).expanduser().resolve()
        if not (folder / "feature_store.yaml").is_file():
            raise InputError(f"repo {folder}: no feature_store.yaml there; expected an existing Feast repo folder")
        import yaml

        name = str(yaml.safe_load((folder / "feature_store.yaml").read_text(encoding="utf-8")).get("project", ""))
        return {"repo": str(folder), "project": name}
    if not spec:
        raise InputError("feature-store needs a spec (entities, timestamp, feature views) or an existing Feast repo")
    name = project or str(load_spec(spec).get("project") or "") or (Path(data).stem if data else "")
    name = "".join(ch if ch.isalnum() else "_" for ch in name).strip("_")
    if not name:
        raise InputError("feature-store: no project name; give 'project' or set 'project' in the spec")
    return {"repo": str(create_local_repo(mlsitter_home() / "feature_store" / name, name)), "project": name}


@task(name="feature-store.prepare_definitions")
def prepare_definitions(repo: str, project: str, spec: str, data: str) -> PreparedDefinitions:
    """Parse the spec, check it against the data (columns, timestamp, null keys, duplicate rows) and diff it
    against the applied definitions; nothing is written, so bad input leaves the repo as it was."""
    from mlsitter.ml.features import _feature_definitions as fd
    from mlsitter.ml.features import _feature_store as fs

    applied = fs.applied_definitions(repo)
    if not spec:
        if applied is None:
            raise InputError(f"feature-store repo {repo} has no feature views applied and no spec was given")
        return PreparedDefinitions(repo, project, applied, applied.version, [], None, None, None)
    raw = fd.load_spec(spec)
    if not data:
        raise InputError("feature-store: a spec needs 'data', the table its feature views read")
    timestamps = {str(v.get("timestamp")) for v in raw.get("feature_views") or [] if isinstance(v, dict) and v.get("timestamp")}
    timestamp = str(raw.get("timestamp") or (timestamps.pop() if len(timestamps) == 1 else "")) or None
    frame = fs.read_source_table(data, timestamp)
    source_path, columns = fs.stage_source(frame, repo, "data", timestamp)
    definitions = fd.parse_definitions(raw, {"data": columns}, project)
    fs.check_unique_rows(frame, definitions)
    return PreparedDefinitions(repo, project, definitions, applied.version if applied else None,
                               fd.diff_definitions(applied, definitions), source_path, str(Path(data).resolve()), timestamp)


@task(name="feature-store.apply_definitions")
def apply_definitions(prepared: PreparedDefinitions, applied_at: str, applied_by: str) -> Any:
    """Write the source Parquet into the repo and apply every entity and view in one Feast ``apply``."""
    from mlsitter.ml.features import _feature_store as fs

    if prepared.source_path and prepared.data_path:
        frame = fs.read_source_table(prepared.data_path, prepared.timestamp)
        fs.write_source(frame, prepared.source_path, prepared.timestamp)
    return fs.apply_definitions(prepared.repo, prepared.definitions, applied_at=applied_at, applied_by=applied_by,
                                changes=[c.line() for c in prepared.changes])


@task(name="feature-store.materialize")
def materialize(repo: str, definitions: Any, end: str, mode: str) -> list[Any]:
    """Load the online store up to ``end`` (full or incremental)."""
    from mlsitter.ml.features._feature_store import materialize as run

    return run(repo, definitions, end=datetime.fromisoformat(end), mode=mode)


@task(name="feature-store.measure_freshness")
def measure_freshness(repo: str, definitions: Any, as_of: str) -> list[Any]:
    """Per online view: the newest materialized row and its age at ``as_of``."""
    from mlsitter.ml.features._feature_store import freshness

    return freshness(repo, definitions, as_of=datetime.fromisoformat(as_of))


@task(name="feature-store.check_consistency")
def check_consistency(repo: str, definitions: Any, as_of: str, sample: int, seed: int) -> Any:
    """Up to ``sample`` entity keys of the source through the offline and the online path as of ``as_of``."""
    import pandas as pd

    from mlsitter.ml.features._online_features import check_consistency as check

    online = [v for v in definitions.views if v.online]
    if not online:
        return None
    keys = sorted({k for v in online for k in definitions.join_keys(v)})
    frames = [pd.read_parquet(v.source, columns=definitions.join_keys(v)) for v in online]
    entity_keys = pd.concat(frames, ignore_index=True).drop_duplicates().dropna()
    for k in keys:
        if k not in entity_keys.columns:
            raise SpecError(f"consistency check: join key {k!r} is not in every online view's source")
    if len(entity_keys) > sample:
        entity_keys = entity_keys.sample(sample, random_state=seed)
    return check(repo, definitions, entity_keys.sort_values(keys).reset_index(drop=True), as_of=datetime.fromisoformat(as_of))


@task(name="feature-store.build_training_set")
def build_training_set(repo: str, definitions: Any, entities: str, event_timestamp: str, features: list[str],
                       out_dir: str) -> dict[str, Any]:
    """The point-in-time training set of an entity frame file, written as Parquet."""
    from mlsitter.ml.features._feature_store import read_source_table
    from mlsitter.ml.features._point_in_time import point_in_time_join

    frame = read_source_table(entities, event_timestamp)
    result = point_in_time_join(frame, definitions, features or None, event_timestamp=event_timestamp)
    path = Path(out_dir) / "training_set.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    result.frame.to_parquet(path, index=False)
    return {"path": str(path), "rows": result.rows, "features": result.features,
            "rows_without_value": result.rows_without_value, "definition_version": result.definition_version}


@task(name="feature-store.register_training_set")
def register_training_set(training_set: dict[str, Any], registry: str, dataset: str, repo: str,
                          created_at: str) -> dict[str, Any]:
    """The training set as a dataset version whose manifest records the feature definition version."""
    from mlsitter.ml.data._dataset_version import register_version
    from mlsitter.runtime.home import mlsitter_home

    folder = Path(registry).expanduser() if registry else mlsitter_home() / "datasets" / dataset
    folder.mkdir(parents=True, exist_ok=True)
    manifest = register_version(
        training_set["path"], folder, dataset=dataset, schema_sha256=training_set["definition_version"],
        sources=[{"name": "feature-store", "location": repo, "rows": training_set["rows"]}],
        rows_in=training_set["rows"], rows_quarantined=0, created_at=created_at,
        extra={"feature_definition_version": training_set["definition_version"], "feature_store_repo": repo,
               "features": training_set["features"], "rows_without_value": training_set["rows_without_value"]})
    return {"manifest": manifest, "folder": str(folder / manifest.version)}


@task(name="feature-store.render_report")
def render_report(out_dir: str, repo: str, **kwargs: Any) -> dict[str, str]:
    """Write the HTML/Markdown/JSON report; returns the file paths."""
    from mlsitter.ml.features._feature_store import definition_history
    from mlsitter.processes.execution.feature_store.report import write_feature_store_report

    history = [asdict(h) for h in definition_history(repo)]
    files = write_feature_store_report(out_dir, repo=repo, history=history, **kwargs)
    return {"html": str(files.html), "json": str(files.json), "markdown": str(files.markdown)}
