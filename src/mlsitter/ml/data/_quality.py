"""Data-quality dimensions, each a measured 0-100 score with failing rows counted and sampled:
completeness, validity (contract checks), consistency (declared cross-column rules), uniqueness
(keys and duplicate rows) and timeliness (freshness vs an SLA, gaps in a time series).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
import polars as pl

from mlsitter.errors import SpecError
from mlsitter.ml.io._frames import as_polars
from mlsitter.ml.data._schema_contract import ContractViolations
from mlsitter.ml.io._timeseries import TimeGaps, time_gaps, timestamp_series
from mlsitter.naming import stable_name

_RULE = re.compile(r"^(.+?)\s*(<=|>=|==|!=|<|>)\s*(.+)$")
_TOKEN = re.compile(r"\s*(`[^`]+`|[A-Za-z_][\w.\-]*|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|[+\-*/()])")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|seconds?|m|min|minutes?|h|hours?|d|days?|w|weeks?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@stable_name("ml.data.DimensionScore")
@dataclass
class DimensionScore:
    """One quality dimension: score 0-100, what was checked, how many rows failed, and examples."""

    name: str
    score: float
    checked: int
    failing: int
    summary: str
    examples: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


@stable_name("ml.data.QualityAssessment")
@dataclass
class QualityAssessment:
    """All measured dimensions, the overall score, and the reasons each failing row is quarantined."""

    dimensions: list[DimensionScore]
    overall: float
    row_reasons: dict[int, list[str]]

    def dimension(self, name: str) -> DimensionScore | None:
        return next((d for d in self.dimensions if d.name == name), None)


# -- consistency rules --------------------------------------------------------------------------------
def parse_rule(rule: str, columns: Sequence[str]) -> pl.Expr:
    """A rule ``expr OP expr`` (OP: <= < >= > == !=; expr: columns, numbers, + - * / and parentheses).

    Column names with spaces or operators go in backticks. Unknown names raise SpecError.
    """
    match = _RULE.match(rule.strip())
    if not match:
        raise SpecError(f"rule {rule!r}: expected 'left OP right' with OP one of <= < >= > == !=, e.g. 'start <= end'")
    left, op, right = match.groups()
    lhs, rhs = _arith(left, columns, rule), _arith(right, columns, rule)
    if op == "==":  # floating-point sums: equal within a relative 1e-9
        return ((lhs - rhs).abs() <= 1e-9 * (lhs.abs() + rhs.abs() + 1.0))
    return {"<=": lhs <= rhs, "<": lhs < rhs, ">=": lhs >= rhs, ">": lhs > rhs, "!=": lhs != rhs}[op]


def _arith(text: str, columns: Sequence[str], rule: str) -> pl.Expr:
    tokens: list[str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise SpecError(f"rule {rule!r}: cannot read {text[pos:]!r}; use column names, numbers, + - * / and parentheses")
        tokens.append(m.group(1))
        pos = m.end()
    out, rest = _expr(tokens, columns, rule)
    if rest:
        raise SpecError(f"rule {rule!r}: unexpected {' '.join(rest)!r}")
    return out


def _expr(tokens: list[str], columns: Sequence[str], rule: str) -> tuple[pl.Expr, list[str]]:
    value, tokens = _term(tokens, columns, rule)
    while tokens and tokens[0] in "+-":
        op, (rhs, tokens) = tokens[0], _term(tokens[1:], columns, rule)
        value = value + rhs if op == "+" else value - rhs
    return value, tokens


def _term(tokens: list[str], columns: Sequence[str], rule: str) -> tuple[pl.Expr, list[str]]:
    value, tokens = _atom(tokens, columns, rule)
    while tokens and tokens[0] in "*/":
        op, (rhs, tokens) = tokens[0], _atom(tokens[1:], columns, rule)
        value = value * rhs if op == "*" else value / rhs
    return value, tokens


def _atom(tokens: list[str], columns: Sequence[str], rule: str) -> tuple[pl.Expr, list[str]]:
    if not tokens:
        raise SpecError(f"rule {rule!r}: an operand is missing")
    head, rest = tokens[0], tokens[1:]
    if head == "(":
        value, rest = _expr(rest, columns, rule)
        if not rest or rest[0] != ")":
            raise SpecError(f"rule {rule!r}: a ')' is missing")
        return value, rest[1:]
    if head == "-":
        value, rest = _atom(rest, columns, rule)
        return -value, rest
    if re.fullmatch(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", head):
        return pl.lit(float(head)), rest
    name = head.strip("`")
    if name not in columns:
        raise SpecError(f"rule {rule!r}: column {name!r} is not in the data; columns: {', '.join(list(columns)[:30])}")
    return _as_number(name), rest


def _as_number(name: str) -> pl.Expr:
    return pl.col(name)  # the frame a rule runs on has every column cast to Float64 already


def _comparable(frame: pl.DataFrame, name: str) -> pl.Expr:
    dtype = frame.schema[name]
    if isinstance(dtype, (pl.Datetime, pl.Date)):
        return pl.col(name).cast(pl.Datetime("us")).dt.epoch("us").cast(pl.Float64)
    return pl.col(name).cast(pl.Float64, strict=False)


def parse_duration(text: str) -> float:
    """Seconds in '36h', '2 days', '90 min', '1w'."""
    match = _DURATION.match(str(text))
    if not match:
        raise SpecError(f"max_age {text!r}: expected a number and a unit, e.g. '36h', '2d', '90min', '1w'")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)[0].lower()]


# -- dimensions -------------------------------------------------------------------------------------------
def completeness(frame: Any, required: Sequence[str] = ()) -> DimensionScore:
    """Share of non-missing cells; rows missing a ``required`` column fail."""
    if isinstance(frame, pd.DataFrame):
        return _completeness_pandas(frame, required)
    df = as_polars(frame)
    nulls = df.null_count().row(0, named=True)
    floats = [c for c, t in df.schema.items() if t.is_float()]
    if floats:
        nans = df.select([pl.col(c).is_nan().sum() for c in floats]).row(0, named=True)
        nulls = {c: nulls[c] + int(nans.get(c) or 0) for c in nulls}
    cells = df.height * df.width
    missing = sum(nulls.values())
    by_column = {c: int(v) for c, v in nulls.items() if v}
    failing_idx: list[int] = []
    if required:
        mask = pl.any_horizontal([pl.col(c).is_null() for c in required])
        failing_idx = df.with_row_index("__r").filter(mask)["__r"].to_list()
    return _completeness_score(cells, missing, by_column, failing_idx, required)


def _completeness_score(cells: int, missing: int, by_column: dict[str, int], failing_idx: list[int],
                        required: Sequence[str]) -> DimensionScore:
    """The completeness score from the counts either backend (polars or pandas) measured."""
    score = 100.0 * (1 - missing / cells) if cells else 100.0
    summary = f"{missing:,} of {cells:,} cells missing" + (f" in {', '.join(f'{c} ({n:,})' for c, n in by_column.items())}" if by_column else "")
    return DimensionScore("completeness", round(score, 4), cells, len(failing_idx), summary,
                          [{"row": int(i), "reason": "missing required value"} for i in failing_idx[:10]],
                          {"missing_by_column": by_column, "required": list(required), "failing_rows": failing_idx,
                           "row_reasons": {int(i): [f"missing a required value ({', '.join(required)})"] for i in failing_idx}})


def _completeness_pandas(frame: pd.DataFrame, required: Sequence[str]) -> DimensionScore:
    nulls = frame.isna().sum()
    cells = frame.shape[0] * frame.shape[1]
    missing = int(nulls.sum())
    by_column = {str(c): int(v) for c, v in nulls.items() if v}
    failing_idx = np.flatnonzero(frame[list(required)].isna().any(axis=1).to_numpy()).tolist() if required else []
    return _completeness_score(cells, missing, by_column, failing_idx, required)


def validity(violations: ContractViolations) -> DimensionScore:
    """Share of rows that pass every contract check."""
    n = max(violations.rows_checked, 1)
    score = 100.0 * (1 - violations.failing_rows / n)
    summary = f"{violations.failing_rows:,} of {violations.rows_checked:,} rows fail {violations.checks_run} contract checks"
    if violations.column_problems:
        summary += "; column problems: " + "; ".join(violations.column_problems[:5])
        score = min(score, 100.0 * (1 - len(violations.column_problems) / max(violations.checks_run, 1)))
    return DimensionScore("validity", round(score, 4), violations.rows_checked, violations.failing_rows, summary,
                          violations.examples, {"by_check": violations.by_check, "column_problems": violations.column_problems,
                                                          "row_reasons": violations.row_reasons})


def consistency(frame: Any, rules: Sequence[str]) -> DimensionScore | None:
    """Share of rows satisfying every declared rule (rows with a missing operand are not judged)."""
    if not rules:
        return None
    names = [str(c) for c in frame.columns]
    exprs = [parse_rule(rule, names) for rule in rules]
    used = sorted({name for e in exprs for name in e.meta.root_names()})
    df = as_polars(frame[used] if isinstance(frame, pd.DataFrame) else frame.select(used))  # only the columns the rules read
    comparable = df.select([_comparable(df, c).alias(c) for c in used])
    failing: dict[int, list[str]] = {}
    per_rule = []
    for rule, expr in zip(rules, exprs):
        result = comparable.select(expr.alias("ok")).to_series() if used else pl.Series([True] * len(frame))
        bad = np.flatnonzero((result == False).fill_null(False).to_numpy())  # noqa: E712 - polars elementwise
        per_rule.append({"rule": rule, "failing_rows": int(bad.size), "unjudged_rows": int(result.null_count())})
        for i in bad:
            failing.setdefault(int(i), []).append(f"rule failed: {rule}")
    n = max(df.height, 1)
    examples = [{"row": i, **{k: _cell(df, i, k) for k in used[:6]}, "reason": "; ".join(r)} for i, r in list(failing.items())[:10]]
    return DimensionScore("consistency", round(100.0 * (1 - len(failing) / n), 4), df.height, len(failing),
                          f"{len(failing):,} rows break {sum(1 for r in per_rule if r['failing_rows'])} of {len(rules)} rules",
                          examples, {"rules": per_rule, "row_reasons": failing})


def _cell(df: pl.DataFrame, row: int, column: str) -> Any:
    value = df[row, column]
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)


def uniqueness(frame: Any, keys: Sequence[str] = ()) -> DimensionScore:
    """Share of rows that are neither an exact duplicate of an earlier row nor repeat an earlier key."""
    failing: dict[int, list[str]] = {}
    key_dups = 0
    if isinstance(frame, pd.DataFrame):
        frame = frame.reset_index(drop=True)
        dup_rows = np.flatnonzero(pd.util.hash_pandas_object(frame, index=False).duplicated().to_numpy()).tolist()
        if dup_rows:  # confirm on the rows themselves: a 64-bit hash collision must not count as a duplicate
            confirmed = frame.duplicated().to_numpy()
            dup_rows = [i for i in dup_rows if confirmed[i]]
        repeated_idx = np.flatnonzero(frame.duplicated(subset=list(keys)).to_numpy()) if keys else np.array([], dtype=int)
        repeated = [(int(i), *frame.loc[i, list(keys)].tolist()) for i in repeated_idx]
        height = len(frame)
    else:
        df = as_polars(frame).with_row_index("__r")
        cols = [c for c in df.columns if c != "__r"]
        dup_rows = df.filter(pl.struct(cols).is_first_distinct().not_())["__r"].to_list()
        repeated = list(df.filter(pl.struct(list(keys)).is_first_distinct().not_()).select(["__r", *keys]).iter_rows()) if keys else []
        height = df.height
    for i in dup_rows:
        failing.setdefault(int(i), []).append("exact duplicate of an earlier row")
    if keys:
        key_dups = len(repeated)
        for row in repeated:
            failing.setdefault(int(row[0]), []).append("duplicate key " + ", ".join(f"{k}={v}" for k, v in zip(keys, row[1:])))
    n = max(height, 1)
    examples = [{"row": i, "reason": "; ".join(r)} for i, r in list(failing.items())[:10]]
    summary = f"{len(dup_rows):,} duplicate rows" + (f", {key_dups:,} repeated keys on ({', '.join(keys)})" if keys else "")
    return DimensionScore("uniqueness", round(100.0 * (1 - len(failing) / n), 4), height, len(failing), summary, examples,
                          {"duplicate_rows": len(dup_rows), "duplicate_keys": key_dups, "keys": list(keys), "row_reasons": failing})


def timeliness(frame: Any, timestamp: str, *, as_of: str | None = None, max_age: str | None = None,
               date_format: str | None = None) -> DimensionScore:
    """Coverage of the expected time grid (missing points lower it) and freshness: newest point vs ``max_age``.

    Score = 100 * observed/expected grid points, or 0 when the newest timestamp is older than ``max_age``
    at ``as_of`` (an ISO time; the run's journaled clock).
    """
    df = as_polars(frame)
    stamps = timestamp_series(df, timestamp, date_format)
    gaps: TimeGaps | None = time_gaps(stamps)
    newest = stamps.max()
    details: dict[str, Any] = {"newest": str(newest), "gaps": gaps.__dict__ if gaps else None}
    score = 100.0
    parts = []
    if gaps is not None and not gaps.regular:
        parts.append(f"irregular event timestamps (median gap {gaps.median_gap_seconds or 0:g}s; only {gaps.step_share:.0%} of gaps "
                     f"equal the most common one, {gaps.step}): no regular grid, so no points are counted missing")
    elif gaps is not None and gaps.expected:
        score = 100.0 * (gaps.expected - gaps.missing) / gaps.expected
        parts.append(f"{gaps.missing:,} of {gaps.expected:,} expected points missing (step {gaps.step or f'{gaps.step_seconds:g}s'})")
    if max_age:
        limit = parse_duration(max_age)
        reference = pd.Timestamp(as_of) if as_of else pd.Timestamp.now(tz="UTC")
        if reference.tzinfo is not None:
            reference = reference.tz_convert("UTC").tz_localize(None)
        age = (reference - pd.Timestamp(newest)).total_seconds() if newest is not None else float("inf")
        details.update({"age_seconds": age, "max_age_seconds": limit, "as_of": str(reference)})
        fresh = age <= limit
        parts.append(f"newest {newest} is {age / 3600:,.1f}h old (SLA {max_age}): {'fresh' if fresh else 'STALE'}")
        if not fresh:
            score = 0.0
    examples = gaps.largest_gaps if gaps else []
    return DimensionScore("timeliness", round(score, 4), int(stamps.len()), gaps.missing if gaps else 0, "; ".join(parts) or "no timestamps",
                          examples, details)


def assess(dimensions: Sequence[DimensionScore | None]) -> QualityAssessment:
    """Overall score = mean of the measured dimensions; row reasons merged across them."""
    measured = [d for d in dimensions if d is not None]
    reasons: dict[int, list[str]] = {}
    for d in measured:
        for i, r in (d.details.get("row_reasons") or {}).items():
            reasons.setdefault(int(i), []).extend(r)
    overall = float(np.mean([d.score for d in measured])) if measured else 100.0
    return QualityAssessment(measured, round(overall, 4), reasons)
