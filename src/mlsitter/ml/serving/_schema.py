"""The input schema a served model accepts (read from its MLflow signature) and the check of each request
against it, so a bad request gets a 422 that names the field and what was expected."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlsitter.errors import DataError
from mlsitter.naming import stable_name

_NUMERIC = ("double", "float", "long", "integer")


class RequestSchemaError(DataError):
    """A request does not match the model's input schema; ``field`` names the offending field."""

    def __init__(self, message: str, field_name: str = "", index: int | None = None) -> None:
        super().__init__(message)
        self.field = field_name
        self.index = index


@stable_name("ml.serving.FieldSpec")
@dataclass(frozen=True)
class FieldSpec:
    """One input column: its name, MLflow type and whether a record must carry it."""

    name: str
    type: str
    required: bool = True


@stable_name("ml.serving.InputSchema")
@dataclass(frozen=True)
class InputSchema:
    """The ordered input columns of a model."""

    fields: tuple[FieldSpec, ...]
    names: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(f.name for f in self.fields))

    def describe(self) -> str:
        """``name:type`` for every field, as error messages list what was expected."""
        return ", ".join(f"{f.name}:{f.type}" + ("" if f.required else "?") for f in self.fields)

    def to_dict(self) -> list[dict[str, Any]]:
        return [{"name": f.name, "type": f.type, "required": f.required} for f in self.fields]


def read_schema(model_dir: str | Path) -> InputSchema:
    """The input schema in the ``MLmodel`` file of a logged model (its signature's column specs)."""
    import yaml

    path = Path(model_dir) / "MLmodel"
    if not path.is_file():
        raise DataError(f"{model_dir} holds no MLmodel file; expected an MLflow model directory")
    meta = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    inputs = (meta.get("signature") or {}).get("inputs")
    if not inputs:
        raise DataError(f"model at {model_dir} has no input signature; log it with an input example so requests "
                        "can be validated")
    specs = json.loads(inputs) if isinstance(inputs, str) else inputs
    fields = []
    for spec in specs:
        if "name" not in spec:
            raise DataError(f"model at {model_dir}: its signature has unnamed (tensor) inputs; a served model needs "
                            "named columns")
        fields.append(FieldSpec(str(spec["name"]), str(spec.get("type", "string")), bool(spec.get("required", True))))
    return InputSchema(tuple(fields))


def _check_value(spec: FieldSpec, value: Any, index: int) -> Any:
    """``value`` as the column type wants it; ``None`` for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    kind = spec.type
    where = f"record {index}: field {spec.name!r}"
    if kind in _NUMERIC:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RequestSchemaError(f"{where} must be a number ({kind}), got {type(value).__name__} {value!r}",
                                     spec.name, index)
        if kind in ("long", "integer") and isinstance(value, float) and not value.is_integer():
            raise RequestSchemaError(f"{where} must be a whole number ({kind}), got {value!r}", spec.name, index)
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise RequestSchemaError(f"{where} must be true or false, got {type(value).__name__} {value!r}",
                                     spec.name, index)
        return value
    if not isinstance(value, str):
        raise RequestSchemaError(f"{where} must be a string ({kind}), got {type(value).__name__} {value!r}",
                                 spec.name, index)
    return value


def validate_records(schema: InputSchema, records: list[Any]) -> tuple[list[tuple[Any, ...]], dict[str, int]]:
    """Each record as a row tuple in schema order, and the count of missing values per field.

    Raises :class:`RequestSchemaError` naming the first bad field: a required field that is absent, or a
    value of the wrong type. Fields the model does not take are ignored, as MLflow's schema enforcement
    does: a client sends the whole record, and a model trained on fewer columns still answers it (the
    prediction log keeps the whole record, so drift sees every column)."""
    rows: list[tuple[Any, ...]] = []
    missing: dict[str, int] = {}
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise RequestSchemaError(f"record {index} must be a JSON object of field values, got "
                                     f"{type(record).__name__}", "", index)
        row = []
        for spec in schema.fields:
            if spec.name not in record and spec.required:
                raise RequestSchemaError(f"record {index}: required field {spec.name!r} ({spec.type}) is missing; "
                                         f"the model expects {schema.describe()}", spec.name, index)
            value = _check_value(spec, record.get(spec.name), index)
            if value is None:
                missing[spec.name] = missing.get(spec.name, 0) + 1
            row.append(value)
        rows.append(tuple(row))
    return rows, missing


def rows_to_frame(schema: InputSchema, rows: list[tuple[Any, ...]]) -> Any:
    """A pandas DataFrame of validated rows with the column dtypes the model was trained on."""
    import numpy as np
    import pandas as pd

    columns: dict[str, Any] = {}
    for i, spec in enumerate(schema.fields):
        values = [r[i] for r in rows]
        if spec.type in ("double", "float"):
            columns[spec.name] = np.array([np.nan if v is None else v for v in values], dtype="float64")
        elif spec.type in ("long", "integer"):
            if any(v is None for v in values):
                columns[spec.name] = np.array([np.nan if v is None else v for v in values], dtype="float64")
            else:
                columns[spec.name] = np.array(values, dtype="int64" if spec.type == "long" else "int32")
        elif spec.type == "boolean":
            columns[spec.name] = pd.array(values, dtype="boolean")
        else:
            columns[spec.name] = np.array(values, dtype=object)
    return pd.DataFrame(columns, columns=list(schema.names))
