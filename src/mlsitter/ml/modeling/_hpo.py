"""Hyperparameter optimisation on Optuna, split into ask / evaluate / tell so each piece can be a
journaled task: TPE sampling, pruning on intermediate fold scores, convergence by patience, and a
study kept in an RDB storage under the mlsitter home so an interrupted run continues its study.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from mlsitter.errors import SpecError
from mlsitter.ml.tracking import _tracking as tracking
from mlsitter.ml.modeling._cross_validation import cross_validate, split_indices
from mlsitter.ml.modeling._model_families import build_pipeline, column_kinds
from mlsitter.ml.metrics._scoring import get_metric
from mlsitter.ml.modeling._search_space import ParamSpec, validate_param, suggest
from mlsitter.naming import stable_name


def storage_url() -> str:
    """The Optuna storage: ``MLSITTER_OPTUNA_STORAGE`` if set, else SQLite beside the mlsitter journal."""
    import os

    return os.environ.get("MLSITTER_OPTUNA_STORAGE") or f"sqlite:///{tracking.mlsitter_home() / 'optuna.db'}"


def study_name_for(run_id: str, attempt: int = 1, suffix: str = "") -> str:
    """The study of one mlsitter run (and refinement attempt): the key that lets a resumed run find it."""
    return f"mlsitter-{run_id}-a{attempt}" + (f"-{suffix}" if suffix else "")


_STORAGES: dict[str, Any] = {}


def _storage(url: str) -> Any:
    """One RDBStorage per URL and process (creating one checks the schema, which is slow); keyed by pid so a
    forked worker never shares its parent's database connections."""
    import os

    key = f"{os.getpid()}:{url}"
    if key not in _STORAGES:
        _STORAGES[key] = _new_storage(url)
    return _STORAGES[key]


def _new_storage(url: str) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if url.startswith("sqlite:///"):
        from pathlib import Path

        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {})


def _pruner(n_startup: int) -> Any:
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=n_startup, n_warmup_steps=0)


def load_study(storage: str, study_name: str, direction: str, seed: int = 0, n_startup: int = 5) -> Any:
    """Create or open the study, with a TPE sampler seeded by ``seed``."""
    import optuna

    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup, multivariate=True)
    return optuna.create_study(
        storage=_storage(storage), study_name=study_name, direction=direction, sampler=sampler,
        pruner=_pruner(n_startup), load_if_exists=True,
    )


def space_from_dict(raw: Mapping[str, Any]) -> dict[str, ParamSpec]:
    """Rebuild a validated space from its JSON form, in sorted name order (the journal stores dicts with sorted
    keys, so a resumed run must draw parameters in the same order as the original)."""
    return {k: validate_param(k, raw[k], "search space") for k in sorted(raw)}


@stable_name("ml.modeling.TrialAsk")
@dataclass
class TrialAsk:
    """A trial handed out by the study: its number and drawn parameters."""

    number: int
    params: dict[str, Any]


@stable_name("ml.modeling.ask_trials")
def ask_trials(*, storage: str, study_name: str, direction: str, space: Mapping[str, Any], n: int, seed: int,
               n_startup: int = 5, enqueue: Sequence[Mapping[str, Any]] = ()) -> list[TrialAsk]:
    """Draw ``n`` configurations with TPE (``enqueue`` configurations first); deterministic for a given history and seed."""
    study = load_study(storage, study_name, direction, seed=seed, n_startup=n_startup)
    validated = space_from_dict(space)
    for params in enqueue:
        study.enqueue_trial(dict(params), skip_if_exists=True)
    asks = []
    for _ in range(n):
        trial = study.ask()
        params = suggest(trial, validated)
        asks.append(TrialAsk(number=trial.number, params=params))
    return asks


@stable_name("ml.modeling.TrialOutcome")
@dataclass
class TrialOutcome:
    """What one trial measured: state, value (mean of fold scores), fold scores, time; OOF predictions optional."""

    number: int
    params: dict[str, Any]
    state: str
    value: float | None
    fold_scores: list[float]
    seconds: float
    error: str = ""
    family: str = ""
    oof: Any = None
    std: float | None = None
    size_bytes: int = 0


