"""The ``eda`` process: profile a table, find associations, outliers, leaks and time gaps, score its
quality (gate), and refine the report with the reviewer until it is approved.

Rejection feedback uses the directives of :mod:`mlsitter.processes.planning.eda.feedback`
(``exclude: a, b``; ``include: a``; ``sample: 10000``); the next report applies them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from mlsitter import Context, Doc, Interval, process, task
from mlsitter.naming import stable_name
from mlsitter.processes.common.input_files import InputFile, record_inputs
from mlsitter.processes.vocabulary import GatePolicy


@stable_name("eda.EdaResult")
@dataclass
class EdaResult:
    """What ``eda`` found, plus where its report is."""

    rows: int
    columns: int
    quality_score: float
    quality_passed: bool
    kinds: dict[str, str]
    missing_by_column: dict[str, int]
    duplicate_rows: int
    leak_suspects: list[str]
    high_correlations: list[dict[str, Any]]
    missing_time_points: int | None
    recommendations: list[str]
    excluded: list[str]
    sample: int | None
    attempts: int
    report: str
    report_json: str
    feedback: list[str] = field(default_factory=list)


@stable_name("eda.EdaSource")
@dataclass
class EdaSource:
    """The table EDA analyses and how it was read (tokens read as missing, ...). A file is read in place:
    ``input`` holds its path and hash and ``frame`` is None; a database table's rows are kept in ``frame``."""

    frame: Any
    info: dict[str, Any]
    input: InputFile | None = None


@task(name="eda.load_eda_table")
def load_eda_table(data: str, options: dict[str, Any]) -> EdaSource:
    """Read the one table EDA analyses, as a polars frame (every later step works on polars), with what reading found.

    Runs started before this step returned an EdaSource recorded the bare frame; the story reads both."""
    from mlsitter.processes.common.input_files import read_in_place

    spec = _one_source(data, options)
    (frame, info), recorded = read_in_place(spec.location, lambda: _read_table(spec))
    return EdaSource(None if recorded else frame, info, recorded)


def _one_source(data: str, options: dict[str, Any]) -> Any:
    """The single source spec ``data`` names; SpecError for several."""
    from mlsitter.errors import SpecError
    from mlsitter.ml.io._ingest import parse_sources

    specs = parse_sources(data, **options)
    if len(specs) != 1:
        raise SpecError(f"data: expected one source, got {len(specs)} ({', '.join(s.label for s in specs)}); "
                        "use data-validation to combine several sources")
    return specs[0]


def _read_table(spec: Any) -> tuple[Any, dict[str, Any]]:
    """(polars frame, what reading found) of one source."""
    from dataclasses import asdict

    from mlsitter.ml.io._ingest import read_source_polars

    frame, info = read_source_polars(spec)
    return frame, asdict(info)


def _source_frame(source: EdaSource, data: str, options: dict[str, Any]) -> Any:
    """The frame the load step read: its own in this process, else the input file read again once its hash is
    checked (a run that resumes)."""
    from mlsitter.processes.common.input_files import reopen

    if source.input is None:
        return source.frame
    return reopen(source.input, lambda: _read_table(_one_source(data, options)))[0]


@task(name="eda.check_eda_inputs")
def check_eda_inputs(frame: Any, target: str | None, exclude: list[str], timestamp: str | None) -> dict[str, Any]:
    """Every column named in an input must exist; returns the table's shape."""
    from mlsitter.ml.io._ingest import require_columns
    from mlsitter.ml.io._timeseries import parse_timestamp_spec

    if target:
        require_columns(frame, [target], "target")
    require_columns(frame, exclude, "exclude")
    if timestamp:
        column, offset, _ = parse_timestamp_spec(timestamp)
        require_columns(frame, [c for c in (column, offset) if c], "timestamp")
    return {"rows": int(len(frame)), "columns": int(frame.shape[1])}


