"""Explainer choice, SHAP additivity and grouping, counterfactual probes, rank stability, model cards."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlsitter.ml.explain._counterfactuals import counterfactual_probes
from mlsitter.ml.explain._explainers import (
    explain_with_shap, explainer_kind, local_explanations, original_column_groups,
)
from mlsitter.ml.explain._importance_stability import rank_stability
from mlsitter.ml.explain._model_card import apply_feedback, build_model_card, render_model_card, section_for
from validation_fixtures import adult_samples, lightgbm_pipeline, logistic_pipeline


@pytest.fixture(scope="module")
def adult():
    train, test = adult_samples(2000)
    return train, test.drop(columns="class").iloc[:300]


def test_tree_and_linear_explainers_add_up_to_the_model_output(adult):
    train, X = adult
    for build, kind in ((lightgbm_pipeline, "tree"), (logistic_pipeline, "linear")):
        model = build(train)
        expl = explain_with_shap(model, X)
        assert expl.explainer == kind
        raw = model.predict_proba(X.iloc[expl.row_index])[:, 1]
        ok = (raw > 1e-6) & (raw < 1 - 1e-6)  # log-odds from probabilities lose precision at the extremes
        margin = np.log(raw[ok] / (1 - raw[ok]))
        # SHAP values add up to the model's log-odds output (TreeSHAP exactly, LinearExplainer too)
        np.testing.assert_allclose((expl.base_value + expl.values.sum(axis=1))[ok], margin, atol=1e-4)
        imp = expl.importance()
        assert set(imp["feature"]) == set(X.columns)  # one-hot parts summed back to their column
        assert imp["feature"].iloc[0] in {"relationship", "marital-status", "capital-gain", "age", "education-num"}


def test_kernel_explainer_for_other_models():
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    y = X["a"] > 0
    model = KNeighborsClassifier().fit(X, y)
    assert explainer_kind(model) == "kernel"
    expl = explain_with_shap(model, X, kernel_rows=20, kernel_samples=60)
    assert expl.explainer == "kernel" and expl.values.shape == (20, 3)
    assert expl.importance()["feature"].iloc[0] == "a"


def test_column_groups_prefer_the_longest_name():
    names = ["num__education-num", "cat__education_Bachelors", "cat__education_HS-grad", "num__age"]
    groups = original_column_groups(names, ["education", "education-num", "age"])
    assert groups == {"education-num": [0], "education": [1, 2], "age": [3]}


def test_a_missing_value_indicator_is_part_of_its_column_in_every_importance_list():
    """training's linear pipeline adds ``missingindicator_income``; when income's missingness predicts the target,
    that indicator must not be a row of its own in the importance table, the model card or the PDP list."""
    from mlsitter.ml.modeling._model_families import build_pipeline, column_kinds

    rng = np.random.default_rng(0)
    n = 600
    y = rng.random(n) < 0.4
    X = pd.DataFrame({"income": np.where(y & (rng.random(n) < 0.7), np.nan, rng.normal(50, 10, n)),
                      "tenure": rng.normal(5, 2, n) + y, "plan": rng.choice(["a", "b"], n)})
    model = build_pipeline("linear", "binary", {}, column_kinds(X), seed=0).fit(X, y)
    expl = explain_with_shap(model, X, max_rows=300)
    assert "missingindicator_income" in [str(n) for n in model.named_steps["columns"].get_feature_names_out()]
    imp = expl.importance()
    assert sorted(imp["feature"]) == ["income", "plan", "tenure"] and imp["feature"].iloc[0] == "income"
    raw = expl.importance(grouped=False)
    assert "income (missing)" in list(raw["feature"]) and not raw["feature"].str.contains("missingindicator").any()
    income = expl.groups["income"]
    assert [expl.feature_names[j] for j in income] == ["income", "income (missing)"]
    np.testing.assert_allclose(imp.set_index("feature").loc["income", "mean_abs_shap"],
                               np.abs(expl.values[:, income].sum(axis=1)).mean())
    local = local_explanations(expl, [0, 1])
    assert {c["feature"] for row in local for c in row["contributions"]} <= {"income", "plan", "tenure"}
    # the model card's table and explain's PDP list are read from this importance: income leads both
    from types import SimpleNamespace

    from mlsitter.processes.validation.explain.process import top_shap_features

    summary = SimpleNamespace(importance=imp.to_dict("records"))
    assert top_shap_features(summary, SimpleNamespace(feature_columns=list(X.columns)), 2)[0] == "income"


def test_counterfactual_probe_flips_the_decision(adult):
    train, X = adult
    model = logistic_pipeline(train)
    probes = counterfactual_probes(model, X, [0, 1, 2], ["education-num", "capital-gain", "marital-status"])
    assert probes
    for p in probes:
        assert (p.original_score >= 0.5) != (p.new_score >= 0.5)
        changed = X.iloc[[p.row]].copy()
        changed[p.feature] = p.changed_to
        assert (model.predict_proba(changed)[0, 1] >= 0.5) == (p.new_score >= 0.5)


def test_rank_stability_separates_stable_from_noisy_rankings():
    rng = np.random.default_rng(0)
    stable = np.abs(rng.normal(size=(500, 6))) * np.array([6, 5, 4, 3, 2, 1])
    noisy = np.abs(rng.standard_cauchy(size=(60, 6)))
    assert rank_stability(stable, n_resamples=100).mean_spearman > 0.95
    assert rank_stability(noisy, n_resamples=100).mean_spearman < 0.9


def test_model_card_sections_and_feedback(tmp_path):
    card = build_model_card(
        title="adult", details={"model": "LogisticRegression"}, intended_use="Demo.", out_of_scope="", factors=["sex"],
        metrics=[{"metric": "roc_auc", "value": 0.9, "ci_low": 0.89, "ci_high": 0.91}], evaluation_data={"rows": 100},
        training_data="Adult 1994 census sample", fairness=[], importance=[], stability=None, ethical=["uses sex"], caveats=[],
    )
    assert section_for("intended use") == "Intended use" and section_for("Ethics") == "Ethical considerations"
    card = apply_feedback(card, "Intended use: research only\nmention the census year")
    assert card.version == 2 and card.sections["Intended use"].text == ["research only"]
    assert any("census year" in b for b in card.sections["Caveats and recommendations"].bullets)
    files = render_model_card(card, tmp_path)
    html = files.html.read_text()
    for title in ("Model details", "Intended use", "Factors", "Metrics", "Evaluation data", "Training data",
                  "Quantitative analyses", "Ethical considerations", "Caveats and recommendations"):
        assert f"<h2>{title}</h2>" in html
    assert "research only" in html and "Version 2" in html
