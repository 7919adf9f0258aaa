"""A Feast repo with the local provider (Parquet file offline store, SQLite online store, file registry):
create or open it, apply versioned definitions in one step, materialize (full or incremental), measure
freshness, and keep the history of every applied definition version beside the registry."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from mlsitter.errors import DataError, InputError, SpecError
from mlsitter.ml.features._feature_definitions import (
    EntityDefinition,
    FeatureDefinitions,
    FeatureViewDefinition,
    SourceColumns,
    describe_source,
)
from mlsitter.naming import stable_name

HISTORY = "definitions.jsonl"
CONFIG = "feature_store.yaml"


def require_feast() -> Any:
    """The ``feast`` module, or an InputError naming the extra that installs it."""
    try:
        import feast
    except ImportError as exc:
        raise InputError(f"the feature store needs the feature-store extra ({exc.name} is missing): "
                         "pip install 'mlsitter[feature-store]'") from None
    return feast


def create_local_repo(root: str | Path, project: str) -> Path:
    """A Feast repo folder with the local provider; an existing ``feature_store.yaml`` is kept as it is."""
    if not project.replace("_", "").isalnum():
        raise SpecError(f"feature-store project {project!r}: expected letters, digits and underscores only")
    folder = Path(root).expanduser().resolve()
    (folder / "data").mkdir(parents=True, exist_ok=True)
    config = folder / CONFIG
    if not config.is_file():
        config.write_text(
            f"project: {project}\nprovider: local\nregistry: data/registry.db\n"
            "online_store:\n  type: sqlite\n  path: data/online_store.db\n"
            "offline_store:\n  type: file\nentity_key_serialization_version: 3\n", encoding="utf-8")
    return folder


def open_store(repo: str | Path) -> Any:
    """Feast's FeatureStore for a repo folder (one holding ``feature_store.yaml``)."""
    feast = require_feast()
    folder = Path(repo).expanduser()
    if not (folder / CONFIG).is_file():
        raise InputError(f"feature-store repo {folder}: no {CONFIG} there; expected a Feast repo folder")
    return feast.FeatureStore(repo_path=str(folder))


def read_source_table(path: str | Path, timestamp: str | None) -> pd.DataFrame:
    """A source table (Parquet, CSV or JSON lines) with its timestamp column parsed as UTC datetimes."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"feature source {p}: no such file")
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        frame = pd.read_parquet(p)
    elif suffix in (".csv", ".tsv", ".txt"):
        frame = pd.read_csv(p, sep="\t" if suffix == ".tsv" else ",")
    elif suffix in (".json", ".jsonl"):
        frame = pd.read_json(p, lines=suffix == ".jsonl")
    else:
        raise InputError(f"feature source {p}: expected a .parquet, .csv, .tsv or .jsonl file")
    if timestamp and timestamp in frame.columns and frame[timestamp].dtype.kind != "M":
        try:
            frame[timestamp] = pd.to_datetime(frame[timestamp], utc=True)
        except (ValueError, TypeError) as exc:
            raise DataError(f"feature source {p}: timestamp column {timestamp!r} does not parse as datetimes: {exc}") from None
    return frame


def stage_source(frame: pd.DataFrame, repo: str | Path, name: str, timestamp: str | None) -> tuple[str, SourceColumns]:
    """Where the source will live in the repo (``data/sources/<name>.parquet``) and what it holds; nothing is
    written yet, so a spec that fails its checks leaves the repo untouched."""
    target = Path(repo) / "data" / "sources" / f"{name}.parquet"
    if timestamp and timestamp in frame.columns and frame[timestamp].isna().any():
        raise DataError(f"feature source {name!r}: timestamp column {timestamp!r} has "
                        f"{int(frame[timestamp].isna().sum())} missing values; every feature row needs its time")
    return str(target), describe_source(frame, str(target))


def check_unique_rows(frame: pd.DataFrame, definitions: FeatureDefinitions) -> None:
    """Each view's rows are unique by (join keys, timestamp), else a point-in-time value is ambiguous."""
    for view in definitions.views:
        keys = definitions.join_keys(view) + [view.timestamp]
        dup = int(frame.duplicated(subset=keys).sum())
        if dup:
            raise DataError(f"feature view {view.name!r}: {dup} rows repeat the keys and timestamp {keys} of an earlier "
                            "row; which value holds at that time is ambiguous: deduplicate the source first")


