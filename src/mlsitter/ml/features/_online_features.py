"""Online feature lookups through Feast's online store, for the model server and for the offline/online
consistency check: the same entities and timestamps through both paths must give the same values."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from mlsitter.errors import DataError
from mlsitter.ml.features._feature_definitions import FeatureDefinitions
from mlsitter.ml.features._feature_store import open_store
from mlsitter.ml.features._point_in_time import _chosen_features, point_in_time_join
from mlsitter.naming import stable_name


class OnlineFeatureLookup:
    """Fetches the features of entity keys from a repo's online store; open once, call per request.

    ``features`` are ``view:feature`` references or view names. ``as_of`` (default: none) applies each
    view's TTL: a value older than the TTL at that time comes back as None, as in the offline path.
    """

    def __init__(self, repo: str | Path, features: list[str], definitions: FeatureDefinitions | None = None) -> None:
        from mlsitter.ml.features._feature_store import applied_definitions

        self.repo = Path(repo)
        self.store = open_store(repo)
        defs = definitions or applied_definitions(repo)
        if defs is None:
            raise DataError(f"feature-store repo {repo}: no feature views are applied there")
        self.definitions = defs
        chosen = _chosen_features(defs, features)
        self.refs = [f"{view}:{f}" for view, fs in chosen.items() for f in fs]
        self.features = [f for fs in chosen.values() for f in fs]
        self.keys = sorted({k for view in chosen for k in defs.join_keys(defs.view(view))})
        self._ttl = {f: defs.view(view).ttl_seconds for view, fs in chosen.items() for f in fs}

    def lookup(self, entity_rows: list[dict[str, Any]], as_of: datetime | None = None) -> list[dict[str, Any]]:
        """One dict of feature values per entity row (None where the store has no value)."""
        for i, row in enumerate(entity_rows):
            missing = [k for k in self.keys if row.get(k) is None]
            if missing:
                raise DataError(f"entity row {i} lacks the join keys {missing}; expected {self.keys}")
        if not entity_rows:
            return []
        keyed = [{k: row[k] for k in self.keys} for row in entity_rows]
        response = self.store.get_online_features(features=self.refs, entity_rows=keyed).to_dict(
            include_event_timestamps=as_of is not None)
        cutoff = _utc(as_of).timestamp() if as_of is not None else None
        out: list[dict[str, Any]] = []
        for i in range(len(keyed)):
            values: dict[str, Any] = {}
            for f in self.features:
                value = response[f][i]
                if cutoff is not None:
                    seen = response.get(f"{f}__ts", [0] * len(keyed))[i] or 0
                    ttl = self._ttl[f]
                    if value is not None and (seen > cutoff or (ttl and seen < cutoff - ttl)):
                        value = None
                values[f] = value
            out.append(values)
        return out

    def lookup_one(self, **keys: Any) -> dict[str, Any]:
        """The features of one entity given by its join keys, e.g. ``lookup_one(station_id=3)``."""
        return self.lookup([keys])[0]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


@stable_name("ml.features.ConsistencyMismatch")
@dataclass(frozen=True)
class ConsistencyMismatch:
    """One cell where the offline and online paths disagree."""

    keys: dict[str, Any]
    feature: str
    offline: Any
    online: Any


@stable_name("ml.features.ConsistencyReport")
@dataclass
class ConsistencyReport:
    """The offline/online comparison: rows and cells compared, the agreement in %, and where they differ."""

    rows: int
    cells: int
    mismatched_cells: int
    agreement_pct: float
    as_of: str
    mismatched_features: dict[str, int] = field(default_factory=dict)
    examples: list[ConsistencyMismatch] = field(default_factory=list)

    def summary(self) -> str:
        if not self.mismatched_cells:
            return f"{self.rows} rows x {self.cells // max(self.rows, 1)} features agree (100 %) as of {self.as_of}"
        feats = ", ".join(f"{f} ({n} rows)" for f, n in self.mismatched_features.items())
        rows = "; ".join(f"{m.keys} {m.feature}: offline {m.offline!r} vs online {m.online!r}" for m in self.examples[:5])
        return (f"{self.mismatched_cells} of {self.cells} cells differ ({self.agreement_pct:.2f} % agree) as of "
                f"{self.as_of}: features {feats}; e.g. {rows}")


def _same(a: Any, b: Any) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return False
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
    return bool(a == b)


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return None
    return value.item() if hasattr(value, "item") else value


def check_consistency(repo: str | Path, definitions: FeatureDefinitions, entity_keys: pd.DataFrame, *, as_of: datetime,
                      features: list[str] | None = None, max_examples: int = 20) -> ConsistencyReport:
    """Every entity key's features as of ``as_of`` through the offline point-in-time join and through the online
    store (TTL applied at ``as_of`` on both); each cell must agree."""
    online_views = [v.name for v in definitions.views if v.online]
    lookup = OnlineFeatureLookup(repo, features or online_views, definitions)
    frame = entity_keys[lookup.keys].drop_duplicates().reset_index(drop=True)
    frame["event_timestamp"] = pd.Timestamp(_utc(as_of))
    offline = point_in_time_join(frame, definitions, lookup.refs).frame
    online = lookup.lookup(frame[lookup.keys].to_dict(orient="records"), as_of=as_of)
    counts: dict[str, int] = {}
    examples: list[ConsistencyMismatch] = []
    for i, served in enumerate(online):
        for f in lookup.features:
            off, on = _plain(offline[f].iloc[i]), _plain(served[f])
            if not _same(off, on):
                counts[f] = counts.get(f, 0) + 1
                if len(examples) < max_examples:
                    examples.append(ConsistencyMismatch({k: _plain(frame[k].iloc[i]) for k in lookup.keys}, f, off, on))
    cells = len(frame) * len(lookup.features)
    bad = sum(counts.values())
    return ConsistencyReport(len(frame), cells, bad, 100.0 * (cells - bad) / cells if cells else 100.0,
                             _utc(as_of).isoformat(), dict(sorted(counts.items(), key=lambda kv: -kv[1])), examples)
