"""Point-in-time-correct training sets: for every entity row, each view's latest feature row at or before
the row's event time and no older than the view's TTL, by DuckDB ``ASOF LEFT JOIN`` straight on the views'
Parquet sources. Every entity row is kept (Feast's file offline store drops rows whose entity has only
expired values); the count of rows that found no value is reported per view."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlsitter.errors import DataError, SpecError
from mlsitter.ml.features._feature_definitions import FeatureDefinitions, FeatureViewDefinition
from mlsitter.naming import stable_name

if TYPE_CHECKING:
    import pyarrow as pa

ROW = "__mlsitter_row"
RID = "__mlsitter_rid"


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
        raise DataError(f"the entity frame's event timestamp {event_timestamp!r} holds "
                        f"{entity_df[event_timestamp].dtype}, expected datetimes")
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
    import pyarrow as pa

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        if threads:
            con.execute(f"SET threads={int(threads)}")
        entity = entity_df[[*keys, event_timestamp]].reset_index(drop=True)
        entity[event_timestamp] = _as_utc(entity[event_timestamp])
        entity[ROW] = np.arange(len(entity))
        con.register("entity_rows", entity)
        tables = [_view_rows(con, definitions, view, chosen[view.name], event_timestamp) for view in views]
        picks = con.sql(_as_of_query(definitions, views, event_timestamp)).to_arrow_table()
        taken = [table.select(chosen[view.name]).take(picks[f"{RID}{i}"])
                 for i, (view, table) in enumerate(zip(views, tables))]
        values = _to_pandas(con, pa.Table.from_arrays([c for t in taken for c in t.columns], names=names))
    finally:
        con.close()
    found = {view.name: int(picks[f"{RID}{i}"].null_count) for i, view in enumerate(views)}
    out = pd.concat([entity_df.reset_index(drop=True), values], axis=1, copy=False)
    return TrainingSet(out, int(len(out)), names, found, definitions.version)


def _view_rows(con: Any, definitions: FeatureDefinitions, view: FeatureViewDefinition, features: list[str],
               ts: str) -> pa.Table:
    """The view's join keys, time (``__ts``), chosen features and row number as Arrow, registered for the
    as-of query; only the rows that can match: not after the latest event and, with a TTL, not expired
    before the earliest one."""
    import pyarrow as pa

    keys = definitions.join_keys(view)
    window = f"__ts <= (SELECT max({_quote(ts)}) FROM entity_rows)"
    if view.ttl_seconds:
        window += f" AND __ts >= (SELECT min({_quote(ts)}) FROM entity_rows) - INTERVAL {int(view.ttl_seconds)} SECOND"
    cols = ", ".join(_quote(c) for c in [*keys, *features])
    table = con.sql(f"SELECT {cols}, CAST({_quote(view.timestamp)} AS TIMESTAMPTZ) AS __ts "
                    f"FROM read_parquet({_sql_text(view.source)}) WHERE {window}").to_arrow_table()
    table = table.append_column(RID, pa.array(np.arange(table.num_rows)))
    con.register(f"rows_{view.name}", table)
    return table


def _as_of_query(definitions: FeatureDefinitions, views: list[FeatureViewDefinition], ts: str) -> str:
    """One query with an ``ASOF LEFT JOIN`` per view on the keys and times only; per entity row (in its order)
    each view's matched row number, null where none is at or before the event or it is older than the TTL."""
    selects, joins = [], []
    for i, view in enumerate(views):
        v = f"v{i}"
        keys = definitions.join_keys(view)
        cols = ", ".join(_quote(c) for c in [*keys, "__ts", RID])
        on = " AND ".join(f"e.{_quote(k)} = {v}.{_quote(k)}" for k in keys)
        joins.append(f"ASOF LEFT JOIN (SELECT {cols} FROM {_quote('rows_' + view.name)}) {v} "
                     f"ON {on} AND e.{_quote(ts)} >= {v}.__ts")
        fresh = f"{v}.__ts >= e.{_quote(ts)} - INTERVAL {int(view.ttl_seconds)} SECOND" if view.ttl_seconds else "TRUE"
        selects.append(f"CASE WHEN {fresh} THEN {v}.{RID} END AS {RID}{i}")
    return f"SELECT {', '.join(selects)} FROM entity_rows e {' '.join(joins)} ORDER BY e.{ROW}"


def _to_pandas(con: Any, values: pa.Table) -> pd.DataFrame:
    """The features as pandas with DuckDB's dtypes (nullable integers and booleans where a row found no value);
    float columns, most of a training set, come straight from Arrow, which gives the same NaN-for-null floats
    several times faster than a DuckDB scan."""
    import pyarrow as pa

    floats = [n for n, t in zip(values.column_names, values.schema.types) if pa.types.is_floating(t)]
    others = [n for n in values.column_names if n not in set(floats)]
    frame = values.select(floats).to_pandas()
    if others:
        con.register("taken", values.select(others))
        frame = pd.concat([frame, con.sql("SELECT * FROM taken").df()], axis=1, copy=False)
    return frame[values.column_names]


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
