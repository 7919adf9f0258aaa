"""An ``automl`` ensemble is never worse than its best member on held-out rows, on small, wide regression
data built like the house-price case (300 rows, 62 columns, a price that saturates in a heavy-tailed living
area): boosted and linear members, the ensemble chosen on their out-of-fold predictions, judged on 2,000 new rows."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, cross_val_predict

from mlsitter.ml.metrics._scoring import get_metric
from mlsitter.processes.execution.automl.search import WeightedEnsemble, select_ensemble


def houses(n: int, rng: np.random.RandomState, wide: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Living area (log-normal: a few very large houses), quality, and ``wide`` columns of noise; the price
    grows with the area but saturates."""
    area = rng.lognormal(mean=0.0, sigma=0.6, size=n)
    quality = rng.normal(size=n)
    X = np.column_stack([area, quality, rng.normal(size=(n, wide))])
    price = 3 * np.tanh(area) + quality + 0.3 * rng.normal(size=n)
    return X, price


@pytest.fixture(scope="module")
def members() -> dict[str, object]:
    rng = np.random.RandomState(3)
    X, y = houses(300, rng)
    X_test, y_test = houses(2000, rng)
    folds = KFold(5, shuffle=True, random_state=0)
    models = [HistGradientBoostingRegressor(max_iter=80, learning_rate=0.1, random_state=0),
              HistGradientBoostingRegressor(max_iter=80, learning_rate=0.1, max_depth=3, random_state=1),
              Ridge(alpha=1.0), Ridge(alpha=30.0)]
    oof = [cross_val_predict(m, X, y, cv=folds) for m in models]
    fitted = [m.fit(X, y) for m in models]
    return {"X": X, "y": y, "X_test": X_test, "y_test": y_test, "oof": oof, "fitted": fitted}


def test_an_ensemble_is_never_worse_than_its_best_member_on_held_out_rows(members):
    r2 = get_metric("r2", "regression")
    choice = select_ensemble(members["oof"], members["y"], r2, None, seed=0)
    tests = [r2_score(members["y_test"], m.predict(members["X_test"])) for m in members["fitted"]]
    # the blend beats the best single model held out; a linear member that did not help there is rejected
    assert choice.keep and choice.rejected and set(choice.rejected) <= {2, 3}
    assert all(choice.weights[i] == 0.0 for i in choice.rejected)
    span = (float(members["y"].min()), float(members["y"].max()))
    blend = WeightedEnsemble.from_fitted(members["fitted"], choice.weights, "regression", target_range=span)
    assert r2_score(members["y_test"], blend.predict(members["X_test"])) >= max(tests) - 0.005
