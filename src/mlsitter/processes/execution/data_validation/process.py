"""The ``data-validation`` process: ingest one or several sources concurrently, enforce a pandera
schema contract (inferred and saved on the first run; a schema change is a breakpoint), measure the
quality dimensions, quarantine failing rows, write the clean data as Parquet and register a dataset
version (content hash, manifest, parent) that later runs such as ``training`` record as lineage.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from mlsitter import Context, Doc, Interval, process, task
from mlsitter.errors import DataError
from mlsitter.naming import stable_name
from mlsitter.processes.common.input_files import InputFile, record_inputs, reopen
from mlsitter.processes.vocabulary import GatePolicy


@stable_name("data-validation.SourceRead")
@dataclass
class SourceRead:
    """One source's outcome: its frame and what was detected, or the error that stopped it. A file is read in
    place: ``input`` holds its path and hash and ``frame`` is None; a database table's rows are kept in ``frame``."""

    name: str
    frame: Any = None
    info: dict[str, Any] | None = None
    error: str | None = None
    input: InputFile | None = None


@stable_name("data-validation.ContractState")
@dataclass
class ContractState:
    path: str
    created: bool
    diff: Any


@stable_name("data-validation.ValidationResult")
@dataclass
class ValidationResult:
    """What ``data-validation`` produced; ``dataset_version`` and ``clean_path`` feed ``training``."""

    dataset: str
    dataset_version: str
    parent_version: str | None
    clean_path: str
    quarantine_path: str | None
    manifest_path: str
    contract_path: str
    rows_in: int
    clean_rows: int
    quarantined_rows: int
    overall_score: float
    scores: dict[str, float]
    gate_failures: list[str]
    schema_changes: list[str]
    failed_sources: list[dict[str, str]]
    report: str
    lineage: list[str] = field(default_factory=list)


# -- tasks ---------------------------------------------------------------------------------------------
@stable_name("data-validation.SourcePlan")
@dataclass
class SourcePlan:
    """The sources to read. Runs started before text dates were typed recorded a bare list of specs here,
    and keep their dates as text so that they finish with the data they began with."""

    specs: list[Any]
    typed_dates: bool = True


@task(name="data-validation.plan_sources")
def plan_sources(data: list[str], options: dict[str, Any]) -> SourcePlan:
    """Source specs from the ``data`` input plus reading options that apply to every source."""
    from mlsitter.ml.io._ingest import parse_sources

    return SourcePlan(parse_sources(data, **options))


@task(name="data-validation.read_one_source")
def read_one_source(spec: Any, on_error: str) -> SourceRead:
    """Read one source; with on_error='skip' a DataError becomes a recorded failure instead of an exception."""
    from mlsitter.ml.io._ingest import read_source
    from mlsitter.processes.common.input_files import read_in_place

    try:
        (frame, info), recorded = read_in_place(spec.location, lambda: read_source(spec))
    except DataError as exc:
        if on_error == "skip":
            return SourceRead(spec.label, error=str(exc))
        raise
    return SourceRead(spec.label, None if recorded else frame, asdict(info), input=recorded)


@task(name="data-validation.combine_sources")
def combine_sources(frames: list[Any], names: list[str], typed_dates: bool = False, date_format: str | None = None) -> Any:
    """Stack the sources' rows (columns matched by name; a column missing in a source is null there); with
    ``typed_dates``, text columns whose values all read as dates (``date_format``, else inferred) become datetimes."""
    return combine_frames(frames, typed_dates, date_format)


def combine_frames(frames: list[Any], typed_dates: bool, date_format: str | None) -> Any:
    """The sources' rows stacked (see ``combine_sources``); the story calls it itself when every source is a file
    read in place, whose combination is cheap to recompute and is not stored."""
    import pandas as pd

    from mlsitter.ml.io._table_reader import parse_date_columns

    combined = frames[0].reset_index(drop=True) if len(frames) == 1 else pd.concat(frames, ignore_index=True, sort=False)
    return parse_date_columns(combined, date_format) if typed_dates else combined


@task(name="data-validation.check_validation_inputs")
def check_validation_inputs(frame: Any, keys: list[str], required: list[str], rules: list[str], timestamp: str | None,
                            date_format: str | None = None) -> int:
    """Every column named in an input exists, every rule parses and the timestamp reads as dates; returns the row count."""
    from mlsitter.ml.io._frames import as_polars
    from mlsitter.ml.io._ingest import require_columns
    from mlsitter.ml.data._quality import parse_rule
    from mlsitter.ml.io._timeseries import parse_timestamp_spec, timestamp_series

    require_columns(frame, keys, "keys")
    require_columns(frame, required, "required")
    for rule in rules:
        parse_rule(rule, [str(c) for c in frame.columns])
    if timestamp:
        column, offset, _ = parse_timestamp_spec(timestamp)
        require_columns(frame, [c for c in (column, offset) if c], "timestamp")
        timestamp_series(as_polars(frame[[c for c in (column, offset) if c]]), timestamp, date_format)
    return int(len(frame))