def evaluate_trial(*, X: pd.DataFrame, y: pd.Series, family: str, task: str, metric: str, params: Mapping[str, Any],
                   number: int, storage: str, study_name: str, direction: str, folds: int = 5, seed: int = 0,
                   holdout: float | None = None, keep_oof: bool = False, n_jobs: int = 1,
                   features: Any = None, repeats: int = 1) -> TrialOutcome:
    """Cross-validate one configuration, reporting the running mean after each fold so bad trials are pruned
    (``features``: a transformer used instead of the family's own preprocessing, refitted in every fold;
    ``repeats``: K-fold repeated with fresh shuffles, so small data is not judged on one fold assignment)."""
    import optuna

    measure = get_metric(metric, task)
    classes = np.unique(np.asarray(y)) if task == "classification" else None
    study = load_study(storage, study_name, direction, seed=seed)
    trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    trial = optuna.trial.Trial(study, trial_id)
    done_steps = set(study._storage.get_trial(trial_id).intermediate_values)

    def on_fold(i: int, _score: float, scores: list[float]) -> bool:
        if i not in done_steps:
            trial.report(float(np.mean(scores)), step=i)
        return trial.should_prune()

    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    pipeline = build_pipeline(family, task, params, column_kinds(X), seed, n_jobs=n_jobs, features=features)
    try:
        with threadpool_limits(max(1, n_jobs)):  # OpenMP/BLAS threads beyond n_jobs only contend on shared cores
            result = cross_validate(pipeline, X, y, task=task, metric=measure, classes=classes,
                                    splits=split_indices(y, task, folds, seed, holdout, repeats), on_fold=on_fold)
    except SpecError:
        raise
    except Exception as exc:  # a configuration the library rejects is a failed trial, not a failed run
        return TrialOutcome(number, dict(params), "failed", None, [], time.perf_counter() - started,
                            error=f"{type(exc).__name__}: {exc}".strip()[:500], family=family)
    value = float(np.mean(result.fold_scores))
    if not math.isfinite(value):
        return TrialOutcome(number, dict(params), "failed", None, result.fold_scores, result.fit_seconds,
                            error="metric is not finite", family=family)
    state = "pruned" if result.stopped_early else "complete"
    oof = result.oof.astype(np.float32) if keep_oof and state == "complete" else None
    return TrialOutcome(number, dict(params), state, value, result.fold_scores, time.perf_counter() - started,
                        family=family, oof=oof, std=result.std, size_bytes=result.size_bytes)


@stable_name("ml.modeling.StudySummary")
@dataclass
class StudySummary:
    """The study after a batch: best trial and counts by state."""

    best_value: float | None
    best_params: dict[str, Any]
    best_number: int | None
    n_complete: int
    n_pruned: int
    n_failed: int
    values: list[float] = field(default_factory=list)


@stable_name("ml.modeling.tell_trials")
def tell_trials(*, storage: str, study_name: str, direction: str, outcomes: Sequence[TrialOutcome]) -> StudySummary:
    """Record outcomes in the study (skipping ones already told) and fail trials orphaned by a crash."""
    from optuna.trial import TrialState

    study = load_study(storage, study_name, direction)
    by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
    told = set()
    for out in outcomes:
        told.add(out.number)
        existing = by_number.get(out.number)
        if existing is not None and existing.state.is_finished():
            continue
        if out.state == "complete":
            study.tell(out.number, out.value)
        elif out.state == "pruned":
            study.tell(out.number, state=TrialState.PRUNED)
        else:
            study.tell(out.number, state=TrialState.FAIL)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.number not in told:  # asked by a run that crashed before journaling the ask
            study.tell(trial.number, state=TrialState.FAIL)
    return summarize_study(study)


def summarize_study(study: Any) -> StudySummary:
    """Best trial and counts of one study."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = None
    if complete:
        best = max(complete, key=lambda t: t.value) if study.direction.name == "MAXIMIZE" else min(complete, key=lambda t: t.value)
    return StudySummary(
        best_value=None if best is None else float(best.value), best_params={} if best is None else dict(best.params),
        best_number=None if best is None else best.number, n_complete=len(complete),
        n_pruned=sum(t.state == TrialState.PRUNED for t in trials), n_failed=sum(t.state == TrialState.FAIL for t in trials),
        values=[float(t.value) for t in sorted(complete, key=lambda t: t.number)],
    )


def trials_without_improvement(values: Sequence[float | None], greater_is_better: bool, min_delta: float = 0.0) -> int:
    """How many trials (in order) have passed since the best value last improved by more than ``min_delta``."""
    best: float | None = None
    since = 0
    for value in values:
        if value is None:
            since += 1
            continue
        better = best is None or (value > best + min_delta if greater_is_better else value < best - min_delta)
        if better:
            best, since = value, 0
        else:
            since += 1
    return since


def is_converged(values: Sequence[float | None], patience: int, greater_is_better: bool, min_delta: float = 0.0) -> bool:
    """True when the last ``patience`` trials brought no improvement (patience <= 0 disables it)."""
    return patience > 0 and trials_without_improvement(values, greater_is_better, min_delta) >= patience


def check_budget(trials: int, timeout_s: float, folds: int, patience: int) -> None:
    """Validate the HPO budget inputs; raises SpecError naming the bad one."""
    if trials < 1:
        raise SpecError(f"trials must be >= 1; got {trials}")
    if timeout_s < 0:
        raise SpecError(f"timeout_s must be >= 0 (0 = no time limit); got {timeout_s}")
    if folds < 2:
        raise SpecError(f"folds must be >= 2 for cross-validation; got {folds}")
    if patience < 0:
        raise SpecError(f"patience must be >= 0 (0 = off); got {patience}")




@stable_name("ml.modeling.evaluate_asked_trial")
def evaluate_asked_trial(ask: TrialAsk, **kwargs: Any) -> TrialOutcome:
    """``evaluate_trial`` for one asked trial (the item-first shape ``ctx.map`` calls)."""
    return evaluate_trial(params=ask.params, number=ask.number, **kwargs)
