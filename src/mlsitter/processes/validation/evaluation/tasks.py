"""Task functions of the ``evaluation`` process: each reads the scored table from disk, runs one
analysis from ``mlsitter.ml`` and returns a small typed result (plots are written beside it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlsitter.errors import DataError
# The scored table and the steps ``explain`` shares with this process live in ml/ and processes/common/; their
# names stay importable here, where journals written before the move (module paths) look for them.
from mlsitter.ml.evaluation._scored_data import (  # noqa: F401
    LABEL, Y_PRED, Y_SCORE, Y_TRUE, ModelInfo, ScoredData, feature_frame, load_quiet, model_task, positive_of,
    read_scored)
from mlsitter.processes.common.model_scoring import (  # noqa: F401
    compute_fairness, compute_metrics, inspect_model, score_dataset)
from mlsitter.runtime import task


@task(name="evaluation.compute_calibration")
def compute_calibration(scored: ScoredData, n_resamples: int, seed: int, out_dir: str) -> dict[str, Any]:
    """ECE with CI and the reliability diagram (binary classifiers with probabilities)."""
    from mlsitter.ml.metrics._calibration import expected_calibration_error, reliability_figure
    from mlsitter.report import figure_png

    f = read_scored(scored)
    res = expected_calibration_error(f[Y_TRUE].to_numpy(bool), f[Y_SCORE].to_numpy(), n_resamples=n_resamples, seed=seed)
    png = Path(out_dir) / "reliability.png"
    png.write_bytes(figure_png(reliability_figure({"model": res})))
    return {"result": res, "figure": str(png)}


@task(name="evaluation.recalibrate_model")
def recalibrate_model(model: str, scored: ScoredData, method: str, seed: int, out_dir: str) -> dict[str, Any]:
    """Fit a calibrator on half the rows, compare ECE/Brier on the other half, save the calibrated model."""
    import joblib

    from mlsitter.ml.metrics._calibration import recalibrate

    est = load_quiet(model)
    f = read_scored(scored)
    res = recalibrate(est, f[scored.feature_columns], f[Y_TRUE].to_numpy(bool), method, seed=seed)
    path = Path(out_dir) / f"recalibrated-{method}.joblib"
    joblib.dump(res.model, path)
    res.model = None
    return {"result": res, "model_path": str(path)}


@task(name="evaluation.compute_slices")
def compute_slices(scored: ScoredData, out_dir: str) -> dict[str, Any]:
    """Worst slices by feature bins/categories, plus confusion matrix or residual plots."""
    from mlsitter.report import figure_png
    from mlsitter.ml.evaluation._slices import confusion_figure, residual_figure, worst_slices

    f = read_scored(scored)
    features = f[scored.columns]
    figures = {}
    if scored.task == "regression":
        err = np.abs(f[Y_TRUE].to_numpy(float) - f[Y_PRED].to_numpy(float))
        slices = worst_slices(features, err, task="regression")
        png = Path(out_dir) / "residuals.png"
        png.write_bytes(figure_png(residual_figure(f[Y_TRUE].to_numpy(float), f[Y_PRED].to_numpy(float))))
        figures["residuals"] = str(png)
    else:
        err = (f[Y_TRUE].to_numpy() != f[Y_PRED].to_numpy()).astype(float)
        slices = worst_slices(features, err, task="classification")
        png = Path(out_dir) / "confusion.png"
        if scored.task == "binary":
            labels = [scored.negative_label, scored.positive_label]
            fig = confusion_figure(f[Y_TRUE].to_numpy(bool), f[Y_PRED].to_numpy(bool), labels)
        else:
            fig = confusion_figure(f[Y_TRUE].to_numpy(), f[Y_PRED].to_numpy(), sorted(set(f[Y_TRUE])))
        png.write_bytes(figure_png(fig))
        figures["confusion"] = str(png)
    return {"slices": slices, "figures": figures}


@task(name="evaluation.compute_robustness")
def compute_robustness(model: str, scored: ScoredData, seed: int) -> list[Any]:
    """Metric under numeric noise, category swaps and injected missing values."""
    from sklearn.metrics import accuracy_score, r2_score, roc_auc_score

    from mlsitter.ml.evaluation._robustness import robustness_report

    est = load_quiet(model)
    f = read_scored(scored)
    X = f[scored.feature_columns]
    if scored.task == "binary" and hasattr(est, "predict_proba"):
        classes = [str(c) for c in est.classes_]
        col = classes.index(scored.positive_label)
        y = f[Y_TRUE].to_numpy(bool)
        return robustness_report(est, X, y, lambda m, XX, yy: roc_auc_score(yy, m.predict_proba(XX)[:, col]), "roc_auc", seed=seed)
    if scored.task == "regression":
        y = f[Y_TRUE].to_numpy(float)
        return robustness_report(est, X, y, lambda m, XX, yy: r2_score(yy, m.predict(XX)), "r2", seed=seed)
    y = f[Y_TRUE].to_numpy()
    return robustness_report(est, X, y, lambda m, XX, yy: accuracy_score(yy, np.asarray(m.predict(XX)).astype(str)),
                             "accuracy", seed=seed)


@task(name="evaluation.mitigate_fairness")
def mitigate_fairness(model: str, scored: ScoredData, attributes: list[str], constraint: str, min_group_size: int,
                      n_resamples: int, seed: int, out_dir: str) -> dict[str, Any]:
    """ThresholdOptimizer on half the rows; original vs mitigated judged on the other half; model saved."""
    import joblib

    from mlsitter.ml.evaluation._fairness import fairness_by_group, mitigate_with_threshold_optimizer
    from mlsitter.ml.metrics._metrics import binary_metrics

    est = load_quiet(model)
    f = read_scored(scored)
    frame = f[list(dict.fromkeys(scored.feature_columns + attributes))]
    y = f[Y_TRUE].to_numpy(bool)
    classes = list(est.classes_)
    pos = [c for c in classes if str(c) == scored.positive_label][0]
    try:
        mit = mitigate_with_threshold_optimizer(est, frame, y, attributes, constraint, positive_label=pos, seed=seed,
                                                 min_group_size=min_group_size)
    except ValueError as exc:
        raise DataError(f"ThresholdOptimizer could not fit on {attributes}: {exc}") from None
    hold = np.asarray(mit.holdout_index)
    Xh = frame.iloc[hold]
    before_pred = f[Y_PRED].to_numpy(bool)[hold]
    after_pred = np.asarray([str(v) == scored.positive_label for v in mit.model.predict(Xh)])
    comparison = []
    for label, pred in (("original", before_pred), ("mitigated", after_pred)):
        m = binary_metrics(y[hold], pred, None, n_resamples=n_resamples, seed=seed)
        fair = [fairness_by_group(y[hold], pred, Xh[a], a, min_group_size=min_group_size, n_resamples=n_resamples, seed=seed)
                for a in attributes]
        comparison.append({"model": label, "metrics": m, "fairness": fair})
    path = Path(out_dir) / "mitigated-model.joblib"
    joblib.dump(mit.model, path)
    return {"constraint": constraint, "attributes": attributes, "groups": mit.groups, "n_fit": mit.n_fit, "n_holdout": mit.n_holdout,
            "comparison": comparison, "model_path": str(path)}


@task(name="evaluation.compute_business_value")
def compute_business_value(scored: ScoredData, costs: str, out_dir: str) -> dict[str, Any]:
    """Expected value per decision vs the best trivial policy, and the threshold maximising it."""
    from mlsitter.ml.evaluation._business_value import business_value, parse_cost_matrix, value_curve_figure
    from mlsitter.report import figure_png

    matrix = parse_cost_matrix(costs)
    f = read_scored(scored)
    res = business_value(f[Y_TRUE].to_numpy(bool), f[Y_SCORE].to_numpy(), matrix)
    png = Path(out_dir) / "business-value.png"
    png.write_bytes(figure_png(value_curve_figure(res)))
    return {"result": res, "figure": str(png)}


@task(name="evaluation.charter_settings")
def charter_settings(charter: str) -> dict[str, Any]:
    """What evaluation takes from a scoping charter: sensitive attributes, positive class, success metric."""
    from mlsitter.ml.handoffs._charter import load_charter

    loaded = load_charter(charter)
    metric = loaded.metric
    return {"sensitive": [str(a) for a in loaded.sensitive_attributes], "positive_class": loaded.positive_class or "",
            "metric": metric.name, "threshold": metric.threshold, "op": ">=" if metric.greater_is_better else "<="}


@task(name="evaluation.export_predictions")
def export_predictions(scored: ScoredData, attributes: list[str], out_dir: str) -> str:
    """Per-row predictions as CSV (row, label, score, prediction, sensitive columns), so anyone can recompute
    the metrics and the fairness gaps with their own tools (fairlearn, sklearn) without mlsitter's modules."""
    import pandas as pd

    f = read_scored(scored)
    out = pd.DataFrame({"row": np.arange(len(f))})
    if scored.task == "binary":
        out["label"] = f[LABEL].to_numpy() if LABEL in f else f[Y_TRUE].to_numpy()
        out["y_true"] = f[Y_TRUE].to_numpy(bool).astype(int)
        if Y_SCORE in f:
            out["score"] = f[Y_SCORE].to_numpy(float)
        pred = f[Y_PRED].to_numpy(bool)
        out["y_pred"] = pred.astype(int)
        out["prediction"] = np.where(pred, scored.positive_label, scored.negative_label)
    else:
        out["label"] = f[Y_TRUE].to_numpy()
        out["prediction"] = f[Y_PRED].to_numpy()
    for a in attributes:
        if a in f.columns:
            out[a] = f[a].to_numpy()
    path = Path(out_dir) / "predictions.csv"
    out.to_csv(path, index=False)
    return str(path)


@task(name="evaluation.write_fairness_table")
def write_fairness_table(results: list[Any], out_dir: str) -> str:
    """The per-group table the fairness question is about (Fairlearn's MetricFrame rows, plus whether each
    group entered the demographic-parity and equalized-odds gaps), as CSV."""
    import pandas as pd

    rows = []
    for r in results:
        for g in r.groups:
            rows.append({"attribute": r.attribute, **g, "in_dp_gap": g["group"] not in r.excluded_groups,
                         "in_eo_gap": g["group"] not in r.excluded_groups + r.eo_excluded_groups})
    path = Path(out_dir) / "fairness-by-group.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


@task(name="evaluation.write_metrics_table")
def write_metrics_table(metrics: Any, out_dir: str) -> str:
    """Every metric with its bootstrap CI as CSV: the evidence a metric-target override question carries."""
    import pandas as pd

    path = Path(out_dir) / "metrics.csv"
    pd.DataFrame(metrics.table()).to_csv(path, index=False)
    return str(path)
