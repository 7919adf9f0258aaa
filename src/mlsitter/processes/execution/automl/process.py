"""The ``automl`` process: a portfolio of algorithms (linear, k-NN, random forest, extra trees,
HistGradientBoosting, LightGBM, XGBoost) tuned with Optuna under one time budget, weak families
eliminated early, a Caruana ensemble kept only if it beats the best single model on held-out rows,
a leaderboard, test validation, a model card stub, and a human check of the winner."""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from mlsitter import Context, Doc, Interval, Normalize, process
from mlsitter.errors import SpecError
from mlsitter.ml.modeling._generalization import measure_gaps
from mlsitter.ml.tracking._registry import default_model_name
from mlsitter.processes.common.model_files import record_model_files
from mlsitter.processes.common.gates import gate_rows
from mlsitter.processes.common.training_setup import identifier_warning, optuna_storage, prepare_data, process_code_version
# The steps live in tasks.py; their names stay importable here, where journals written before they moved look.
from mlsitter.processes.execution.automl.tasks import (  # noqa: F401
    FamilyAsk, Winner, ask_portfolio, choose_ensemble, evaluate_family_trial, evaluate_winner, log_automl,
    plan_portfolio, refit_member, register_winner, tell_portfolio, write_outputs)
from mlsitter.naming import ADDED_LATER, stable_name
from mlsitter.processes.vocabulary import (
    DatasetVersion, DropColumns, ModelFamily, Seed, TestData, TestSize, TrainingMetric, family_spelling, metric_spelling,
)


@stable_name("automl.AutomlResult")
@dataclass
class AutomlResult:
    """What ``automl`` produced: the winner, how it compared, the leaderboard, and the registered version."""

    accepted: bool
    model_name: str
    version: int | None
    winner: str
    metric: str
    task: str
    test_score: float
    test_metrics: dict[str, float]
    ensemble_kept: bool
    ensemble_heldout_score: float | None
    best_single_heldout_score: float | None
    best_single_family: str
    best_single_cv: float
    trials_run: int
    eliminated: dict[str, str]
    families_tried: list[str]
    search_seconds: float
    total_seconds: float
    mlflow_run_id: str
    mlflow_logging_seconds: float
    leaderboard_csv: str
    report: str
    model_card: str
    dataset_version: str
    feedback: str = ""
    leaderboard_top: list[dict[str, Any]] = field(default_factory=list)
    budget: BudgetUse | None = field(default=None, metadata=ADDED_LATER)


#: Share of the budget the search always leaves for the tail (ensemble choice, refit, test evaluation, report,
#: MLflow logging), and the seconds of that tail beyond the refit at the least (measured on 2 cores: 1-3 s).
TAIL_SHARE = 0.05
TAIL_FIXED_S = 2.0


@stable_name("automl.BudgetUse")
@dataclass
class BudgetUse:
    """How the run spent ``time_budget_s`` from its start to the winner's review: seconds per phase, what the
    search left for the tail when it stopped, and whether the budget held."""

    budget_s: float
    reserved_tail_s: float
    search_s: float
    ensemble_s: float
    refit_s: float
    evaluation_s: float
    outputs_s: float  # leaderboard, report, model card and MLflow logging
    total_s: float
    kept: bool
    note: str = ""

    def summary(self) -> str:
        """One line for the run's log: the budget, each phase, and whether it was kept."""
        return (f"time budget {self.budget_s:g} s {'kept' if self.kept else 'exceeded'}: {self.total_s:.1f} s to the "
                f"review (search {self.search_s:.1f}, ensemble choice {self.ensemble_s:.1f}, refit {self.refit_s:.1f}, "
                f"evaluation {self.evaluation_s:.1f}, outputs and logging {self.outputs_s:.1f}; "
                f"{self.reserved_tail_s:.1f} s were reserved for all but the search)" + (f"; {self.note}" if self.note else ""))