@task(name="eda.analyze_eda")
def analyze_eda(frame: Any, target: str | None, timestamp: str | None, exclude: list[str], sample: int | None,
                feedbacks: list[str], seed: int, date_format: str | None = None, source: dict[str, Any] | None = None) -> Any:
    """Run the whole EDA computation under the inputs plus every rejection's directives."""
    from mlsitter.processes.planning.eda.analysis import analyze_dataset
    from mlsitter.processes.planning.eda.feedback import ReportOptions, options_from_feedbacks

    options = options_from_feedbacks(ReportOptions(exclude=tuple(exclude), sample=sample), feedbacks)
    return analyze_dataset(frame, target=target, timestamp=timestamp, options=options, seed=seed, date_format=date_format,
                           source=source)


@task(name="eda.render_eda_report")
def render_eda_report(analysis: Any, frame: Any, out_dir: str, source: str, min_quality: float, attempt: int, seed: int) -> dict[str, str]:
    """Write the HTML/Markdown/JSON report of one attempt; returns the file paths."""
    from mlsitter.processes.planning.eda.report import write_eda_report

    files = write_eda_report(analysis, frame, Path(out_dir) / f"attempt-{attempt}", source=source,
                             min_quality=min_quality, attempt=attempt, seed=seed)
    return {"html": str(files.html), "json": str(files.json), "markdown": str(files.markdown)}


