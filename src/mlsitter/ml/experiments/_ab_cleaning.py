"""Explicit cleaning of an A/B assignment/outcome table before any statistic is computed.

Every removal follows a named rule and is counted, so the report can say exactly what was dropped:
rows without a variant, rows whose served variant (exposure) disagrees with the assigned one, units
assigned to more than one variant (all their rows), and repeated rows of the same unit (first kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlsitter.errors import DataError, SpecError
from mlsitter.naming import ADDED_LATER, stable_name

METRIC_TYPES = ("auto", "binary", "count", "continuous")


@stable_name("ml.experiments.CleaningReport")
@dataclass
class CleaningReport:
    """Rows in, rows removed by each rule, rows out, and units per variant after cleaning."""

    rows_in: int
    rows_out: int
    removed: dict[str, int] = field(default_factory=dict)
    rules: dict[str, str] = field(default_factory=dict)
    units_per_variant: dict[str, int] = field(default_factory=dict)
    metric_types: dict[str, str] = field(default_factory=dict)
    label_map: dict[str, str] = field(default_factory=dict, metadata=ADDED_LATER)


def parse_variant_map(items: list[str] | dict[str, str] | None) -> dict[str, str]:
    """``['new_page=treatment', 'old_page=control']`` (or a mapping) -> {label in the data: variant label}."""
    if isinstance(items, dict):
        return {str(k): str(v) for k, v in items.items()}
    out: dict[str, str] = {}
    for item in items or []:
        raw, sep, name = (part.strip() for part in str(item).partition("="))
        if not sep or not raw or not name:
            raise SpecError(f"variant mapping {item!r} must look like 'new_page=treatment' (a label in the data = "
                            "the variant it stands for)")
        out[raw] = name
    return out


def relabel(values: pd.Series, label_map: dict[str, str]) -> pd.Series:
    """The column with the mapped labels replaced (others kept as written), as text."""
    return values.astype("string").replace(label_map)


def why_one_variant(report: CleaningReport, variant: str, exposure: str, pairs: list[tuple[str, str]]) -> str:
    """The reasons rows were dropped, for the error a table with fewer than two variants gets."""
    removed = ", ".join(f"{k} {v:,}" for k, v in report.removed.items() if v) or "none"
    hint = ""
    if report.removed.get("variant_exposure_mismatch") and pairs:
        shown = ", ".join(f"{a!r} assigned / {b!r} served" for a, b in pairs[:3])
        hint = (f"; the served labels in {exposure!r} differ from the assigned ones in {variant!r} (e.g. {shown}): "
                "map them with variants=, e.g. 'new_page=treatment,old_page=control'")
    return f"rows removed by rule: {removed}{hint}"


def infer_metric_type(values: pd.Series) -> str:
    """'binary' for 0/1 (or booleans), 'count' for other integers, 'continuous' otherwise."""
    if pd.api.types.is_bool_dtype(values):
        return "binary"
    arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
    if bool(np.all((arr == 0) | (arr == 1) | np.isnan(arr))):  # one vectorised pass, no hashing of 10M values
        return "binary"
    if pd.api.types.is_integer_dtype(values):
        return "count"
    return "continuous"


def check_table(frame: pd.DataFrame, *, unit: str, variant: str, metrics: list[str],
                metric_types: dict[str, str] | None = None) -> dict[str, str]:
    """Raise DataError for a table no readout can use; return each metric's type."""
    missing = [c for c in [variant, unit, *metrics] if c and c not in frame.columns]
    if missing:
        raise DataError(
            f"A/B table lacks column(s) {missing}; its columns are {list(frame.columns)}. "
            "Expected one row per unit with the unit id, the assigned variant and the metric columns "
            "(name them with the unit/variant/metric inputs)."
        )
    if len(frame) == 0:
        raise DataError("A/B table has no rows")
    types: dict[str, str] = {}
    for m in metrics:
        wanted = (metric_types or {}).get(m, "auto")
        if wanted not in METRIC_TYPES:
            raise SpecError(f"metric type for {m!r} must be one of {METRIC_TYPES}; got {wanted!r}")
        col = frame[m]
        if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            raise DataError(f"metric column {m!r} must be numeric; it has dtype {col.dtype} (e.g. {col.dropna().iloc[:3].tolist()})")
        inferred = infer_metric_type(col) if wanted in ("auto", "binary") else None
        kind = inferred if wanted == "auto" else wanted
        if kind == "count" or (kind == "binary" and inferred != "binary"):  # 0/1 columns cannot be negative
            negative = int(np.count_nonzero(col.to_numpy() < 0))
            if negative:
                raise DataError(
                    f"metric column {m!r} is a {kind} metric but has negative counts in {negative:,} row(s) "
                    f"(minimum {col.min()}); counts must be >= 0. Fix the data, or pass metric type 'continuous' "
                    "if negative values are valid."
                )
        if kind == "binary" and inferred != "binary":
            raise DataError(f"metric column {m!r} was declared binary but holds values other than 0/1")
        types[m] = kind
    return types


