"""The compliance checkpoints a gate or a breakpoint may serve, each in its CRISP-DM phase (names only).

Kept apart from :mod:`mlsitter.runtime.compliance` so that the context checks a name without loading it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlsitter.errors import SpecError

PHASES: tuple[tuple[str, str], ...] = (
    ("business-understanding", "Business understanding"),
    ("data-understanding", "Data understanding"),
    ("data-preparation", "Data preparation"),
    ("modeling", "Modeling"),
    ("evaluation", "Evaluation"),
    ("deployment", "Deployment"),
)


@dataclass(frozen=True)
class Checkpoint:
    """A compliance checkpoint of the catalogue: its name, title, CRISP-DM phase and what evidence it asks for."""

    name: str
    title: str
    phase: str
    asks: str


CHECKPOINTS: dict[str, Checkpoint] = {c.name: c for c in (
    Checkpoint("scope", "Scope and success criteria", "business-understanding",
               "the project's objective, success metric and feasibility signed off"),
    Checkpoint("privacy", "Privacy", "data-understanding",
               "personal data found in scoping or EDA, and what was done with it"),
    Checkpoint("data-quality", "Data quality", "data-understanding",
               "measured quality of the data and approved schema or data changes"),
    Checkpoint("feature-integrity", "Feature integrity", "data-preparation",
               "no target leakage, no training-serving skew, approved feature definitions"),
    Checkpoint("model-quality", "Model quality", "modeling",
               "target metric met, stable across folds, no overfitting to the test split"),
    Checkpoint("fairness", "Fairness", "evaluation",
               "fairness metrics per sensitive attribute and the decision taken on them"),
    Checkpoint("explainability", "Explainability and model card", "evaluation",
               "stable explanations and an approved model card"),
    Checkpoint("independent-validation", "Validation independent of development", "evaluation",
               "the model validated and approved by someone other than who started the run"),
    Checkpoint("deployment", "Deployment", "deployment",
               "release checks on the served model and the production approval"),
    Checkpoint("monitoring", "Monitoring in place", "deployment",
               "drift and service-level checks running on the deployed model"),
)}

#: The checkpoint a breakpoint serves when it names none itself, from its tags (the first tag of this table wins).
TAG_CHECKPOINTS: dict[str, str] = {
    "readiness": "independent-validation", "production": "deployment", "deploy": "deployment", "fairness": "fairness",
    "schema-change": "data-quality", "data-change": "data-quality", "definition-change": "feature-integrity",
    "privacy": "privacy", "model-card": "explainability", "monitoring": "monitoring",
}


#: What ``checkpoint=`` takes: one checkpoint's name, several (a question may serve scope and privacy), or none.
Checkpoints = str | Sequence[str] | None


def check_checkpoint(value: Checkpoints, where: str) -> str | list[str] | None:
    """``value`` as journaled (a name, a list of names, or None) if every name is a known checkpoint;
    otherwise a :class:`SpecError` naming the unknown one and listing the known ones."""
    names = checkpoint_names(value)
    for name in names:
        if name not in CHECKPOINTS:
            raise SpecError(f"{where}: unknown compliance checkpoint {name!r}; expected one of {', '.join(CHECKPOINTS)}")
    return value if value is None or isinstance(value, str) else names


def checkpoint_names(value: Any) -> list[str]:
    """The checkpoint names a journaled (or given) ``checkpoint`` value holds."""
    if not value:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]
