"""The ``scoping`` process: a project brief (YAML, see :mod:`mlsitter.processes.planning.scoping.brief`) and the data become
structured requirements, a data-availability check, a feasibility estimate, risk flags and a project
charter (JSON + YAML, see :mod:`mlsitter.ml.handoffs._charter`) that later processes read with
``mlsitter.ml.handoffs._charter.load_charter``.

Gates: ``data-availability`` (score >= ``min_availability``) and ``feasibility`` (score >=
``min_feasibility``), then a stakeholder sign-off in a refine loop. Rejection feedback uses
``key: value`` directives separated by ``;`` or newlines, applied to the next attempt:
``metric: f1``, ``threshold: 0.7``, ``sensitive: age, sex``, ``not_sensitive: age``,
``exclude: col``, ``include: col``, ``positive_class: yes``, ``interpretability: required``,
``max_latency_ms: 20``, ``max_model_size_mb: 5``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from mlsitter import Context, Doc, Interval, process, task
from mlsitter.naming import stable_name
from mlsitter.processes.common.gates import gate_rows
from mlsitter.processes.vocabulary import GatePolicy


@stable_name("scoping.ScopingResult")
@dataclass
class ScopingResult:
    """The charter and the numbers it was signed off on."""

    charter: str
    charter_yaml: str
    report: str
    target: str
    task: str
    metric: str
    threshold: float
    availability_score: float
    feasibility_score: float
    estimate: float
    plausible: bool
    sensitive_attributes: list[str]
    excluded_columns: dict[str, str]
    risks: list[dict[str, str]]
    attempts: int
    feedback: list[str] = field(default_factory=list)


@task(name="scoping.read_brief")
def read_brief(path: str) -> Any:
    """Validate the brief file (every problem is named in one SpecError)."""
    from mlsitter.processes.planning.scoping.brief import load_brief

    return load_brief(path)


@task(name="scoping.read_scoping_data")
def read_scoping_data(path: str, sep: str) -> Any:
    """Read the dataset the brief is about."""
    from mlsitter.ml.io._table_reader import read_table

    return read_table(path, sep=sep)


@task(name="scoping.check_availability")
def check_availability(frame: Any, brief: Any) -> Any:
    """Rows, target, balance, time span, PII and sensitive columns, scored."""
    from mlsitter.processes.planning.scoping.data_availability import assess_availability

    return assess_availability(frame, brief.target, task=brief.task, positive_class=brief.positive_class,
                               time_column=brief.time_column,
                               fairness_attributes=brief.constraints.fairness_attributes)


@task(name="scoping.revise_requirements")
def revise_requirements(brief: Any, feedbacks: list[str]) -> Any:
    """Apply the reviewers' directives to the brief (see the module docstring)."""
    from mlsitter.processes.planning.scoping.brief import revise_brief

    return revise_brief(brief, feedbacks)


@task(name="scoping.check_feasibility")
def check_feasibility(frame: Any, brief: Any, availability: Any, overrides: dict[str, list[str]],
                      feasibility_rows: int, cv_folds: int, seed: int) -> dict[str, Any]:
    """Exclusions (ids, PII, post-outcome, leakage suspects, reviewer's), then baseline CV + learning curve."""
    from mlsitter.errors import SpecError
    from mlsitter.processes.planning.scoping.feasibility import assess_feasibility
    from mlsitter.ml.data._leakage import check_feature_leakage
    from mlsitter.ml.metrics._metric_catalog import metric_info
    from mlsitter.ml.modeling._problem_type import encode_target, infer_problem_type

    unknown = [c for key in ("exclude", "include", "sensitive", "not_sensitive") for c in overrides[key]
               if c not in frame.columns]
    if unknown:
        raise SpecError(f"feedback names column(s) {unknown} that are not in the data; "
                        f"its columns are {list(frame.columns)}")
    labelled = frame[frame[brief.target].notna()]
    sample = labelled.sample(n=min(feasibility_rows, len(labelled)), random_state=seed) if feasibility_rows else labelled
    problem = infer_problem_type(labelled[brief.target], task=brief.task, positive_class=brief.positive_class)
    metric = metric_info(brief.metric)
    if metric.task != problem.task:
        raise SpecError(f"metric {metric.name} is for {metric.task} but target {brief.target!r} makes a "
                        f"{problem.task} problem; choose a {problem.task} metric")
    if metric.binary_only and problem.task == "classification" and not problem.is_binary:
        raise SpecError(f"metric {metric.name} needs a binary target but {brief.target!r} has "
                        f"{problem.n_classes} classes; use e.g. balanced_accuracy or f1_macro")
    excluded: dict[str, str] = {}
    for column in brief.id_columns:
        excluded[column] = "identifier (brief)"
    for finding in availability.pii:
        excluded.setdefault(finding.column, f"personal data: {finding.kind} ({finding.evidence})")
    for column in brief.post_outcome_columns:
        excluded[column] = "recorded after the outcome (brief)"
    y = encode_target(sample[brief.target], problem)
    features = sample.drop(columns=[brief.target, *[c for c in excluded if c in sample.columns]])
    leakage = check_feature_leakage(features, y, problem, top_k=2, folds=min(cv_folds, 3), seed=seed)
    for column in leakage.suspect_columns():
        excluded.setdefault(column, "leakage suspect: " + next(f.detail for f in leakage.blocking if f.column == column))
    for column in overrides["exclude"]:
        excluded[column] = "excluded by reviewer"
    for column in overrides["include"]:
        excluded.pop(column, None)
    excluded = {c: r for c, r in excluded.items() if c in frame.columns and c != brief.target}
    feasibility = assess_feasibility(sample, y, brief.target, problem, metric, brief.threshold,
                                     full_rows=len(labelled), exclude=list(excluded), folds=cv_folds, seed=seed)
    return {"problem": problem, "feasibility": feasibility, "leakage": leakage, "excluded": excluded}