# -- the scheduler: rounds over the families still in, chunk by chunk, within the time left -------------------
def _elapsed(ctx: Context, started: Any) -> float:
    """Seconds since ``started`` on the run's journaled clock."""
    return (ctx.now() - started).total_seconds()


@stable_name("automl.SearchState")
@dataclass
class SearchState:
    """The portfolio search so far (never journaled: rebuilt from the journaled steps on replay)."""

    alive: list[str]  # families still searched, in the plan's order
    width: int  # trials started together, one per worker
    max_trials: int | None
    eliminated: dict[str, str] = field(default_factory=dict)  # family -> why
    outcomes: list[Any] = field(default_factory=list)
    seconds_by_family: dict[str, list[float]] = field(default_factory=dict)
    tried: set[str] = field(default_factory=set)
    round_number: int = 0

    def room(self) -> int:
        """Trials the next chunk may start: ``width``, or fewer where ``max_trials`` is near."""
        return self.width if self.max_trials is None else min(self.width, self.max_trials - len(self.outcomes))

    def eliminate_weak_families(self, measure: Any, no_skill: float) -> None:
        """Drop the families ``families_to_eliminate`` judges hopeless after this round's predecessors."""
        from mlsitter.processes.execution.automl.search import families_to_eliminate

        best = {f: _best(self.outcomes, f, measure) for f in self.alive if _best(self.outcomes, f, measure) is not None}
        for family, why in families_to_eliminate(best, measure, self.round_number, no_skill).items():
            self.eliminated[family] = why
            self.alive.remove(family)

    def round_queue(self, measure: Any) -> list[str]:
        """This round's families, best first; after the first round the leader gets a second trial."""
        ranked = sorted(self.alive, key=lambda f: (_best(self.outcomes, f, measure) is None,
                                                   measure.loss(_best(self.outcomes, f, measure) or 0.0)))
        return ranked[:1] * 2 + ranked[1:] if self.round_number >= 1 else list(ranked)

    def trial_estimate(self, family: str) -> float:
        """Seconds the family's next trial is expected to take: the larger of its median and its latest trial
        (the search drifts towards bigger models); an untried family, the median of every trial so far."""
        seconds = self.seconds_by_family[family]
        if not seconds:
            everyone = [x for xs in self.seconds_by_family.values() for x in xs]
            return statistics.median(everyone) if everyone else 0.0
        return max(statistics.median(seconds), seconds[-1])

    def chunk_that_fits(self, families: list[str], left: float) -> list[str]:
        """The families of one chunk whose next trial is expected to end within the ``left`` seconds (the first
        trials of the search always start), cut to the room the trial limit leaves."""
        chunk = [f for f in families if not self.outcomes or self.trial_estimate(f) < left]
        return chunk[:self.room()]

    def record(self, chunk: list[str], results: list[Any]) -> None:
        """Note a chunk's families as tried and its trials' outcomes and durations."""
        self.tried.update(chunk)
        for r in results:
            self.seconds_by_family[r.family].append(r.seconds)
        self.outcomes.extend(results)


