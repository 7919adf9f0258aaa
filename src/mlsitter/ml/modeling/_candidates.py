"""Candidate model families for model selection, each behind the same feature pipeline.

Candidates are named by the family vocabulary (:mod:`mlsitter.ml.modeling._family_names`): any spelling
of a family is accepted, and model selection lists it under the vocabulary's ``candidate`` name.

Classification and regression variants of: dummy, linear/logistic, decision tree, random forest,
extra trees, HistGradientBoosting, LightGBM, XGBoost (CPU) and k-NN (only where sensible: at most
20,000 rows and 100 features, since its predict cost grows with the training set).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sklearn.base import clone
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor, HistGradientBoostingClassifier,
                              HistGradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from mlsitter.errors import SpecError
from mlsitter.ml.modeling._family_names import FAMILIES, candidate_names, canonical_family, find_family
from mlsitter.naming import stable_name

#: model selection's names for the families it compares (the ``candidate`` column of the family vocabulary)
CANDIDATE_NAMES = candidate_names()
INTERPRETABLE = tuple(f.candidate for f in FAMILIES if f.candidate and f.interpretable)
BASELINES = tuple(f.candidate for f in FAMILIES if f.candidate and f.baseline)


@stable_name("ml.modeling.Candidate")
@dataclass
class Candidate:
    """A named model family and its (unfitted) estimator."""

    name: str
    estimator: Any
    interpretable: bool


def _estimator(candidate: str, task: str, seed: int, n_jobs: int) -> Any:
    name = canonical_family(candidate_name(candidate))
    clf = task == "classification"
    if name == "dummy":
        return DummyClassifier(strategy="prior") if clf else DummyRegressor()
    if name == "linear":
        return LogisticRegression(max_iter=2000) if clf else Ridge(alpha=1.0)
    if name == "tree":
        kw = dict(max_depth=8, min_samples_leaf=10, random_state=seed)
        return DecisionTreeClassifier(**kw) if clf else DecisionTreeRegressor(**kw)
    if name in ("random_forest", "extra_trees"):
        kw = dict(n_estimators=100, min_samples_leaf=2, n_jobs=n_jobs, random_state=seed)
        if name == "random_forest":
            return RandomForestClassifier(**kw) if clf else RandomForestRegressor(**kw)
        return ExtraTreesClassifier(**kw) if clf else ExtraTreesRegressor(**kw)
    if name == "hist_gradient_boosting":
        return (HistGradientBoostingClassifier if clf else HistGradientBoostingRegressor)(max_iter=200,
                                                                                           random_state=seed)
    if name == "lightgbm":
        from lightgbm import LGBMClassifier, LGBMRegressor

        kw = dict(n_estimators=200, learning_rate=0.05, num_leaves=31, n_jobs=n_jobs, random_state=seed, verbose=-1)
        return LGBMClassifier(**kw) if clf else LGBMRegressor(**kw)
    if name == "xgboost":
        from xgboost import XGBClassifier, XGBRegressor

        kw = dict(n_estimators=200, learning_rate=0.1, max_depth=6, tree_method="hist", n_jobs=n_jobs,
                  random_state=seed)
        return XGBClassifier(**kw) if clf else XGBRegressor(**kw)
    if name == "knn":
        return KNeighborsClassifier(n_neighbors=15) if clf else KNeighborsRegressor(n_neighbors=15)
    raise SpecError(f"unknown candidate {name!r}; expected some of {', '.join(CANDIDATE_NAMES)}")


def _candidate_of(text: str) -> str | None:
    family = find_family(text)
    return family.candidate if family is not None and family.candidate else None


def candidate_name(text: str) -> str:
    """Model selection's name for the family ``text`` names (any spelling: ``hist_gradient_boosting``,
    ``hgb`` and ``hist_gb`` all give ``hist_gb``); a name that is no candidate raises SpecError."""
    name = _candidate_of(text)
    if name is None:
        raise SpecError(f"unknown candidate(s) {[str(text).strip().lower()]}; expected some of "
                        f"{', '.join(CANDIDATE_NAMES)}")
    return name


def parse_candidate_names(text: str | list[str] | None) -> list[str]:
    """Comma-separated candidate names in any spelling (empty = all); the baselines dummy and linear are
    always added. Returns model selection's names, in its order."""
    names = ([n.strip().lower() for n in text.split(",") if n.strip()] if isinstance(text, str)
             else [str(n).lower() for n in (text or [])])
    unknown = [n for n in names if _candidate_of(n) is None]
    if unknown:
        raise SpecError(f"unknown candidate(s) {unknown}; expected some of {', '.join(CANDIDATE_NAMES)}")
    chosen = {_candidate_of(n) for n in names} or set(CANDIDATE_NAMES)
    return [n for n in CANDIDATE_NAMES if n in chosen or n in BASELINES]


#: k-NN scans every training row per prediction and loses its neighbours in many dimensions: above these it is skipped
KNN_MAX_ROWS, KNN_MAX_FEATURES = 20_000, 100


def skipped_candidates(names: list[str], n_rows: int, n_features: int) -> dict[str, str]:
    """The named candidates that are not compared on data of this size, each with why (the report says so)."""
    if "knn" not in names or (n_rows <= KNN_MAX_ROWS and n_features <= KNN_MAX_FEATURES):
        return {}
    why = (f"{n_rows:,} rows > {KNN_MAX_ROWS:,}" if n_rows > KNN_MAX_ROWS else
           f"{n_features:,} columns > {KNN_MAX_FEATURES}")
    return {"knn": f"skipped: {why} (k-NN scans every training row for each prediction)"}


def build_candidates(features: Any, task: str, names: list[str], n_rows: int, n_features: int, seed: int = 0,
                     n_jobs: int = 1) -> list[Candidate]:
    """Each named family as ``Pipeline([features, model])``; those :func:`skipped_candidates` names are left out."""
    out = []
    skipped = skipped_candidates(names, n_rows, n_features)
    for name in names:
        if name in skipped:
            continue
        pipe = Pipeline([("features", clone(features)), ("model", _estimator(name, task, seed, n_jobs))])
        out.append(Candidate(name, pipe, name in INTERPRETABLE))
    return out