@task(name="scoping.build_charter")
def build_charter(brief: Any, availability: Any, checked: dict[str, Any], overrides: dict[str, list[str]],
                  data_path: str) -> Any:
    """Assemble the charter from the (revised) brief and the measured facts."""
    import hashlib
    from dataclasses import asdict

    from mlsitter.ml.handoffs._charter import Charter, CharterMetric
    from mlsitter.ml.metrics._metric_catalog import metric_info
    from mlsitter.processes.planning.scoping.risks import assess_risks

    problem, feas = checked["problem"], checked["feasibility"]
    metric = metric_info(brief.metric)
    sensitive = [c for c in availability.sensitive_attributes + overrides["sensitive"]
                 if c not in overrides["not_sensitive"]]
    risks = [asdict(r) for r in assess_risks(availability, checked["leakage"], audited=sensitive)]
    digest = hashlib.sha256(Path(data_path).read_bytes()).hexdigest()
    constraints = asdict(brief.constraints)
    constraints.pop("fairness_attributes", None)
    return Charter(
        name=brief.name, objective=brief.objective, decision=brief.decision, target=brief.target, task=problem.task,
        metric=CharterMetric(metric.name, float(brief.threshold), metric.greater_is_better, metric.scorer),
        positive_class=problem.positive_class, classes=list(problem.classes), constraints=constraints,
        sensitive_attributes=list(dict.fromkeys(sensitive)), excluded_columns=dict(checked["excluded"]),
        time_column=brief.time_column,
        data={"path": str(Path(data_path).resolve()), "rows": availability.rows, "columns": availability.columns,
              "sha256": digest},
        availability={"score": availability.score, "reasons": availability.reasons},
        feasibility={"score": feas.score, "estimate": feas.estimate, "dummy": feas.dummy_score,
                     "model": feas.simple_model, "plausible": feas.plausible, "reasons": feas.reasons},
        risks=risks,
    )


@task(name="scoping.write_scope")
def write_scope(brief: Any, availability: Any, checked: dict[str, Any], charter: Any, frame: Any,
                gates: list[dict[str, Any]], notes: list[str], out_dir: str, attempt: int,
                charter_out: str) -> dict[str, str]:
    """Write the charter (JSON + YAML) and the scope document of one attempt; returns the paths."""
    from mlsitter.ml.handoffs._charter import write_charter
    from mlsitter.processes.planning.scoping.report import write_scope_document

    folder = Path(out_dir) / f"attempt-{attempt}"
    json_path, yaml_path = write_charter(charter, folder)
    if charter_out:
        target = Path(charter_out)
        write_charter(charter, target.parent, stem=target.stem)
    files = write_scope_document(brief, availability, checked["feasibility"], charter, frame[brief.target].dropna(),
                                 gates, notes, folder, attempt)
    return {"charter": str(json_path), "charter_yaml": str(yaml_path), "html": str(files.html),
            "markdown": str(files.markdown), "json": str(files.json)}


def sign_off_question(charter: Any, feasibility: float, availability: Any) -> str:
    """The sign-off question; it says so when the charter lists no sensitive attribute to audit, and asks."""
    from mlsitter.processes.planning.scoping.risks import nothing_to_audit

    unaudited = nothing_to_audit(charter.sensitive_attributes, availability)
    return (f"Sign off the charter for {charter.name} ({charter.metric.name} target {charter.metric.threshold}, "
            f"feasibility {feasibility})? Reject with e.g. 'metric: f1; threshold: 0.7' or 'exclude: col' to revise "
            "it." + (f" Note: {unaudited}." if unaudited else ""))


@process("scoping", phase="planning",
         description="Project brief + data -> requirements, availability, feasibility, risks and a signed-off charter")