def search_portfolio(ctx: Context, *, plan: dict[str, Any], storage: str, direction: str, measure: Any, seed: int,
                     started: Any, search_budget: float, holdout: float | None, full_fits: float, parallel: int,
                     max_trials: int | None, common: dict[str, Any]) -> SearchState:
    """Rounds over the portfolio until the time budget (less the tail reserve: see ``tail_reserve``),
    ``max_trials`` or the families run out; weak families are eliminated between rounds. Each chunk reads the
    journaled clock, then asks, evaluates (``ctx.map``) and tells one trial per family; a chunk starts only
    when its trials are expected to end before the reserve."""
    state = SearchState(alive=list(plan["order"]), width=max(1, parallel), max_trials=max_trials,
                        seconds_by_family={f: [] for f in plan["order"]})
    stop = False
    while not stop and state.room() > 0 and state.alive:
        if state.round_number >= 1:
            state.eliminate_weak_families(measure, plan["no_skill"])
        queue = state.round_queue(measure)
        launched = False
        for start in range(0, len(queue), state.width):
            spent = _elapsed(ctx, started) + tail_reserve(state.outcomes, measure, holdout, full_fits, parallel,
                                                          search_budget)
            if spent >= search_budget or state.room() <= 0:
                stop = True
                break
            chunk = state.chunk_that_fits(queue[start:start + state.width], search_budget - spent)
            if not chunk:
                continue
            asks = ctx.task(ask_portfolio, storage=storage, run_id=ctx.run_id, direction=direction, plan=plan,
                            families=chunk, seed=seed + 100 * state.round_number + start,
                            first=[f for f in chunk if f not in state.tried])
            results = ctx.map(evaluate_family_trial, asks, **common)
            ctx.task(tell_portfolio, storage=storage, direction=direction, asks=asks, outcomes=results)
            state.record(chunk, results)
            launched = True
        stop = stop or not launched  # no family's median trial fits the time left: stop, don't spin
        state.round_number += 1
    return state


@process("automl", phase="execution",
         description="Portfolio AutoML under a time budget with early elimination, ensemble selection and a leaderboard")
