"""Retraining's steps: measure each trigger with its numbers, cut the new window into train and a fresh
holdout with a dataset version, compare champion and challenger on that holdout, tag the lineage."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlsitter.errors import InputError
from mlsitter.naming import stable_name
from mlsitter.runtime import task

#: a metric where larger is worse
LOWER_IS_BETTER = {"log_loss", "brier", "rmse", "mae", "mse"}


@stable_name("retraining.Trigger")
@dataclass
class Trigger:
    """One trigger's check: whether it fired, on which measured value against which threshold, and why."""

    name: str  # drift | performance-decay | data-volume | model-age
    fired: bool
    value: float | None
    threshold: float | None
    why: str


@stable_name("retraining.Champion")
@dataclass
class Champion:
    """The version in production and what was recorded when it was trained."""

    name: str
    version: int
    metric: str
    recorded_score: float | None
    registered_at: float
    dataset_version: str


@task(name="retraining.read_champion")
def read_champion(model: str, metric: str) -> Champion:
    """Resolve the champion in the registry and read its recorded test score for ``metric``."""
    from mlsitter.ml.tracking import resolve_model

    found = resolve_model(model)
    recorded = found.metrics.get(metric, found.metrics.get(f"test_{metric}"))
    return Champion(found.name, found.version, metric, recorded, found.created_at, found.dataset_version)


def _score(model: str, frame: Any, target: str, metric: str, positive: str) -> float:
    from sklearn import metrics as skm

    from mlsitter.ml.tracking import load_registered_model

    est = load_registered_model(model)
    X, y = frame.drop(columns=[target]), frame[target].astype(str)
    classes = [str(c) for c in est.classes_]
    if metric == "roc_auc":
        pos = positive or classes[-1]
        return float(skm.roc_auc_score(y == pos, est.predict_proba(X)[:, classes.index(pos)]))
    if metric in ("accuracy", "balanced_accuracy"):
        fn = skm.accuracy_score if metric == "accuracy" else skm.balanced_accuracy_score
        return float(fn(y, est.predict(X).astype(str)))
    if metric == "f1":
        pos = positive or classes[-1]
        return float(skm.f1_score(y == pos, est.predict(X).astype(str) == pos))
    raise InputError(f"metric {metric!r} is not one retraining measures decay with; expected roc_auc, accuracy, "
                     "balanced_accuracy or f1")


@task(name="retraining.check_triggers")
def check_triggers(champion: Champion, data: str, target: str, positive: str, drift: str, max_decay: float,
                   min_new_rows: int, max_age_days: float, now: float, reference: str = "") -> list[Trigger]:
    """Each trigger measured on the new labelled window: drift signal, performance decay, volume, age."""
    from mlsitter.ml.io._table_reader import read_table

    frame = read_table(data)
    if target not in frame.columns:
        raise InputError(f"target {target!r} is not a column of {data}; columns: {', '.join(map(str, frame.columns))}")
    frame = frame[frame[target].notna()]
    out = [_drift_trigger(drift)]
    ref = f"{champion.name}/{champion.version}"
    current = _score(ref, frame, target, champion.metric, positive)
    baseline, source = champion.recorded_score, "at training"
    if reference:
        base = read_table(reference)
        baseline, source = _score(ref, base[base[target].notna()], target, champion.metric, positive), f"on {Path(reference).name}"
    if baseline is None:
        out.append(Trigger("performance-decay", False, None, max_decay,
                           f"{ref} has no recorded {champion.metric} and no reference= table; scores {current:.4f} "
                           "on the new window"))
    else:
        decay = baseline - current
        if champion.metric in LOWER_IS_BETTER:
            decay = -decay
        fired = decay > max_decay
        out.append(Trigger("performance-decay", fired, round(decay, 6), max_decay,
                           f"{champion.metric} {current:.4f} on {len(frame)} new labelled rows against {baseline:.4f} "
                           f"{source}: a drop of {decay:.4f} {'>' if fired else '<='} the allowed {max_decay}"))
    rows = len(frame)
    out.append(Trigger("data-volume", rows >= min_new_rows, float(rows), float(min_new_rows),
                       f"{rows} new labelled rows since the last training {'>=' if rows >= min_new_rows else '<'} {min_new_rows}"))
    if max_age_days > 0 and champion.registered_at:
        age = (now - champion.registered_at) / 86400.0
        out.append(Trigger("model-age", age > max_age_days, round(age, 4), max_age_days,
                           f"{ref} was registered {age:.2f} days ago {'>' if age > max_age_days else '<='} {max_age_days} days"))
    else:
        out.append(Trigger("model-age", False, None, max_age_days or None, "model age not checked (max_age_days=0)"))
    return out


