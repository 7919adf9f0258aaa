"""The ML Test Score (Breck, Cai, Nielsen, Salib, Sculley: "The ML Test Score: A Rubric for ML Production
Readiness and Technical Debt Reduction", IEEE BigData 2017) scored from evidence instead of by hand.

Each of the 28 tests names the signals that show it was done: a gate or a step of some process's runs, a
person's approval, the lineage a registered model carries. A test scores 1 when an automated signal shows up
in ``repeated`` or more runs (automated and repeated), 0.5 when it shows up once or only as a person's
documented approval (done by hand, with results), 0 otherwise; a section sums its seven tests and the final
score is the minimum of the four section sums, as in the paper. The records are plain data (a process reads
them from its journal), so this module knows nothing of the runtime.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Sequence

from mlsitter.naming import stable_name

DATA, MODEL, INFRA, MONITORING = "data", "model", "infrastructure", "monitoring"
SECTIONS: tuple[tuple[str, str], ...] = ((DATA, "Features and data"), (MODEL, "Model development"),
                                         (INFRA, "ML infrastructure"), (MONITORING, "Monitoring"))
GATE, STEP, APPROVAL, CHECKPOINT, LINEAGE = "gate", "step", "approval", "checkpoint", "lineage"


# -- evidence: plain records a process reads from its journal and registry ----------------------------------
@stable_name("ml.testing.GateRecord")
@dataclass(frozen=True)
class GateRecord:
    """A journaled gate: what was measured against what, whether it passed, and the event that holds it."""

    name: str
    value: Any
    op: str
    threshold: Any
    passed: bool
    on_fail: str = "fail"
    checkpoint: tuple[str, ...] = ()
    key: str = ""


@stable_name("ml.testing.ApprovalRecord")
@dataclass(frozen=True)
class ApprovalRecord:
    """A journaled answer to a breakpoint: who answered (``auth`` 'policy' when no person did) and on what."""

    question: str
    approved: bool
    by: str
    auth: str
    tags: tuple[str, ...] = ()
    checkpoint: tuple[str, ...] = ()
    artifacts: tuple[str, ...] = ()  # sha256 of the artifacts the question showed
    key: str = ""

    @property
    def by_person(self) -> bool:
        return self.auth != "policy" and not self.by.startswith("policy:")


@stable_name("ml.testing.RunEvidence")
@dataclass(frozen=True)
class RunEvidence:
    """One run as the rubric sees it: its process and status, the steps it completed, its gates, its
    approvals and its artifacts (name -> sha256)."""

    run_id: str
    process: str
    status: str
    created_at: float = 0.0
    steps: tuple[str, ...] = ()
    gates: tuple[GateRecord, ...] = ()
    approvals: tuple[ApprovalRecord, ...] = ()
    artifacts: tuple[tuple[str, str], ...] = ()


@stable_name("ml.testing.ModelEvidence")
@dataclass(frozen=True)
class ModelEvidence:
    """What the registry records of the model under test: the run, dataset and code version it came from."""

    name: str
    version: int
    mlsitter_run_id: str = ""
    dataset_version: str = ""
    code_version: str = ""
    process: str = ""


# -- the rubric -------------------------------------------------------------------------------------------
@stable_name("ml.testing.Signal")
@dataclass(frozen=True)
class Signal:
    """One kind of evidence: a ``kind`` (gate, step, approval tag, checkpoint, registry lineage field) whose
    name matches ``pattern`` (fnmatch) in runs of ``process``; ``says`` is what it shows, in words."""

    process: str
    kind: str
    pattern: str
    says: str


@stable_name("ml.testing.RubricTest")
@dataclass(frozen=True)
class RubricTest:
    """One of the 28 tests: its id, section and title (the paper's), the rule in words, the signals that
    satisfy it and the process that would supply the evidence when it is missing."""

    id: str
    section: str
    title: str
    rule: str
    signals: tuple[Signal, ...]
    supplier: str


def _t(id_: str, section: str, title: str, rule: str, supplier: str, *signals: tuple[str, str, str, str]) -> RubricTest:
    return RubricTest(id_, section, title, rule, tuple(Signal(*s) for s in signals), supplier)


IT = "integration-test"
RUBRIC: tuple[RubricTest, ...] = (
    _t("data-1", DATA, "Feature expectations are captured in a schema",
       "a schema contract is enforced on the data (data-validation's validity gate, or this process's data contract)",
       "data-validation",
       ("data-validation", GATE, "quality-validity", "the pandera contract enforced on every row"),
       (IT, GATE, "contract-data-contract", "the data contract enforced on the sampled rows")),
    _t("data-2", DATA, "All features are beneficial",
       "feature selection measured each feature's contribution and a feature-quality gate judged the result",
       "features",
       ("features", GATE, "feature-quality", "the selected features' quality over chance")),
    _t("data-3", DATA, "No feature's cost is too much",
       "features were selected by their contribution (redundant ones pruned) and candidates' latency was measured",
       "features",
       ("features", STEP, "features.select_columns", "mutual information, permutation importance, correlation pruning"),
       ("model-selection", STEP, "model-selection.compare_models", "latency and size per candidate")),
    _t("data-4", DATA, "Features adhere to meta-level requirements",
       "the data was checked against the project's requirements (availability, PII, sensitive columns)",
       "scoping",
       ("scoping", GATE, "data-availability", "the charter's data requirements checked on the real data")),
    _t("data-5", DATA, "The data pipeline has appropriate privacy controls",
       "a privacy checkpoint was passed: PII found and decided on (a gate or an approval for 'privacy')",
       "scoping",
       ("*", CHECKPOINT, "privacy", "a gate or approval that serves the privacy checkpoint")),
    _t("data-6", DATA, "New features can be added quickly",
       "feature pipelines are built from a spec by a process, so a new feature is a spec line and one run",
       "features",
       ("features", STEP, "features.fit_and_save_pipeline", "a pipeline fitted and saved from a spec")),
    _t("data-7", DATA, "All input feature code is tested",
       "the feature code was tested for leakage and for training-serving skew",
       "features",
       ("features", GATE, "leakage*", "leakage checks on every feature"),
       ("features", GATE, "serving-skew*", "the serving path reproduces the offline features")),
    _t("model-1", MODEL, "Model specs are reviewed and submitted",
       "the model was registered from a tracked training run (params, code version) after its registration review",
       "training",
       ("training", STEP, "training.register", "the version registered with its run, params and code version"),
       ("training", LINEAGE, "code_version", "the registry names the training run and code version of the model"),
       ("training", APPROVAL, "*", "a person reviewed the registration")),
    _t("model-2", MODEL, "Offline and online metrics correlate",
       "accuracy on labelled live feedback was compared with the champion's during a canary",
       "deploy",
       ("deploy", GATE, "*-accuracy-drop", "accuracy on labelled feedback, candidate against champion")),
    _t("model-3", MODEL, "All hyperparameters have been tuned",
       "a hyperparameter search ran (Optuna) and the best trial was refitted",
       "training",
       ("training", STEP, "training.fit_best", "the best trial of the search refitted"),
       ("automl", STEP, "automl.evaluate_family_trial", "AutoML's trials across the portfolio")),
    _t("model-4", MODEL, "The impact of model staleness is known",
       "staleness triggers (drift, decay, age, volume) were measured against the champion",
       "retraining",
       ("retraining", STEP, "retraining.check_triggers", "the staleness triggers measured")),
    _t("model-5", MODEL, "A simpler model is not better",
       "the chosen model was compared with a dummy and a linear baseline on the same folds",
       "model-selection",
       ("model-selection", GATE, "beats-*", "a corrected paired t-test against the baselines")),
    _t("model-6", MODEL, "Model quality is sufficient on important data slices",
       "quality was measured on slices and judged by metric gates",
       "evaluation",
       ("evaluation", STEP, "evaluation.compute_slices", "metrics per slice, worst slices named")),
    _t("model-7", MODEL, "The model is tested for considerations of inclusion",
       "fairness metrics per sensitive attribute were gated",
       "evaluation",
       ("*", CHECKPOINT, "fairness", "a gate or approval that serves the fairness checkpoint")),
    _t("infra-1", INFRA, "Training is reproducible",
       "retraining with the same seed and data gave the same metrics within the stated tolerance",
       IT,
       (IT, GATE, "contract-training-reproducible", "two fits with one seed compared on the golden set")),
    _t("infra-2", INFRA, "Model specs are unit tested",
       "the registered model was loaded (hash checked) and predicted fixture rows before it got traffic",
       "deploy",
       ("deploy", GATE, "smoke-predictions-ok", "smoke predictions on fixture rows"),
       ("deploy", GATE, "artifact-hash-matches", "the artifact's hash checked against the registry")),
    _t("infra-3", INFRA, "The ML pipeline is integration tested",
       "the pipeline ran end to end: ingest, contract, model from the registry, server, downstream consumer",
       IT,
       (IT, GATE, "contract-pass-rate", "the end-to-end contract tests' pass rate")),
    _t("infra-4", INFRA, "Model quality is validated before serving",
       "the model's quality was gated before serving (evaluation's metric gates, or the golden set)",
       "evaluation",
       ("evaluation", GATE, "metric-*", "metric targets with bootstrap CIs"),
       (IT, GATE, "contract-golden-quality", "quality on the golden set through the server")),
    _t("infra-5", INFRA, "The model is debuggable",
       "the model's predictions were explained (SHAP, permutation importance, a model card)",
       "explain",
       ("explain", STEP, "explain.run_shap", "SHAP values"),
       ("explain", STEP, "explain.write_model_card", "a model card")),
    _t("infra-6", INFRA, "Models are canaried before serving",
       "a candidate served a share of traffic in stages with an analysis against the champion",
       "deploy",
       ("deploy", STEP, "deploy.analyze_window", "a canary window analysed against the champion")),
    _t("infra-7", INFRA, "Serving models can be rolled back",
       "a rollback was exercised: a canary rolled back, a person rolled back, or this process's rollback test",
       "rollback",
       ("deploy", STEP, "deploy.rollback", "a canary rolled back by itself"),
       ("rollback", STEP, "deploy.rollback_now", "a deployment rolled back by a person"),
       ("observability", STEP, "observability.rollback", "an incident remediated by rollback"),
       (IT, GATE, "contract-rollback", "the rollback exercised on a throwaway deployment")),
    _t("monitor-1", MONITORING, "Dependency changes result in notification",
       "the serving environment was compared with the versions the model was logged with",
       IT,
       (IT, GATE, "contract-dependencies", "installed versions against the model's pinned requirements")),
    _t("monitor-2", MONITORING, "Data invariants hold in training and serving inputs",
       "live inputs were compared with the training reference (drift per feature)",
       "drift",
       ("drift", STEP, "drift.compare_window", "a window of served inputs against the reference")),
    _t("monitor-3", MONITORING, "Training and serving features compute the same values",
       "the serving path was checked against the offline path (features' skew gate, the feature store's "
       "consistency, or this process's serving-skew test)",
       "features",
       ("features", GATE, "serving-skew*", "offline against serving features"),
       ("feature-store", GATE, "consistency", "offline against online store"),
       (IT, GATE, "contract-serving-skew", "offline scores against the server's")),
    _t("monitor-4", MONITORING, "Models are not too stale",
       "the model's age and decay were checked by retraining's triggers",
       "retraining",
       ("retraining", STEP, "retraining.check_triggers", "the age and decay triggers")),
    _t("monitor-5", MONITORING, "The model is numerically stable",
       "served predictions were checked for NaN and Inf",
       IT,
       (IT, GATE, "contract-predictions-finite", "every served prediction finite")),
    _t("monitor-6", MONITORING, "Computing performance has not regressed",
       "latency was compared with the champion's in a canary, or held to its SLO under load",
       "deploy",
       ("deploy", GATE, "*-p99-latency-increase-ms", "p99 latency, candidate against champion"),
       (IT, GATE, "contract-latency-p99-ms", "p99 latency under a bounded load against its SLO")),
    _t("monitor-7", MONITORING, "Prediction quality has not regressed",
       "prediction quality was tracked over windows of served traffic",
       "drift",
       ("drift", STEP, "drift.compare_window", "accuracy per window (labelled or estimated)"),
       ("deploy", GATE, "*-accuracy-drop", "accuracy on labelled feedback in a canary")),
)


# -- scoring ----------------------------------------------------------------------------------------------
@stable_name("ml.testing.EvidenceLink")
@dataclass(frozen=True)
class EvidenceLink:
    """Where a signal was found: the run, the event (its journal step key), what it says, and the
    hash of the run's report (or first artifact) when it has one."""

    run_id: str
    process: str
    event: str
    key: str
    automated: bool
    artifact_sha256: str = ""

    def describe(self) -> str:
        tail = f", report sha256 {self.artifact_sha256[:12]}" if self.artifact_sha256 else ""
        return f"{self.process} run {self.run_id}" + (f" step {self.key}" if self.key else "") + f": {self.event}{tail}"


@stable_name("ml.testing.RubricRow")
@dataclass
class RubricRow:
    """One test's score with the evidence that decided it, or what is missing and who would supply it."""

    id: str
    section: str
    title: str
    rule: str
    score: float
    runs: int  # distinct runs with an automated signal
    evidence: list[EvidenceLink]
    missing: str
    supplier: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "section": self.section, "title": self.title, "rule": self.rule, "score": self.score,
                "runs": self.runs, "evidence": [e.describe() for e in self.evidence], "missing": self.missing,
                "supplier": self.supplier}