def automl(
    ctx: Context,
    data: Annotated[str, Doc("the training table: a CSV, Parquet or JSON file")],
    target: Annotated[str, Doc("target column")],
    metric: Annotated[TrainingMetric, Normalize(metric_spelling),
                      Doc("metric the search optimises and the gates use (auto: the task's default)")] = "auto",
    time_budget_s: Annotated[float, Interval(0, None, closed="neither"), Doc("seconds the whole search may take, "
                                                                            "refit of the winner included")] = 60.0,
    families: Annotated[list[ModelFamily] | None, Normalize(family_spelling),
                        Doc("model families to search (default: the whole portfolio)")] = None,
    max_trials: Annotated[int | None, Interval(1, None), Doc("trials at most (default: the time budget alone "
                                                             "bounds the search)")] = None,
    folds: Annotated[int, Interval(2, None), Doc("cross-validation folds of each trial (below 15,000 training "
                                                 "rows)")] = 5,
    seed: Seed = 0,
    test_size: TestSize = 0.2,
    test_data: TestData = "",
    drop: DropColumns = None,
    dataset_version: DatasetVersion = "",
    model_name: Annotated[str, Doc("registry name of the winner (default: <file stem>-<target>-automl)")] = "",
    target_metric: Annotated[float | None, Doc("gate: the winner's test score must reach this")] = None,
    ensemble: Annotated[bool, Doc("try a Caruana ensemble of the best trials, kept only if it wins held "
                                  "out")] = True,
    ensemble_size: Annotated[int, Interval(1, None), Doc("selection rounds of the ensemble (members drawn with "
                                                         "replacement)")] = 25,
    max_cv_test_gap: Annotated[float, Interval(0, None), Doc("gate (warns): how far the test score may fall below "
                                                             "the CV score")] = 0.05,
    parallel: Annotated[int, Interval(1, None), Doc("trials evaluated at once, one per worker")] = 1,
    n_jobs: Annotated[int, Doc("threads per model fit, as scikit-learn's n_jobs")] = 1,
    sample_rows: Annotated[int, Interval(0, None), Doc("train on a seeded sample of this many rows (0: every "
                                                       "row)")] = 0,
) -> AutomlResult:
    """Search the portfolio under ``time_budget_s``; keep an ensemble only if it wins held out; ask a human."""
    from mlsitter.ml.metrics._scoring import get_metric
    from mlsitter.ml.tracking import _tracking as tracking
    from mlsitter.ml.tracking._registry import validate_model_name
    from mlsitter.processes.execution.automl.search import PORTFOLIO, cv_repeats, holdout_fraction, leaderboard

    check_automl_inputs(time_budget_s, folds, max_trials, ensemble_size)
    name = validate_model_name(model_name or default_model_name(data, target) + "-automl")
    started = ctx.now()
    prep = ctx.task(prepare_data, data=data, target=target, drop=list(drop or []), test_size=test_size, seed=seed,
                    metric=metric, dataset_version=dataset_version, sample_rows=sample_rows,
                    test_data=test_data)
    if identifier_warning(prep, drop):
        ctx.log("warning", identifier_warning(prep, drop))
    plan = ctx.task(plan_portfolio, families=list(families or PORTFOLIO), task=prep.task, metric=prep.metric,
                    y=prep.y_train, classes=prep.classes)
    code = ctx.task(process_code_version)
    storage = ctx.task(optuna_storage)
    ctx.prefetch(*tracking.MODULES)  # a pool executor's runner idles during the search: load MLflow meanwhile
    measure = get_metric(prep.metric, prep.task)
    direction = "maximize" if measure.greater_is_better else "minimize"
    holdout = holdout_fraction(len(prep.y_train))
    repeats = 1 if holdout else cv_repeats(len(prep.y_train))
    common = dict(X=prep.X_train, y=prep.y_train, task=prep.task, metric=prep.metric, storage=storage,
                  direction=direction, folds=folds, seed=seed, holdout=holdout, n_jobs=n_jobs, repeats=repeats)
    search = search_portfolio(ctx, plan=plan, storage=storage, direction=direction, measure=measure, seed=seed,
                              started=started, search_budget=time_budget_s,
                              holdout=holdout, full_fits=(folds - 1) * repeats, parallel=parallel,
                              max_trials=max_trials, common=common)
    search_seconds = _elapsed(ctx, started)
    ranked = finished_trials(search.outcomes, measure, time_budget_s)
    board = leaderboard(search.outcomes, measure)
    reserved = tail_reserve(search.outcomes, measure, holdout, (folds - 1) * repeats, parallel, time_budget_s)
    best_single, choice, members = choose_members(ctx, ranked, measure=measure, prep=prep, ensemble=ensemble,
                                                  ensemble_size=ensemble_size, seed=seed, repeats=repeats)
    timed = ctx.patched("automl.budget-phases")  # a run begun before read the clock only when its search ended
    mark = (lambda: _elapsed(ctx, started)) if timed else (lambda: search_seconds)
    chosen_seconds = mark()
    note = "phases after the search were not timed (the run began before they were)"
    if timed:
        members, choice, note = members_that_fit(members, choice, ranked, seconds_left=time_budget_s - chosen_seconds,
                                                 holdout=holdout, full_fits=(folds - 1) * repeats, parallel=parallel)
    fitted = ctx.map(refit_member, members, prep=prep, seed=seed, n_jobs=n_jobs)
    refit_seconds = mark()
    winner = ctx.task(evaluate_winner, prep=prep, members=members, fitted=fitted, seed=seed, metric=prep.metric,
                      n_jobs=n_jobs)
    total_seconds = _elapsed(ctx, started)
    gates = gate_winner(ctx, prep=prep, measure=measure, best_single=best_single, choice=choice, winner=winner,
                        max_cv_test_gap=max_cv_test_gap, target_metric=target_metric)
    files = ctx.task(write_outputs, out_dir=str(ctx.workdir / "automl"), model_name=name, prep=prep, metric=prep.metric,
                     board=board, winner=winner, choice=choice, eliminated=search.eliminated,
                     search_seconds=search_seconds, budget_s=time_budget_s, run_id=ctx.run_id, code_version=code,
                     gates=gates, validation=_validation_text(holdout, folds, repeats))
    logged = ctx.task(log_automl, mlsitter_run_id=ctx.run_id, prep=prep, winner=winner, board=board, metric=prep.metric,
                      choice=choice, files=files, code_version=code, model_name=name, budget_s=time_budget_s)
    logged_seconds = _elapsed(ctx, started) if timed else total_seconds
    budget = budget_use(time_budget_s, reserved, [search_seconds, chosen_seconds, refit_seconds, total_seconds,
                                                  logged_seconds], note)
    ctx.log("info" if budget.kept else "warning", budget.summary())
    answer = ask_acceptance(ctx, name=name, prep=prep, winner=winner, choice=choice, search=search, logged=logged,
                            refs=record_outputs(ctx, files), budget=budget)
    version = register_if_accepted(ctx, answer, name=name, prep=prep, winner=winner, logged=logged, code=code)
    return automl_result(answer=answer, name=name, version=version, prep=prep, winner=winner, choice=choice,
                         best_single=best_single, search=search, board=board, search_seconds=search_seconds,
                         total_seconds=total_seconds, logged=logged, files=files, budget=budget)


