"""The model-family vocabulary: one canonical name per family, and the one place other spellings are read.

Candidates (model selection), search spaces, pipelines, training, AutoML and the ``selection.json``
hand-off all name families through this table. :func:`find_family` accepts every spelling a user,
a reviewer or a file written before may use (``hgb``, ``lgbm``, ``hist_gb``, ``Random-Forest``), and
everything past it carries the canonical :attr:`Family.name`.

Model selection lists a family, and writes it as ``recommended`` in ``selection.json``, under its
:attr:`Family.candidate` label; that label is the canonical name for every family but
HistGradientBoosting, which model selection has always shown as ``hist_gb`` (hand-offs and reports
written before carry it, and its reviewers type it), while training, AutoML and the search spaces name
it ``hist_gradient_boosting``. Both are columns of the same row, so one lookup turns either into the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlsitter.errors import SpecError
from mlsitter.naming import stable_name


@stable_name("ml.modeling.Family")
@dataclass(frozen=True)
class Family:
    """A model family: its canonical name, other accepted spellings and what mlsitter does with it."""

    name: str
    #: other spellings accepted on input (normalised as :func:`family_key` does)
    aliases: tuple[str, ...] = ()
    #: the name model selection compares it under and hands to training ("" = not a candidate)
    candidate: str = ""
    #: training and AutoML tune it (it has a search space)
    tunable: bool = True
    #: model selection counts it as interpretable
    interpretable: bool = False
    #: model selection always compares it, as a baseline
    baseline: bool = False


FAMILIES: tuple[Family, ...] = (
    Family("dummy", candidate="dummy", tunable=False, interpretable=True, baseline=True),
    Family("linear", ("logistic", "ridge"), candidate="linear", interpretable=True, baseline=True),
    Family("tree", candidate="tree", tunable=False, interpretable=True),
    Family("random_forest", ("rf",), candidate="random_forest"),
    Family("extra_trees", ("et",), candidate="extra_trees"),
    Family("hist_gradient_boosting", ("hgb", "hist_gb"), candidate="hist_gb"),
    Family("lightgbm", ("lgbm",), candidate="lightgbm"),
    Family("xgboost", ("xgb",), candidate="xgboost"),
    Family("knn", ("k_nn",), candidate="knn"),
)

_BY_SPELLING: dict[str, Family] = {
    spelling: family for family in FAMILIES for spelling in (family.name, family.candidate, *family.aliases) if spelling
}


def family_key(text: str) -> str:
    """A spelling as the vocabulary compares it: case, surrounding spaces and ``-`` for ``_`` do not matter."""
    return str(text).strip().lower().replace("-", "_")


def find_family(text: str) -> Family | None:
    """The family ``text`` names (any accepted spelling), or None."""
    return _BY_SPELLING.get(family_key(text))


def canonical_family(text: str) -> str:
    """The canonical name of the family ``text`` names; an unknown name raises SpecError listing the families."""
    family = find_family(text)
    if family is None:
        raise SpecError(f"unknown model family {text!r}; expected one of: {', '.join(f.name for f in FAMILIES)}")
    return family.name


def candidate_names() -> tuple[str, ...]:
    """Model selection's candidates, in the order it compares and lists them."""
    return tuple(f.candidate for f in FAMILIES if f.candidate)


def tunable_families() -> tuple[str, ...]:
    """Canonical names of the families training and AutoML can tune."""
    return tuple(f.name for f in FAMILIES if f.tunable)