@stable_name("ml.testing.MlTestScore")
@dataclass
class MlTestScore:
    """The 28 rows, each section's sum, and the final score (the minimum section sum)."""

    rows: list[RubricRow]
    sections: dict[str, float]
    score: float
    weakest: str
    repeated: int
    runs_seen: int = 0
    model: dict[str, Any] = field(default_factory=dict)

    def row(self, test_id: str) -> RubricRow:
        return next(r for r in self.rows if r.id == test_id)

    def scores(self) -> dict[str, float]:
        """Each test's score by id (what a comparison of two scorings needs)."""
        return {r.id: r.score for r in self.rows}


def _report_sha(run: RunEvidence) -> str:
    for name, sha in run.artifacts:
        if name.endswith(".html"):
            return sha
    return run.artifacts[0][1] if run.artifacts else ""


def _matches(signal: Signal, run: RunEvidence, model: ModelEvidence | None) -> list[EvidenceLink]:
    """The places in ``run`` where ``signal`` shows up."""
    if signal.process != "*" and not fnmatch.fnmatchcase(run.process, signal.process):
        return []
    sha = _report_sha(run)
    found: list[EvidenceLink] = []
    if signal.kind == GATE:
        found += [EvidenceLink(run.run_id, run.process, f"gate {g.name} = {g.value!r} {g.op} {g.threshold!r} "
                               f"({'passed' if g.passed else 'failed'})", g.key, True, sha)
                  for g in run.gates if fnmatch.fnmatchcase(g.name, signal.pattern)]
    elif signal.kind == STEP:
        found += [EvidenceLink(run.run_id, run.process, f"step {s} completed", "", True, sha)
                  for s in dict.fromkeys(run.steps) if fnmatch.fnmatchcase(s, signal.pattern)]
    elif signal.kind == APPROVAL:
        found += [EvidenceLink(run.run_id, run.process, f"approval {'given' if a.approved else 'refused'} by {a.by}: "
                               f"{a.question[:80]}", a.key, False, a.artifacts[0] if a.artifacts else sha)
                  for a in run.approvals if a.by_person and (signal.pattern == "*" or signal.pattern in a.tags)]
    elif signal.kind == CHECKPOINT:
        found += [EvidenceLink(run.run_id, run.process, f"gate {g.name} ({signal.pattern} checkpoint) = {g.value!r} "
                               f"{g.op} {g.threshold!r}", g.key, True, sha)
                  for g in run.gates if signal.pattern in g.checkpoint]
        found += [EvidenceLink(run.run_id, run.process, f"approval by {a.by} ({signal.pattern} checkpoint): "
                               f"{a.question[:80]}", a.key, False, a.artifacts[0] if a.artifacts else sha)
                  for a in run.approvals if a.by_person and signal.pattern in a.checkpoint]
    elif signal.kind == LINEAGE and model is not None and getattr(model, signal.pattern, "") \
            and model.mlsitter_run_id == run.run_id:
        found.append(EvidenceLink(run.run_id, run.process, f"registry: {model.name}/{model.version} "
                                  f"{signal.pattern} = {getattr(model, signal.pattern)}", "", True, sha))
    return found


