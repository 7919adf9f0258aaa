"""Task functions of the ``evaluation`` process: each reads the scored table from disk, runs one
analysis from ``mlsitter.ml`` and returns a small typed result (plots are written beside it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlsitter.errors import DataError, SpecError
from mlsitter.naming import stable_name
from mlsitter.runtime import task

Y_TRUE, Y_PRED, Y_SCORE, LABEL = "__y_true", "__y_pred", "__y_score", "__label"


@stable_name("evaluation.ModelInfo")
@dataclass
class ModelInfo:
    """What was loaded, from where, and the warning shown for an untrusted file."""

    source: str
    kind: str
    description: str
    warning: str
    task: str  # binary | multiclass | regression
    classes: list[str]
    sha256: str


@stable_name("evaluation.ScoredData")
@dataclass
class ScoredData:
    """The evaluation table with the model's predictions, saved as Parquet for the later steps."""

    path: str
    n_rows: int
    task: str
    target: str
    positive_label: str
    negative_label: str
    feature_columns: list[str]
    columns: list[str]
    class_balance: dict[str, int] = field(default_factory=dict)


def _file_sha256(path: str) -> str:
    p = Path(path)
    if not p.is_file():
        return ""
    h = hashlib.sha256()
    with p.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_task(model: Any) -> str:
    """binary / multiclass / regression, from the fitted estimator's interface."""
    classes = getattr(model, "classes_", None)
    if classes is not None and hasattr(model, "predict_proba"):
        return "binary" if len(classes) == 2 else "multiclass"
    if classes is not None:
        return "binary" if len(classes) == 2 else "multiclass"
    return "regression"


@task(name="evaluation.inspect_model")
def inspect_model(model: str) -> ModelInfo:
    """Load the model once to describe it (and surface the untrusted-file warning)."""
    from mlsitter.ml.modeling._model_loading import load_model

    loaded = load_model(model)
    task = model_task(loaded.model)
    classes = [str(c) for c in getattr(loaded.model, "classes_", [])]
    return ModelInfo(loaded.source, loaded.kind, loaded.description, loaded.warning, task, classes,
                     _file_sha256(model) if loaded.kind == "file" else "")


def load_quiet(model: str) -> Any:
    from mlsitter.ml.modeling._model_loading import load_model

    return load_model(model, warn=False).model