def write_source(frame: pd.DataFrame, path: str, timestamp: str | None) -> None:
    """The source as Parquet with its timestamp in UTC, written atomically (temporary file, then rename)."""
    out = frame.copy()
    if timestamp and timestamp in out.columns:
        ts = out[timestamp]
        out[timestamp] = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".parquet.tmp")
    out.to_parquet(tmp, index=False)
    tmp.replace(target)


def feast_objects(definitions: FeatureDefinitions) -> list[Any]:
    """Feast Entity, FileSource and FeatureView objects for the definitions."""
    feast = require_feast()
    from feast import types as ftypes
    from feast.value_type import ValueType

    entities = {e.name: feast.Entity(name=e.name, join_keys=[e.join_key], value_type=ValueType[e.value_type])
                for e in definitions.entities}
    objects: list[Any] = list(entities.values())
    for v in definitions.views:
        source = feast.FileSource(name=f"{v.name}_source", path=v.source, timestamp_field=v.timestamp)
        schema = [feast.Field(name=f, dtype=getattr(ftypes, t)) for f, t in v.features.items()]
        objects += [source, feast.FeatureView(
            name=v.name, entities=[entities[e] for e in v.entities], ttl=timedelta(seconds=v.ttl_seconds), schema=schema,
            source=source, online=v.online, tags={"mlsitter_freshness_sla_s": str(v.freshness_sla_seconds or "")})]
    return objects


@stable_name("ml.features.AppliedVersion")
@dataclass(frozen=True)
class AppliedVersion:
    """One line of the definition history: which version was applied, when, by whom, with which changes."""

    version: str
    applied_at: str
    applied_by: str
    changes: list[str]
    definitions: dict[str, Any]


