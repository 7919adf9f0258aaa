"""Task functions of the ``integration-test`` process: each does one stage of the end-to-end test (the model
from the registry, the sampled data and its contract, the served model probed by clients and read by a
downstream consumer, a retrain with the same seed, the environment) or reads the evidence the rubric scores."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlsitter.errors import DataError, InputError
from mlsitter.naming import stable_name
from mlsitter.runtime import task

ROLE_HEADER = "x-served-role"


@stable_name("integration-test.ModelUnderTest")
@dataclass
class ModelUnderTest:
    """The registered version under test and what the registry says of it."""

    name: str
    version: int
    artifact_sha256: str
    mlsitter_run_id: str
    dataset_version: str
    code_version: str
    process: str

    @property
    def label(self) -> str:
        return f"{self.name}/{self.version}"


@stable_name("integration-test.Sample")
@dataclass
class Sample:
    """The ingested rows (a seeded sample): the part a retrain fits on and the golden part the tests score."""

    train: Any
    golden: Any
    rows_read: int
    task: str  # classification | regression
    labels: list[Any]
    columns: dict[str, str]  # column -> dtype of the training data
    metric: str = ""  # the quality metric (the training default for the task unless one was named)


@stable_name("integration-test.DataContract")
@dataclass
class DataContract:
    """The contract the rows were checked against, where it came from, and what failed."""

    source: str
    path: str
    sha256: str
    rows_checked: int
    failing_rows: int
    problems: list[str] = field(default_factory=list)


@stable_name("integration-test.ServerFindings")
@dataclass
class ServerFindings:
    """What the clients and the downstream consumer measured on the served model."""

    url: str
    schema: list[dict[str, Any]]
    request_probes: int
    request_as_expected: int
    request_problems: list[str]
    golden_sent: int
    golden_answered: int
    response_problems: list[str]
    response_ok: int
    predictions: list[Any]
    scores: list[Any]
    skewed_rows: int
    max_score_difference: float
    load: dict[str, Any]
    consumer: dict[str, Any]
    rollback: dict[str, Any] | None = None


@task(name="integration-test.resolve_model")
def resolve_model_under_test(model: str) -> ModelUnderTest:
    """The version ``model`` names in the registry, with its lineage; an unknown name, alias or version is an
    InputError listing what the registry has."""
    from mlsitter.ml.tracking import resolve_model

    found = resolve_model(model)
    return ModelUnderTest(found.name, found.version, found.artifact_sha256, found.mlsitter_run_id,
                          found.dataset_version, found.code_version, found.process)


def registered(model: str) -> bool:
    """Whether the registry knows ``model`` (the input check that refuses an unknown one before a run exists)."""
    from mlsitter.ml.tracking import resolve_model

    try:
        resolve_model(model)
    except Exception:
        return False
    return True


@task(name="integration-test.ingest")
def ingest(data: str, target: str, sample: int, golden_share: float, seed: int, metric: str = "auto") -> Sample:
    """Read ``data``, draw ``sample`` rows with ``seed`` and split them into a retrain part and a golden part;
    the quality metric is ``metric``, or training's default for the target's task."""
    from mlsitter.ml.io import read_table
    from mlsitter.ml.metrics import default_training_metric, get_metric, infer_task

    frame = read_table(data)
    if target not in frame.columns:
        raise DataError(f"target column {target!r} is not in {data}; its columns are "
                        f"{', '.join(map(str, frame.columns))}")
    frame = frame[frame[target].notna()]
    rows = len(frame)
    if rows < 20:
        raise DataError(f"{data} has {rows} labelled rows; the integration test needs at least 20")
    picked = frame.sample(n=min(sample, rows), random_state=seed).reset_index(drop=True)
    cut = max(1, int(round(len(picked) * golden_share)))
    kind = infer_task(picked[target])
    labels = sorted(picked[target].unique().tolist(), key=repr) if kind == "classification" else []
    name = get_metric(default_training_metric(kind, len(labels)) if metric in ("", "auto") else metric, kind).name
    return Sample(picked.iloc[cut:].reset_index(drop=True), picked.iloc[:cut].reset_index(drop=True), rows, kind,
                  [v.item() if hasattr(v, "item") else v for v in labels],
                  {str(c): str(t) for c, t in picked.dtypes.items()}, name)


def _contract_artifact(store: Any, run_id: str) -> tuple[str, str] | None:
    """(path, sha256) of the ``contract.*`` artifact a data-validation run recorded."""
    for event in store.events(run_id, types=("artifact.recorded",)):
        if str(event.data.get("name", "")).startswith("contract."):
            return str(event.data["path"]), str(event.data["sha256"])
    return None


@task(name="integration-test.check_data_contract")
def check_data_contract(frames: list[Any], contract: str) -> DataContract:
    """Enforce the data contract on the sampled rows. ``contract`` is a contract file, a data-validation run
    id (its recorded contract artifact), or empty: the newest completed data-validation run's contract, or
    one inferred from these rows when there is none (said so in the row)."""
    import pandas as pd

    from mlsitter import Store
    from mlsitter.ml.data import contract_hash, enforce_contract, infer_contract, load_contract

    frame = pd.concat(frames, ignore_index=True)
    source, path, sha = "", "", ""
    if contract and Path(contract).expanduser().is_file():
        source, path = "file", str(Path(contract).expanduser())
    else:
        store = Store()
        if contract:
            try:
                run = store.get_run(contract)
            except Exception:
                raise InputError(f"contract {contract!r} is neither a contract file nor a run id; give the path of a "
                                 "data-validation contract (YAML/JSON) or the id of the data-validation run") from None
            found = _contract_artifact(store, run.run_id)
            if found is None:
                raise InputError(f"run {contract} ({run.process}) recorded no contract artifact; give a "
                                 "data-validation run or a contract file")
            source, (path, sha) = f"data-validation run {run.run_id}", found
        else:
            for run in store.list_runs(process="data-validation", status="completed", limit=20):
                found = _contract_artifact(store, run.run_id)
                if found is not None:
                    source, (path, sha) = f"data-validation run {run.run_id}", found
                    break
    if path:
        loaded = load_contract(path)
    else:
        loaded = infer_contract(frame, name="sample")
        source = "inferred from the sampled rows (no data-validation contract in this store)"
    violations = enforce_contract(loaded, frame)
    problems = list(violations.column_problems)[:10]
    problems += [f"{c['column']} {c['check']}: {c['failing_rows']} row(s), e.g. {c.get('examples', '')}"
                 for c in violations.by_check if c.get("failing_rows")][:10]
    return DataContract(source, path, sha or contract_hash(loaded), violations.rows_checked, violations.failing_rows,
                        problems)


def json_rows(frame: Any) -> list[dict[str, Any]]:
    """Rows as a client sends them (NaN as null)."""
    from mlsitter.ml.features import json_records

    return json_records(frame)  # type: ignore[no-any-return]


def _scores_differ(a: Any, b: Any, tolerance: float) -> bool:
    """Whether two scores differ beyond ``tolerance`` (relative above 1); a missing score (None, as JSON
    carries NaN) equals a NaN one, so a NaN the model produced is not counted as skew (finiteness is)."""
    import math

    def missing(v: Any) -> bool:
        return v is None or (isinstance(v, float) and math.isnan(v))

    if missing(a) or missing(b):
        return missing(a) != missing(b)
    return bool(abs(float(a) - float(b)) > tolerance * max(1.0, abs(float(a))))


@task(name="integration-test.exercise_server")
def exercise_server(model: str, version: int, golden: Any, target: str, labels: list[Any], deployment: str,
                    requests: int, concurrency: int, load_seconds: float, ready_timeout: float,
                    check_rollback: bool, skew_tolerance: float = 1e-6) -> ServerFindings:
    """Serve the version as its own process on a free loopback port, then: the request contract, each golden
    record sent alone (answers against the response contract, and against the same rows predicted offline in
    batch), a bounded load, a downstream consumer reading the prediction log, and (``check_rollback``) a
    candidate put beside it behind a router and rolled back. Every server is stopped at the end."""
    from mlsitter.ml.serving import (
        CHAMPION, DeploymentState, LoadGenerator, ensure_server, load_served_model,
        read_predictions, save_state, serving_home, stop_all, validate_records)
    from mlsitter.ml.testing import check_predictions, predict_each, probe_request_schema, response_problems

    records = json_rows(golden.drop(columns=[target]))
    state = DeploymentState(deployment, model)
    save_state(state)
    try:
        record, _ = ensure_server(state, CHAMPION, model, version, timeout=ready_timeout)
        started = time.time()
        served = load_served_model(f"{model}/{version}")  # the offline path: the same artifact, in process
        probe = probe_request_schema(record.url, records[0], served.schema.to_dict())
        answers = predict_each(record.url, records, concurrency=concurrency)
        ok = [(i, body) for i, (status, body) in enumerate(answers) if status == 200]
        problems = []
        response_ok = 0
        for i, body in ok:
            found = response_problems(body, label=served.label, labels=labels or None)
            response_ok += not found
            problems += [f"golden record {i}: {p}" for p in found[:2]]
        problems += [f"golden record {i}: HTTP {status}: {str(body)[:160]}" for i, (status, body) in enumerate(answers)
                     if status != 200][:5]
        rows, _ = validate_records(served.schema, records)
        offline = served.predict_rows(rows)
        skewed, worst = 0, 0.0
        for i, body in ok:
            expected, score = offline[i], body.get("score")
            if body.get("prediction") != expected.prediction or _scores_differ(expected.score, score, skew_tolerance):
                skewed += 1
            if isinstance(score, (int, float)) and expected.score is not None and expected.score == expected.score:
                worst = max(worst, abs(float(expected.score) - float(score)))
        load = LoadGenerator(record.url, records, concurrency=concurrency, max_requests=requests,
                             max_seconds=load_seconds, units=0).run()
        logged = [e for e in read_predictions(state.log_dir, since=started) if e.get("role") == CHAMPION]
        consumer = check_predictions(logged, labels=labels or None)
        rollback = exercise_rollback(state, model, version, records, ready_timeout) if check_rollback else None
    finally:
        stop_all(state)
        (serving_home() / f"{deployment}.json").unlink(missing_ok=True)  # a throwaway deployment
    return ServerFindings(record.url, probe.schema, probe.sent, probe.as_expected, probe.problems, len(records),
                          len(ok), problems[:10], response_ok, [b.get("prediction") for _, b in ok],
                          [b.get("score") for _, b in ok], skewed, float(worst),
                          {"requests": load.requests, "ok": load.ok, "seconds": round(load.seconds, 3),
                           "throughput": round(load.throughput, 3), "p50_ms": load.p50_ms, "p99_ms": load.p99_ms,
                           "concurrency": concurrency, "max_requests": requests, "max_seconds": load_seconds},
                          {"read": consumer.read, "in_range": consumer.in_range, "finite": consumer.finite,
                           "errors": consumer.errors, "examples": consumer.examples},
                          rollback)


def exercise_rollback(state: Any, model: str, version: int, records: list[dict[str, Any]],
                      ready_timeout: float, probes: int = 20) -> dict[str, Any]:
    """A candidate server of the same version beside the champion behind a router at 50 %, then ml/serving's
    rollback: afterwards every answer must come from the champion and the candidate's process must be gone."""
    import httpx

    from mlsitter.ml.serving import CANDIDATE, ensure_router, ensure_server, is_alive, rollback, set_traffic

    candidate, _ = ensure_server(state, CANDIDATE, model, version, timeout=ready_timeout)
    router, _ = ensure_router(state, timeout=ready_timeout)
    set_traffic(state, 0.5)

    def roles() -> list[str]:
        with httpx.Client(timeout=10.0) as client:
            return [client.post(router.url + "/predict", json={"record": records[i % len(records)],
                                                                "unit_id": f"unit-{i}"}).headers.get(ROLE_HEADER, "")
                    for i in range(probes)]

    before = roles()
    done = rollback(state)
    after = roles()
    return {"before": {r: before.count(r) for r in set(before)}, "after": {r: after.count(r) for r in set(after)},
            "champion_share_after": after.count("champion") / len(after), "candidate_stopped": not is_alive(candidate),
            "stopped": done["stopped"], "shares": done["shares"]}


