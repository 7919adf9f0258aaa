"""Identifier columns: a unique value per row (a customer number, a row counter, a UUID) names a row
rather than describing it, so a model that takes it learns the row order or memorises rows.

One rule, shared by every process that builds features without a charter (``training``, ``automl``):
a column is an identifier when all its (non-missing) values are distinct and it is text, or integers
that either count rows (1..n in some order) or carry an identifier's name (``id``, ``*_id``, ``key``).
A unique float column is a measurement, not an identifier, and is never flagged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from mlsitter.naming import stable_name

#: fewer non-missing rows than this say nothing about uniqueness
MIN_ROWS = 20
_ID_NAME = re.compile(r"(^|[^a-z])(id|ids|uuid|guid|key|index|idx|no|number|code)$|^(id|uuid|guid)([^a-z]|$)|[a-z]Id$")


@stable_name("ml.data.IdentifierColumn")
@dataclass
class IdentifierColumn:
    """A column found to identify rows, and why."""

    column: str
    evidence: str


def looks_like_id_name(column: str) -> bool:
    """True for names such as ``ID``, ``customer_id``, ``CustomerId``, ``order-no``, ``row_index``."""
    return bool(_ID_NAME.search(column) or _ID_NAME.search(column.lower()))


def find_identifiers(frame: pd.DataFrame, *, exclude: tuple[str, ...] | list[str] = ()) -> list[IdentifierColumn]:
    """Columns of ``frame`` (other than ``exclude``) holding a distinct value on every row, by the rule above."""
    found: list[IdentifierColumn] = []
    for name in frame.columns:
        column = str(name)
        if column in exclude:
            continue
        values = frame[name].dropna()
        n = len(values)
        if n < MIN_ROWS or pd.api.types.is_bool_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
            continue
        if values.nunique() != n:
            continue
        if pd.api.types.is_integer_dtype(values):
            counter = int(values.max()) - int(values.min()) == n - 1
            if counter:
                found.append(IdentifierColumn(column, f"all {n:,} values distinct, consecutive integers "
                                                      f"{int(values.min())}..{int(values.max())} (a row counter)"))
            elif looks_like_id_name(column):
                found.append(IdentifierColumn(column, f"all {n:,} values distinct integers, named like an identifier"))
        elif pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):
            found.append(IdentifierColumn(column, f"all {n:,} values distinct text (a key, not a category)"))
    return found
