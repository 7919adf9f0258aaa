"""One model-family vocabulary: every spelling resolves to one canonical name, and candidates, search
spaces, pipelines, AutoML's portfolio and the selection.json hand-off all name families from it."""

from __future__ import annotations

import pytest

from mlsitter.errors import SpecError
from mlsitter.ml.modeling._family_names import (FAMILIES, canonical_family, candidate_names, find_family,
                                                tunable_families)

SPELLINGS = sorted({s for f in FAMILIES for s in (f.name, f.candidate, *f.aliases) if s})


def test_each_spelling_belongs_to_one_family():
    owners: dict[str, str] = {}
    for family in FAMILIES:
        for spelling in {family.name, family.candidate, *family.aliases} - {""}:
            assert owners.setdefault(spelling, family.name) == family.name, f"{spelling!r} names two families"
    assert len({f.name for f in FAMILIES}) == len(FAMILIES)


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_resolves_to_its_canonical_name_everywhere(spelling):
    from mlsitter.ml.handoffs._handoff import Selection
    from mlsitter.ml.modeling._candidates import candidate_name
    from mlsitter.ml.modeling._search_space import check_family

    family = find_family(spelling)
    assert family is not None
    for variant in (spelling, spelling.upper(), f"  {spelling.replace('_', '-')} "):
        assert find_family(variant) is family and canonical_family(variant) == family.name
    if family.candidate:
        assert candidate_name(spelling) == family.candidate
    if family.tunable:
        assert check_family(spelling) == family.name
        selection = Selection(spelling, "roc_auc", 0.8, "y", "classification", "", "data.csv", "run-1")
        assert selection.family == family.name  # a hand-off written with any spelling reaches training alike
    else:
        with pytest.raises(SpecError, match="cannot be tuned"):
            check_family(spelling)


def test_hist_gradient_boosting_spellings():
    from mlsitter.ml.modeling._candidates import parse_candidate_names

    assert {canonical_family(s) for s in ("hist_gb", "hgb", "hist_gradient_boosting", "Hist-GB")} == \
        {"hist_gradient_boosting"}
    # model selection keeps listing it as hist_gb (its reports and hand-offs always did)
    assert parse_candidate_names("tree, hist_gradient_boosting") == ["dummy", "linear", "tree", "hist_gb"]
    assert parse_candidate_names("hgb") == parse_candidate_names("hist_gb")


def test_the_tables_keyed_by_family_use_canonical_names():
    from mlsitter.ml.modeling import _model_families, _search_space
    from mlsitter.ml.modeling._candidates import BASELINES, CANDIDATE_NAMES, INTERPRETABLE
    from mlsitter.processes.execution.automl.search import PORTFOLIO

    canonical = {f.name for f in FAMILIES}
    assert set(_search_space.families()) == set(tunable_families())
    for table in (_search_space._DEFAULT_SPACES, _search_space._DEFAULT_PARAMS, _search_space._EXTRA_ALLOWED):
        assert set(table) <= canonical
    assert _model_families.SCALED_ONE_HOT | _model_families.NATIVE_MISSING <= canonical
    assert set(PORTFOLIO) <= set(tunable_families())
    assert CANDIDATE_NAMES == candidate_names()
    assert set(BASELINES) <= set(INTERPRETABLE) <= set(CANDIDATE_NAMES)


def test_unknown_names_are_refused_with_the_known_ones():
    from mlsitter.ml.modeling._candidates import candidate_name, parse_candidate_names
    from mlsitter.ml.modeling._search_space import check_family

    with pytest.raises(SpecError, match="unknown model family 'svm'; expected one of: linear"):
        check_family("svm")
    with pytest.raises(SpecError, match=r"unknown candidate\(s\) \['svm'\]; expected some of dummy"):
        parse_candidate_names("tree, svm")
    with pytest.raises(SpecError, match="unknown candidate"):
        candidate_name("svm")
