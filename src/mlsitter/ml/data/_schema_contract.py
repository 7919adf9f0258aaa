"""Schema contracts with pandera: infer one from data, save it as an editable YAML/JSON file, load
it, diff new data against it (added/removed columns, type changes, new categories), enforce it
(every failing row with the check it failed), and update it after a change is approved.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError, SchemaErrors

from mlsitter.errors import SpecError
from mlsitter.naming import stable_name

_STRING_DTYPE = "str"


@stable_name("ml.data.SchemaDiff")
@dataclass
class SchemaDiff:
    """How new data differs from the contract; ``has_changes`` means a person must decide."""

    added_columns: list[str] = field(default_factory=list)
    removed_columns: list[str] = field(default_factory=list)
    type_changes: list[dict[str, str]] = field(default_factory=list)
    new_categories: dict[str, list[str]] = field(default_factory=dict)

    @property
    def has_changes(self) -> bool:
        return bool(self.added_columns or self.removed_columns or self.type_changes or self.new_categories)

    def lines(self) -> list[str]:
        """Human-readable diff, one change per line (+ added, - removed, ~ changed)."""
        out = [f"+ column {c}" for c in self.added_columns]
        out += [f"- column {c}" for c in self.removed_columns]
        out += [f"~ {t['column']}: type {t['contract']} -> {t['data']}" for t in self.type_changes]
        out += [f"~ {c}: new categories {', '.join(map(repr, v[:10]))}" + (f" (+{len(v) - 10} more)" if len(v) > 10 else "")
                for c, v in self.new_categories.items()]
        return out


@stable_name("ml.data.ContractViolations")
@dataclass
class ContractViolations:
    """Result of enforcing a contract: per-row failures and column-level problems."""

    rows_checked: int
    failing_rows: int
    checks_run: int
    by_check: list[dict[str, Any]]
    row_reasons: dict[int, list[str]]
    column_problems: list[str] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)


def dtype_name(series: pd.Series) -> str:
    """The dtype a contract records: pandas' name, with text columns as 'str'."""
    if series.dtype == object or str(series.dtype) in ("string", "str"):
        return _STRING_DTYPE
    return str(series.dtype)


def infer_contract(
    frame: pd.DataFrame,
    *,
    name: str = "dataset",
    max_categories: int = 50,
    category_share: float = 0.5,
    keys: Sequence[str] = (),
) -> pa.DataFrameSchema:
    """A pandera schema from data: dtype, nullability, numeric ranges, allowed categories, uniqueness.

    Text/boolean columns with at most ``max_categories`` distinct values (and fewer than
    ``category_share`` of the rows) get an ``isin`` check; ``keys`` and integer/text columns that are
    unique on more than 50 rows get ``unique``.
    """
    columns: dict[str, pa.Column] = {}
    n = len(frame)
    for col in frame.columns:
        s = frame[col]
        dtype = dtype_name(s)
        checks: list[pa.Check] = []
        non_null = s.dropna()
        distinct = int(non_null.nunique())
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) and len(non_null):
            lo, hi = non_null.min(), non_null.max()
            checks.append(pa.Check.in_range(_plain(lo), _plain(hi)))
        elif (dtype == _STRING_DTYPE or pd.api.types.is_bool_dtype(s)) and 0 < distinct <= max_categories and distinct < max(2, category_share * n):
            checks.append(pa.Check.isin(sorted(_plain(v) for v in non_null.unique())))
        unique = str(col) in keys or (
            n > 50 and distinct == n and (dtype == _STRING_DTYPE or pd.api.types.is_integer_dtype(s))
            and not pd.api.types.is_bool_dtype(s)
        )
        columns[str(col)] = pa.Column(dtype, checks=checks, nullable=bool(s.isna().any()), unique=unique, required=True)
    return pa.DataFrameSchema(columns, name=name, strict=False, coerce=False)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def save_contract(schema: pa.DataFrameSchema, path: str | Path) -> Path:
    """Write the contract as YAML (``.yaml``/``.yml``) or JSON (``.json``) so people can read, edit and commit it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = schema.to_json(indent=2) if target.suffix.lower() == ".json" else schema.to_yaml()
    target.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    return target


def load_contract(path: str | Path) -> pa.DataFrameSchema:
    """Read a contract file; a malformed one raises SpecError naming the file."""
    source = Path(path)
    if not source.is_file():
        raise SpecError(f"contract {str(source)!r} does not exist; give an existing pandera YAML/JSON file or a new path to create one")
    raw = source.read_bytes()
    expected = "expected a pandera schema as YAML or JSON text (the file data-validation writes on a first run)"
    if b"\x00" in raw:
        raise SpecError(f"contract {str(source)!r} is a binary file (NUL byte at offset {raw.index(0)}); {expected}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"contract {str(source)!r} is not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start}); {expected}") from exc
    try:
        schema = pa.DataFrameSchema.from_json(text) if source.suffix.lower() == ".json" else pa.DataFrameSchema.from_yaml(text)
    except Exception as exc:
        raise SpecError(f"contract {str(source)!r} is not a valid pandera schema file: {exc}") from exc
    if not schema.columns:
        raise SpecError(f"contract {str(source)!r} declares no columns, so it would accept any data; {expected}, "
                        "with a 'columns:' mapping of each column to its dtype and checks")
    return schema


def contract_hash(schema: pa.DataFrameSchema) -> str:
    """sha256 of the contract's canonical YAML (what the manifest records as the schema hash)."""
    return hashlib.sha256(schema.to_yaml().encode("utf-8")).hexdigest()


