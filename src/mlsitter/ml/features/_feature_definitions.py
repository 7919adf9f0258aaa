"""Feature-store definitions as plain data: the spec a user writes (entities, timestamp column, feature
groups, TTLs), its checks against the data, the canonical snapshot that is versioned, and the diff of two
snapshots with its breaking changes. Feast is not imported here: the Feast objects are built from a
snapshot in ``_feature_store``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mlsitter.errors import DataError, SpecError
from mlsitter.naming import stable_name

#: Feast value types by the pandas dtype kind of a source column.
_FEAST_TYPES = {"i": "Int64", "u": "Int64", "f": "Float64", "b": "Bool", "O": "String", "U": "String", "M": "UnixTimestamp"}
_ENTITY_TYPES = {"Int64": "INT64", "String": "STRING"}


@stable_name("ml.features.EntityDefinition")
@dataclass(frozen=True)
class EntityDefinition:
    """An entity: its name and its join key column with the key's Feast value type."""

    name: str
    join_key: str
    value_type: str


@stable_name("ml.features.FeatureViewDefinition")
@dataclass(frozen=True)
class FeatureViewDefinition:
    """A feature view: the source Parquet, its timestamp column, entities, TTL and features (name -> type)."""

    name: str
    source: str
    timestamp: str
    entities: tuple[str, ...]
    ttl_seconds: int
    features: dict[str, str]
    online: bool = True
    freshness_sla_seconds: int | None = None


@stable_name("ml.features.FeatureDefinitions")
@dataclass(frozen=True)
class FeatureDefinitions:
    """Everything applied to one Feast project; ``version`` is a content hash of the rest."""

    project: str
    entities: tuple[EntityDefinition, ...]
    views: tuple[FeatureViewDefinition, ...]

    @property
    def version(self) -> str:
        """``fd-`` and 16 hex digits of the sha256 of the canonical JSON (same definitions -> same version)."""
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return "fd-" + hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        return {"project": self.project, "entities": [asdict(e) for e in self.entities],
                "views": [{**asdict(v), "entities": list(v.entities)} for v in self.views]}

    @staticmethod
    def from_json(data: dict[str, Any]) -> FeatureDefinitions:
        return FeatureDefinitions(
            project=str(data["project"]), entities=tuple(EntityDefinition(**e) for e in data["entities"]),
            views=tuple(FeatureViewDefinition(**{**v, "entities": tuple(v["entities"])}) for v in data["views"]))

    def view(self, name: str) -> FeatureViewDefinition:
        for v in self.views:
            if v.name == name:
                return v
        raise SpecError(f"no feature view {name!r}; the views are {[v.name for v in self.views]}")

    def entity(self, name: str) -> EntityDefinition:
        for e in self.entities:
            if e.name == name:
                return e
        raise SpecError(f"no entity {name!r}; the entities are {[e.name for e in self.entities]}")

    def join_keys(self, view: FeatureViewDefinition) -> list[str]:
        return [self.entity(e).join_key for e in view.entities]

    def feature_refs(self, views: list[str] | None = None) -> list[str]:
        """Feast's ``view:feature`` references of every feature of the named views (default: all)."""
        chosen = [self.view(n) for n in views] if views else list(self.views)
        return [f"{v.name}:{f}" for v in chosen for f in v.features]


def parse_duration_seconds(text: Any, what: str) -> int:
    """Whole seconds of a TTL or SLA such as '6h', '2d', '90min', or a number of seconds."""
    from mlsitter.ml.data._quality import parse_duration

    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        try:
            seconds = parse_duration(str(text).strip())
        except SpecError:
            raise SpecError(f"{what} {text!r}: expected a duration such as '6h', '2d', '90min' or seconds") from None
    if seconds < 0:
        raise SpecError(f"{what} {text!r}: expected a duration of zero or more")
    return int(seconds)


def _names(value: Any, what: str) -> list[str]:
    if isinstance(value, str):
        return [p.strip() for p in value.split(",") if p.strip()]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise SpecError(f"{what}: expected a name or a list of names, got {value!r}")


def load_spec(spec: str | dict[str, Any]) -> dict[str, Any]:
    """A spec given as a mapping, inline JSON/YAML text, or a JSON/YAML file."""
    import yaml

    if isinstance(spec, dict):
        return spec
    text = str(spec)
    if "\n" not in text and not text.lstrip().startswith("{") and Path(text).expanduser().is_file():
        text = Path(text).expanduser().read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"feature-store spec: not valid YAML/JSON and not a file: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"feature-store spec: expected a mapping with 'entities' and 'feature_views', got {text[:80]!r}")
    return data