def score_test(test: RubricTest, runs: Sequence[RunEvidence], *, repeated: int = 2,
               model: ModelEvidence | None = None) -> RubricRow:
    """Score one test: 1 when an automated signal is in ``repeated`` or more runs, 0.5 when it is in one run or
    a person's documented approval shows it, 0 when nothing does."""
    links: list[EvidenceLink] = []
    for run in runs:
        if run.status == "cancelled":
            continue
        for signal in test.signals:
            links += _matches(signal, run, model)
    automated_runs = {link.run_id for link in links if link.automated}
    manual = [link for link in links if not link.automated]
    if len(automated_runs) >= repeated:
        score, missing = 1.0, ""
    elif automated_runs or manual:
        score = 0.5
        missing = (f"automated in {len(automated_runs)} run(s) only; {repeated} runs of {test.supplier} that "
                   f"repeat it score 1" if automated_runs else
                   f"done by hand only (a person's approval); an automated check in {repeated} runs of "
                   f"{test.supplier} scores 1")
    else:
        score = 0.0
        missing = "no run shows " + "; or ".join(f"{s.says} ({s.process if s.process != '*' else 'any process'})"
                                                 for s in test.signals) + f"; run {test.supplier} to supply it"
    # the links shown: one per run, automated first, newest runs first (the order ``runs`` came in)
    shown: list[EvidenceLink] = []
    seen: set[str] = set()
    for link in sorted(links, key=lambda item: not item.automated):
        if link.run_id not in seen:
            seen.add(link.run_id)
            shown.append(link)
    return RubricRow(test.id, test.section, test.title, test.rule, score, len(automated_runs), shown[:5], missing,
                     test.supplier)


