"""The ``feature-store`` process: from a table and a short spec (entities, timestamp, feature views, TTLs),
apply versioned Feast definitions (a breaking change waits for an approval), materialize the online store,
gate freshness per view and offline/online consistency, build a point-in-time training set registered as a
dataset version that ``training`` takes as its data, and report it all with the definition history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from mlsitter import Context, Doc, Interval, process
from mlsitter.errors import DataError, GateFailedError, InputError
from mlsitter.naming import stable_name
from mlsitter.processes.execution.feature_store.tasks import (
    PreparedDefinitions,
    apply_definitions,
    build_training_set,
    check_consistency,
    materialize,
    measure_freshness,
    prepare_definitions,
    register_training_set,
    render_report,
    resolve_repo,
)
from mlsitter.processes.vocabulary import GatePolicy


@stable_name("feature-store.FeatureStoreResult")
@dataclass
class FeatureStoreResult:
    """What ``feature-store`` produced; ``training_set_path`` with ``dataset_version`` feed ``training``."""

    repo: str
    project: str
    definition_version: str
    applied: bool
    changes: list[str]
    consistency_pct: float | None
    freshness: dict[str, float | None]
    report: str
    training_set_path: str | None = None
    dataset_version: str | None = None
    rows_without_value: dict[str, int] = field(default_factory=dict)
    gate_failures: list[str] = field(default_factory=list)


@process("feature-store", phase="execution",
         description="Feast feature store: versioned definitions, materialization, point-in-time training sets, "
                     "online lookups, consistency and freshness gates")
def feature_store(
    ctx: Context,
    data: Annotated[str, Doc("the feature table (Parquet, CSV, JSON lines) the spec's feature views read")] = "",
    spec: Annotated[str, Doc("YAML/JSON spec or its file: timestamp, entities, feature_views (docs/feature-store.md)")] = "",
    project: Annotated[str, Doc("Feast project name (default: the spec's, else the data file's stem)")] = "",
    repo: Annotated[str, Doc("an existing Feast repo folder (default: $MLSITTER_HOME/feature_store/<project>)")] = "",
    materialization: Annotated[Literal["incremental", "full", "none"],
                               Doc("load the online store: from the last run, from the oldest row, or not")] = "incremental",
    as_of: Annotated[str, Doc("ISO time treated as now: materialization end, freshness and consistency "
                              "(default: the current time)")] = "",
    entities: Annotated[str, Doc("entity frame file (join keys + event timestamp) for a point-in-time "
                                 "training set")] = "",
    event_timestamp: Annotated[str, Doc("the entity frame's event time column")] = "event_timestamp",
    features: Annotated[list[str] | None, Doc("features of the training set: view:feature or view names "
                                              "(default: all)")] = None,
    datasets_dir: Annotated[str, Doc("folder of the training set's dataset versions (default: "
                                     "$MLSITTER_HOME/datasets/<project>-training)")] = "",
    consistency_sample: Annotated[int, Interval(1, None), Doc("entity keys compared offline vs online")] = 1000,
    min_consistency: Annotated[float, Interval(0, 100), Doc("gate: % of cells on which offline and online "
                                                            "agree")] = 100.0,
    on_gate_fail: Annotated[GatePolicy, Doc("what a failed consistency or freshness gate does")] = "fail",
) -> FeatureStoreResult:
    """Apply, materialize, check and serve the features of ``data`` as ``spec`` defines them."""
    where = ctx.task(resolve_repo, project=project, repo=repo, spec=spec, data=data)
    prepared = ctx.task(prepare_definitions, repo=where["repo"], project=where["project"], spec=spec, data=data)
    decision = approve_changes(ctx, prepared)
    now = ctx.now()
    moment = parse_as_of(as_of, now)
    if not prepared.unchanged:
        ctx.task(apply_definitions, prepared=prepared, applied_at=now.isoformat(), applied_by=decision or "feature-store")
    defs = prepared.definitions
    done = [] if materialization == "none" else ctx.task(materialize, repo=where["repo"], definitions=defs,
                                                         end=moment.isoformat(), mode=materialization)
    fresh = ctx.task(measure_freshness, repo=where["repo"], definitions=defs, as_of=moment.isoformat())
    consistency = ctx.task(check_consistency, repo=where["repo"], definitions=defs, as_of=moment.isoformat(),
                           sample=consistency_sample, seed=ctx.seed())
    training_set = None
    if entities:
        training_set = ctx.task(build_training_set, repo=where["repo"], definitions=defs, entities=entities,
                                event_timestamp=event_timestamp, features=list(features or []),
                                out_dir=str(ctx.workdir / "training-set"))
        version = ctx.task(register_training_set, training_set=training_set, registry=datasets_dir,
                           dataset=f"{where['project']}-training", repo=where["repo"], created_at=now.isoformat())
        training_set = {**training_set, "dataset_version": version["manifest"].version,
                        "data_path": version["manifest"].data_path, "folder": version["folder"]}
    files = ctx.task(render_report, out_dir=str(ctx.workdir / "report"), repo=where["repo"], definitions=defs,
                     changes=[c.line() for c in prepared.changes], decision=decision, materialized=done,
                     freshness=fresh, consistency=consistency, training_set=training_set, min_consistency=min_consistency)
    ctx.artifact("feature-store-report.html", files["html"], media_type="text/html")
    ctx.artifact("feature-store-report.json", files["json"], media_type="application/json")
    ctx.artifact("feature-store-report.md", files["markdown"], media_type="text/markdown")
    failures = gate_store(ctx, fresh, consistency, min_consistency=min_consistency, on_fail=on_gate_fail)
    if training_set:
        ctx.record_file(f"training set {where['project']}/{training_set['dataset_version']}", training_set["folder"])
    return FeatureStoreResult(
        repo=where["repo"], project=where["project"], definition_version=defs.version, applied=not prepared.unchanged,
        changes=[c.line() for c in prepared.changes], consistency_pct=consistency.agreement_pct if consistency else None,
        freshness={f.view: f.age_seconds for f in fresh}, report=files["html"],
        training_set_path=training_set["data_path"] if training_set else None,
        dataset_version=training_set["dataset_version"] if training_set else None,
        rows_without_value=training_set["rows_without_value"] if training_set else {}, gate_failures=failures)


# -- the chapters of the story -----------------------------------------------------------------------------
def parse_as_of(text: str, now: datetime) -> datetime:
    """The ``as_of`` input as an aware UTC time; empty means ``now``."""
    if not text:
        return now
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"as_of {text!r}: expected an ISO time such as 2012-12-31T23:00:00+00:00") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def approve_changes(ctx: Context, prepared: PreparedDefinitions) -> str | None:
    """A breaking change is put to a person; rejecting it stops the run with the applied version unchanged."""
    breaking = prepared.breaking
    if not breaking:
        return None
    lines = [c.line() for c in prepared.changes]
    ref = ctx.artifact("definition-diff.json", {"applied": prepared.applied_version,
                                                "proposed": prepared.definitions.version, "changes": lines})
    answer = ctx.breakpoint(
        f"The feature definitions {prepared.definitions.version} change the applied {prepared.applied_version} in "
        f"{len(breaking)} breaking ways:\n" + "\n".join(lines) + "\nApprove to apply them, reject to keep the applied version.",
        context={"applied": prepared.applied_version, "proposed": prepared.definitions.version, "changes": lines},
        artifacts=[ref], tags=("definition-change",))
    if not answer.approved:
        raise DataError(f"breaking definition change rejected by {answer.by or 'reviewer'}"
                        + (f" ({answer.feedback})" if answer.feedback else "")
                        + f": the applied version {prepared.applied_version} is unchanged; changes: " + "; ".join(lines))
    return f"approved by {answer.by}"


def gate_store(ctx: Context, fresh: list[Any], consistency: Any, *, min_consistency: float, on_fail: str) -> list[str]:
    """Gate each view's freshness SLA and the consistency; the names of the gates that failed."""
    failures: list[str] = []
    for f in fresh:
        if f.sla_seconds is None:
            continue
        try:  # never materialized: no age, and the gate fails
            gate = ctx.gate(f"freshness-{f.view}", f.age_seconds, "<=", f.sla_seconds, on_fail=on_fail,
                            checkpoint="feature-integrity")
        except GateFailedError as exc:
            raise GateFailedError(f"{exc}; view {f.view}: newest materialized row {f.newest_row}, "
                                  f"materialized until {f.materialized_until}") from None
        if not gate.passed:
            failures.append(f"freshness-{f.view}")
    if consistency is not None:
        try:
            gate = ctx.gate("consistency", consistency.agreement_pct, ">=", min_consistency, on_fail=on_fail,
                            checkpoint="feature-integrity")
        except GateFailedError as exc:
            raise GateFailedError(f"{exc}; {consistency.summary()}") from None
        if not gate.passed:
            failures.append("consistency")
    return failures