def scoping(
    ctx: Context,
    brief: Annotated[str, Doc("the project brief: a YAML file with objective, decision, target and metric")],
    data: Annotated[str, Doc("the dataset: a CSV, Parquet or JSON-lines file")],
    sep: Annotated[str, Doc("CSV field delimiter (empty: detected)")] = "",
    min_availability: Annotated[float, Interval(0, 100), Doc("gate: the 0-100 data-availability score must "
                                                             "reach this")] = 60.0,
    min_feasibility: Annotated[float, Interval(0, 100), Doc("gate: the 0-100 feasibility score (baseline CV, "
                                                            "learning curve) must reach this")] = 50.0,
    on_gate_fail: Annotated[GatePolicy, Doc("what a failed gate does: fail the run, ask a person, or "
                                            "warn")] = "ask",
    cv_folds: Annotated[int, Interval(2, None), Doc("cross-validation folds of the baseline models")] = 5,
    feasibility_rows: Annotated[int, Interval(0, None), Doc("rows sampled for the baseline CV, the learning "
                                                            "curve extrapolates to all (0: every row)")] = 20000,
    max_attempts: Annotated[int, Interval(1, None), Doc("review rounds of the charter before the run gives "
                                                        "up")] = 3,
    charter_out: Annotated[str, Doc("also write the charter to this path (.json and .yaml beside it)")] = "",
) -> ScopingResult:
    """Scope a project: ``brief`` is the YAML brief, ``data`` the dataset (CSV/Parquet/JSON lines).

    ``feasibility_rows`` caps the rows used for baseline CV (the learning curve is extrapolated to all
    rows); ``charter_out`` also writes the charter to that path (``.json`` and ``.yaml`` beside it)."""
    spec = ctx.task(read_brief, path=brief)
    frame = ctx.task(read_scoping_data, path=data, sep=sep)
    availability = ctx.task(check_availability, frame=frame, brief=spec)
    gates = [ctx.gate("data-availability", availability.score, ">=", min_availability, on_fail=on_gate_fail,
                      checkpoint="scope")]
    seed = ctx.seed()
    workdir = str(ctx.workdir / "scoping")
    files: dict[str, str] = {}
    charter = checked = None
    feedbacks: list[str] = []
    attempts = 0
    for attempt in ctx.refine("charter-sign-off", max_attempts=max_attempts):
        attempts = attempt.number
        feedbacks = [f for f in attempt.feedbacks if f]
        revised, overrides, notes = ctx.task(revise_requirements, brief=spec, feedbacks=feedbacks)
        checked = ctx.task(check_feasibility, frame=frame, brief=revised, availability=availability,
                           overrides=overrides, feasibility_rows=feasibility_rows, cv_folds=cv_folds, seed=seed)
        gate = ctx.gate("feasibility", checked["feasibility"].score, ">=", min_feasibility, on_fail=on_gate_fail,
                        checkpoint="scope")
        charter = ctx.task(build_charter, brief=revised, availability=availability, checked=checked,
                           overrides=overrides, data_path=data)
        files = ctx.task(write_scope, brief=revised, availability=availability, checked=checked, charter=charter,
                         frame=frame, gates=gate_rows([*gates, gate]), notes=notes, out_dir=workdir,
                         attempt=attempt.number, charter_out=charter_out)
        ctx.artifact(f"charter-{attempt.number}.json", files["charter"], media_type="application/json")
        ctx.artifact(f"charter-{attempt.number}.yaml", files["charter_yaml"], media_type="application/yaml")
        html = ctx.artifact(f"scope-{attempt.number}.html", files["html"], media_type="text/html")
        ctx.artifact(f"scope-{attempt.number}.md", files["markdown"], media_type="text/markdown")
        ctx.artifact(f"scope-{attempt.number}.json", files["json"], media_type="application/json")
        attempt.review(
            sign_off_question(charter, checked["feasibility"].score, availability),
            context={"metric": charter.metric.name, "threshold": charter.metric.threshold,
                     "availability": availability.score, "feasibility": checked["feasibility"].score,
                     "excluded": charter.excluded_columns, "risks": len(charter.risks)},
            artifacts=[html], checkpoint=("scope", "privacy"),  # the charter lists the personal data excluded
        )
    feas = checked["feasibility"]
    return ScopingResult(
        charter=files["charter"], charter_yaml=files["charter_yaml"], report=files["html"], target=charter.target,
        task=charter.task, metric=charter.metric.name, threshold=charter.metric.threshold,
        availability_score=availability.score, feasibility_score=feas.score, estimate=feas.estimate,
        plausible=feas.plausible, sensitive_attributes=list(charter.sensitive_attributes),
        excluded_columns=dict(charter.excluded_columns), risks=list(charter.risks), attempts=attempts,
        feedback=feedbacks,
    )