def _allowed(column: pa.Column) -> list[Any] | None:
    for check in column.checks:
        stats = getattr(check, "statistics", None) or {}
        if check.name == "isin" and "allowed_values" in stats:
            return list(stats["allowed_values"])
    return None


def diff_contract(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> SchemaDiff:
    """Structural differences between a contract and new data."""
    diff = SchemaDiff()
    contract_cols = list(schema.columns)
    diff.added_columns = [str(c) for c in frame.columns if str(c) not in schema.columns]
    diff.removed_columns = [c for c in contract_cols if c not in frame.columns]
    for name, column in schema.columns.items():
        if name not in frame.columns:
            continue
        expected = str(column.dtype) if column.dtype is not None else None
        actual = dtype_name(frame[name])
        if expected is not None and _norm(expected) != _norm(actual) and not (frame[name].isna().all()):
            diff.type_changes.append({"column": name, "contract": expected, "data": actual})
            continue
        allowed = _allowed(column)
        if allowed is not None:
            values = pd.Series(frame[name].dropna().unique())
            new = values[~values.isin(allowed)]
            if len(new):
                diff.new_categories[name] = sorted(str(v) for v in new)
    return diff


def _norm(dtype: str) -> str:
    lowered = dtype.lower()
    if lowered.startswith("datetime64[") and "," not in lowered:  # pandera records naive datetimes as [ns]
        return "datetime64[ns]"
    return {"object": _STRING_DTYPE, "string": _STRING_DTYPE, "str": _STRING_DTYPE}.get(lowered, lowered)


def update_contract(schema: pa.DataFrameSchema, frame: pd.DataFrame, diff: SchemaDiff, **infer_options: Any) -> pa.DataFrameSchema:
    """The contract after accepting ``diff``: new columns inferred, removed ones dropped, types and categories widened."""
    fresh = infer_contract(frame, name=schema.name or "dataset", **infer_options)
    columns = dict(schema.columns)
    for name in diff.removed_columns:
        columns.pop(name, None)
    for name in diff.added_columns:
        columns[name] = fresh.columns[name]
    for change in diff.type_changes:
        columns[change["column"]] = fresh.columns[change["column"]]
    for name, values in diff.new_categories.items():
        column = columns[name]
        allowed = sorted(set(_allowed(column) or []) | set(values), key=str)
        checks = [c for c in column.checks if c.name != "isin"] + [pa.Check.isin(allowed)]
        columns[name] = column.set_checks(checks)
    return schema.__class__(columns, name=schema.name, strict=schema.strict, coerce=schema.coerce)


def enforce_contract(schema: pa.DataFrameSchema, frame: pd.DataFrame, examples: int = 10, *, engine: str = "auto") -> ContractViolations:
    """Check every row against the contract; rows that fail get the failed checks as reasons.

    ``engine="auto"`` compiles the contract's built-in checks (dtype, nullability, uniqueness,
    ranges, comparisons, sets, string patterns/lengths) to vectorised masks, and falls back to
    pandera's own lazy validation when a contract holds a check it cannot compile (custom checks,
    dataframe-level checks, coercion). ``engine="pandera"`` always uses pandera. Both give the same
    failing rows and reasons.
    """
    if not isinstance(frame.index, pd.RangeIndex) or frame.index.start != 0 or frame.index.step != 1:
        frame = frame.reset_index(drop=True)
    if engine == "auto" and _compilable(schema):
        return _enforce_compiled(schema, frame, examples)
    return _enforce_pandera(schema, frame, examples)


_COMPILED = {"in_range", "isin", "notin", "greater_than", "greater_than_or_equal_to", "less_than", "less_than_or_equal_to",
             "equal_to", "not_equal_to", "str_matches", "str_contains", "str_startswith", "str_endswith", "str_length"}


def _compilable(schema: pa.DataFrameSchema) -> bool:
    if schema.checks or schema.coerce or schema.index is not None or schema.unique:
        return False
    for column in schema.columns.values():
        if column.coerce or column.regex or getattr(column, "parsers", None):
            return False
        if any(check.name not in _COMPILED or getattr(check, "groupby", None) or not getattr(check, "ignore_na", True)
               for check in column.checks):
            return False
    return True


def _check_mask(check: pa.Check, series: pd.Series) -> "np.ndarray":
    """Boolean array, True where the check passes (missing values pass, as in pandera's ignore_na)."""
    import numpy as np

    st = check.statistics or {}
    name = check.name
    if name == "in_range":
        lo = (series >= st["min_value"]) if st.get("include_min", True) else (series > st["min_value"])
        hi = (series <= st["max_value"]) if st.get("include_max", True) else (series < st["max_value"])
        ok = lo & hi
    elif name == "isin":
        ok = series.isin(list(st["allowed_values"]))
    elif name == "notin":
        ok = ~series.isin(list(st["forbidden_values"]))
    elif name == "greater_than":
        ok = series > st["min_value"]
    elif name == "greater_than_or_equal_to":
        ok = series >= st["min_value"]
    elif name == "less_than":
        ok = series < st["max_value"]
    elif name == "less_than_or_equal_to":
        ok = series <= st["max_value"]
    elif name == "equal_to":
        ok = series == st["value"]
    elif name == "not_equal_to":
        ok = series != st["value"]
    elif name == "str_matches":
        ok = series.str.match(st["pattern"])
    elif name == "str_contains":
        ok = series.str.contains(st["pattern"], regex=True)
    elif name == "str_startswith":
        ok = series.str.startswith(st["string"])
    elif name == "str_endswith":
        ok = series.str.endswith(st["string"])
    else:  # str_length
        length = series.str.len()
        if st.get("exact_value") is not None:
            ok = length == st["exact_value"]
        else:
            ok = pd.Series(True, index=series.index)
            if st.get("min_value") is not None:
                ok = ok & (length >= st["min_value"])
            if st.get("max_value") is not None:
                ok = ok & (length <= st["max_value"])
    return np.asarray(ok.fillna(True), dtype=bool) | np.asarray(series.isna())


def _enforce_compiled(schema: pa.DataFrameSchema, frame: pd.DataFrame, examples: int) -> ContractViolations:
    """The contract's built-in checks as vectorised pandas/numpy masks on the frame itself (no copy)."""
    import numpy as np

    present = [name for name in schema.columns if name in frame.columns]
    column_problems = [f"{name}: column_in_dataframe ({name})" for name, c in schema.columns.items()
                       if name not in frame.columns and c.required]
    by_check: list[dict[str, Any]] = []
    row_reasons: dict[int, list[str]] = {}
    checks_run = 0
    for name in present:
        column = schema.columns[name]
        series = frame[name]
        checks_run += len(column.checks) + int(column.unique) + int(not column.nullable) + 1
        expected = str(column.dtype) if column.dtype is not None else None
        actual = dtype_name(series)
        if expected is not None and _norm(expected) != _norm(actual):
            column_problems.append(f"{name}: dtype('{expected}') ({actual})")
            by_check.append({"column": name, "check": f"dtype('{expected}')", "failing_rows": 0, "examples": actual})
            continue
        masks: list[tuple[str, np.ndarray]] = []
        if not column.nullable:
            masks.append(("not_nullable", ~np.asarray(series.isna())))
        if column.unique:
            masks.append(("field_uniqueness", ~np.asarray(series.duplicated(keep=False)) | np.asarray(series.isna())))
        for check in column.checks:
            masks.append((check.error or check.name, _check_mask(check, series)))
        for label, passed in masks:
            failing = np.flatnonzero(~passed)
            if failing.size == 0:
                continue
            reason = f"{name}: {_check_label(label)}"
            for row in failing.tolist():
                row_reasons.setdefault(row, []).append(reason)
            values = series.iloc[failing[:5]].tolist()
            by_check.append({"column": name, "check": label, "failing_rows": int(failing.size), "examples": ", ".join(str(v) for v in values)})
    sample = [{"row": i, "reasons": "; ".join(r)} for i, r in list(row_reasons.items())[:examples]]
    return ContractViolations(len(frame), len(row_reasons), checks_run, by_check, row_reasons, column_problems, sample)


def _enforce_pandera(schema: pa.DataFrameSchema, frame: pd.DataFrame, examples: int) -> ContractViolations:
    checks_run = sum(len(c.checks) + int(c.unique) + int(not c.nullable) + 1 for c in schema.columns.values() if c.name in frame.columns)
    try:
        schema.validate(frame, lazy=True)
        return ContractViolations(len(frame), 0, checks_run, [], {})
    except SchemaErrors as exc:
        cases = exc.failure_cases
    except SchemaError as exc:  # a non-lazy failure (e.g. a dataframe-level problem)
        return ContractViolations(len(frame), 0, checks_run, [], {}, column_problems=[str(exc).splitlines()[0]])
    row_reasons: dict[int, list[str]] = {}
    column_problems: list[str] = []
    by_check: list[dict[str, Any]] = []
    cases = cases.copy()
    cases["column"] = cases["column"].astype(str)
    cases["check"] = cases["check"].astype(str)
    for (column, check), group in cases.groupby(["column", "check"], sort=False, dropna=False):
        indexed = group[group["index"].notna()]
        if indexed.empty:
            detail = ", ".join(str(v) for v in group["failure_case"].head(3))
            column_problems.append(f"{column}: {check} ({detail})")
            by_check.append({"column": column, "check": check, "failing_rows": 0, "examples": detail})
            continue
        reason = f"{column}: {_check_label(check)}"
        idx = indexed["index"].astype(int).to_numpy()
        for i in idx:
            row_reasons.setdefault(int(i), []).append(reason)
        by_check.append({"column": column, "check": check, "failing_rows": int(len(set(idx.tolist()))),
                         "examples": ", ".join(str(v) for v in indexed["failure_case"].head(5))})
    sample = [{"row": i, "reasons": "; ".join(r)} for i, r in list(row_reasons.items())[:examples]]
    return ContractViolations(len(frame), len(row_reasons), checks_run, by_check, row_reasons, column_problems, sample)


def _check_label(check: str) -> str:
    return {"not_nullable": "missing value where the contract forbids it", "field_uniqueness": "duplicate value in a unique column"}.get(check, check)
