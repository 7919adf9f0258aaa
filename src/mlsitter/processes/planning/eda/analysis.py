"""The whole EDA computation on one frame: profile, associations, outliers, target analysis, score.

This is what the ``eda`` process runs as one task per attempt, and what the benchmark times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlsitter.errors import DataError
from mlsitter.ml.data._correlation import Associations, compute_associations
from mlsitter.ml.io._frames import as_polars, sample_rows
from mlsitter.ml.data._outliers import OutlierReport, detect_outliers
from mlsitter.ml.data._profiling import DatasetProfile, profile_frame
from mlsitter.processes.planning.eda.quality_score import QualityScore, score_quality
from mlsitter.processes.planning.eda.feedback import ReportOptions
from mlsitter.ml.data._target_analysis import TargetAnalysis, analyze_target
from mlsitter.naming import ADDED_LATER, stable_name


@stable_name("eda.EdaAnalysis")
@dataclass
class EdaAnalysis:
    """Everything an EDA report shows, computed under the given options."""

    profile: DatasetProfile
    associations: Associations
    outliers: OutlierReport
    target: TargetAnalysis | None
    quality: QualityScore
    options: ReportOptions
    rows_total: int
    problems: list[str] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict, metadata=ADDED_LATER)
    sampled: list[str] = field(default_factory=list, metadata=ADDED_LATER)  # each statistic drawn from a sample, and how


def analyze_dataset(
    frame: Any,
    *,
    target: str | None = None,
    timestamp: str | None = None,
    options: ReportOptions = ReportOptions(),
    seed: int = 0,
    pair_rows: int = 100_000,
    outlier_rows: int = 50_000,
    date_format: str | None = None,
    source: dict[str, Any] | None = None,
) -> EdaAnalysis:
    """Profile, correlate, find outliers, analyse the target and score quality, honouring ``options``.

    Pairwise associations use a seeded sample of ``pair_rows`` rows (correlations from 100,000 rows
    have a standard error near 0.003), Isolation Forest one of ``outlier_rows``; ``sampled`` says so. Columns in ``options.exclude`` that are not in the frame are reported in ``problems`` (they come
    from reviewer feedback); excluding the target is refused with a DataError. Text dates are read in
    ``date_format`` (None: inferred); ``source`` is what reading found (tokens read as missing), shown as is.
    """
    df = as_polars(frame)
    rows_total = df.height
    problems = list(options.problems)
    missing = [c for c in options.exclude if c not in df.columns]
    if missing:
        problems.append(f"exclude: {', '.join(missing)} not in the data (columns: {', '.join(df.columns[:20])}); ignored")
    exclude = [c for c in options.exclude if c in df.columns]
    if target and target in exclude:
        raise DataError(f"exclude: cannot exclude the target column {target!r}; remove it from the exclusions or choose another target")
    if target and target not in df.columns:
        from mlsitter.ml.io._ingest import require_columns

        require_columns(df, [target], "target")
    df = sample_rows(df, options.sample, seed)
    profile = profile_frame(df, timestamp=timestamp, exclude=exclude, date_format=date_format)
    profile.sampled_from = rows_total if df.height < rows_total else None
    kinds = profile.kinds
    kept = df.drop(exclude) if exclude else df
    associations = compute_associations(kept, kinds, seed=seed, max_rows=pair_rows)
    quartiles = {c.name: (c.quantiles["p25"], c.quantiles["p50"], c.quantiles["p75"]) for c in profile.columns
                 if c.kind == "numeric" and c.quantiles}
    outliers = detect_outliers(kept, profile.names("numeric"), seed=seed, quartiles=quartiles, max_rows=outlier_rows)
    target_result = analyze_target(kept, target, kinds, seed=seed) if target else None
    quality = score_quality(profile, associations, outliers, target_result)
    sampled = sampled_statistics(kept.height, seed, pair_rows=pair_rows, outlier_rows=outlier_rows if outliers.rows else None)
    labelled = int(kept[target].is_not_null().sum()) if target_result else 0
    if target_result and target_result.rows_used < labelled:
        sampled.append(f"target balance, feature power and leak checks: a seeded uniform random sample (without replacement, "
                       f"seed {seed}) of {target_result.rows_used:,} of the {labelled:,} rows with a target")
    return EdaAnalysis(profile, associations, outliers, target_result, quality, options, rows_total, problems, dict(source or {}),
                       sampled)


def sampled_statistics(rows: int, seed: int, *, pair_rows: int, outlier_rows: int | None) -> list[str]:
    """Which statistics came from a sample of the ``rows`` analysed, and how drawn (every other statistic uses every row)."""
    how = "a seeded uniform random sample (without replacement, seed {seed}) of {n:,} of {rows:,} rows"
    out = []
    if rows > pair_rows:
        out.append("correlations, associations and VIF: " + how.format(seed=seed, n=pair_rows, rows=rows))
    if outlier_rows is not None and rows > outlier_rows:
        out.append("Isolation Forest row outliers: " + how.format(seed=seed, n=outlier_rows, rows=rows)
                   + "; the IQR and z-score column counts use every row")
    return out


def eda_frame(frame: Any, options: ReportOptions, seed: int = 0) -> Any:
    """The rows and columns a report's figures are drawn from (same sample and exclusions as the analysis)."""
    df = sample_rows(as_polars(frame), options.sample, seed)
    return df.drop([c for c in options.exclude if c in df.columns])
