"""Point-in-time-correct training sets: for every entity row, each view's latest feature row at or before
the row's event time and no older than the view's TTL, by DuckDB ``ASOF LEFT JOIN`` straight on the views'
Parquet sources. Every entity row is kept (Feast's file offline store drops rows whose entity has only
expired values); the count of rows that found no value is reported per view."""

from __future__ import annotations

from dataclasses import dataclass
import pandas as pd

from mlsitter.errors import DataError, SpecError
from mlsitter.ml.features._feature_definitions import FeatureDefinitions
from mlsitter.naming import stable_name

ROW = "__mlsitter_row"


@stable_name("ml.features.TrainingSet")
@dataclass
class TrainingSet:
    """The entity frame with its features joined, in the entity frame's row order, and what found no value."""

    frame: pd.DataFrame
    rows: int
    features: list[str]
    rows_without_value: dict[str, int]
    definition_version: str


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def check_entity_frame(entity_df: pd.DataFrame, keys: list[str], event_timestamp: str) -> None:
    """An entity frame has rows, an event-time column of datetimes without gaps and every join key without nulls."""
    if len(entity_df) == 0:
        raise DataError("the entity frame is empty: expected at least one row of join keys and an event timestamp")
    missing = [c for c in [event_timestamp, *keys] if c not in entity_df.columns]
    if missing:
        raise DataError(f"the entity frame lacks the columns {missing}; expected the join keys {keys} and the "
                        f"event timestamp {event_timestamp!r}; its columns are {[str(c) for c in entity_df.columns]}")
    if entity_df[event_timestamp].dtype.kind != "M":
        raise DataError(f"the entity frame's event timestamp {event_timestamp!r} holds {entity_df[event_timestamp].dtype}, "
                        "expected datetimes")
    for column in [event_timestamp, *keys]:
        nulls = int(entity_df[column].isna().sum())
        if nulls:
            raise DataError(f"the entity frame's column {column!r} has {nulls} null values; every row needs its "
                            "join keys and event timestamp")


def point_in_time_join(entity_df: pd.DataFrame, definitions: FeatureDefinitions, features: list[str] | None = None,
                       *, event_timestamp: str = "event_timestamp", threads: int | None = None) -> TrainingSet:
    """Join ``features`` (``view:feature`` references or view names; default: every feature) onto
    ``entity_df`` as of each row's ``event_timestamp``; naive times are read as UTC, as Feast does."""
    chosen = _chosen_features(definitions, features)
    views = [definitions.view(name) for name in chosen]
    keys = sorted({k for v in views for k in definitions.join_keys(v)})
    check_entity_frame(entity_df, keys, event_timestamp)
    names = [f for fs in chosen.values() for f in fs]
    clash = sorted({f for f in names if names.count(f) > 1} | (set(names) & {str(c) for c in entity_df.columns}))
    if clash:
        raise SpecError(f"feature names {clash} appear in several views or in the entity frame; choose the features "
                        "so that each name is unique")
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        if threads:
            con.execute(f"SET threads={int(threads)}")
        ts = event_timestamp
        frame = entity_df.copy(deep=False)
        frame[ROW] = range(len(frame))
        frame[ts] = _as_utc(frame[ts])
        con.register("entity_rows", frame)
        selects, joins = [], []
        for i, view in enumerate(views):
            vkeys = definitions.join_keys(view)
            cols = ", ".join(_quote(c) for c in [*vkeys, *chosen[view.name]])
            con.execute(f"CREATE TEMP VIEW v{i} AS SELECT {cols}, CAST({_quote(view.timestamp)} AS TIMESTAMPTZ) AS "
                        f"__ts FROM read_parquet({_sql_text(view.source)})")
            on = " AND ".join(f"e.{_quote(k)} = v{i}.{_quote(k)}" for k in vkeys)
            joins.append(f"ASOF LEFT JOIN v{i} ON {on} AND e.{_quote(ts)} >= v{i}.__ts")
            fresh = (f"v{i}.__ts >= e.{_quote(ts)} - INTERVAL {int(view.ttl_seconds)} SECOND" if view.ttl_seconds
                     else f"v{i}.__ts IS NOT NULL")
            selects.append(f"({fresh}) AS __found_{i}")
            selects += [f"CASE WHEN {fresh} THEN v{i}.{_quote(f)} END AS {_quote(f)}" for f in chosen[view.name]]
        query = f"SELECT e.*, {', '.join(selects)} FROM entity_rows e {' '.join(joins)} ORDER BY e.{_quote(ROW)}"
        joined = con.execute(query).df()
    finally:
        con.close()
    found = {view.name: int(len(joined) - joined[f"__found_{i}"].fillna(False).astype(bool).sum())
             for i, view in enumerate(views)}
    out = joined.drop(columns=[ROW, *[f"__found_{i}" for i in range(len(views))]])
    out[ts] = entity_df[ts].to_numpy() if entity_df[ts].dtype.kind == "M" else out[ts]
    return TrainingSet(out, int(len(out)), names, found, definitions.version)


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _as_utc(series: pd.Series) -> pd.Series:
    return series.dt.tz_localize("UTC") if series.dt.tz is None else series.dt.tz_convert("UTC")


def _chosen_features(definitions: FeatureDefinitions, features: list[str] | None) -> dict[str, list[str]]:
    """View name -> its chosen features, in the order given."""
    chosen: dict[str, list[str]] = {}
    for ref in features or [v.name for v in definitions.views]:
        view_name, _, feature = str(ref).partition(":")
        view = definitions.view(view_name)
        if feature and feature not in view.features:
            raise SpecError(f"feature {ref!r}: view {view_name!r} has no feature {feature!r}; its features are "
                            f"{list(view.features)}")
        picked = chosen.setdefault(view_name, [])
        picked += [f for f in ([feature] if feature else list(view.features)) if f not in picked]
    return chosen