def feature_frame(model: Any, frame: Any, target: str) -> Any:
    """The columns the model was fitted on (``feature_names_in_``), else every column but the target."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return frame.drop(columns=[target])
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise DataError(f"the evaluation data lacks column(s) {missing} that the model was trained on; "
                        f"its columns are {list(frame.columns)}")
    return frame[list(names)]


def positive_of(classes: list[Any], positive_label: str) -> tuple[Any, Any]:
    """(positive, negative) class of a binary model; ``positive_label`` picks by its text, else the last class."""
    if positive_label:
        match = [c for c in classes if str(c) == str(positive_label)]
        if not match:
            raise SpecError(f"positive_label {positive_label!r} is not a class of the model; its classes are {[str(c) for c in classes]}")
        pos = match[0]
    else:
        pos = classes[-1]
    neg = [c for c in classes if c is not pos and str(c) != str(pos)][0]
    return pos, neg


@task(name="evaluation.score_dataset")
def score_dataset(model: str, data: str, target: str, positive_label: str, sample_rows: int, seed: int, out_dir: str) -> ScoredData:
    """Read the evaluation data, predict with the model, and save features + truth + predictions."""
    import pandas as pd

    from mlsitter.ml.io._table_reader import read_table

    est = load_quiet(model)
    frame = read_table(data, sample_rows=sample_rows, seed=seed)
    if target not in frame.columns:
        raise DataError(f"target column {target!r} is not in {data!r}; its columns are {list(frame.columns)}")
    frame = frame[frame[target].notna()].reset_index(drop=True)
    X = feature_frame(est, frame, target)
    task = model_task(est)
    out = frame.drop(columns=[target]).copy()
    pos = neg = ""
    try:
        if task == "regression":
            y = pd.to_numeric(frame[target], errors="coerce")
            if y.isna().any():
                raise DataError(f"target {target!r} has {int(y.isna().sum())} non-numeric values; a regression model needs numbers")
            out[Y_TRUE] = y.to_numpy(dtype=float)
            out[Y_PRED] = np.asarray(est.predict(X), dtype=float)
        else:
            classes = list(est.classes_)
            text_classes = {str(c): c for c in classes}
            labels = frame[target].astype(str).str.strip()
            # e.g. Adult's test file writes '>50K.' for the class '>50K'
            labels = labels.where(labels.isin(text_classes) | ~labels.str.rstrip(".").isin(text_classes), labels.str.rstrip("."))
            unknown = sorted(set(labels.astype(str)) - set(text_classes))
            if unknown:
                raise DataError(f"target {target!r} has labels {unknown[:5]} the model was not trained on; its classes are {list(text_classes)}")
            pred = est.predict(X)
            out[LABEL] = labels.astype(str).to_numpy()
            if task == "binary":
                p, n = positive_of(classes, positive_label)
                pos, neg = str(p), str(n)
                proba = est.predict_proba(X)[:, classes.index(p)] if hasattr(est, "predict_proba") else None
                out[Y_TRUE] = (labels.astype(str) == pos).to_numpy()
                out[Y_PRED] = np.asarray([str(v) == pos for v in pred])
                if proba is not None:
                    out[Y_SCORE] = np.asarray(proba, dtype=float)
            else:
                out[Y_TRUE] = labels.astype(str).to_numpy()
                out[Y_PRED] = np.asarray([str(v) for v in pred])
    except DataError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"the model could not predict on {data!r}: {type(exc).__name__}: {exc}") from None
    path = Path(out_dir) / "scored.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    obj_cols = out.select_dtypes(include="object").columns
    out[obj_cols] = out[obj_cols].astype("string")
    out.to_parquet(path, index=False)
    balance = {str(k): int(v) for k, v in frame[target].astype(str).value_counts().items()} if task != "regression" else {}
    return ScoredData(str(path), len(out), task, target, pos, neg, [str(c) for c in X.columns],
                      [str(c) for c in frame.columns if c != target], balance)


def _read(scored: ScoredData) -> Any:
    import pandas as pd

    frame = pd.read_parquet(scored.path)
    for c in frame.columns:
        if isinstance(frame[c].dtype, pd.StringDtype):
            frame[c] = frame[c].astype(object).where(frame[c].notna(), np.nan)
    return frame


@task(name="evaluation.compute_metrics")
def compute_metrics(scored: ScoredData, n_resamples: int, seed: int) -> Any:
    """Metrics with bootstrap CIs for the task at hand."""
    from mlsitter.ml.metrics._metrics import binary_metrics, multiclass_metrics, regression_metrics

    f = _read(scored)
    if scored.task == "binary":
        score = f[Y_SCORE].to_numpy() if Y_SCORE in f else None
        return binary_metrics(f[Y_TRUE].to_numpy(bool), f[Y_PRED].to_numpy(bool), score, n_resamples=n_resamples, seed=seed)
    if scored.task == "multiclass":
        return multiclass_metrics(f[Y_TRUE].to_numpy(), f[Y_PRED].to_numpy(), n_resamples=n_resamples, seed=seed)
    return regression_metrics(f[Y_TRUE].to_numpy(), f[Y_PRED].to_numpy(), n_resamples=n_resamples, seed=seed)


@task(name="evaluation.compute_calibration")
def compute_calibration(scored: ScoredData, n_resamples: int, seed: int, out_dir: str) -> dict[str, Any]:
    """ECE with CI and the reliability diagram (binary classifiers with probabilities)."""
    from mlsitter.ml.metrics._calibration import expected_calibration_error, reliability_figure
    from mlsitter.report import figure_png

    f = _read(scored)
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
    f = _read(scored)
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

    f = _read(scored)
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
    f = _read(scored)
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


@task(name="evaluation.compute_fairness")
def compute_fairness(scored: ScoredData, attributes: list[str], min_group_size: int, n_resamples: int, seed: int,
                     out_dir: str) -> dict[str, Any]:
    """Fairlearn MetricFrame and DP/EO gaps with CIs per sensitive attribute, plus a plot."""
    from mlsitter.ml.evaluation._fairness import fairness_by_group, fairness_figure
    from mlsitter.report import figure_png

    f = _read(scored)
    missing = [a for a in attributes if a not in f.columns]
    if missing:
        raise DataError(f"sensitive attribute(s) {missing} are not columns of the evaluation data; its columns are {scored.columns}")
    results = [fairness_by_group(f[Y_TRUE].to_numpy(bool), f[Y_PRED].to_numpy(bool), f[a], a, min_group_size=min_group_size,
                                 n_resamples=n_resamples, seed=seed) for a in attributes]
    png = Path(out_dir) / "fairness.png"
    png.write_bytes(figure_png(fairness_figure(results)))
    return {"results": results, "figure": str(png)}


@task(name="evaluation.mitigate_fairness")
def mitigate_fairness(model: str, scored: ScoredData, attributes: list[str], constraint: str, min_group_size: int,
                      n_resamples: int, seed: int, out_dir: str) -> dict[str, Any]:
    """ThresholdOptimizer on half the rows; original vs mitigated judged on the other half; model saved."""
    import joblib

    from mlsitter.ml.evaluation._fairness import fairness_by_group, mitigate_with_threshold_optimizer
    from mlsitter.ml.metrics._metrics import binary_metrics

    est = load_quiet(model)
    f = _read(scored)
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
    f = _read(scored)
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