@task(name="data-validation.resolve_registry")
def resolve_registry(dataset: str, datasets_dir: str | None, contract: str | None) -> dict[str, str]:
    """The dataset's version folder (default $MLSITTER_HOME/datasets/<name>) and its contract path."""
    from mlsitter.runtime.home import mlsitter_home

    registry = Path(datasets_dir).expanduser() if datasets_dir else mlsitter_home() / "datasets" / dataset
    registry.mkdir(parents=True, exist_ok=True)
    path = Path(contract).expanduser() if contract else registry / "contract.yaml"
    return {"registry": str(registry.resolve()), "contract": str(path.resolve())}


@task(name="data-validation.prepare_contract")
def prepare_contract(frame: Any, path: str, dataset: str, keys: list[str]) -> ContractState:
    """Load the contract and diff the data against it; with no file yet, infer one and save it there."""
    from mlsitter.ml.data._schema_contract import diff_contract, infer_contract, load_contract, save_contract

    if not Path(path).exists():
        save_contract(infer_contract(frame, name=dataset, keys=keys), path)
        return ContractState(path, True, None)
    return ContractState(path, False, diff_contract(load_contract(path), frame))


@task(name="data-validation.apply_contract_update")
def apply_contract_update(frame: Any, path: str, diff: Any, keys: list[str]) -> str:
    """Write the contract widened by an approved diff; returns its new sha256."""
    from mlsitter.ml.data._schema_contract import contract_hash, load_contract, save_contract, update_contract

    updated = update_contract(load_contract(path), frame, diff, keys=keys)
    save_contract(updated, path)
    return contract_hash(updated)


@task(name="data-validation.measure_quality")
def measure_quality(frame: Any, contract_path: str, rules: list[str], keys: list[str], required: list[str],
                    timestamp: str | None, max_age: str | None, as_of: str, date_format: str | None = None) -> Any:
    """Enforce the contract and measure every dimension that applies."""
    from mlsitter.ml.data import _quality as quality
    from mlsitter.ml.data._schema_contract import enforce_contract, load_contract

    violations = enforce_contract(load_contract(contract_path), frame)
    dims = [
        quality.completeness(frame, required),
        quality.validity(violations),
        quality.consistency(frame, rules),
        quality.uniqueness(frame, keys),
        quality.timeliness(frame, timestamp, as_of=as_of, max_age=max_age, date_format=date_format) if timestamp else None,
    ]
    return quality.assess(dims)


@task(name="data-validation.write_quarantine")
def write_quarantine(frame: Any, assessment: Any, out_dir: str, sources: list[list[Any]]) -> Any:
    """Clean rows and quarantined rows (with reasons and source name) as Parquet."""
    from mlsitter.ml.data._quarantine import write_split

    return write_split(frame, assessment.row_reasons, out_dir, [(str(name), int(rows)) for name, rows in sources])


@task(name="data-validation.register_dataset_version")
def register_dataset_version(clean_path: str, registry: str, dataset: str, contract_path: str, sources: list[dict[str, Any]],
                             rows_in: int, rows_quarantined: int, created_at: str) -> dict[str, Any]:
    """Version the clean data (content hash), write its manifest, and return it with its lineage."""
    from mlsitter.ml.data._dataset_version import lineage, register_version
    from mlsitter.ml.data._schema_contract import contract_hash, load_contract

    manifest = register_version(clean_path, registry, dataset=dataset, schema_sha256=contract_hash(load_contract(contract_path)),
                                sources=sources, rows_in=rows_in, rows_quarantined=rows_quarantined, created_at=created_at,
                                extra={"contract_path": contract_path})
    return {"manifest": manifest, "lineage": lineage(registry, manifest.version),
            "manifest_path": str(Path(registry) / manifest.version / "manifest.json")}