def ml_test_score(runs: Sequence[RunEvidence], *, repeated: int = 2, model: ModelEvidence | None = None,
                  rubric: Sequence[RubricTest] = RUBRIC) -> MlTestScore:
    """All tests of ``rubric`` scored on ``runs``; the final score is the minimum of the section sums."""
    if repeated < 1:
        from mlsitter.errors import InputError

        raise InputError(f"repeated must be at least 1 (runs that make a check 'automated and repeated'); "
                         f"got {repeated}")
    rows = [score_test(test, runs, repeated=repeated, model=model) for test in rubric]
    sections = {name: float(sum(r.score for r in rows if r.section == name)) for name, _ in SECTIONS}
    weakest = min(sections, key=lambda name: sections[name])
    return MlTestScore(rows, sections, sections[weakest], weakest, repeated, len(runs),
                       {} if model is None else {"name": model.name, "version": model.version,
                                                 "run": model.mlsitter_run_id, "dataset": model.dataset_version,
                                                 "code": model.code_version})


def changed_rows(before: MlTestScore, after: MlTestScore) -> dict[str, tuple[float, float]]:
    """The tests whose score differs between two scorings: id -> (before, after)."""
    old, new = before.scores(), after.scores()
    return {k: (old[k], new[k]) for k in old if old[k] != new.get(k)}
