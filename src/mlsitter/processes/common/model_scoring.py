"""Steps that score a model on evaluation data and measure it (``evaluation``, ``explain``): describe the
model, write the scored table, metrics with CIs and group fairness on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlsitter.errors import DataError
from mlsitter.ml.evaluation._scored_data import (LABEL, Y_PRED, Y_SCORE, Y_TRUE, ModelInfo, ScoredData, feature_frame,
                                                 file_sha256, load_quiet, model_task, positive_of, read_scored)
from mlsitter.runtime import task


@task(name="evaluation.inspect_model")
def inspect_model(model: str) -> ModelInfo:
    """Load the model once to describe it (and surface the untrusted-file warning)."""
    from mlsitter.ml.modeling._model_loading import load_model

    loaded = load_model(model)
    task = model_task(loaded.model)
    classes = [str(c) for c in getattr(loaded.model, "classes_", [])]
    return ModelInfo(loaded.source, loaded.kind, loaded.description, loaded.warning, task, classes,
                     file_sha256(model) if loaded.kind == "file" else "")


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


@task(name="evaluation.compute_metrics")
def compute_metrics(scored: ScoredData, n_resamples: int, seed: int) -> Any:
    """Metrics with bootstrap CIs for the task at hand."""
    from mlsitter.ml.metrics._metrics import binary_metrics, multiclass_metrics, regression_metrics

    f = read_scored(scored)
    if scored.task == "binary":
        score = f[Y_SCORE].to_numpy() if Y_SCORE in f else None
        return binary_metrics(f[Y_TRUE].to_numpy(bool), f[Y_PRED].to_numpy(bool), score, n_resamples=n_resamples, seed=seed)
    if scored.task == "multiclass":
        return multiclass_metrics(f[Y_TRUE].to_numpy(), f[Y_PRED].to_numpy(), n_resamples=n_resamples, seed=seed)
    return regression_metrics(f[Y_TRUE].to_numpy(), f[Y_PRED].to_numpy(), n_resamples=n_resamples, seed=seed)


@task(name="evaluation.compute_fairness")
def compute_fairness(scored: ScoredData, attributes: list[str], min_group_size: int, n_resamples: int, seed: int,
                     out_dir: str) -> dict[str, Any]:
    """Fairlearn MetricFrame and DP/EO gaps with CIs per sensitive attribute, plus a plot."""
    from mlsitter.ml.evaluation._fairness import fairness_by_group, fairness_figure
    from mlsitter.report import figure_png

    f = read_scored(scored)
    missing = [a for a in attributes if a not in f.columns]
    if missing:
        raise DataError(f"sensitive attribute(s) {missing} are not columns of the evaluation data; its columns are {scored.columns}")
    results = [fairness_by_group(f[Y_TRUE].to_numpy(bool), f[Y_PRED].to_numpy(bool), f[a], a, min_group_size=min_group_size,
                                 n_resamples=n_resamples, seed=seed) for a in attributes]
    png = Path(out_dir) / "fairness.png"
    png.write_bytes(figure_png(fairness_figure(results)))
    return {"results": results, "figure": str(png)}
