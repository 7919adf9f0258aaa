"""Model inputs fetched from the feature store by entity keys: a request can carry only its entity keys
(``{"record": {"station_id": 3}}``) and the server fills the model's inputs from Feast's online store, so
serving reads the same feature values the training set was built from; values the request carries win."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlsitter.errors import InputError
from mlsitter.ml.serving._schema import InputSchema, RequestSchemaError


class OnlineFeatures:
    """Fills each record's absent model inputs from an online feature lookup (``lookup(rows)`` by join keys)."""

    def __init__(self, lookup: Any, schema: InputSchema) -> None:
        self.lookup = lookup
        self.keys: list[str] = list(lookup.keys)
        served = set(lookup.features)
        self.features: list[str] = [spec.name for spec in schema.fields if spec.name in served]  # schema order
        self.required = {spec.name for spec in schema.fields if spec.required}

    @classmethod
    def open(cls, repo: str | Path, schema: InputSchema, features: list[str] | None = None) -> "OnlineFeatures":
        """The lookup of ``features`` (``view:feature`` or view names; default: every online feature the model
        takes) in the Feast repo ``repo``; InputError when the repo serves none of the model's inputs."""
        from mlsitter.ml.features import OnlineFeatureLookup, applied_definitions

        definitions = applied_definitions(repo)
        if definitions is None:
            raise InputError(f"feature repo {repo}: no feature views are applied there; apply them first "
                             "(mlsitter run feature-store ...)")
        names = {spec.name for spec in schema.fields}
        refs = features or [f"{v.name}:{f}" for v in definitions.views if v.online for f in v.features if f in names]
        if not refs:
            raise InputError(f"feature repo {repo}: no online feature view holds any of the model's inputs "
                             f"({', '.join(sorted(names))})")
        return cls(OnlineFeatureLookup(repo, refs, definitions), schema)

    def fill(self, records: list[Any]) -> list[Any]:
        """``records`` with the absent features fetched (one online read for the whole request). A record
        that lacks a feature and an entity key, or whose entity has no online value of a feature the model
        requires, raises RequestSchemaError naming both."""
        wanted = [i for i, r in enumerate(records) if isinstance(r, dict) and any(f not in r for f in self.features)]
        if not wanted:
            return records
        for i in wanted:
            absent = [k for k in self.keys if records[i].get(k) is None]
            if absent:
                raise RequestSchemaError(f"record {i} lacks the entity key {absent[0]!r} needed to fetch its features "
                                         f"from the feature store; send {self.keys} or the features "
                                         f"{self.features} themselves", absent[0], i)
        fetched = self.lookup.lookup([{k: records[i][k] for k in self.keys} for i in wanted])
        out = list(records)
        for i, values in zip(wanted, fetched):
            record = records[i]
            for name in self.features:
                if name not in record and values.get(name) is None and name in self.required:
                    entity = {k: record[k] for k in self.keys}
                    raise RequestSchemaError(f"record {i}: the feature store has no online value of {name!r} for "
                                             f"{entity} (never materialized, or older than its view's TTL)", name, i)
            out[i] = {**{f: values.get(f) for f in self.features}, **record}
        return out