def definition_history(repo: str | Path) -> list[AppliedVersion]:
    """Every applied definition version of the repo, oldest first."""
    path = Path(repo) / HISTORY
    if not path.is_file():
        return []
    return [AppliedVersion(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def applied_definitions(repo: str | Path) -> FeatureDefinitions | None:
    """The definitions last applied through mlsitter, else those read from a user's Feast registry, else None."""
    history = definition_history(repo)
    if history:
        return FeatureDefinitions.from_json(history[-1].definitions)
    if (Path(repo) / CONFIG).is_file():
        return definitions_from_registry(open_store(repo))
    return None


def definitions_from_registry(store: Any) -> FeatureDefinitions | None:
    """The definitions of a Feast registry's entities and file-backed batch feature views (None when empty)."""
    views = store.list_feature_views()
    entities = {e.name: e for e in store.list_entities()}
    if not views:
        return None
    defs: list[FeatureViewDefinition] = []
    for fv in views:
        source = fv.batch_source
        path = getattr(source, "path", None)
        if not path:
            raise SpecError(f"feature view {fv.name!r}: its source is not a file source; mlsitter's point-in-time "
                            "retrieval reads Parquet files")
        repo_path = Path(store.repo_path or ".")
        full = path if Path(path).is_absolute() or "://" in path else str((repo_path / path).resolve())
        sla = (fv.tags or {}).get("mlsitter_freshness_sla_s") or None
        defs.append(FeatureViewDefinition(
            name=fv.name, source=full, timestamp=source.timestamp_field, entities=tuple(fv.entities),
            ttl_seconds=int(fv.ttl.total_seconds()) if fv.ttl else 0,
            features={f.name: str(f.dtype) for f in fv.features}, online=bool(fv.online),
            freshness_sla_seconds=int(sla) if sla else None))
    ents = tuple(EntityDefinition(e.name, e.join_key, _value_type_name(e)) for e in entities.values())
    return FeatureDefinitions(store.project, ents, tuple(defs))


def _value_type_name(entity: Any) -> str:
    return str(entity.value_type.name)


def apply_definitions(repo: str | Path, definitions: FeatureDefinitions, *, applied_at: str, applied_by: str,
                      changes: list[str]) -> AppliedVersion:
    """Apply every entity and view in one Feast ``apply`` (views no longer defined are deleted in the same
    call) and append the version to the history; reapplying the current version records nothing new."""
    store = open_store(repo)
    objects = feast_objects(definitions)
    current = {v.name for v in definitions.views}
    gone = [fv for fv in store.list_feature_views() if fv.name not in current]
    store.apply(objects, objects_to_delete=gone, partial=False)
    record = AppliedVersion(definitions.version, applied_at, applied_by, changes, definitions.to_json())
    history = definition_history(repo)
    if not history or history[-1].version != definitions.version:
        with (Path(repo) / HISTORY).open("a", encoding="utf-8") as f:
            f.write(json.dumps(asdict(record), sort_keys=True) + "\n")
    return record


@stable_name("ml.features.Materialization")
@dataclass(frozen=True)
class Materialization:
    """One view's materialization into the online store: the interval and the source rows in it."""

    view: str
    mode: str
    start: str
    end: str
    rows: int


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _source_rows(view: FeatureViewDefinition, start: datetime | None, end: datetime) -> tuple[int, datetime | None]:
    """(rows of the view's source in (start, end], newest timestamp <= end) read with DuckDB."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        ts = f'CAST("{view.timestamp}" AS TIMESTAMPTZ)'
        low = f"AND {ts} > ?" if start is not None else ""
        params: list[Any] = [end] + ([start] if start is not None else [])
        rows = con.execute(f"SELECT count(*) FROM read_parquet(?) WHERE {ts} <= ? {low}",
                           [view.source] + params).fetchone()
        newest = con.execute(f"SELECT max({ts}) FROM read_parquet(?) WHERE {ts} <= ?", [view.source, end]).fetchone()
    finally:
        con.close()
    return int(rows[0] if rows else 0), (_utc(newest[0]) if newest and newest[0] is not None else None)


def _materialized_until(store: Any, definitions: FeatureDefinitions) -> list[tuple[FeatureViewDefinition, datetime | None]]:
    """Each online view with the end of its latest materialization (None when never materialized)."""
    out: list[tuple[FeatureViewDefinition, datetime | None]] = []
    for view in definitions.views:
        if view.online:
            intervals = store.get_feature_view(view.name).materialization_intervals
            out.append((view, _utc(max(i[1] for i in intervals)) if intervals else None))
    return out


def materialize(repo: str | Path, definitions: FeatureDefinitions, *, end: datetime, mode: str = "incremental") -> list[Materialization]:
    """Load the online store up to ``end``: ``full`` from each view's oldest row, ``incremental`` from where the
    last materialization stopped (a view never materialized gets a full load)."""
    if mode not in ("full", "incremental"):
        raise SpecError(f"materialization mode {mode!r}: expected 'full' or 'incremental'")
    store = open_store(repo)
    end = _utc(end)
    done: list[Materialization] = []
    for view, until in _materialized_until(store, definitions):
        start = until if mode == "incremental" else None
        if start is not None and start >= end:
            done.append(Materialization(view.name, mode, start.isoformat(), end.isoformat(), 0))
            continue
        rows, _ = _source_rows(view, start, end)
        begin = start or datetime(1970, 1, 1, tzinfo=timezone.utc)
        store.materialize(begin, end, feature_views=[view.name])
        done.append(Materialization(view.name, "incremental" if start else "full", begin.isoformat(), end.isoformat(), rows))
    return done


@stable_name("ml.features.ViewFreshness")
@dataclass(frozen=True)
class ViewFreshness:
    """How fresh one view's online values are: the newest materialized row and its age at ``as_of``."""

    view: str
    materialized_until: str | None
    newest_row: str | None
    age_seconds: float | None
    sla_seconds: int | None

    @property
    def within_sla(self) -> bool:
        return self.sla_seconds is None or (self.age_seconds is not None and self.age_seconds <= self.sla_seconds)


def freshness(repo: str | Path, definitions: FeatureDefinitions, *, as_of: datetime) -> list[ViewFreshness]:
    """Per online view: the newest source row inside the materialized intervals and its age at ``as_of``."""
    store = open_store(repo)
    as_of = _utc(as_of)
    out: list[ViewFreshness] = []
    for view, until in _materialized_until(store, definitions):
        if until is None:
            out.append(ViewFreshness(view.name, None, None, None, view.freshness_sla_seconds))
            continue
        _, newest = _source_rows(view, None, until)
        age = (as_of - newest).total_seconds() if newest is not None else None
        out.append(ViewFreshness(view.name, until.isoformat(), newest.isoformat() if newest else None, age,
                                 view.freshness_sla_seconds))
    return out
