"""One reviewer-feedback grammar: every refine loop reads a rejection with the same parser, so the same text
gives the same directives in every process that accepts them; each process maps them onto its own settings."""

from __future__ import annotations

import json

import pytest

from mlsitter.errors import SpecError
from mlsitter.ml.handoffs._review_feedback import parse_feedback


def _readers():
    """Every refine loop's key set (and aliases), as each process passes them to the parser."""
    from mlsitter.ml.features._pipeline import FEATURE_FEEDBACK_KEYS
    from mlsitter.processes.execution.training.process import FEEDBACK_ALIASES, FEEDBACK_KEYS as TRAINING
    from mlsitter.processes.planning.eda.feedback import EDA_FEEDBACK_KEYS
    from mlsitter.processes.planning.experiment_plan.design import EXPERIMENT_FEEDBACK_KEYS
    from mlsitter.processes.planning.model_selection.process import FEEDBACK_KEYS as SELECTION
    from mlsitter.processes.planning.scoping.brief import SCOPING_FEEDBACK_KEYS

    return {"eda": (EDA_FEEDBACK_KEYS, {}), "scoping": (SCOPING_FEEDBACK_KEYS, {}),
            "features": (FEATURE_FEEDBACK_KEYS, {}), "model-selection": (SELECTION, {}),
            "experiment-plan": (EXPERIMENT_FEEDBACK_KEYS, {}), "training": (TRAINING, FEEDBACK_ALIASES)}


SHARED = [  # each accepted by two or more processes
    "exclude: Name, Ticket",
    "exclude: Name, Ticket\nplease look at the cabins",
    "metric: accuracy",
    "Metric = accuracy; too strict before",
    "- metric: f1\n* exclude: a, b; interpretability: required",
    "metric: f1, max_latency_ms: 20",
    "drop: Fare, Age",
    "alpha: 0.01",
    "interpretability: required\nmax_model_size_mb: 5",
]


@pytest.mark.parametrize("text", SHARED)
def test_the_same_text_gives_the_same_directives_in_every_process(text):
    readers = _readers()
    every_key = {k for keys, aliases in readers.values() for k in (*keys, *aliases)}
    written = {p.key for p in parse_feedback(text, allowed=sorted(every_key), unknown="keep").ordered()}
    seen = {}
    for process, (keys, aliases) in readers.items():
        if not written <= {*keys, *aliases}:
            continue  # a process that does not read every key of the text would refuse it
        parsed = parse_feedback(text, allowed=keys, aliases=aliases)
        seen[process] = [(p.key, p.value) for p in parsed.ordered()]
    assert len(seen) >= 2, f"the text should be one several processes accept: {sorted(seen)}"
    assert len({tuple(v) for v in seen.values()}) == 1, seen


def test_the_grammar():
    fb = parse_feedback("drop: a, b\nmde: 2%; note that this is fine", allowed=("drop", "mde"))
    assert fb.get_list("drop") == ["a", "b"] and fb.get_float("mde") == pytest.approx(0.02)
    assert fb.comments == ["note that this is fine"]
    # a comma starts a new directive only before a key the reader knows; other commas separate list items
    assert parse_feedback("exclude: a, sensitive: b", allowed=("exclude", "sensitive")).directives == \
        {"exclude": "a", "sensitive": "b"}
    assert parse_feedback("guardrails: latency_ms:higher:0.05, revenue:lower", allowed=("guardrails",)).directives == \
        {"guardrails": "latency_ms:higher:0.05, revenue:lower"}
    # list markers are not text; several words before a colon are prose; '=' is ':'
    fb = parse_feedback("- Metric = f1\nlooks good, but note: the sample is small", allowed=("metric",))
    assert fb.directives == {"metric": "f1"} and fb.comments == ["looks good, but note: the sample is small"]
    # a JSON object value keeps its separators, across lines too
    fb = parse_feedback('space: {"a": {"type": "int", "low": 1,\n "high": 3}}; trials: 2', allowed=("space", "trials"))
    assert json.loads(fb.directives["space"])["a"]["high"] == 3 and fb.directives["trials"] == "2"
    # repeated keys: the last wins in .directives, all are kept in order
    fb = parse_feedback("exclude: a\ninclude: a\nexclude: b", allowed=("exclude", "include"))
    assert fb.directives["exclude"] == "b" and [p.key for p in fb.ordered()] == ["exclude", "include", "exclude"]
    with pytest.raises(SpecError, match="'metrc' is not understood here; use one of drop, mde"):
        parse_feedback("metrc: f1", allowed=("drop", "mde"))
    assert parse_feedback("metrc: f1", allowed=("drop",), unknown="keep").directives == {"metrc": "f1"}
    # phrase keys (the model card's section titles) only where the reader takes them
    assert parse_feedback("Intended use: research", phrase_keys=True).directives == {"intended use": "research"}
    assert parse_feedback("Intended use: research").comments == ["Intended use: research"]


