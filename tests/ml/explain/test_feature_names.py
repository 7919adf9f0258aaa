"""Feature names survive every pipeline ``training`` builds, so SHAP, PDP/ICE and the probes use real names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlsitter.ml.explain._counterfactuals import counterfactual_probes
from mlsitter.ml.explain._explainers import explain_with_shap, transform_features
from mlsitter.ml.explain._feature_effects import partial_dependence_figure
from mlsitter.ml.modeling._model_families import build_pipeline, column_kinds
from mlsitter.processes.validation.explain.process import probe_features, top_shap_features
from mlsitter.processes.validation.explain.tasks import probe_scope

#: each family with a small model: the test is about names, not fit quality
FAMILIES = {"linear": {}, "knn": {}, "random_forest": {"n_estimators": 10}, "extra_trees": {"n_estimators": 10},
            "hist_gradient_boosting": {"max_iter": 10}, "lightgbm": {"n_estimators": 10}, "xgboost": {"n_estimators": 10}}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """OpenMP estimators (hist gradient boosting) on one thread: on a shared machine more threads only wait."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def frame() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(3)
    n = 300
    X = pd.DataFrame({
        "signup": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D"),
        "income": rng.normal(50, 15, n),
        "noise": rng.normal(size=n),
        "region": rng.choice(["north", "south", "east"], n),
    })
    y = (X["income"] + rng.normal(0, 3, n) > 50).to_numpy(int)
    return X, y


@pytest.mark.parametrize("family", list(FAMILIES))
def test_names_survive_the_datetime_step_of_every_family(frame, family):
    X, y = frame
    model = build_pipeline(family, "classification", FAMILIES[family], column_kinds(X), seed=0).fit(X, y)
    _, Xt, names = transform_features(model, X)
    assert len(names) == np.shape(Xt)[1]
    assert not any(n.startswith("x") and n[1:].isdigit() for n in names), names
    assert {"signup_year", "signup_month", "income", "noise"} <= set(names)


def test_shap_pdp_and_probes_use_the_real_top_feature(frame):
    X, y = frame
    model = build_pipeline("lightgbm", "classification", {"n_estimators": 30}, column_kinds(X), seed=0).fit(X, y)
    expl = explain_with_shap(model, X)
    imp = expl.importance()
    assert set(imp["feature"]) == set(X.columns)  # datetime parts summed back to 'signup'
    assert imp["feature"].iloc[0] == "income"

    class Scored:
        feature_columns = list(X.columns)

    top = top_shap_features(type("S", (), {"importance": imp.to_dict("records")})(), Scored, 2)
    assert top[0] == "income"
    probed = probe_features(top, ["region"], Scored)
    assert probed[:2] == top and "region" in probed
    _, curves = partial_dependence_figure(model, X, top)
    assert [c["feature"] for c in curves][0] == "income" and len(curves[0]["grid"]) > 5
    probes = counterfactual_probes(model, X, [0, 1, 2, 3], probed)
    assert any(p.feature == "income" for p in probes)  # the top feature does flip decisions
    scope = probe_scope(probed, [0, 1, 2, 3], "binary")
    assert "income" in scope and "rows 0, 1, 2, 3" in scope
    assert "none were run" in probe_scope([], [], "regression")