# -- the chapters of the story: each makes its ctx calls in the order the body always made them ----------------
def check_automl_inputs(time_budget_s: float, folds: int, max_trials: int | None, ensemble_size: int) -> None:
    """Raise SpecError for a budget, fold count, trial limit or ensemble size out of range."""
    if time_budget_s <= 0:
        raise SpecError(f"time_budget_s must be > 0 seconds; got {time_budget_s}")
    if folds < 2 or (max_trials is not None and max_trials < 1) or ensemble_size < 1:
        raise SpecError(f"folds must be >= 2, max_trials >= 1 (or unset: the time budget alone bounds the search) and "
                        f"ensemble_size >= 1; got {folds}, {max_trials}, {ensemble_size}")


def finished_trials(outcomes: list[Any], measure: Any, time_budget_s: float) -> list[Any]:
    """The completed trials (with out-of-fold predictions), best first; SpecError when none finished."""
    complete = [o for o in outcomes if o.state == "complete" and o.oof is not None]
    if not complete:
        errors = sorted({o.error for o in outcomes if o.error})
        raise SpecError(f"no AutoML trial finished within {time_budget_s:g} s"
                        + (f"; first error: {errors[0]}" if errors else "; raise time_budget_s"))
    return sorted(complete, key=lambda o: measure.loss(o.value))


def choose_members(ctx: Context, ranked: list[Any], *, measure: Any, prep: Any, ensemble: bool, ensemble_size: int,
                   seed: int, repeats: int) -> tuple[Any, Any, list[dict[str, Any]]]:
    """(best single trial, ensemble choice or None, the winner's members): an ensemble of the library is
    chosen when asked for and more than one trial finished, and kept only if it wins held out."""
    from mlsitter.processes.execution.automl.search import ensemble_candidates

    best_single = ranked[0]
    choice = None
    members = [{"family": best_single.family, "trial": best_single.number, "params": best_single.params, "weight": 1.0}]
    if ensemble and len(ranked) > 1:
        candidates = ensemble_candidates(ranked, measure)
        choice = ctx.task(choose_ensemble, candidates=candidates, y=prep.y_train, task=prep.task, metric=prep.metric,
                          classes=prep.classes, seed=seed, iterations=ensemble_size, repeats=repeats)
        if choice.keep:
            members = [{"family": c.family, "trial": c.number, "params": c.params, "weight": w}
                       for c, w in zip(candidates, choice.weights) if w > 0]
    return best_single, choice, members