@task(name="data-validation.render_validation_report")
def render_validation_report(out_dir: str, quarantine_path: str | None, **kwargs: Any) -> dict[str, str]:
    """Write the HTML/Markdown/JSON report; returns the file paths."""
    import pandas as pd

    from mlsitter.processes.execution.data_validation.report import write_validation_report

    examples: list[dict[str, Any]] = []
    if quarantine_path:
        head = pd.read_parquet(quarantine_path).head(10)
        examples = [{k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v)) for k, v in row.items()}
                    for row in head.to_dict(orient="records")]
    files = write_validation_report(out_dir, quarantine_examples=examples, **kwargs)
    return {"html": str(files.html), "json": str(files.json), "markdown": str(files.markdown)}


# -- the process ---------------------------------------------------------------------------------------
@process("data-validation", phase="execution",
         description="Ingest sources, enforce a schema contract, score quality dimensions, quarantine bad rows, version the clean data")
def data_validation(
    ctx: Context,
    data: Annotated[list[str], Doc("sources: paths or SQL URLs, comma-separated or a list ('name=path' names "
                                   "one)")],
    name: Annotated[str | None, Doc("dataset name (default: the first source's name)")] = None,
    contract: Annotated[str | None, Doc("schema contract file, YAML/JSON, created on the first run (default: "
                                        "<datasets_dir>/contract.yaml)")] = None,
    rules: Annotated[list[str] | None, Doc("cross-column rules such as 'start <= end' (a list, or separated by "
                                           "';')")] = None,
    keys: Annotated[list[str] | None, Doc("columns whose values together must be unique")] = None,
    required: Annotated[list[str] | None, Doc("columns that must not be missing (a row missing one fails "
                                              "completeness)")] = None,
    timestamp: Annotated[str | None, Doc("time column ('col' or 'date_col + hour_col hours') for "
                                         "timeliness")] = None,
    max_age: Annotated[str | None, Doc("how old the newest row may be, e.g. '36h', '2d' (timeliness)")] = None,
    min_quality: Annotated[float, Interval(0, 100), Doc("gate: the overall 0-100 quality score must reach "
                                                        "this")] = 95.0,
    min_dimension: Annotated[float, Interval(0, 100), Doc("gate: each quality dimension's 0-100 score must "
                                                          "reach this")] = 90.0,
    on_gate_fail: Annotated[GatePolicy, Doc("what a failed quality gate does: fail the run, ask a person, or "
                                            "warn")] = "fail",
    on_source_error: Annotated[Literal["fail", "skip"], Doc("a source that cannot be read fails the run or is "
                                                            "skipped (recorded with its reason)")] = "fail",
    datasets_dir: Annotated[str | None, Doc("folder of the dataset versions (default: "
                                            "$MLSITTER_HOME/datasets/<name>)")] = None,
    format: Annotated[Literal["csv", "tsv", "parquet", "json", "jsonl", "excel", "sqlite", "duckdb", "sql"] | None,
                      Doc("format of every source (default: from its suffix or URL)")] = None,
    delimiter: Annotated[str | None, Doc("CSV/TSV field delimiter (default: detected)")] = None,
    header: Annotated[bool | None, Doc("whether the first row is a header (default: detected)")] = None,
    encoding: Annotated[str | None, Doc("text encoding of the files (default: detected)")] = None,
    columns: Annotated[list[str] | None, Doc("column names for files without a header row")] = None,
    na_values: Annotated[list[str] | None, Doc("text read as missing (default: the empty field, 'NaN' and 'nan'; "
                                               "a list replaces them, the empty field stays missing)")] = None,
    date_format: Annotated[str | None, Doc("strftime format of text dates, e.g. '%d.%m.%Y' (default: inferred; "
                                           "ISO dates and '%Y-%m' are read either way)")] = None,
    query: Annotated[str | None, Doc("SQL query that reads each database source")] = None,
    table: Annotated[str | None, Doc("table to read from each database source")] = None,
) -> ValidationResult:
    """Validate ``data`` (paths / SQL URLs, comma-separated or a list) against its contract.

    ``contract``: the contract file (YAML/JSON; created on the first run; default
    <datasets_dir>/contract.yaml). ``rules``: cross-column rules such as 'start <= end' (a list, or
separated by ';'). ``keys``:
    unique key columns. ``timestamp`` ('col' or 'date_col + hour_col hours') with ``max_age`` ('36h')
    measures timeliness. Gates: overall >= ``min_quality`` and each dimension >= ``min_dimension``.
    """
    options = {"format": format, "delimiter": delimiter, "header": header, "encoding": encoding, "columns": columns, "na_values": na_values,
               "date_format": date_format, "query": query, "table": table}
    good, failed, typed_dates = read_sources(ctx, list(data), {k: v for k, v in options.items() if v is not None and v != []},
                                             on_source_error)
    dates = {"date_format": date_format} if date_format else {}  # only when given: older runs replay the same arguments
    in_place = all(r.input is not None for r in good)  # runs begun before files were read in place stored their rows
    if in_place:
        record_inputs(ctx, "source", [r.input for r in good if r.input is not None])
        frame = combine_frames([r.frame for r in good], typed_dates, date_format)
    else:
        frame = ctx.task(combine_sources, frames=[r.frame for r in good], names=[r.name for r in good],
                         **({"typed_dates": True, **dates} if typed_dates else {}))
    keys, required, rules = list(keys or []), list(required or []), split_rules(rules)
    rows_in = ctx.task(check_validation_inputs, frame=frame, keys=keys, required=required, rules=rules, timestamp=timestamp,
                       **dates)
    dataset = name or good[0].name
    where = ctx.task(resolve_registry, dataset=dataset, datasets_dir=datasets_dir, contract=contract)
    state, decision = reconcile_contract(ctx, frame=frame, path=where["contract"], dataset=dataset, keys=keys)

    assessment = ctx.task(measure_quality, frame=frame, contract_path=state.path, rules=rules, keys=keys, required=required,
                          timestamp=timestamp, max_age=max_age, as_of=ctx.now().isoformat(), **dates)
    workdir = str(ctx.workdir / "validation")
    sources = [r.info for r in good]
    split, version = quarantine_and_version(ctx, frame=frame, assessment=assessment, workdir=workdir, good=good,
                                            registry=where["registry"], dataset=dataset, contract_path=state.path,
                                            rows_in=rows_in, copy_clean=not in_place)
    files = ctx.task(render_validation_report, out_dir=workdir, quarantine_path=split.quarantine_path, sources=sources,
                     failed_sources=failed, contract_path=state.path, contract_created=state.created, diff=state.diff,
                     diff_decision=decision, assessment=assessment, split=split, manifest=version["manifest"],
                     lineage=version["lineage"], min_quality=min_quality, min_dimension=min_dimension)
    ctx.artifact("validation-report.html", files["html"], media_type="text/html")
    ctx.artifact("validation-report.json", files["json"], media_type="application/json")
    ctx.artifact("validation-report.md", files["markdown"], media_type="text/markdown")
    gate_failures = gate_quality(ctx, assessment, min_dimension=min_dimension, min_quality=min_quality,
                                 on_fail=on_gate_fail)
    # Last, so that runs waiting at a gate above replay unchanged: verify re-hashes the version's folder.
    ctx.record_file(f"dataset version {dataset}/{version['manifest'].version}", Path(version["manifest_path"]).parent)
    return validation_result(dataset=dataset, version=version, split=split, state=state, rows_in=rows_in,
                             assessment=assessment, gate_failures=gate_failures, failed=failed, files=files)


