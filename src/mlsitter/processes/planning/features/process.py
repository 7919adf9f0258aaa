"""The ``features`` process: build a scikit-learn ``ColumnTransformer`` from the data and the user's
spec (see :mod:`mlsitter.ml.features._pipeline`), check it for leakage and training-serving skew,
select features, and refine the design with the reviewer.

Steps: split (time-ordered if a time column is known, else stratified) -> leakage checks on the
training rows (single-feature power, dominance, reconstructed targets, declared or timestamp-based
post-outcome columns, suspects from an ``eda`` report, target-encoding gap, train/test row overlap,
time leakage) -> leakage suspects
leave the candidate columns unless pinned -> selection (mutual information, permutation importance,
correlation pruning) iterated to convergence -> fit, save the pipeline artifact -> serving skew (the
reloaded artifact applied record by record vs the offline pipeline).

Gates: ``leakage`` (blocking suspects among the selected columns, plus training rows dated after the
start of a time split's test rows, == 0), ``serving-skew`` (features
that differ == 0; the gate's name lists them), ``feature-quality`` (CV score >= chance + ``min_lift``).
Rejection feedback (``;``- or newline-separated): ``drop: a, b``, ``keep: a`` (pin), ``ratio: a/b``,
``interaction: a*b``, ``target_encode: c``, ``onehot: c``, ``ordinal: c``, ``text: c``,
``scale: robust``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from mlsitter import Context, Doc, Interval, process, task
from mlsitter.naming import stable_name
from mlsitter.processes.common.gates import gate_rows
from mlsitter.processes.vocabulary import GatePolicy


@stable_name("features.FeaturesResult")
@dataclass
class FeaturesResult:
    """The fitted pipeline artifact and what the design was approved on."""

    pipeline: str
    target: str
    task: str
    selected_columns: list[str]
    output_features: int
    excluded_columns: dict[str, str]
    leakage_suspects: list[str]
    leakage_findings: list[dict[str, Any]]
    skewed_features: list[str]
    quality: float
    quality_metric: str
    selection_rounds: int
    report: str
    attempts: int
    feedback: list[str] = field(default_factory=list)


@task(name="features.eda_leak_suspects")
def eda_leak_suspects(path: str) -> list[str]:
    """The ``leak_suspects`` an ``eda`` report JSON lists (searched at any depth; [] when it has none)."""
    import json
    from pathlib import Path

    from mlsitter.errors import DataError

    p = Path(path)
    if not p.is_file():
        raise DataError(f"EDA report {path!r} does not exist; pass the report JSON written by the eda process")
    try:
        queue = [json.loads(p.read_text(encoding="utf-8"))]
    except json.JSONDecodeError as exc:
        raise DataError(f"EDA report {path!r} is not JSON: {exc}") from None
    while queue:
        node = queue.pop(0)
        if isinstance(node, dict):
            if isinstance(node.get("leak_suspects"), list):
                return [str(c) for c in node["leak_suspects"]]
            queue.extend(v for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            queue.extend(v for v in node if isinstance(v, (dict, list)))
    return []


@task(name="features.read_feature_inputs")
def read_feature_inputs(data: str, sep: str, charter: str, target: str, spec: str, sample_rows: int,
                        seed: int) -> dict[str, Any]:
    """Read the data, the charter (if any) and the spec; resolve the target and columns to exclude."""
    from mlsitter.errors import InputError
    from mlsitter.ml.handoffs._charter import load_charter
    from mlsitter.ml.features._pipeline import infer_roles, parse_feature_spec
    from mlsitter.ml.io._table_reader import read_table, require_columns

    frame = read_table(data, sep=sep, sample_rows=sample_rows, seed=seed)
    loaded = load_charter(charter) if charter else None
    target = target or (loaded.target if loaded else "")
    if not target:
        raise InputError("no target: give target=COLUMN or a charter from the scoping process")
    require_columns(frame, [target], "target")
    frame = frame[frame[target].notna()].reset_index(drop=True)
    excluded = dict(loaded.excluded_columns) if loaded else {}
    parsed = parse_feature_spec(spec or None)
    infer_roles(frame, target, parsed, list(excluded))  # names every spec column missing from the data
    return {"frame": frame, "target": target, "spec": parsed,
            "excluded": {c: r for c, r in excluded.items() if c in frame.columns},
            "task": loaded.task if loaded else None,
            "positive_class": loaded.positive_class if loaded else None,
            "time_column": loaded.time_column if loaded else ""}


@task(name="features.split_for_features")
def split_for_features(frame: Any, target: str, test_size: float, time_column: str, seed: int) -> dict[str, Any]:
    """Split, then measure train/test row overlap and (time split) rows from the future."""
    from mlsitter.ml.data._data_split import split_train_test
    from mlsitter.ml.data._leakage import row_overlap, time_split_leakage

    split = split_train_test(frame, target, test_size, time_column, seed=seed)
    features = [c for c in frame.columns if c != target]
    overlap = row_overlap(split.train[features], split.test[features])
    time_leak = time_split_leakage(split.train[time_column], split.test[time_column]) if time_column else 0
    return {"train": split.train, "test": split.test, "kind": split.kind, "overlap": overlap, "time_leak": time_leak}


@task(name="features.check_leakage")
def check_leakage(train: Any, target: str, task: str | None, positive_class: str | None, excluded: dict[str, str],
                  spec: Any, outcome_time_column: str, near_perfect: float, folds: int, seed: int,
                  upstream_suspects: list[str]) -> dict[str, Any]:
    """Leakage checks on the training rows; returns the report, the problem type and the TE gap."""
    from mlsitter.ml.features._pipeline import infer_roles
    from mlsitter.ml.data._leakage import (LeakageFinding, check_feature_leakage, post_outcome_by_time,
                                     target_encoding_gap)
    from mlsitter.ml.modeling._problem_type import encode_target, infer_problem_type

    problem = infer_problem_type(train[target], task=task, positive_class=positive_class)
    y = encode_target(train[target], problem)
    columns = [c for c in train.columns if c != target and c not in excluded and c not in spec.drop]
    declared = [c for c, why in excluded.items() if "after the outcome" in why]
    report = check_feature_leakage(train[columns], y, problem, near_perfect=near_perfect, folds=folds, seed=seed,
                                   declared_post_outcome=[c for c in declared if c in train.columns])
    if outcome_time_column:
        report.findings.extend(post_outcome_by_time(train, outcome_time_column))
    flagged = set(report.suspect_columns())
    for column in upstream_suspects:
        if column in columns and column not in flagged:
            report.findings.append(LeakageFinding("flagged by eda", column, 1.0, 0.0,
                                                  f"{column} is a leak suspect in the EDA report"))
    roles = infer_roles(train, target, spec, list(excluded))
    gap = target_encoding_gap(train, y, problem, roles.target_encode, seed=seed)
    return {"report": report, "problem": problem, "encoding_gap": gap}


@task(name="features.revise_feature_spec")
def revise_feature_spec(spec: Any, feedbacks: list[str]) -> Any:
    """Apply reviewers' directives (see the module docstring)."""
    from mlsitter.ml.features._pipeline import revise_spec

    return revise_spec(spec, feedbacks)