@task(name="integration-test.reproduce_training")
def reproduce(model: str, version: int, train: Any, golden: Any, target: str, metric: str, task_kind: str,
              labels: list[Any], seed: int) -> Any:
    """Refit the registered estimator twice with ``seed`` on the retrain rows and score both fits on the golden
    rows with ``metric`` (the metric functions training uses)."""
    from mlsitter.ml.metrics import get_metric
    from mlsitter.ml.testing import reproduce_training
    from mlsitter.ml.tracking import load_registered_model

    estimator = load_registered_model(f"{model}/{version}")
    return reproduce_training(estimator, train.drop(columns=[target]), train[target], golden.drop(columns=[target]),
                              golden[target], metric=get_metric(metric, task_kind), seed=seed,
                              classes=labels or None)


@task(name="integration-test.check_dependencies")
def check_dependencies(model: str, version: int) -> dict[str, Any]:
    """The model's pinned requirements (logged with it) against what this environment has installed."""
    import warnings

    import mlflow

    from mlsitter.ml.testing import requirement_mismatches
    from mlsitter.ml.tracking import resolve_model

    found = resolve_model(f"{model}/{version}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = mlflow.artifacts.download_artifacts(found.model_uri)
    checked, differing = requirement_mismatches(local)
    return {"checked": checked, "differing": differing}


def feature_schema_problems(schema: list[dict[str, Any]], columns: dict[str, str]) -> list[str]:
    """Each served input field that the training data lacks or holds with another kind of type."""
    numeric = {"double", "float", "long", "integer"}
    problems = []
    for spec in schema:
        name, kind = spec["name"], spec.get("type", "string")
        dtype = columns.get(name)
        if dtype is None:
            problems.append(f"{name!r} ({kind}) is served but not in the training data")
            continue
        data_numeric = dtype.startswith(("int", "float", "uint", "Int", "Float", "UInt"))
        if (kind in numeric) != data_numeric or (kind == "boolean") != (dtype in ("bool", "boolean")):
            problems.append(f"{name!r} is served as {kind} but the training data holds it as {dtype}")
    return problems


# -- the contract table ---------------------------------------------------------------------------------------
@task(name="integration-test.contract_table")
def contract_table(contract: DataContract, sample: Sample, findings: ServerFindings, reproduction: Any,
                   dependencies: dict[str, Any], quality: dict[str, Any], thresholds: dict[str, Any]) -> list[Any]:
    """Every contract test as a named row: measured value, threshold, verdict and the detail that explains it."""
    from mlsitter.ml.testing import contract_test

    t = thresholds
    valid_share = 1 - contract.failing_rows / contract.rows_checked if contract.rows_checked else 0.0
    schema_problems = feature_schema_problems(findings.schema, sample.columns)
    consumer = findings.consumer
    read = consumer["read"]
    load = findings.load
    rows = [
        contract_test("data-contract", "sampled rows satisfy the data contract", round(valid_share, 6), ">=",
                      t["min_valid_rows"], f"{contract.failing_rows} of {contract.rows_checked} rows fail the contract "
                      f"({contract.source}); " + "; ".join(contract.problems[:3])),
        contract_test("request-schema", "the server lists the registered signature, answers a valid record and "
                      "refuses schema violations with a 422 naming the field",
                      findings.request_as_expected, "==", findings.request_probes,
                      "; ".join(findings.request_problems)),
        contract_test("response-schema", "every answer carries request id, model version, a prediction of the "
                      "target's type and a numeric (or null) score", findings.response_ok, "==", findings.golden_sent,
                      "; ".join(findings.response_problems[:3])),
        contract_test("feature-schema", "each served input field is in the training data with the same kind of type",
                      len(schema_problems), "==", 0, "; ".join(schema_problems[:5])),
        contract_test("serving-skew", "single-record answers of the server equal the same rows predicted offline in "
                      "batch", findings.skewed_rows, "==", 0,
                      f"max score difference {findings.max_score_difference:.3g} over {findings.golden_answered} rows"),
        contract_test("predictions-in-range", "the downstream consumer reads only known labels and scores in [0, 1]"
                      if sample.labels else "the downstream consumer reads numeric predictions",
                      round(consumer["in_range"] / read, 6) if read else None, "==", 1.0,
                      f"{read} logged predictions read; " + "; ".join(consumer["examples"][:3])),
        contract_test("predictions-finite", "no NaN or Inf among the logged predictions and scores",
                      round(consumer["finite"] / read, 6) if read else None, "==", 1.0,
                      f"{read - consumer['finite']} of {read} not finite" if read else "no prediction was logged"),
        contract_test("latency-p99-ms", f"p99 latency of a bounded load ({load['max_requests']} requests, "
                      f"{load['concurrency']} clients, at most {load['max_seconds']:g} s, loopback)",
                      None if load["p99_ms"] is None else round(load["p99_ms"], 3), "<=", t["max_p99_ms"],
                      f"{load['ok']} of {load['requests']} answered; p50 "
                      f"{'-' if load['p50_ms'] is None else round(load['p50_ms'], 1)} ms"),
        contract_test("throughput-rps", "answered requests per second under that load", load["throughput"], ">=",
                      t["min_throughput"], f"{load['ok']} answered in {load['seconds']:.2f} s"),
        contract_test("golden-quality", f"{quality['metric']} on the golden set through the server",
                      None if quality["value"] is None else round(quality["value"], 6), quality["op"],
                      quality["threshold"], f"{findings.golden_answered} golden rows answered, "
                      f"{quality['left_out']} left out (no finite score)"),
        contract_test("training-reproducible", "two refits with one seed on the same rows give the same golden "
                      f"{quality['metric']} within the tolerance",
                      None if reproduction.difference is None else round(reproduction.difference, 12), "<=",
                      t["reproducibility_tolerance"],
                      reproduction.detail or f"{reproduction.first} and {reproduction.second} (seed "
                                             f"{reproduction.seed}, {reproduction.train_rows} rows)"),
        contract_test("dependencies", "the environment has the versions the model was logged with",
                      len(dependencies["differing"]), "==", 0,
                      f"{dependencies['checked']} pinned requirements checked; "
                      + "; ".join(dependencies["differing"][:5])),
    ]
    if findings.rollback is not None:
        back = findings.rollback
        rows.append(contract_test(
            "rollback", "after ml/serving's rollback every answer comes from the champion and the candidate is stopped",
            back["champion_share_after"] if back["candidate_stopped"] else 0.0, "==", 1.0,
            f"before: {back['before']}; after: {back['after']}; candidate stopped: {back['candidate_stopped']}"))
    return rows


@task(name="integration-test.golden_quality")
def score_golden(findings: ServerFindings, golden: Any, target: str, metric: str, task_kind: str, labels: list[Any],
                 threshold: float) -> dict[str, Any]:
    """The metric on the golden rows the server answered, with the direction the metric has."""
    from mlsitter.ml.metrics import get_metric
    from mlsitter.ml.testing import golden_quality

    scorer = get_metric(metric, task_kind)
    answered = golden[target].iloc[:len(findings.predictions)] if findings.golden_answered == findings.golden_sent \
        else None
    if answered is None:
        return {"metric": scorer.name, "value": None, "op": ">=" if scorer.greater_is_better else "<=",
                "threshold": threshold, "left_out": findings.golden_sent}
    value, left_out = golden_quality(scorer, answered.tolist(), findings.predictions, findings.scores, labels or None)
    return {"metric": scorer.name, "value": value, "op": ">=" if scorer.greater_is_better else "<=",
            "threshold": threshold, "left_out": left_out}


# -- evidence for the rubric -----------------------------------------------------------------------------------
def run_evidence(store: Any, run: Any) -> Any:
    """One run's journal as the rubric's plain record: completed steps, gates with their checkpoints, the
    answers to its questions (who, how authenticated) and its artifacts."""
    from mlsitter.ml.testing import ApprovalRecord, GateRecord, RunEvidence
    from mlsitter.runtime.compliance import build_record

    events = store.events(run.run_id)
    names: dict[str, str] = {}
    steps = []
    for event in events:
        if event.type == "step.started":
            names[event.data["key"]] = event.data["name"]
        elif event.type == "step.completed" and event.data.get("key") in names:
            steps.append(names[event.data["key"]])
    record = build_record({run.run_id: events}, run.run_id)
    served: dict[str, list[str]] = {}
    for phase in record.phases:
        for checkpoint in phase.checkpoints:
            for item in [*checkpoint.gates, *checkpoint.approvals]:
                served.setdefault(item.key, []).append(checkpoint.name)
    gates = [GateRecord(g.name, g.value, g.operator, g.threshold, g.outcome in ("passed", "overridden"), g.on_fail,
                        tuple(served.get(g.key, ())), g.key)
             for g in [*record.untagged_gates, *(g for p in record.phases for c in p.checkpoints for g in c.gates)]]
    approvals = []
    for q in [*record.untagged_approvals, *(q for p in record.phases for c in p.checkpoints for q in c.approvals)]:
        for signature in q.signatures:
            if not signature.partial:
                approvals.append(ApprovalRecord(q.question, q.outcome == "approved", signature.user, signature.auth,
                                                tuple(q.tags), tuple(served.get(q.key, ())),
                                                tuple(a.get("sha256", "") for a in q.artifacts), q.key))
    unique_gates = list({g.key: g for g in gates}.values())
    unique_approvals = list({(a.key, a.by): a for a in approvals}.values())
    return RunEvidence(run.run_id, run.process, run.status, run.created_at, tuple(steps), tuple(unique_gates),
                       tuple(unique_approvals), tuple((str(a["name"]), str(a["sha256"])) for a in record.artifacts))


@task(name="integration-test.score_ml_test_score")
def score_rubric(model: ModelUnderTest, repeated: int, exclude_processes: list[str] | None = None,
                 exclude_runs: list[str] | None = None) -> Any:
    """Read every run of this store (newest first) into evidence records and score the 28 tests on them;
    ``exclude_processes`` and ``exclude_runs`` leave some runs out (what the score would be without them)."""
    from mlsitter import Store
    from mlsitter.ml.testing import ModelEvidence, ml_test_score

    store = Store()
    runs, offset = [], 0
    while batch := store.list_runs(limit=200, offset=offset):
        offset += len(batch)
        runs += [r for r in batch if r.process not in (exclude_processes or [])
                 and r.run_id not in (exclude_runs or [])]
    evidence = [run_evidence(store, run) for run in runs]
    return ml_test_score(evidence, repeated=repeated,
                         model=ModelEvidence(model.name, model.version, model.mlsitter_run_id, model.dataset_version,
                                             model.code_version, model.process))