# -- the chapters of the story -----------------------------------------------------------------------------
def read_sources(ctx: Context, data: list[str], options: dict[str, Any],
                 on_source_error: str) -> tuple[list[SourceRead], list[dict[str, str]], bool]:
    """(sources read, sources skipped with their error, whether text dates are typed), read in parallel;
    DataError when none could be read."""
    plan = ctx.task(plan_sources, data=data, options=options)
    specs, typed_dates = (plan.specs, plan.typed_dates) if isinstance(plan, SourcePlan) else (plan, False)
    reads = ctx.map(read_one_source, specs, on_error=on_source_error)
    failed = [{"name": r.name, "error": r.error} for r in reads if r.error]
    good = [source_frame(r, spec) for r, spec in zip(reads, specs) if not r.error]
    for f in failed:
        ctx.log("warning", f"source {f['name']} skipped: {f['error']}")
    if not good:
        raise DataError("no source could be read: " + "; ".join(f"{f['name']}: {f['error']}" for f in failed))
    return good, failed, typed_dates


def source_frame(read: SourceRead, spec: Any) -> SourceRead:
    """The source with its frame: the read step's own in this process, else the file read again once its hash
    is checked (a run that resumes)."""
    from dataclasses import replace

    from mlsitter.ml.io._ingest import read_source

    if read.input is None:
        return read
    return replace(read, frame=reopen(read.input, lambda: read_source(spec))[0])


def split_rules(rules: list[str] | None) -> list[str]:
    """Cross-column rules, one each; ';' inside an item also separates rules."""
    return [part.strip() for rule in (rules or []) for part in str(rule).split(";") if part.strip()]