@stable_name("ml.features.SourceColumns")
@dataclass(frozen=True)
class SourceColumns:
    """What a spec needs to know of a source table: its columns and their pandas dtype kinds."""

    path: str
    kinds: dict[str, str]
    rows: int
    null_keys: dict[str, int] = field(default_factory=dict)


def parse_definitions(spec: dict[str, Any], sources: dict[str, SourceColumns], project: str) -> FeatureDefinitions:
    """Definitions from a spec, checked against the sources' columns: every timestamp, key and feature
    column must exist and keys must have no nulls; feature types are taken from the data.

    Spec: ``entities: [{name, join_key}]``, ``feature_views: [{name, source?, timestamp?, entities, ttl,
    features, online?, freshness_sla?}]``; ``timestamp`` and ``source`` default to the top-level ones.
    """
    unknown = set(spec) - {"project", "entities", "feature_views", "timestamp", "source"}
    if unknown:
        raise SpecError(f"feature-store spec: unknown keys {sorted(unknown)}; expected project, entities, "
                        "feature_views, timestamp, source")
    raw_entities, raw_views = spec.get("entities"), spec.get("feature_views")
    if not isinstance(raw_entities, list) or not raw_entities:
        raise SpecError("feature-store spec: 'entities' must be a non-empty list of {name, join_key}")
    if not isinstance(raw_views, list) or not raw_views:
        raise SpecError("feature-store spec: 'feature_views' must be a non-empty list of {name, entities, ttl, features}")
    keys_by_entity: dict[str, str] = {}
    for raw in raw_entities:
        if not isinstance(raw, dict) or "name" not in raw:
            raise SpecError(f"feature-store spec: an entity needs a 'name' (and a 'join_key'), got {raw!r}")
        keys_by_entity[str(raw["name"])] = str(raw.get("join_key", raw["name"]))
    views: list[FeatureViewDefinition] = []
    key_types: dict[str, str] = {}
    for raw in raw_views:
        views.append(_parse_view(raw, spec, sources, keys_by_entity, key_types))
    entities = tuple(EntityDefinition(name, key, _ENTITY_TYPES.get(key_types.get(key, "String"), "STRING"))
                     for name, key in keys_by_entity.items())
    return FeatureDefinitions(project, entities, tuple(views))


def _parse_view(raw: Any, spec: dict[str, Any], sources: dict[str, SourceColumns], keys_by_entity: dict[str, str],
                key_types: dict[str, str]) -> FeatureViewDefinition:
    if not isinstance(raw, dict) or "name" not in raw:
        raise SpecError(f"feature-store spec: a feature view needs a 'name', got {raw!r}")
    name = str(raw["name"])
    where = f"feature view {name!r}"
    source_name = str(raw.get("source", spec.get("source", "data")))
    if source_name not in sources:
        raise SpecError(f"{where}: unknown source {source_name!r}; the sources are {sorted(sources)}")
    source = sources[source_name]
    timestamp = raw.get("timestamp", spec.get("timestamp"))
    if not timestamp:
        raise SpecError(f"{where}: no timestamp column given (set 'timestamp' on the view or at the top of the spec)")
    if timestamp not in source.kinds:
        raise DataError(f"{where}: timestamp column {timestamp!r} is not in {source.path}; its columns are "
                        f"{sorted(source.kinds)}")
    if source.kinds[timestamp] != "M":
        raise DataError(f"{where}: timestamp column {timestamp!r} holds {source.kinds[timestamp]!r}-kind values, "
                        "expected datetimes")
    entities = _names(raw.get("entities", []), f"{where}: entities")
    if not entities:
        raise SpecError(f"{where}: 'entities' must name at least one entity")
    for entity in entities:
        if entity not in keys_by_entity:
            raise SpecError(f"{where}: unknown entity {entity!r}; the entities are {sorted(keys_by_entity)}")
        key = keys_by_entity[entity]
        if key not in source.kinds:
            raise DataError(f"{where}: join key {key!r} of entity {entity!r} is not in {source.path}; its columns are "
                            f"{sorted(source.kinds)}")
        if source.null_keys.get(key):
            raise DataError(f"{where}: join key {key!r} has {source.null_keys[key]} null values in {source.path}; "
                            "an entity key must never be null")
        key_types[key] = "Int64" if source.kinds[key] in "iu" else "String"
    features = _names(raw.get("features", []), f"{where}: features")
    if not features:
        raise SpecError(f"{where}: 'features' must name at least one column")
    missing = [f for f in features if f not in source.kinds]
    if missing:
        raise DataError(f"{where}: feature columns {missing} are not in {source.path}; its columns are "
                        f"{sorted(source.kinds)}")
    if "ttl" not in raw:
        raise SpecError(f"{where}: no 'ttl' (how long a feature value stays valid, e.g. '6h'; 0 for forever)")
    sla = raw.get("freshness_sla")
    return FeatureViewDefinition(
        name=name, source=source.path, timestamp=str(timestamp), entities=tuple(entities),
        ttl_seconds=parse_duration_seconds(raw["ttl"], f"{where}: ttl"),
        features={f: _FEAST_TYPES.get(source.kinds[f], "String") for f in features}, online=bool(raw.get("online", True)),
        freshness_sla_seconds=None if sla is None else parse_duration_seconds(sla, f"{where}: freshness_sla"))