def has_repeats(units: pd.Series) -> bool:
    """Whether any unit id occurs twice; dense integer ids are counted without hashing."""
    if pd.api.types.is_integer_dtype(units) and len(units):
        ids = units.to_numpy()
        low, high = int(ids.min()), int(ids.max())
        if high - low <= 4 * len(ids):
            return bool(np.bincount(ids - low).max() > 1)
    return bool(units.duplicated().any())


def clean_assignments(
    frame: pd.DataFrame, *, unit: str, variant: str, metrics: list[str], exposure: str = "",
    metric_types: dict[str, str] | None = None, label_map: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, CleaningReport]:
    """Apply the cleaning rules in order and count what each removed; needs >= 2 variants left.

    ``label_map`` renames labels of the variant and exposure columns first (``{'new_page': 'treatment'}``), so a
    served page and an assigned group compare as the same variant."""
    types = check_table(frame, unit=unit, variant=variant, metrics=metrics, metric_types=metric_types)
    if exposure and exposure not in frame.columns:
        raise DataError(f"exposure column {exposure!r} is not in the A/B table; its columns are {list(frame.columns)}")
    label_map = dict(label_map or {})
    if label_map:
        frame = frame.assign(**{c: relabel(frame[c], label_map) for c in dict.fromkeys([variant, exposure]) if c})
    report = CleaningReport(rows_in=len(frame), rows_out=0, metric_types=types, label_map=label_map)
    pairs: list[tuple[str, str]] = []
    vcodes, vlabels = pd.factorize(frame[variant])  # one hashing pass: -1 marks a missing variant
    keep = vcodes >= 0
    report.removed["missing_variant"] = int((~keep).sum())
    report.rules["missing_variant"] = "rows with no assigned variant are removed"
    if exposure:
        served = frame[exposure].astype("string")
        disagree = keep & served.notna().to_numpy() & (served != frame[variant].astype("string")).fillna(False).to_numpy()
        report.removed["variant_exposure_mismatch"] = int(disagree.sum())
        if disagree.any():
            seen = pd.DataFrame({"a": frame[variant].astype("string")[disagree], "b": served[disagree]}).drop_duplicates()
            pairs = [(str(a), str(b)) for a, b in seen.head(3).itertuples(index=False)]
        report.rules["variant_exposure_mismatch"] = f"rows whose served variant ({exposure}) differs from the assigned one are removed"
        keep &= ~disagree
    if unit:
        rows = None if keep.all() else np.flatnonzero(keep)
        units = frame[unit] if rows is None else frame[unit].iloc[rows]
        vsub = vcodes if rows is None else vcodes[rows]
        mixed = dup = 0
        if not has_repeats(units):
            codes = None
        else:
            codes, uniques = pd.factorize(units)
        if codes is not None:
            first_v = np.full(len(uniques), -1)
            first_v[codes[::-1]] = vsub[::-1]  # variant of each unit's first row
            mixed_unit = np.zeros(len(uniques), dtype=bool)
            np.logical_or.at(mixed_unit, codes, vsub != first_v[codes])
            mixed_rows = mixed_unit[codes]
            dup_rows = pd.Series(codes).duplicated().to_numpy() & ~mixed_rows
            mixed, dup = int(mixed_rows.sum()), int(dup_rows.sum())
            drop = mixed_rows | dup_rows
            keep[drop.nonzero()[0] if rows is None else rows[drop]] = False
        report.removed["unit_in_several_variants"] = mixed
        report.removed["duplicate_unit_rows"] = dup
        report.rules["unit_in_several_variants"] = "all rows of a unit assigned to more than one variant are removed"
        report.rules["duplicate_unit_rows"] = "repeated rows of a unit in one variant: the first is kept"
    missing_metric = keep & frame[metrics].isna().any(axis=1).to_numpy()
    report.removed["missing_metric"] = int(missing_metric.sum())
    report.rules["missing_metric"] = "rows with a missing metric value are removed"
    keep &= ~missing_metric
    per_variant = np.bincount(vcodes[keep] if not keep.all() else vcodes, minlength=len(vlabels))
    counts = {str(label): int(n) for label, n in zip(vlabels, per_variant) if n > 0}
    if len(counts) < 2:
        raise DataError(
            f"A/B table has only one variant after cleaning ({counts or 'no rows left'}); "
            f"expected at least two values in column {variant!r} (a control and a treatment); "
            + why_one_variant(report, variant, exposure, pairs)
        )
    data = frame if keep.all() else frame.loc[keep]
    report.rows_out = len(data)
    report.units_per_variant = dict(sorted(counts.items()))
    if not (pd.api.types.is_object_dtype(data[variant]) or pd.api.types.is_string_dtype(data[variant])):
        data = data.assign(**{variant: data[variant].astype(str)})
    return data, report