def test_each_process_maps_the_same_directive_onto_its_settings():
    from mlsitter.processes.execution.training.process import parse_feedback as training_feedback
    from mlsitter.processes.planning.eda.feedback import ReportOptions, apply_feedback as eda_feedback
    from mlsitter.processes.planning.model_selection.process import selection_settings
    from mlsitter.processes.planning.scoping.brief import parse_brief, revise_brief

    brief = parse_brief({"objective": "o", "decision": "d", "target": "y",
                         "success_metric": {"name": "roc_auc", "threshold": 0.7}})
    text = "- exclude: Name, Ticket\nmetric: accuracy"
    _, overrides, _ = revise_brief(brief, [text])
    assert overrides["exclude"] == ["Name", "Ticket"]
    assert eda_feedback(ReportOptions(), "exclude: Name, Ticket; metric: accuracy").exclude == ("Name", "Ticket")
    fn = getattr(selection_settings, "__wrapped__", selection_settings)
    settings = fn(metric="", default_metric="roc_auc", constraints={}, candidates="", alpha=0.05,
                  prefer_simpler=True, feedbacks=["metric: accuracy; exclude: hist_gradient_boosting"])
    assert settings["metric"] == "accuracy" and "hist_gb" not in settings["names"]
    assert training_feedback("metric: accuracy, trials: 5") == {"metric": "accuracy", "trials": 5}
    assert revise_brief(brief, ["metric: accuracy"])[0].metric == "accuracy"


def test_training_feedback_strings_keep_their_effect():
    from mlsitter.processes.execution.training.process import parse_feedback as p

    assert p("trials: 40\nfamily: xgboost") == {"trials": 40, "family": "xgboost"}
    assert p("Too few trials; trials=12; timeout: 30s") == {"trials": 12, "timeout_s": 30.0}
    assert p("Too few trials, trials: 12") == {"trials": 12}
    assert p("more search please\ntrials: 3\nfamily: random_forest") == {"trials": 3, "family": "random_forest"}
    assert p("budget: 7; model: lgbm; cv: 4") == {"trials": 7, "family": "lgbm", "folds": 4}
    assert p("looks overfit to me") == {} and p("trials:") == {} and p(None) == {}
    space = p('family: lightgbm, search_space: {"num_leaves": {"type": "int", "low": 8, "high": 16}}')
    assert space["family"] == "lightgbm" and json.loads(space["search_space"])["num_leaves"]["low"] == 8


def test_model_card_sections_run_to_the_end_of_their_line():
    from mlsitter.ml.explain._model_card import apply_feedback, build_model_card

    card = build_model_card(title="t", details={}, intended_use="Demo.", out_of_scope="", factors=[], metrics=[],
                            evaluation_data={}, training_data="d", fairness=[], importance=[], stability=None,
                            ethical=[], caveats=[])
    card = apply_feedback(card, "Intended use: research only; not for credit, ever\n- mention the census year\n"
                                "Ethics: uses sex; Caveats: small sample")
    assert card.sections["Intended use"].text == ["research only; not for credit, ever"]
    assert card.sections["Ethical considerations"].text == ["uses sex"]
    assert card.sections["Caveats and recommendations"].text == ["small sample"]
    assert card.reviewer_notes == ["mention the census year"] and card.version == 2