def describe_source(frame: pd.DataFrame, path: str) -> SourceColumns:
    """The columns, dtype kinds and per-column null counts of a source frame."""
    nulls = {str(c): int(n) for c, n in frame.isna().sum().items() if n}
    return SourceColumns(path=path, kinds={str(c): frame[c].dtype.kind for c in frame.columns}, rows=int(len(frame)),
                         null_keys=nulls)


@stable_name("ml.features.DefinitionChange")
@dataclass(frozen=True)
class DefinitionChange:
    """One difference between the applied definitions and new ones; ``breaking`` ones need an approval."""

    kind: str
    target: str
    detail: str
    breaking: bool

    def line(self) -> str:
        return f"{'BREAKING ' if self.breaking else ''}{self.kind} {self.target}: {self.detail}"


def diff_definitions(old: FeatureDefinitions | None, new: FeatureDefinitions) -> list[DefinitionChange]:
    """What changes from ``old`` to ``new``; a removed view or feature, a type change, a shortened TTL and a
    changed join key are breaking (a model trained on the old definitions would silently get other data)."""
    if old is None:
        return [DefinitionChange("added", f"view {v.name}", f"{len(v.features)} features", False) for v in new.views]
    changes: list[DefinitionChange] = []
    old_entities = {e.name: e for e in old.entities}
    for e in new.entities:
        was = old_entities.get(e.name)
        if was is not None and (was.join_key, was.value_type) != (e.join_key, e.value_type):
            changes.append(DefinitionChange("changed", f"entity {e.name}", f"join key {was.join_key} "
                                            f"({was.value_type}) -> {e.join_key} ({e.value_type})", True))
    old_views = {v.name: v for v in old.views}
    new_views = {v.name: v for v in new.views}
    for name in old_views.keys() - new_views.keys():
        changes.append(DefinitionChange("removed", f"view {name}", "the feature view is gone", True))
    for name, v in new_views.items():
        before = old_views.get(name)
        if before is None:
            changes.append(DefinitionChange("added", f"view {name}", f"{len(v.features)} features", False))
            continue
        changes.extend(_diff_view(before, v))
    return sorted(changes, key=lambda c: (not c.breaking, c.target, c.kind))


def _diff_view(old: FeatureViewDefinition, new: FeatureViewDefinition) -> list[DefinitionChange]:
    changes: list[DefinitionChange] = []
    target = f"view {new.name}"
    for f in old.features.keys() - new.features.keys():
        changes.append(DefinitionChange("removed", f"{target} feature {f}", "the feature is gone", True))
    for f, t in new.features.items():
        if f not in old.features:
            changes.append(DefinitionChange("added", f"{target} feature {f}", t, False))
        elif old.features[f] != t:
            changes.append(DefinitionChange("type", f"{target} feature {f}", f"{old.features[f]} -> {t}", True))
    if new.ttl_seconds != old.ttl_seconds:
        # 0 means "forever": going from forever to a finite TTL shortens it, the other way lengthens it.
        shorter = bool(new.ttl_seconds) and (not old.ttl_seconds or new.ttl_seconds < old.ttl_seconds)
        changes.append(DefinitionChange("ttl", target, f"{old.ttl_seconds}s -> {new.ttl_seconds}s", shorter))
    if tuple(new.entities) != tuple(old.entities):
        changes.append(DefinitionChange("entities", target, f"{list(old.entities)} -> {list(new.entities)}", True))
    for attr in ("source", "timestamp", "online", "freshness_sla_seconds"):
        if getattr(old, attr) != getattr(new, attr):
            changes.append(DefinitionChange(attr, target, f"{getattr(old, attr)} -> {getattr(new, attr)}", False))
    return changes