def _drift_trigger(drift: str) -> Trigger:
    """The drift signal: a drift run's result (JSON text or file with status, alerts and recommendation)."""
    if not drift:
        return Trigger("drift", False, None, None, "no drift result given")
    text = Path(drift).read_text(encoding="utf-8") if Path(drift).suffix == ".json" and Path(drift).is_file() else drift
    try:
        signal = json.loads(text)
    except json.JSONDecodeError:
        raise InputError(f"drift {drift[:80]!r} must be a drift result as JSON (status, alerts, action) or a .json "
                         "file holding one") from None
    alerts = list(signal.get("alerts") or [])
    fired = signal.get("status") == "drift" and signal.get("action", "retrain") == "retrain"
    why = (f"drift alerts ({len(alerts)}): {'; '.join(alerts)[:400]}" if fired else
           f"drift status {signal.get('status', '?')}, recommendation {signal.get('action', 'none')}"
           + (f" ({signal.get('reason')})" if signal.get("reason") else ""))
    return Trigger("drift", fired, float(len(alerts)), 1.0, why)


@task(name="retraining.split_window")
def split_window(data: str, target: str, holdout: float, seed: int, out_dir: str) -> dict[str, str]:
    """The new window cut into train and a fresh holdout (seeded, stratified), its dataset version and fixtures."""
    from mlsitter.ml.io._table_reader import read_table
    from mlsitter.ml.tracking import content_hash_of_frame
    from mlsitter.processes.common.holdout import write_holdout_split

    frame = read_table(data)
    frame = frame[frame[target].notna()].reset_index(drop=True)
    paths = write_holdout_split(frame, target, holdout, seed, out_dir, prefix="window-")
    return {**paths, "dataset_version": content_hash_of_frame(frame), "rows": str(len(frame))}


@task(name="retraining.compare")
def compare_on_holdout(champion: str, challenger: str, holdout: str, target: str, metric: str, positive: str,
                       n_resamples: int, seed: int) -> Any:
    """Both models on the same fresh holdout: DeLong for ROC AUC, a paired bootstrap otherwise."""
    from sklearn import metrics as skm

    from mlsitter.ml.io._table_reader import read_table
    from mlsitter.ml.modeling import delong_test, paired_bootstrap_test
    from mlsitter.ml.tracking import load_registered_model

    frame = read_table(holdout)
    X, y = frame.drop(columns=[target]), frame[target].astype(str)
    a, b = load_registered_model(champion), load_registered_model(challenger)
    classes = [str(c) for c in a.classes_]
    pos = positive or classes[-1]
    if metric == "roc_auc":
        return delong_test(y == pos, a.predict_proba(X)[:, classes.index(pos)],
                           b.predict_proba(X)[:, [str(c) for c in b.classes_].index(pos)])
    fns = {"accuracy": skm.accuracy_score, "balanced_accuracy": skm.balanced_accuracy_score,
           "f1": lambda t, p: skm.f1_score(t == pos, p == pos)}
    if metric not in fns:
        raise InputError(f"metric {metric!r}: expected roc_auc, accuracy, balanced_accuracy or f1")
    return paired_bootstrap_test(y.to_numpy(), a.predict(X).astype(str), b.predict(X).astype(str), fns[metric], metric,
                                 n_resamples=n_resamples, seed=seed)


def worst_fairness(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    """The worst demographic-parity ratio and equalized-odds difference over an evaluation's attributes
    (None where no attribute measured it)."""
    def measured(key: str) -> list[float]:  # None or NaN: undefined (e.g. a model that never predicts positive)
        return [float(r[key]) for r in rows if r.get(key) is not None and float(r[key]) == float(r[key])]

    dp, eo = measured("dp_ratio"), measured("eo_difference")
    return {"dp_ratio": min(dp) if dp else None, "eo_difference": max(eo) if eo else None}


@task(name="retraining.tag_lineage")
def tag_lineage(model: str, parent: str, trigger: str) -> dict[str, Any]:
    """Put the parent version and the trigger on the challenger's registry version."""
    from mlsitter.ml.tracking import tag_lineage as tag

    return tag(model, parent_version=parent, trigger=trigger).to_dict()


def next_check(now: float, every: str) -> float:
    """When the next scheduled check is due: ``every`` as '30s', '15m', '6h', '7d' or seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = every.strip().lower()
    try:
        seconds = float(text[:-1]) * units[text[-1]] if text and text[-1] in units else float(text)
    except ValueError:
        raise InputError(f"every {every!r} must be a duration such as '30s', '6h' or '7d'") from None
    if seconds <= 0:
        raise InputError(f"every {every!r} must be a positive duration")
    return now + seconds
