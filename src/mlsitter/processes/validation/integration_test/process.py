"""The ``integration-test`` process: the ML system tested end to end on fixture data (or a sample of the user's
data): ingest, the data-validation contract, the model from the registry served as its own process on a
free loopback port, clients and a downstream consumer checking it against its contracts, a retrain with the
same seed, and the ML Test Score (Breck et al. 2017) scored from what the journal and the registry show.
A gate on the contract pass rate and one on the score, then an approval of the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from mlsitter import Context, Doc, Interval, process
from mlsitter.naming import stable_name
from mlsitter.runtime.inputs import Check
from mlsitter.processes.validation.integration_test import tasks as steps
from mlsitter.processes.validation.integration_test.report import write_integration_report
from mlsitter.processes.vocabulary import GatePolicy, Seed


@stable_name("integration-test.IntegrationTestResult")
@dataclass
class IntegrationTestResult:
    """The contract tests, the ML Test Score, the decision and where the report is."""

    model: str
    pass_rate: float
    failed: list[str]
    contract_tests: list[dict[str, Any]]
    ml_test_score: float
    sections: dict[str, float]
    weakest_section: str
    rubric: list[dict[str, Any]]
    approved: bool
    approved_by: str
    report: str
    gates: list[dict[str, Any]] = field(default_factory=list)


@process("integration-test", phase="validation",
         description="End-to-end pipeline test against contracts, and the ML Test Score scored from evidence")
def integration_test(
    ctx: Context,
    model: Annotated[str, Check(steps.registered, "a model the registry knows: NAME@ALIAS or NAME/VERSION"),
                     Doc("the registered model under test: NAME@ALIAS or NAME/VERSION")],
    data: Annotated[str, Doc("fixture table (or the user's data) with the model's input columns and the target")],
    target: Annotated[str, Doc("the target column")],
    contract: Annotated[str, Doc("data contract: a file, a data-validation run id, or empty for the newest "
                                 "data-validation run's")] = "",
    sample: Annotated[int, Interval(20, None), Doc("rows drawn from the data (seeded)")] = 400,
    golden_share: Annotated[float, Interval(0.1, 0.9), Doc("share of the sample kept as the golden set")] = 0.3,
    seed: Seed = 0,
    metric: Annotated[str, Doc("golden-set metric (default: training's for the task)")] = "auto",
    min_quality: Annotated[float, Doc("golden-set metric threshold (>= for scores, <= for losses)")] = 0.7,
    requests: Annotated[int, Interval(1, 100_000), Doc("requests of the bounded load")] = 300,
    concurrency: Annotated[int, Interval(1, 64), Doc("concurrent clients of the load")] = 4,
    load_seconds: Annotated[float, Interval(0.5, 600), Doc("the load stops after this long")] = 10.0,
    max_p99_ms: Annotated[float, Interval(0, None, closed="neither"), Doc("latency SLO: p99 under load")] = 500.0,
    min_throughput: Annotated[float, Interval(0, None), Doc("throughput SLO: answered requests/s")] = 10.0,
    reproducibility_tolerance: Annotated[float, Interval(0, None), Doc("largest metric difference of two "
                                                                       "seeded refits")] = 1e-9,
    min_valid_rows: Annotated[float, Interval(0, 1), Doc("share of sampled rows that must meet the contract")] = 1.0,
    check_rollback: Annotated[bool, Doc("exercise a rollback on a throwaway deployment (two more servers)")] = True,
    ready_timeout: Annotated[float, Interval(1, 600), Doc("seconds a server may take to become ready")] = 120.0,
    min_pass_rate: Annotated[float, Interval(0, 1), Doc("share of contract tests that must pass")] = 1.0,
    min_score: Annotated[float, Interval(0, 7), Doc("ML Test Score threshold (minimum section sum)")] = 1.0,
    repeated: Annotated[int, Interval(1, 100), Doc("runs that make a check 'automated and repeated' (1 point)")] = 2,
    on_gate_fail: Annotated[GatePolicy, Doc("what a failed pass-rate or score gate does")] = "ask",
) -> IntegrationTestResult:
    """Test ``model`` end to end on ``data`` and score the ML Test Score from evidence."""
    found = ctx.task(steps.resolve_model_under_test, model=model)
    rows = ctx.task(steps.ingest, data=data, target=target, sample=sample, golden_share=golden_share, seed=seed,
                    metric=metric)
    contract_check = ctx.task(steps.check_data_contract, frames=[rows.train, rows.golden], contract=contract)
    findings = ctx.task(steps.exercise_server, model=found.name, version=found.version, golden=rows.golden,
                        target=target, labels=rows.labels, deployment=f"integration-test-{ctx.run_id}",
                        requests=requests, concurrency=concurrency, load_seconds=load_seconds,
                        ready_timeout=ready_timeout, check_rollback=check_rollback)
    quality = ctx.task(steps.score_golden, findings=findings, golden=rows.golden, target=target, metric=rows.metric,
                       task_kind=rows.task, labels=rows.labels, threshold=min_quality)
    reproduction = ctx.task(steps.reproduce, model=found.name, version=found.version, train=rows.train,
                            golden=rows.golden, target=target, metric=rows.metric, task_kind=rows.task,
                            labels=rows.labels, seed=seed)
    dependencies = ctx.task(steps.check_dependencies, model=found.name, version=found.version)
    tests = ctx.task(steps.contract_table, contract=contract_check, sample=rows, findings=findings,
                     reproduction=reproduction, dependencies=dependencies, quality=quality,
                     thresholds={"min_valid_rows": min_valid_rows, "max_p99_ms": max_p99_ms,
                                 "min_throughput": min_throughput,
                                 "reproducibility_tolerance": reproducibility_tolerance})
    for test in tests:  # each contract test journaled with its numbers: the evidence later scorings read
        ctx.gate(f"contract-{test.name}", test.measured, test.op, test.threshold, on_fail="warn",
                 checkpoint="deployment")
    passed = sum(t.passed for t in tests)
    rate = ctx.gate("contract-pass-rate", round(passed / len(tests), 6), ">=", min_pass_rate, on_fail=on_gate_fail,
                    checkpoint="deployment", context={"failed": [t.name for t in tests if not t.passed]})
    rubric = ctx.task(steps.score_rubric, model=found, repeated=repeated)
    score = ctx.gate("ml-test-score", rubric.score, ">=", min_score, on_fail=on_gate_fail, checkpoint="deployment",
                     context={"sections": rubric.sections, "weakest": rubric.weakest})
    files = ctx.task(write_integration_report, out_dir=str(ctx.workdir), model=found.label, contract=contract_check,
                     tests=[t.to_dict() for t in tests], rubric=rubric, findings=findings, gates=[rate.as_dict(),
                                                                                                  score.as_dict()])
    report = ctx.artifact("integration-test-report.html", Path(files["html"]))
    ctx.artifact("integration-test-report.md", Path(files["markdown"]))
    ctx.artifact("integration-test-report.json", Path(files["json"]))
    answer = ctx.breakpoint(
        f"Accept the integration test of {found.label}: {passed} of {len(tests)} contract tests passed, "
        f"ML Test Score {rubric.score:g} (weakest: {rubric.weakest})?",
        context={"failed": [t.name for t in tests if not t.passed], "sections": rubric.sections},
        artifacts=[report], tags=("integration-test",), checkpoint="deployment")
    return IntegrationTestResult(found.label, rate.value, [t.name for t in tests if not t.passed],
                                 [t.to_dict() for t in tests], rubric.score, rubric.sections, rubric.weakest,
                                 [r.to_dict() for r in rubric.rows], answer.approved, answer.by, report.path,
                                 [rate.as_dict(), score.as_dict()])