@task(name="features.select_columns")
def select_columns(train: Any, target: str, spec: Any, problem: Any, candidates: list[str], max_iterations: int,
                   folds: int, seed: int) -> Any:
    """Mutual information, permutation importance, correlation pruning, until quality converges."""
    from mlsitter.ml.features._selection import select_features
    from mlsitter.ml.modeling._problem_type import encode_target

    y = encode_target(train[target], problem)
    return select_features(train, y, target, spec, problem, candidates, max_iterations=max_iterations, folds=folds,
                           seed=seed)


@task(name="features.fit_and_save_pipeline")
def fit_and_save_pipeline(train: Any, target: str, spec: Any, problem: Any, selected: list[str], out_path: str,
                          seed: int) -> dict[str, Any]:
    """Fit the pipeline on the training rows restricted to the selected columns and save it."""
    from mlsitter.ml.features._pipeline import fit_feature_pipeline
    from mlsitter.ml.modeling._problem_type import encode_target

    y = encode_target(train[target], problem)
    exclude = [c for c in train.columns if c not in selected and c != target]
    restricted = type(spec)(**{**spec.__dict__, "keep": [c for c in spec.keep if c in selected]})
    for key in ("numeric", "categorical", "ordinal", "target_encode", "datetime", "text"):
        setattr(restricted, key, [c for c in getattr(spec, key) if c in selected])
    restricted.ratios = [r for r in spec.ratios if all(p.strip() in selected for p in r.split("/"))]
    restricted.interactions = [r for r in spec.interactions if all(p.strip() in selected for p in r.split("*"))]
    restricted.drop = [c for c in spec.drop if c not in selected]
    fitted, features = fit_feature_pipeline(train, y, target, restricted, problem.task, exclude=exclude, seed=seed)
    fitted.save(out_path)
    roles = fitted.roles
    return {"path": out_path, "features": len(fitted.feature_names), "inputs": fitted.input_columns,
            "roles": {"numeric": roles.numeric, "categorical (one-hot)": roles.categorical, "ordinal": roles.ordinal,
                      "target encoded (cross-fitted)": roles.target_encode, "datetime parts": roles.datetime,
                      "text (hashed)": roles.text, "ratios": ["/".join(p) for p in roles.ratios],
                      "interactions": ["*".join(p) for p in roles.interactions],
                      "dropped": [f"{c} ({why})" for c, why in roles.dropped.items() if c in selected]}}


