"""What ``automl``'s time budget does, on a simulated clock: the search stops early enough that the tail
(ensemble refit, evaluation, report, logging) fits in what it reserved, and an ensemble too slow to refit in
the time left gives way to the best single model. No real fits and no timing of this machine."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest

from mlsitter.ml.metrics._scoring import get_metric
from mlsitter.processes.execution.automl import process as automl_process
from mlsitter.processes.execution.automl.tasks import FamilyAsk, ask_portfolio, evaluate_family_trial, tell_portfolio

R2 = get_metric("r2", "regression")
#: seconds one trial of each family takes on the simulated clock, and the CV score it reaches
COST = {"lightgbm": 4.0, "random_forest": 9.0, "linear": 0.5}
VALUE = {"lightgbm": 0.85, "random_forest": 0.83, "linear": 0.80}


class SimulatedRun:
    """The few ``Context`` calls the search makes, with a clock that moves only when trials run: a chunk of
    parallel trials takes as long as its slowest trial."""

    run_id = "simulated"

    def __init__(self) -> None:
        self.seconds = 0.0
        self.trials: list[tuple[float, float]] = []  # (start, end) of every trial on the simulated clock

    def now(self) -> dt.datetime:
        return dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=self.seconds)

    def task(self, fn: Any, **kw: Any) -> Any:
        if fn is ask_portfolio:
            return [FamilyAsk(f, f"study-{f}", len(self.trials) + i, {}) for i, f in enumerate(kw["families"])]
        assert fn is tell_portfolio
        return len(kw["outcomes"])

    def map(self, fn: Any, asks: list[FamilyAsk], **common: Any) -> list[Any]:
        assert fn is evaluate_family_trial
        took = max(COST[a.family] for a in asks)
        self.trials += [(self.seconds, self.seconds + COST[a.family]) for a in asks]
        self.seconds += took
        return [SimpleNamespace(family=a.family, number=a.number, params={}, state="complete", value=VALUE[a.family],
                                seconds=COST[a.family], size_bytes=1000, oof=[0.0], fold_scores=[VALUE[a.family]],
                                std=0.0) for a in asks]


def search(ctx: SimulatedRun, budget: float, parallel: int = 1) -> automl_process.SearchState:
    plan = {"order": list(COST), "no_skill": 0.0}
    return automl_process.search_portfolio(
        ctx, plan=plan, storage="", direction="maximize", measure=R2, seed=0, started=ctx.now(), search_budget=budget,
        holdout=None, full_fits=4, parallel=parallel, max_trials=None, common={})


@pytest.mark.parametrize("budget,parallel", [(60.0, 1), (60.0, 2), (25.0, 2)])
def test_search_stops_so_the_tail_fits_in_what_it_reserved(budget, parallel):
    ctx = SimulatedRun()
    state = search(ctx, budget, parallel)
    reserve = automl_process.tail_reserve(state.outcomes, R2, None, 4, parallel, budget)
    assert len(state.outcomes) > 3  # the budget, not a lack of families, ended the search
    # every trial ended before the reserve began, and the reserve covers the tail the process then runs
    assert max(end for _, end in ctx.trials) <= budget - reserve
    assert reserve >= automl_process.TAIL_SHARE * budget
    tail = automl_process.TAIL_FIXED_S + 1.5 * automl_process.refit_estimate(state.outcomes[:3], None, 4, parallel)
    assert tail <= reserve
    # the budget is not left idle either: one more round of the cheapest family would have crossed the reserve
    assert ctx.seconds + min(COST.values()) > budget - reserve - max(COST.values())


def test_an_ensemble_too_slow_to_refit_in_the_time_left_gives_way_to_the_best_single_model():
    from mlsitter.processes.execution.automl.search import EnsembleChoice

    ranked = [SimpleNamespace(family=f, number=i, params={"n": i}, seconds=COST[f], value=VALUE[f])
              for i, f in enumerate(("lightgbm", "random_forest", "linear"))]
    members = [{"family": o.family, "trial": o.number, "params": o.params, "weight": w}
               for o, w in zip(ranked, (0.5, 0.3, 0.2))]
    choice = EnsembleChoice(weights=[0.5, 0.3, 0.2], ensemble_score=0.86, best_single_score=0.85, keep=True, members=3)
    # refitting all three takes ~2.25 s of fits on one worker (trial seconds / 4 full fits), 5.4 s with evaluation
    kept, same, note = automl_process.members_that_fit(members, choice, ranked, seconds_left=10.0, holdout=None,
                                                       full_fits=4, parallel=1)
    assert kept == members and same.keep and note == ""
    single, changed, note = automl_process.members_that_fit(members, choice, ranked, seconds_left=3.0, holdout=None,
                                                            full_fits=4, parallel=1)
    assert [m["family"] for m in single] == ["lightgbm"] and single[0]["weight"] == 1.0
    assert not changed.keep and "not refitted" in note and "3.0 s of the budget were left" in note


def test_budget_use_states_the_budget_each_phase_and_whether_it_was_kept():
    use = automl_process.budget_use(60.0, 4.5, [50.0, 50.5, 53.0, 55.0, 57.5], "")
    assert (use.search_s, use.ensemble_s, use.refit_s, use.evaluation_s, use.outputs_s) == (50.0, 0.5, 2.5, 2.0, 2.5)
    assert use.kept and use.total_s == 57.5
    assert use.summary().startswith("time budget 60 s kept: 57.5 s to the review (search 50.0")
    over = automl_process.budget_use(60.0, 4.5, [50.0, 50.5, 60.0, 62.0, 63.0], "")
    assert not over.kept and "exceeded" in over.summary()
