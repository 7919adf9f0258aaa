"""Is the data there for the project? Rows, target, label balance, time span, PII and sensitive columns.

Produces a 0-100 availability score with the reason for every point lost, so the scoping gate
compares a measured number and the charter records why.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import pandas as pd

from mlsitter.errors import DataError
from mlsitter.ml.data._pii import PiiFinding, find_pii_columns
from mlsitter.ml.modeling._problem_type import ProblemType, infer_problem_type
from mlsitter.naming import ADDED_LATER, stable_name

SENSITIVE_HINTS = ("sex", "gender", "race", "ethnic", "religion", "marital", "age", "nationality",
                   "native-country", "native_country", "country", "disability", "pregnan", "orientation")
# A class-conditional rate (recall, precision) estimated from n rows has standard error
# sqrt(p(1-p)/n) <= 0.05 once n >= 100: the rows per class a metric needs to be measured usefully.
ROWS_PER_CLASS_NEEDED = 100


@stable_name("scoping.DataAvailability")
@dataclass
class DataAvailability:
    """What the data offers for the brief, with a score and its reasons."""

    rows: int
    columns: int
    target: str
    target_dtype: str
    problem: ProblemType
    target_missing: int
    class_counts: dict[str, int]
    minority_rows: int
    rows_per_class_needed: int
    target_summary: dict[str, float]
    missing_cell_share: float
    time_column: str
    time_start: str
    time_end: str
    time_span_days: float
    pii: list[PiiFinding]
    sensitive_attributes: list[str]
    sensitive_missing: list[str]
    score: float
    reasons: list[str] = field(default_factory=list)
    sensitive_candidates: list[SensitiveCandidate] = field(default_factory=list, metadata=ADDED_LATER)


def sensitive_columns(frame: pd.DataFrame, declared: list[str]) -> list[str]:
    """Declared fairness attributes present in the data, columns whose name says they are sensitive, and
    columns whose values do (``M``/``F``, ``male``/``female`` under any name)."""
    found = [c for c in declared if c in frame.columns]
    for column in frame.columns:
        tokens = re.split(r"[^a-z]+", str(column).lower())
        named = any(h in tokens or (len(h) > 4 and h in str(column).lower()) for h in SENSITIVE_HINTS)
        if (named or _sex_values(frame[column])) and column not in found:
            found.append(str(column))
    return found


#: values that spell sex or gender whatever the column is called
SEX_VALUES = {"m", "f", "male", "female", "man", "woman", "men", "women", "boy", "girl", "non-binary", "other"}
#: a column with at most this many distinct values may code a group (sex as 1/2, race as 1..5)
MAX_CODED_GROUPS = 10


def _sex_values(column: pd.Series) -> bool:
    values = column.dropna()
    if len(values) == 0 or pd.api.types.is_numeric_dtype(values) or values.nunique() > 4:
        return False
    words = {str(v).strip().lower() for v in values.unique()}
    return len(words) >= 2 and words <= SEX_VALUES


@stable_name("scoping.SensitiveCandidate")
@dataclass
class SensitiveCandidate:
    """A column that may code a sensitive attribute although its name does not say so, and why."""

    column: str
    evidence: str


def sensitive_candidates(frame: pd.DataFrame, found: list[str], skip: list[str]) -> list[SensitiveCandidate]:
    """Coded columns that could hold a protected group: two-valued codes (sex as 1/2), integers in the range
    of ages in years, and any other low-cardinality column, most telling first."""
    binary, ages, coded = [], [], []
    for name in frame.columns:
        column = str(name)
        values = frame[name].dropna()
        if column in found or column in skip or len(values) == 0 or pd.api.types.is_bool_dtype(values):
            continue
        distinct = values.nunique()
        shown = ", ".join(str(v) for v in sorted(values.unique().tolist(), key=str)[:6])
        if distinct == 2:
            binary.append(SensitiveCandidate(column, f"2 coded values ({shown}), as sex or gender is often coded"))
        elif 2 < distinct <= MAX_CODED_GROUPS:
            coded.append(SensitiveCandidate(column, f"{distinct} coded values ({shown}), as a group such as race, "
                                                    "education or marital status is often coded"))
        elif pd.api.types.is_numeric_dtype(values) and bool((values % 1 == 0).all()) and 15 <= values.min() \
                and values.max() <= 100:
            ages.append(SensitiveCandidate(column, f"whole numbers {values.min():g}..{values.max():g}, the range of "
                                                   "ages in years"))
    return binary + ages + coded


def assess_availability(frame: pd.DataFrame, target: str, task: str | None = None,
                        positive_class: str | None = None, time_column: str = "",
                        fairness_attributes: list[str] | None = None) -> DataAvailability:
    """Measure the data against the brief; a missing target or time column is a DataError."""
    if target not in frame.columns:
        raise DataError(f"target column {target!r} is not in the data; its columns are {list(frame.columns)}")
    if time_column and time_column not in frame.columns:
        raise DataError(f"time column {time_column!r} is not in the data; its columns are {list(frame.columns)}")
    declared = list(fairness_attributes or [])
    y = frame[target]
    problem = infer_problem_type(y, task=task, positive_class=positive_class)
    reasons: list[str] = []
    score = 100.0
    rows = len(frame)
    if rows < 10_000:
        lost = min(30.0, 30.0 * (1 - math.log10(max(rows, 10)) / 4))
        score -= lost
        reasons.append(f"{rows:,} rows (< 10,000): -{lost:.1f}")
    missing_target = int(y.isna().sum())
    if missing_target:
        lost = min(20.0, 100.0 * missing_target / rows)
        score -= lost
        reasons.append(f"{missing_target:,} rows without a target: -{lost:.1f}")
    counts: dict[str, int] = {}
    summary: dict[str, float] = {}
    minority = 0
    if problem.task == "classification":
        counts = {str(k): int(v) for k, v in y.dropna().astype(str).value_counts().items()}
        minority = min(counts.values())
        if minority < ROWS_PER_CLASS_NEEDED:
            lost = 25.0 * (1 - minority / ROWS_PER_CLASS_NEEDED)
            score -= lost
            reasons.append(f"smallest class has {minority} rows (< {ROWS_PER_CLASS_NEEDED} needed to measure "
                           f"the metric per class): -{lost:.1f}")
        share = minority / max(sum(counts.values()), 1)
        if share < 0.05:
            score -= 10.0
            reasons.append(f"smallest class is {share:.1%} of rows (< 5%): -10.0")
    else:
        values = y.dropna().astype(float)
        summary = {"mean": float(values.mean()), "std": float(values.std()), "min": float(values.min()),
                   "median": float(values.median()), "max": float(values.max())}
        if values.nunique() < 10:
            score -= 15.0
            reasons.append(f"regression target has only {values.nunique()} distinct values: -15.0")
    features = frame.drop(columns=[target])
    missing_share = float(features.isna().to_numpy().mean()) if features.size else 0.0
    if missing_share > 0.05:
        lost = min(15.0, 50.0 * missing_share)
        score -= lost
        reasons.append(f"{missing_share:.1%} of feature cells are missing: -{lost:.1f}")
    start = end = ""
    span = float("nan")
    if time_column:
        times = pd.to_datetime(frame[time_column], errors="coerce")
        if times.notna().sum() == 0:
            raise DataError(f"time column {time_column!r} has no values that parse as dates")
        start, end = str(times.min()), str(times.max())
        span = float((times.max() - times.min()).total_seconds() / 86400)
    pii = find_pii_columns(features)
    if pii:
        score -= min(10.0, 2.0 * len(pii))
        reasons.append(f"{len(pii)} column(s) look like personal data {[p.column for p in pii]}: "
                       f"-{min(10.0, 2.0 * len(pii)):.1f}")
    sensitive = sensitive_columns(features, declared)
    candidates = sensitive_candidates(features, sensitive, [p.column for p in pii])
    sensitive_missing = [c for c in declared if c not in frame.columns]
    if sensitive_missing:
        score -= 10.0
        reasons.append(f"declared fairness attribute(s) {sensitive_missing} are not in the data, so fairness "
                       "cannot be measured: -10.0")
    if not reasons:
        reasons.append("no deductions: enough rows, a complete target and enough rows per class")
    return DataAvailability(
        rows=rows, columns=frame.shape[1], target=target, target_dtype=str(y.dtype), problem=problem,
        target_missing=missing_target, class_counts=counts, minority_rows=minority,
        rows_per_class_needed=ROWS_PER_CLASS_NEEDED, target_summary=summary, missing_cell_share=missing_share,
        time_column=time_column, time_start=start, time_end=end, time_span_days=span, pii=pii,
        sensitive_attributes=sensitive, sensitive_missing=sensitive_missing, score=round(max(score, 0.0), 2),
        reasons=reasons, sensitive_candidates=candidates,
    )