@task(name="features.check_serving_skew")
def check_serving_skew(pipeline_path: str, test: Any, rows: int, serving_code: str, seed: int) -> Any:
    """The saved artifact, applied record by record (or the team's serving code), vs the offline path."""
    from mlsitter.ml.features._pipeline import load_feature_pipeline
    from mlsitter.ml.features._serving_skew import compare_offline_serving, load_serving_transform

    transform = load_serving_transform(serving_code) if serving_code else None
    offline = load_feature_pipeline(pipeline_path)
    return compare_offline_serving(pipeline_path, test, rows=rows, seed=seed, serving_transform=transform,
                                   offline=offline)


@task(name="features.write_features")
def write_features(kw: dict[str, Any], out_dir: str) -> dict[str, str]:
    """Render the report of one attempt."""
    from mlsitter.processes.planning.features.report import write_features_report

    files = write_features_report(**kw, out_dir=out_dir)
    return {"html": str(files.html), "markdown": str(files.markdown), "json": str(files.json)}


def chance_level(problem: Any) -> float:
    """The score a model without signal gets: 0.5 AUC, 1/k balanced accuracy, 0 R²."""
    if problem.task == "regression":
        return 0.0
    return 0.5 if problem.is_binary else 1.0 / problem.n_classes


@process("features", phase="planning",
         description="Feature pipeline from data + spec, leakage and serving-skew checks, selection, design review")