def members_that_fit(members: list[dict[str, Any]], choice: Any, ranked: list[Any], *, seconds_left: float,
                     holdout: float | None, full_fits: float, parallel: int) -> tuple[list[dict[str, Any]], Any, str]:
    """The winner's members and the ensemble choice, or the best single model alone (the choice marked not
    kept) when refitting the ensemble and evaluating it is expected to run past the budget (its trials' own
    fit times say how long); the third item says why."""
    if len(members) == 1:
        return members, choice, ""
    by_trial = {(o.family, o.number): o for o in ranked}
    outcomes = [by_trial[(m["family"], m["trial"])] for m in members if (m["family"], m["trial"]) in by_trial]
    needed = TAIL_FIXED_S + 1.5 * refit_estimate(outcomes, holdout, full_fits, parallel)
    if needed <= seconds_left:
        return members, choice, ""
    best = ranked[0]
    single = [{"family": best.family, "trial": best.number, "params": best.params, "weight": 1.0}]
    return single, dataclasses.replace(choice, keep=False), (f"the ensemble of {len(members)} was not refitted: it needs about {needed:.1f} s and "
                    f"{max(seconds_left, 0.0):.1f} s of the budget were left, so the best single model is the winner")


def budget_use(budget_s: float, reserved: float, marks: list[float], note: str) -> BudgetUse:
    """Phase durations from the clock marks (search end, ensemble chosen, refitted, evaluated, logged)."""
    search, chosen, refit, evaluated, logged = marks
    return BudgetUse(budget_s=budget_s, reserved_tail_s=round(reserved, 3), search_s=search, ensemble_s=chosen - search,
                     refit_s=refit - chosen, evaluation_s=evaluated - refit, outputs_s=logged - evaluated,
                     total_s=logged, kept=logged <= budget_s, note=note)


def gate_winner(ctx: Context, *, prep: Any, measure: Any, best_single: Any, choice: Any, winner: Winner,
                max_cv_test_gap: float, target_metric: float | None) -> list[dict[str, Any]]:
    """The CV-to-test gap (warns) against the held-out score the winner was chosen on, and the target (asks)."""
    reference = choice.ensemble_score if choice is not None and choice.keep else best_single.value
    _, drop_to_test = measure_gaps(prep.metric, reference, best_single.fold_scores, winner.final.test_score)
    results = [ctx.gate("cv-test-gap", round(drop_to_test, 6), "<=", max_cv_test_gap, on_fail="warn",
                        checkpoint="model-quality")]
    if target_metric is not None:
        results.append(ctx.gate(f"target-{prep.metric}", round(winner.final.test_score, 6),
                                ">=" if measure.greater_is_better else "<=", target_metric, on_fail="ask",
                                checkpoint="model-quality"))
    return gate_rows(results)


def record_outputs(ctx: Context, files: dict[str, str]) -> list[Any]:
    """The leaderboard, report and model card stub as artifacts of the run."""
    return [ctx.artifact("leaderboard.csv", Path(files["csv"])), ctx.artifact("automl-report.html", Path(files["html"])),
            ctx.artifact("automl-report.json", Path(files["json"])), ctx.artifact("model-card.md", Path(files["card"])),
            ctx.artifact("model-card.json", Path(files["card_json"]))]


def ask_acceptance(ctx: Context, *, name: str, prep: Any, winner: Winner, choice: Any, search: SearchState, logged: Any,
                   refs: list[Any], budget: BudgetUse) -> Any:
    """The human check of the winner (tagged ``production``: no policy approves it)."""
    from mlsitter.ml.tracking._registry import CHALLENGER

    return ctx.breakpoint(
        f"Accept the AutoML winner for {name}: {winner.description} (test {prep.metric} "
        f"{winner.final.test_score:.4f}) and register it as '{CHALLENGER}'?",
        context={"test": winner.final.test_metrics, "ensemble_kept": bool(choice and choice.keep),
                 "trials": len(search.outcomes), "eliminated": search.eliminated, "mlflow_run_id": logged.mlflow_run_id,
                 "time_budget": budget.summary()},
        artifacts=refs, tags=("production",))