def reconcile_contract(ctx: Context, *, frame: Any, path: str, dataset: str,
                       keys: list[str]) -> tuple[ContractState, str | None]:
    """(contract state, decision on a schema change): a new contract is inferred and saved; a changed schema is
    put to a person, whose approval updates the contract and whose rejection stops the run."""
    state = ctx.task(prepare_contract, frame=frame, path=path, dataset=dataset, keys=keys)
    decision = None
    if state.created:
        ctx.log("info", f"schema contract inferred and saved to {state.path}")
    elif state.diff is not None and state.diff.has_changes:
        diff_ref = ctx.artifact("schema-diff.json", {"contract": state.path, "changes": state.diff.lines()})
        answer = ctx.breakpoint(
            f"The data's schema differs from the contract {state.path}:\n" + "\n".join(state.diff.lines())
            + "\nApprove to update the contract, reject to stop this run.",
            context={"contract": state.path, "changes": state.diff.lines()}, artifacts=[diff_ref], tags=("schema-change",),
        )
        if not answer.approved:
            raise DataError(f"schema change rejected by {answer.by or 'reviewer'}"
                            + (f" ({answer.feedback})" if answer.feedback else "")
                            + f": the contract {state.path} is unchanged; changes: " + "; ".join(state.diff.lines()))
        new_hash = ctx.task(apply_contract_update, frame=frame, path=state.path, diff=state.diff, keys=keys)
        ctx.log("info", f"contract {state.path} updated after approval by {answer.by}; schema sha256 {new_hash[:16]}")
        decision = f"approved by {answer.by}; contract updated"
    ctx.artifact("contract" + Path(state.path).suffix, state.path)
    return state, decision


def quarantine_and_version(ctx: Context, *, frame: Any, assessment: Any, workdir: str, good: list[SourceRead],
                           registry: str, dataset: str, contract_path: str, rows_in: int,
                           copy_clean: bool) -> tuple[Any, dict[str, Any]]:
    """(clean/quarantine split, dataset version): bad rows quarantined, the clean rows versioned by content hash,
    and both recorded as artifacts with the manifest. ``copy_clean`` false: the clean rows are not copied into the
    artifact store, as the dataset version holding them is recorded in place (``ctx.record_file``)."""
    split = ctx.task(write_quarantine, frame=frame, assessment=assessment, out_dir=workdir,
                     sources=[[r.name, r.info["rows"]] for r in good])
    version = ctx.task(register_dataset_version, clean_path=split.clean_path, registry=registry, dataset=dataset,
                       contract_path=contract_path, sources=[r.info for r in good], rows_in=rows_in,
                       rows_quarantined=split.quarantined_rows, created_at=ctx.now().isoformat())
    if copy_clean:
        ctx.artifact("clean.parquet", split.clean_path, media_type="application/vnd.apache.parquet")
    if split.quarantine_path:
        ctx.artifact("quarantine.parquet", split.quarantine_path, media_type="application/vnd.apache.parquet")
    ctx.artifact("manifest.json", version["manifest_path"], media_type="application/json")
    return split, version


def gate_quality(ctx: Context, assessment: Any, *, min_dimension: float, min_quality: float, on_fail: str) -> list[str]:
    """Gate each quality dimension and the overall score; the names of those that failed, overall first."""
    gate_failures: list[str] = []
    for dim in assessment.dimensions:
        gate = ctx.gate(f"quality-{dim.name}", dim.score, ">=", min_dimension, on_fail=on_fail,
                        checkpoint="data-quality")
        if not gate.passed:
            gate_failures.append(dim.name)
    overall = ctx.gate("quality-overall", assessment.overall, ">=", min_quality, on_fail=on_fail,
                       checkpoint="data-quality")
    if not overall.passed:
        gate_failures.insert(0, "overall")
    return gate_failures


def validation_result(*, dataset: str, version: dict[str, Any], split: Any, state: ContractState, rows_in: int,
                      assessment: Any, gate_failures: list[str], failed: list[dict[str, str]],
                      files: dict[str, str]) -> ValidationResult:
    """The result: the dataset version, the split, the scores and what failed."""
    manifest = version["manifest"]
    return ValidationResult(
        dataset=dataset, dataset_version=manifest.version, parent_version=manifest.parent, clean_path=manifest.data_path,
        quarantine_path=split.quarantine_path, manifest_path=version["manifest_path"], contract_path=state.path, rows_in=rows_in,
        clean_rows=split.clean_rows, quarantined_rows=split.quarantined_rows, overall_score=assessment.overall,
        scores={d.name: d.score for d in assessment.dimensions}, gate_failures=gate_failures,
        schema_changes=state.diff.lines() if state.diff is not None else [], failed_sources=failed, report=files["html"],
        lineage=version["lineage"],
    )
