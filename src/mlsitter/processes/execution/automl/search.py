"""AutoML building blocks: the algorithm portfolio, budget-aware rounds with early elimination,
Caruana ensemble selection judged on held-out rows, the ensemble estimator and the leaderboard."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator, clone

from mlsitter.errors import SpecError
from mlsitter.ml.metrics._scoring import CLASSIFICATION, Metric, score
from mlsitter.ml.modeling._search_space import check_family
from mlsitter.naming import ADDED_LATER, stable_name

#: Cheap, usually strong families first so a short budget still sees them.
PORTFOLIO = ("lightgbm", "xgboost", "hist_gradient_boosting", "random_forest", "extra_trees", "linear", "knn")
HOLDOUT_ROWS = 15_000
#: Below this many training rows K-fold CV is repeated ``REPEAT_ROWS // rows`` times (at most ``MAX_REPEATS``):
#: on tiny data one fold assignment decides which hard rows land together, and hundreds of trials learn that
#: assignment instead of the problem.
REPEAT_ROWS = 600
MAX_REPEATS = 5


def check_portfolio(families: Sequence[str] | None) -> list[str]:
    """The families to search (default: the whole portfolio), normalised; unknown names raise SpecError."""
    chosen = [check_family(f) for f in (families or PORTFOLIO)]
    if not chosen:
        raise SpecError(f"families is empty; expected some of: {', '.join(PORTFOLIO)}")
    return list(dict.fromkeys(chosen))


def holdout_fraction(n_train: int) -> float | None:
    """Large data is judged on one 20 % holdout (cheaper); smaller data by k-fold CV."""
    return 0.2 if n_train > HOLDOUT_ROWS else None


def cv_repeats(n_train: int) -> int:
    """How many times to repeat K-fold CV: ``REPEAT_ROWS // n_train`` (1 to ``MAX_REPEATS``); wine's 142 rows get 4."""
    return min(MAX_REPEATS, max(1, REPEAT_ROWS // max(1, n_train)))


#: Share of the leader's gain over a no-skill model that a family may trail by, per round (tighter later).
ELIMINATION_SHARES = (0.10, 0.05, 0.02)


def tolerance(leader: float, no_skill: float, round_number: int) -> float:
    """How far behind the leader a family may be before it is eliminated: a share of the leader's gain over a
    no-skill model (10 % after the default configurations, 5 % next round, 2 % later), so the rule reads
    the same for AUC, log loss or R²."""
    share = ELIMINATION_SHARES[min(max(round_number, 1), len(ELIMINATION_SHARES)) - 1]
    return share * max(abs(leader - no_skill), 1e-12)


def families_to_eliminate(best_by_family: Mapping[str, float], metric: Metric, round_number: int, no_skill: float,
                          keep_at_least: int = 2) -> dict[str, str]:
    """Families whose best score trails the leader by more than the tolerance -> the reason (keeps the top few)."""
    ranked = sorted(best_by_family, key=lambda f: best_by_family[f], reverse=metric.greater_is_better)
    if len(ranked) <= keep_at_least:
        return {}
    leader = best_by_family[ranked[0]]
    allowed = tolerance(leader, no_skill, round_number)
    out = {}
    for family in ranked[keep_at_least:]:
        behind = abs(leader - best_by_family[family])
        if behind > allowed:
            out[family] = (f"round {round_number}: best {metric.name} {best_by_family[family]:.4f} trails "
                           f"{ranked[0]} ({leader:.4f}) by {behind:.4f} > {allowed:.4f}")
    return out


def ensemble_candidates(outcomes: Sequence[Any], metric: Metric, size: int = 12, per_family: int = 3,
                        max_cost_ratio: float = 3.0, max_size_ratio: float = 10.0) -> list[Any]:
    """The library Caruana selection draws from: each family's best few first (diverse members), then the
    best remaining configurations overall, up to ``size``; ranked best first.

    Configurations that took over ``max_cost_ratio`` times as long as the best one or the median family
    (each family's best configuration; whichever is more), or are over ``max_size_ratio`` times as large
    (same rule), are left out: a deep forest that adds a little on held-out rows would dominate the time to
    refit, evaluate, store and serve the ensemble. The median keeps a fast leader (a linear model on a small
    table) from shutting every tree model out. A configuration that scores within 0.01 % of one already
    taken from its family (a search sitting on a boundary of its space, where hundreds of trials fit the
    same model) is a copy and takes no slot.
    """
    ranked = sorted(outcomes, key=lambda o: metric.loss(o.value))
    if not ranked:
        return []
    best = ranked[0]
    typical = list({o.family: o for o in reversed(ranked)}.values())  # each family's best configuration
    max_seconds = max_cost_ratio * max(best.seconds, float(np.median([o.seconds for o in typical])), 1e-3)
    sizes = [o.size_bytes for o in typical if o.size_bytes]
    max_bytes = max_size_ratio * max(best.size_bytes or 0, float(np.median(sizes)) if sizes else 0.0)
    affordable: list[Any] = []
    last_taken: dict[str, float] = {}  # ranked order: a family's nearest taken score is its last one
    for o in ranked:
        last = last_taken.get(o.family)
        copy = last is not None and abs(last - o.value) <= 1e-4 * abs(last)
        if copy or (o is not best and (o.seconds > max_seconds or (max_bytes and o.size_bytes > max_bytes))):
            continue
        affordable.append(o)
        last_taken[o.family] = o.value
    chosen: list[Any] = []
    taken: dict[str, int] = {}
    for o in affordable:
        if taken.get(o.family, 0) < per_family and len(chosen) < size:
            chosen.append(o)
            taken[o.family] = taken.get(o.family, 0) + 1
    chosen += [o for o in affordable if o not in chosen][: size - len(chosen)]
    return sorted(chosen, key=lambda o: metric.loss(o.value))


def caruana_weights(predictions: Sequence[np.ndarray], y: np.ndarray, metric: Metric, classes: np.ndarray | None,
                    iterations: int = 25) -> np.ndarray:
    """Greedy ensemble selection with replacement (Caruana et al. 2004), starting from the best model."""
    n = len(predictions)
    counts = np.zeros(n)
    losses = [metric.loss(score(metric, y, p, classes)) for p in predictions]
    counts[int(np.argmin(losses))] = 1
    total = predictions[int(np.argmin(losses))].astype(np.float64).copy()
    for _ in range(max(0, iterations - 1)):
        size = counts.sum()
        trial = [metric.loss(score(metric, y, (total + p) / (size + 1), classes)) for p in predictions]
        pick = int(np.argmin(trial))
        counts[pick] += 1
        total += predictions[pick]
    return counts / counts.sum()


#: Bagged selection (Caruana et al. 2006): on data up to this many rows the weights are averaged over
#: ``BAGS`` greedy selections, each from a random half of the library, and the held-out comparison is
#: repeated at least ``MIN_JUDGE_REPEATS`` times (kept small: 8 bags and 3 repeats took 65 s on wine's 142 rows,
#: past the whole budget). Small, wide data is where a member's out-of-fold score
#: flatters it most (hundreds of trials fitted to the same folds), and where scoring is cheap enough to afford it.
BAG_ROWS = 5_000
BAGS = 2
MIN_JUDGE_REPEATS = 1


def bagged_weights(predictions: Sequence[np.ndarray], y: np.ndarray, metric: Metric, classes: np.ndarray | None,
                   iterations: int, bags: int, rng: np.random.RandomState) -> np.ndarray:
    """Caruana weights averaged over ``bags`` selections, each from a random half of the models (at least
    two), so no single lucky member decides the blend; one bag is plain Caruana selection over all."""
    n = len(predictions)
    if bags <= 1 or n <= 2:
        return caruana_weights(predictions, y, metric, classes, iterations)
    total = np.zeros(n)
    for _ in range(bags):
        chosen = np.sort(rng.choice(n, size=max(2, n // 2), replace=False))
        total[chosen] += caruana_weights([predictions[i] for i in chosen], y, metric, classes, iterations)
    return total / total.sum()


@stable_name("automl.EnsembleChoice")
@dataclass
class EnsembleChoice:
    """Weights over the candidates, and the held-out comparison that decides whether the ensemble is kept."""

    weights: list[float]
    ensemble_score: float
    best_single_score: float
    keep: bool
    members: int
    # candidates dropped (the held-out blend did better without them), and the share of the held-out halves on
    # which the blend beat the best single model
    rejected: list[int] = field(default_factory=list, metadata=ADDED_LATER)
    wins: float = field(default=0.0, metadata=ADDED_LATER)


def _blend(predictions: Sequence[np.ndarray], weights: np.ndarray) -> np.ndarray:
    return sum(w * p for w, p in zip(weights, predictions) if w > 0)


def _cross_fit(preds: Sequence[np.ndarray], alive: list[int], y: np.ndarray, metric: Metric, cls: np.ndarray | None,
               splits: list[Any], iterations: int, bags: int, seed: int) -> tuple[list[float], list[float], np.ndarray]:
    """Per split: the blend of the ``alive`` candidates chosen on one half and the best single model of all
    chosen there, both scored on the other half; and each alive candidate's mean held-out harm (loss with it
    minus loss without it, its weight spread over the others): positive where the blend does better without it."""
    ens_scores, single_scores, harm = [], [], np.zeros(len(preds))
    rng = np.random.RandomState(seed)
    for pick_rows, judge_rows in splits:
        w = np.zeros(len(preds))
        w[alive] = bagged_weights([preds[i][pick_rows] for i in alive], y[pick_rows], metric, cls, iterations, bags,
                                  rng)
        judged = [p[judge_rows] for p in preds]
        with_all = score(metric, y[judge_rows], _blend(judged, w), cls)
        ens_scores.append(with_all)
        losses = [metric.loss(score(metric, y[pick_rows], p[pick_rows], cls)) for p in preds]
        single_scores.append(score(metric, y[judge_rows], judged[int(np.argmin(losses))], cls))
        for i in np.flatnonzero((w > 0) & (w < 1)):
            rest = w.copy()
            rest[i] = 0
            without = score(metric, y[judge_rows], _blend(judged, rest / rest.sum()), cls)
            harm[i] += (metric.loss(with_all) - metric.loss(without)) / len(splits)
    return ens_scores, single_scores, harm


def select_ensemble(predictions: Sequence[np.ndarray], y: Any, metric: Metric, classes: Sequence[Any] | None,
                    seed: int = 0, iterations: int = 25, repeats: int = 1) -> EnsembleChoice:
    """Caruana selection on out-of-fold predictions (bagged on small data), judged by 2-way cross-fitting:
    weights (and the best single model) are chosen on one half of the rows and scored on the other, the halves
    reshuffled ``repeats`` times (at least ``MIN_JUDGE_REPEATS`` on small data). Candidates the held-out blend
    does better without are rejected and the rest judged again; the ensemble is kept only if its mean gain over
    the best single model on the held-out halves exceeds that gain's standard error (a gain, not noise)."""
    from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

    y = np.asarray(y)
    cls = np.asarray(classes) if classes is not None and len(classes) else None
    preds = [np.asarray(p, dtype=np.float64) for p in predictions]
    small = len(y) <= BAG_ROWS
    bags = BAGS if small else 1
    n_repeats = max(1, repeats, MIN_JUDGE_REPEATS if small else 1)
    splitter = (RepeatedStratifiedKFold if cls is not None else RepeatedKFold)(n_splits=2, n_repeats=n_repeats,
                                                                              random_state=seed)
    splits = list(splitter.split(np.zeros(len(y)), y))
    alive = list(range(len(preds)))
    ens_scores, single_scores, harm = _cross_fit(preds, alive, y, metric, cls, splits, iterations, bags, seed)
    rejected = [int(i) for i in np.flatnonzero(harm > 0)]
    if rejected and len(rejected) < len(alive):
        alive = [i for i in alive if i not in rejected]
        ens_scores, single_scores, _ = _cross_fit(preds, alive, y, metric, cls, splits, iterations, bags, seed)
    else:
        rejected = []
    kept = bagged_weights([preds[i] for i in alive], y, metric, cls, iterations, bags, np.random.RandomState(seed))
    weights = np.zeros(len(preds))
    weights[alive] = kept
    ens, single = float(np.mean(ens_scores)), float(np.mean(single_scores))
    gains = np.array([metric.loss(b) - metric.loss(e) for e, b in zip(ens_scores, single_scores)])
    members = int((weights > 0).sum())
    spread = float(gains.std(ddof=1) / np.sqrt(len(gains))) if len(gains) > 1 else 0.0
    return EnsembleChoice(weights=[float(w) for w in weights], ensemble_score=ens, best_single_score=single,
                          keep=members > 1 and float(gains.mean()) > max(spread, 0.0), members=members,
                          rejected=rejected, wins=float(np.mean(gains > 0)))


class WeightedEnsemble(BaseEstimator):
    """Weighted average of fitted pipelines' probabilities (classification) or predictions (regression)."""

    def __init__(self, estimators: list[Any] | None = None, weights: list[float] | None = None,
                 task: str = CLASSIFICATION, target_range: tuple[float, float] | None = None) -> None:
        self.estimators = estimators
        self.weights = weights
        self.task = task
        self.target_range = target_range  # regression: each member's prediction clipped to the training targets

    @classmethod
    def from_fitted(cls, estimators: list[Any], weights: list[float], task: str,
                    target_range: tuple[float, float] | None = None) -> "WeightedEnsemble":
        """An ensemble of pipelines that are already fitted (refitted in parallel elsewhere); ``target_range``
        (regression) keeps a member that extrapolates wildly on a row unlike the training rows (a linear model
        on a house far larger than any it saw) from dragging the blend below its best member."""
        ensemble = cls(estimators, weights, task, target_range)
        ensemble.estimators_ = list(estimators)
        if task == CLASSIFICATION:
            ensemble.classes_ = np.unique(np.concatenate([np.asarray(e.classes_) for e in estimators]))
        return ensemble

    def fit(self, X: Any, y: Any) -> "WeightedEnsemble":
        self.estimators_ = [clone(e).fit(X, y) for e in self.estimators or []]
        if self.task == CLASSIFICATION:
            self.classes_ = np.unique(np.asarray(y))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        total = None
        for est, w in zip(self.estimators_, self.weights or []):
            proba = np.zeros((len(X), len(self.classes_)))
            proba[:, np.searchsorted(self.classes_, est.classes_)] = est.predict_proba(X)
            total = w * proba if total is None else total + w * proba
        return total

    def predict(self, X: Any) -> np.ndarray:
        if self.task == CLASSIFICATION:
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        lo, hi = getattr(self, "target_range", None) or (-np.inf, np.inf)  # models pickled before it have none
        return sum(w * np.clip(np.asarray(est.predict(X), dtype=float), lo, hi)
                   for est, w in zip(self.estimators_, self.weights or []))


@stable_name("automl.LeaderboardRow")
@dataclass
class LeaderboardRow:
    """One evaluated configuration."""

    rank: int
    family: str
    trial: int
    state: str
    cv_score: float | None
    cv_std: float | None
    seconds: float
    size_bytes: int
    params: dict[str, Any] = field(default_factory=dict)


def leaderboard(outcomes: Sequence[Any], metric: Metric) -> list[LeaderboardRow]:
    """Every trial ranked by its CV score (failed and pruned trials last)."""
    def key(o: Any) -> tuple[int, float]:
        if o.state != "complete" or o.value is None:
            return (1, 0.0)
        return (0, metric.loss(o.value))

    rows = []
    for rank, o in enumerate(sorted(outcomes, key=key), start=1):
        rows.append(LeaderboardRow(rank=rank, family=o.family, trial=o.number, state=o.state, cv_score=o.value,
                                   cv_std=o.std, seconds=round(float(o.seconds), 3), size_bytes=int(o.size_bytes),
                                   params=dict(o.params)))
    return rows