@process("eda", phase="planning", description="Profile, correlations, outliers, target/leakage analysis and an explained quality score, reviewed until approved")
def eda(
    ctx: Context,
    data: Annotated[str, Doc("the table: a CSV/TSV/Parquet/JSON/Excel/SQLite/DuckDB file or a SQL URL")],
    target: Annotated[str | None, Doc("target column: adds class balance, feature power and leak suspects")] = None,
    timestamp: Annotated[str | None, Doc("time column ('col' or 'date_col + hour_col hours'): adds a gap "
                                         "analysis")] = None,
    exclude: Annotated[list[str] | None, Doc("columns left out of the analysis")] = None,
    sample: Annotated[int | None, Interval(0, None), Doc("profile a seeded sample of this many rows (None or 0: "
                                                         "every row)")] = None,
    min_quality: Annotated[float, Interval(0, 100), Doc("data-quality gate: the 0-100 quality score must reach "
                                                        "this")] = 70.0,
    on_gate_fail: Annotated[GatePolicy, Doc("what a failed quality gate does: fail the run, ask a person, or "
                                            "warn")] = "ask",
    max_attempts: Annotated[int, Interval(1, None), Doc("review rounds of the report before the run gives up")] = 3,
    delimiter: Annotated[str | None, Doc("CSV/TSV field delimiter (default: detected)")] = None,
    header: Annotated[bool | None, Doc("whether the first row is a header (default: detected)")] = None,
    encoding: Annotated[str | None, Doc("text encoding of the file (default: detected)")] = None,
    columns: Annotated[list[str] | None, Doc("column names for a file without a header row")] = None,
    na_values: Annotated[list[str] | None, Doc("text read as missing (default: the empty field, 'NaN' and 'nan'; "
                                               "a list replaces them, the empty field stays missing)")] = None,
    date_format: Annotated[str | None, Doc("strftime format of text dates, e.g. '%d.%m.%Y' (default: inferred; "
                                           "ISO dates and '%Y-%m' are read either way)")] = None,
    query: Annotated[str | None, Doc("SQL query that reads the table from a database source")] = None,
    table: Annotated[str | None, Doc("table to read from a database source")] = None,
) -> EdaResult:
    """Explore one table: ``data`` is a file (CSV/TSV/Parquet/JSON/Excel/SQLite/DuckDB) or a SQL URL.

    ``timestamp`` ('col' or 'date_col + hour_col hours') adds a gap analysis; ``target`` adds
    balance, feature power and leak suspicion. The quality score is gated at ``min_quality``.
    """
    from mlsitter.processes.planning.eda.quality_score import deductions_table

    read_options = {"delimiter": delimiter, "header": header, "encoding": encoding, "columns": columns, "na_values": na_values,
                    "date_format": date_format, "query": query, "table": table}
    options = {k: v for k, v in read_options.items() if v is not None and v != []}
    source = ctx.task(load_eda_table, data=data, options=options)
    # A run started before the report came ahead of the gate recorded a bare frame here: it keeps its order.
    frame, info, gate_first = ((_source_frame(source, data, options), source.info, False) if isinstance(source, EdaSource)
                               else (source, {}, True))
    if isinstance(source, EdaSource) and source.input is not None:
        record_inputs(ctx, "input", [source.input])
    ctx.task(check_eda_inputs, frame=frame, target=target, exclude=list(exclude or []), timestamp=timestamp)
    seed = ctx.seed()
    workdir = str(ctx.workdir / "eda")
    analysis = None
    files: dict[str, str] = {}
    attempts = 0
    feedbacks: list[str] = []
    for attempt in ctx.refine("eda-report", max_attempts=max_attempts):
        attempts = attempt.number
        feedbacks = [f for f in attempt.feedbacks if f]
        analysis = ctx.task(analyze_eda, frame=frame, target=target, timestamp=timestamp, exclude=list(exclude or []),
                            sample=sample, feedbacks=feedbacks, seed=seed, **_given(date_format=date_format, source=info))
        if attempt.number == 1 and gate_first:
            ctx.gate("data-quality", analysis.quality.score, ">=", min_quality, on_fail=on_gate_fail,
                     checkpoint="data-quality")
        files = ctx.task(render_eda_report, analysis=analysis, frame=frame, out_dir=workdir, source=str(data),
                         min_quality=min_quality, attempt=attempt.number, seed=seed)
        html = ctx.artifact(f"eda-report-{attempt.number}.html", files["html"], media_type="text/html")
        ctx.artifact(f"eda-report-{attempt.number}.json", files["json"], media_type="application/json")
        ctx.artifact(f"eda-report-{attempt.number}.md", files["markdown"], media_type="text/markdown")
        if attempt.number == 1 and not gate_first:  # an override is asked with the report and its deductions in hand
            ctx.gate("data-quality", analysis.quality.score, ">=", min_quality, on_fail=on_gate_fail,
                     context={"deductions": deductions_table(analysis.quality), "report": files["html"]}, artifacts=[html],
                     checkpoint="data-quality")
        attempt.review(
            f"Approve the EDA report (quality score {analysis.quality.score})? Reject with 'exclude: a, b' or 'sample: N' to change it.",
            context={"quality_score": analysis.quality.score, "leak_suspects": analysis.target.leak_suspects if analysis.target else [],
                     "excluded": list(analysis.options.exclude), "sample": analysis.options.sample},
            artifacts=[html], checkpoint="data-quality",
        )
    profile = analysis.profile
    return EdaResult(
        rows=profile.rows, columns=profile.n_columns, quality_score=analysis.quality.score,
        quality_passed=analysis.quality.score >= min_quality, kinds=dict(profile.kinds),
        missing_by_column={c.name: c.missing for c in profile.columns if c.missing},
        duplicate_rows=profile.duplicate_rows,
        leak_suspects=list(analysis.target.leak_suspects) if analysis.target else [],
        high_correlations=list(analysis.associations.high_pairs),
        missing_time_points=profile.time_gaps.missing if profile.time_gaps else None,
        recommendations=analysis.quality.recommendations, excluded=list(analysis.options.exclude),
        sample=analysis.options.sample, attempts=attempts, report=files["html"], report_json=files["json"], feedback=feedbacks,
    )


def _given(**kwargs: Any) -> dict[str, Any]:
    """The arguments that were given: a step's arguments stay those of runs started before they existed."""
    return {k: v for k, v in kwargs.items() if v is not None and v != {}}