def features(
    ctx: Context,
    data: Annotated[str, Doc("the table to design features for: a CSV, Parquet or JSON file")],
    target: Annotated[str, Doc("target column (default: the charter's)")] = "",
    charter: Annotated[str, Doc("scoping charter: target, task and columns to exclude")] = "",
    spec: Annotated[str, Doc("feature spec: a YAML file or inline YAML (roles, encodings, derived features)")] = "",
    sep: Annotated[str, Doc("CSV field delimiter (empty: detected)")] = "",
    sample_rows: Annotated[int, Interval(0, None), Doc("read a seeded sample of this many rows (0: every "
                                                       "row)")] = 0,
    test_size: Annotated[float, Interval(0, 1, closed="neither"), Doc("share of rows held out as the test split "
                                                                       "(the latest rows for a time split)")] = 0.2,
    time_column: Annotated[str, Doc("time column: split by time and check for time leakage (default: the "
                                    "charter's)")] = "",
    outcome_time_column: Annotated[str, Doc("when the outcome became known: columns dated after it are "
                                            "post-outcome leaks")] = "",
    cv_folds: Annotated[int, Interval(2, None), Doc("cross-validation folds of the leakage checks and the "
                                                    "selection")] = 3,
    max_iterations: Annotated[int, Interval(1, None), Doc("selection rounds at most (fewer when quality "
                                                          "converges)")] = 3,
    near_perfect: Annotated[float, Interval(0, 1), Doc("a feature that alone scores this (ROC AUC or R²) is a "
                                                       "leak suspect")] = 0.97,
    min_lift: Annotated[float, Interval(0, 1), Doc("gate: the CV quality of the selected features must beat "
                                                   "chance by this much")] = 0.02,
    skew_rows: Annotated[int, Interval(1, None), Doc("test rows sent one at a time through the serving path to "
                                                     "measure skew")] = 200,
    serving_code: Annotated[str, Doc("'file.py:function' taking (pipeline, record), checked for skew instead of "
                                     "the default serving path")] = "",
    eda_report: Annotated[str, Doc("JSON report of an eda run: its leak suspects become blocking "
                                   "findings")] = "",
    on_gate_fail: Annotated[GatePolicy, Doc("what a failed gate does: fail the run, ask a person, or "
                                            "warn")] = "ask",
    max_attempts: Annotated[int, Interval(1, None), Doc("review rounds of the design before the run gives "
                                                        "up")] = 3,
) -> FeaturesResult:
    """Design features for ``data``: ``target`` or a scoping ``charter``; ``spec`` is a YAML file or
    inline YAML (keys in :mod:`mlsitter.ml.features._pipeline`); ``serving_code`` ('file.py:function'
    taking (pipeline, record)) is checked for skew instead of the default serving path; ``eda_report``
    (the JSON report of an ``eda`` run) adds its leak suspects to the blocking findings (pin one with
    ``keep`` to override)."""
    seed = ctx.seed()
    inputs = ctx.task(read_feature_inputs, data=data, sep=sep, charter=charter, target=target, spec=spec,
                      sample_rows=sample_rows, seed=seed)
    target = inputs["target"]
    split = ctx.task(split_for_features, frame=inputs["frame"], target=target, test_size=test_size,
                     time_column=time_column or inputs["time_column"], seed=seed)
    upstream = ctx.task(eda_leak_suspects, path=eda_report) if eda_report else []
    leak = ctx.task(check_leakage, train=split["train"], target=target, task=inputs["task"],
                    positive_class=inputs["positive_class"], excluded=inputs["excluded"], spec=inputs["spec"],
                    outcome_time_column=outcome_time_column, near_perfect=near_perfect, folds=cv_folds, seed=seed,
                    upstream_suspects=upstream)
    workdir = ctx.workdir / "features"
    for attempt in ctx.refine("feature-design", max_attempts=max_attempts):
        feedbacks = [f for f in attempt.feedbacks if f]
        done = design_attempt(ctx, attempt.number, feedbacks, inputs=inputs, split=split, leak=leak, target=target,
                              folder=workdir / f"attempt-{attempt.number}", max_iterations=max_iterations,
                              cv_folds=cv_folds, skew_rows=skew_rows, serving_code=serving_code, seed=seed,
                              min_lift=min_lift, on_gate_fail=on_gate_fail)
        attempt.review(
            f"Approve the feature design ({len(done.selection.selected)} columns, {done.fitted['features']} features, "
            f"CV {done.selection.quality:.4f})? Reject with e.g. 'drop: a, b' or 'keep: c' or 'ratio: a/b'.",
            context={"selected": done.selection.selected, "leakage_suspects": done.blocking,
                     "quality": done.selection.quality},
            artifacts=[done.html], checkpoint="feature-integrity",
        )
    return features_result(done, target=target, inputs=inputs, leak=leak, attempts=attempt.number, feedbacks=feedbacks)


# -- the chapters of the story -----------------------------------------------------------------------------
def candidate_columns(columns: list[str], target: str, excluded: dict[str, str], revised: Any,
                      blocking: list[str]) -> list[str]:
    """The columns selection may choose from: all but the target, the excluded, the dropped and the blocking
    leak suspects (unless pinned with ``keep``), then every pinned column."""
    candidates = [c for c in columns
                  if c != target and c not in excluded and c not in revised.drop
                  and (c not in blocking or c in revised.keep)]
    return candidates + [c for c in revised.keep if c not in candidates and c != target]


def leaking_selection(blocking: list[str], selected: list[str], time_leak: int) -> list[str]:
    """What leaks into the design: selected leak suspects, and training rows dated after the test split."""
    leaking = sorted(set(blocking) & set(selected))
    if time_leak:
        leaking.append(f"{time_leak} training rows dated after the test split")
    return leaking


@stable_name("features.DesignAttempt")
@dataclass
class DesignAttempt:
    """One attempt's selection, fitted pipeline, skew check, report and the suspects it kept out (never journaled)."""

    selection: Any
    fitted: dict[str, Any]
    skew: Any
    files: dict[str, str]
    html: Any  # the report's artifact reference
    blocking: list[str]


