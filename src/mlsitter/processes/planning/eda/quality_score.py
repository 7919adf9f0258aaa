"""An explained data-quality score for EDA: 100 minus named deductions, each with its measured
cause and a recommendation, so a failed gate says what to fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlsitter.ml.data._correlation import Associations
from mlsitter.ml.data._outliers import OutlierReport
from mlsitter.ml.data._profiling import DatasetProfile
from mlsitter.ml.data._target_analysis import TargetAnalysis
from mlsitter.naming import stable_name


@stable_name("eda.Deduction")
@dataclass
class Deduction:
    """Points taken off for one measured problem."""

    rule: str
    points: float
    detail: str
    recommendation: str


@stable_name("eda.QualityScore")
@dataclass
class QualityScore:
    score: float
    deductions: list[Deduction] = field(default_factory=list)

    @property
    def recommendations(self) -> list[str]:
        return [d.recommendation for d in self.deductions if d.points > 0]


def score_quality(
    profile: DatasetProfile,
    associations: Associations | None = None,
    outliers: OutlierReport | None = None,
    target: TargetAnalysis | None = None,
) -> QualityScore:
    """Deductions (caps in brackets): missing cells 0.5/pct [20]; mostly-empty columns 3 each [15];
    duplicate rows 2/pct [10]; constant columns 2 each [10]; high-correlation pairs 1 each [10];
    VIF >= 10 1 each [5]; columns with > 5% IQR outliers 1 each [5]; leak suspects 10 each [20];
    minority class < 5% 5; missing time points 1/pct [10] (regular series only:
    irregular event timestamps have no grid to miss points of)."""
    deductions: list[Deduction] = []

    def add(rule: str, points: float, cap: float, detail: str, recommendation: str) -> None:
        points = round(min(points, cap), 2)
        if points > 0:
            deductions.append(Deduction(rule, points, detail, recommendation))

    missing_cols = [c for c in profile.columns if c.missing]
    add("missing cells", 0.5 * profile.missing_cells_pct, 20,
        f"{profile.missing_cells:,} missing cells ({profile.missing_cells_pct:.2f}%) in "
        + ", ".join(f"{c.name} ({c.missing:,})" for c in missing_cols[:8]),
        "impute or model missingness in: " + ", ".join(c.name for c in missing_cols[:8]))
    empty = [c for c in profile.columns if c.missing_pct > 50]
    add("mostly-empty columns", 3 * len(empty), 15,
        "over 50% missing: " + ", ".join(f"{c.name} ({c.missing_pct:.0f}%)" for c in empty),
        "drop or rethink: " + ", ".join(c.name for c in empty))
    if profile.rows:
        dup_pct = 100.0 * profile.duplicate_rows / profile.rows
        add("duplicate rows", 2 * dup_pct, 10, f"{profile.duplicate_rows:,} duplicate rows ({dup_pct:.2f}%)",
            "drop exact duplicates or check how rows were collected")
    constant = [c.name for c in profile.columns if c.constant]
    add("constant columns", 2 * len(constant), 10, "a single value: " + ", ".join(constant), "drop: " + ", ".join(constant))
    if associations is not None:
        pairs = {(h["a"], h["b"]): h for h in associations.high_pairs}
        add("highly correlated pairs", len(pairs), 10,
            "; ".join(f"{a}~{b} {h['method']} {h['value']:.2f}" for (a, b), h in list(pairs.items())[:6]),
            "keep one column of each highly correlated pair or combine them")
        add("multicollinearity", len(associations.high_vif), 5,
            "VIF >= 10: " + ", ".join(f"{c} ({associations.vif[c]:.1f})" for c in associations.high_vif),
            "drop or combine collinear columns before fitting linear models: " + ", ".join(associations.high_vif))
    if outliers is not None:
        heavy = [o for o in outliers.columns if o.pct > 5]
        add("outlier-heavy columns", len(heavy), 5, "over 5% outside IQR fences: " + ", ".join(f"{o.column} ({o.pct:.1f}%)" for o in heavy),
            "check units and entry errors; consider a log/robust transform for: " + ", ".join(o.column for o in heavy))
    if target is not None:
        add("leak suspects", 10 * len(target.leak_suspects), 20,
            "; ".join(f"{p.feature}: {p.leak}" for p in target.features if p.leak),
            "remove from features unless known at prediction time: " + ", ".join(target.leak_suspects))
        if target.minority_pct is not None and target.minority_pct < 5:
            add("class imbalance", 5, 5, f"minority class {target.minority_pct:.2f}% of rows",
                "use stratified splits, class weights, and PR-AUC alongside ROC AUC")
    gaps = profile.time_gaps
    if gaps is not None and gaps.regular and gaps.expected:
        gap_pct = 100.0 * gaps.missing / gaps.expected
        add("missing time points", gap_pct, 10, f"{gaps.missing:,} of {gaps.expected:,} expected points missing on {gaps.column}",
            "decide whether missing periods are zeros or unknown; resample or mark them")
    total = sum(d.points for d in deductions)
    return QualityScore(score=round(max(0.0, 100.0 - total), 2), deductions=deductions)


def deductions_table(score: QualityScore) -> list[dict[str, Any]]:
    return [{"rule": d.rule, "points": -d.points, "measured": d.detail} for d in score.deductions]