def register_if_accepted(ctx: Context, answer: Any, *, name: str, prep: Any, winner: Winner, logged: Any,
                         code: str) -> int | None:
    """Register an accepted winner as ``challenger``; the version, or None when it was not accepted."""
    from mlsitter.ml.tracking._registry import CHALLENGER

    if not answer.approved:
        return None
    registered = ctx.task(register_winner, name=name, model_uri=logged.model_uri, mlflow_run_id=logged.mlflow_run_id,
                          artifact_sha256=logged.artifact_sha256, mlsitter_run_id=ctx.run_id,
                          dataset_version=prep.dataset_version, code_version=code, process="automl",
                          metrics={f"test_{prep.metric}": winner.final.test_score}, alias=CHALLENGER)
    record_model_files(ctx, registered)
    return registered.version


def automl_result(*, answer: Any, name: str, version: int | None, prep: Any, winner: Winner, choice: Any,
                  best_single: Any, search: SearchState, board: list[Any], search_seconds: float, total_seconds: float,
                  logged: Any, files: dict[str, str], budget: BudgetUse | None = None) -> AutomlResult:
    """The result: the winner, how it compared, the top of the leaderboard and the registered version."""
    top = [{"rank": r.rank, "family": r.family, "trial": r.trial, "cv_score": r.cv_score, "seconds": r.seconds}
           for r in board[:10]]
    return AutomlResult(
        accepted=bool(answer.approved), model_name=name, version=version, winner=winner.description, metric=prep.metric,
        task=prep.task, test_score=winner.final.test_score, test_metrics=winner.final.test_metrics,
        ensemble_kept=bool(choice is not None and choice.keep),
        ensemble_heldout_score=None if choice is None else choice.ensemble_score,
        best_single_heldout_score=None if choice is None else choice.best_single_score,
        best_single_family=best_single.family, best_single_cv=float(best_single.value),
        trials_run=len(search.outcomes), eliminated=search.eliminated, families_tried=sorted(search.tried),
        search_seconds=search_seconds, total_seconds=total_seconds, mlflow_run_id=logged.mlflow_run_id,
        mlflow_logging_seconds=logged.logging_seconds, leaderboard_csv=files["csv"], report=files["html"],
        model_card=files["card"], dataset_version=prep.dataset_version, feedback=answer.feedback or "",
        leaderboard_top=top, budget=budget,
    )


def refit_estimate(outcomes: list[Any], holdout: float | None, full_fits: float, parallel: int) -> float:
    """Seconds to refit these trials' configurations on all training rows: each a trial's time over
    ``full_fits`` (how many fits on all training rows one trial's CV is worth: (folds - 1) x repeats), spread
    over ``parallel`` workers (the slowest one at least)."""
    if not outcomes:
        return 0.0
    scale = 1 / (1 - holdout) if holdout else 1 / full_fits
    fits = [o.seconds * scale for o in outcomes]
    return max(max(fits), sum(fits) / max(1, parallel))


def tail_reserve(outcomes: list[Any], measure: Any, holdout: float | None, full_fits: float, parallel: int,
                 budget_s: float) -> float:
    """Seconds the search leaves for the tail: refitting the current ensemble library with half again for the
    test evaluation and plots, plus ``TAIL_FIXED_S`` for the report and logging, and never under
    ``TAIL_SHARE`` of the budget."""
    from mlsitter.processes.execution.automl.search import ensemble_candidates

    done = [o for o in outcomes if o.state == "complete" and o.value is not None]
    library = ensemble_candidates(done, measure) if done else []
    return max(TAIL_SHARE * budget_s, TAIL_FIXED_S + 1.5 * refit_estimate(library, holdout, full_fits, parallel))


def _validation_text(holdout: float | None, folds: int, repeats: int) -> str:
    """How trials were judged, in words for the report."""
    if holdout:
        return f"a {holdout:.0%} holdout"
    return f"{folds}-fold CV" + (f" repeated {repeats} times" if repeats > 1 else "")


def _best(outcomes: list[Any], family: str, measure: Any) -> float | None:
    """A family's best completed score so far, or None."""
    values = [o.value for o in outcomes if o.family == family and o.state == "complete" and o.value is not None]
    if not values:
        return None
    return max(values) if measure.greater_is_better else min(values)