def design_attempt(ctx: Context, number: int, feedbacks: list[str], *, inputs: dict[str, Any], split: dict[str, Any],
                   leak: dict[str, Any], target: str, folder: Path, max_iterations: int, cv_folds: int, skew_rows: int,
                   serving_code: str, seed: int, min_lift: float, on_gate_fail: str) -> DesignAttempt:
    """One design: revise the spec with the feedback so far, select columns, fit and save the pipeline, check
    serving skew, gate leakage, skew and quality, and write the report."""
    from mlsitter.ml.metrics._metric_catalog import default_success_metric

    problem, report = leak["problem"], leak["report"]
    revised, notes = ctx.task(revise_feature_spec, spec=inputs["spec"], feedbacks=feedbacks)
    blocking = report.suspect_columns()
    candidates = candidate_columns(split["train"].columns, target, inputs["excluded"], revised, blocking)
    selection = ctx.task(select_columns, train=split["train"], target=target, spec=revised, problem=problem,
                         candidates=candidates, max_iterations=max_iterations, folds=cv_folds, seed=seed)
    fitted = ctx.task(fit_and_save_pipeline, train=split["train"], target=target, spec=revised, problem=problem,
                      selected=selection.selected, out_path=str(folder / "feature_pipeline.pkl"), seed=seed)
    skew = ctx.task(check_serving_skew, pipeline_path=fitted["path"], test=split["test"], rows=skew_rows,
                    serving_code=serving_code, seed=seed)
    leaking = leaking_selection(blocking, selection.selected, split["time_leak"])
    gates = [
        ctx.gate("leakage" if not leaking else f"leakage ({', '.join(leaking)})", len(leaking), "==", 0,
                 on_fail=on_gate_fail, checkpoint="feature-integrity"),
        ctx.gate("serving-skew" if not skew.skewed else f"serving-skew ({', '.join(skew.names())})",
                 skew.skewed_features, "==", 0, on_fail="fail", checkpoint="feature-integrity"),
        ctx.gate("feature-quality", round(selection.quality, 6), ">=", chance_level(problem) + min_lift,
                 on_fail=on_gate_fail, checkpoint="feature-integrity"),
    ]
    files = ctx.task(write_features, kw={
        "attempt": number, "split_kind": split["kind"], "train_rows": len(split["train"]),
        "test_rows": len(split["test"]), "roles": fitted["roles"], "leakage": report,
        "suspects_excluded": [c for c in blocking if c not in selection.selected], "overlap": split["overlap"],
        "time_leak_rows": split["time_leak"], "encoding_gap": leak["encoding_gap"], "selection": selection,
        "scoring": default_success_metric(problem.task, problem.n_classes), "skew": skew,
        "feature_count": fitted["features"], "gates": gate_rows(gates), "notes": notes}, out_dir=str(folder))
    ctx.artifact(f"feature-pipeline-{number}.pkl", fitted["path"], media_type="application/octet-stream")
    html = ctx.artifact(f"features-{number}.html", files["html"], media_type="text/html")
    ctx.artifact(f"features-{number}.md", files["markdown"], media_type="text/markdown")
    ctx.artifact(f"features-{number}.json", files["json"], media_type="application/json")
    return DesignAttempt(selection, fitted, skew, files, html, blocking)


def features_result(done: DesignAttempt, *, target: str, inputs: dict[str, Any], leak: dict[str, Any], attempts: int,
                    feedbacks: list[str]) -> FeaturesResult:
    """The result: the approved pipeline, what it selected and why the rest was left out."""
    from mlsitter.ml.metrics._metric_catalog import default_success_metric

    problem, report, selection = leak["problem"], leak["report"], done.selection
    return FeaturesResult(
        pipeline=done.fitted["path"], target=target, task=problem.task, selected_columns=list(selection.selected),
        output_features=done.fitted["features"], excluded_columns=dict(inputs["excluded"]),
        leakage_suspects=report.suspect_columns(),
        leakage_findings=[{"check": f.check, "column": f.column, "value": f.value, "blocking": f.blocking,
                           "detail": f.detail} for f in report.findings],
        skewed_features=done.skew.names(), quality=selection.quality,
        quality_metric=default_success_metric(problem.task, problem.n_classes),
        selection_rounds=len(selection.rounds), report=done.files["html"], attempts=attempts, feedback=feedbacks,
    )
