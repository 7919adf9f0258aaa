"""Training-serving skew: the same raw rows through the offline (batch) pipeline and through the serving
path (the pipeline reloaded from its saved artifact, fed one JSON record at a time, as a server is)
must give identical features. Any difference is reported per feature, naming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from mlsitter.ml.features._pipeline import FittedFeaturePipeline, load_feature_pipeline
from mlsitter.naming import stable_name

ServingTransform = Callable[[FittedFeaturePipeline, dict[str, Any]], Any]


def default_serving_transform(pipeline: FittedFeaturePipeline, record: dict[str, Any]) -> np.ndarray:
    """The serving path: one record (as a JSON request body decodes it) -> features."""
    return pipeline.transform_record(record)


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as a client would send them: through JSON (NaN -> null, dates -> ISO strings)."""
    return json.loads(frame.to_json(orient="records", date_format="iso", date_unit="ns"))


@stable_name("ml.features.FeatureSkew")
@dataclass
class FeatureSkew:
    """How one feature differs between the offline and the serving path."""

    feature: str
    source_columns: list[str]
    rows_differing: int
    max_abs_difference: float
    example_row: int
    offline_value: float
    serving_value: float


@stable_name("ml.features.SkewReport")
@dataclass
class SkewReport:
    """Rows compared, features compared, and every feature that differed."""

    rows: int
    features: int
    skewed: list[FeatureSkew] = field(default_factory=list)
    tolerance: float = 0.0

    @property
    def skewed_features(self) -> int:
        return len(self.skewed)

    def names(self) -> list[str]:
        return [s.feature for s in self.skewed]


def compare_offline_serving(artifact_path: str | Path, frame: pd.DataFrame, rows: int = 200, seed: int = 0,
                            serving_transform: ServingTransform | None = None, tolerance: float = 1e-9,
                            offline: FittedFeaturePipeline | None = None) -> SkewReport:
    """Offline transform of ``rows`` sampled rows vs the reloaded artifact applied record by record.

    ``offline`` is the in-memory fitted pipeline (the training path); when absent it is loaded too.
    ``serving_transform`` replaces the default serving path (e.g. a team's own serving code)."""
    served = load_feature_pipeline(artifact_path)
    trained = offline if offline is not None else load_feature_pipeline(artifact_path)
    sample = frame.sample(n=min(rows, len(frame)), random_state=seed)[trained.input_columns]
    batch = trained.transform(sample)
    transform = serving_transform or default_serving_transform
    online = np.vstack([np.asarray(transform(served, record), dtype=float).reshape(-1)
                        for record in json_records(sample)])
    report = SkewReport(rows=len(sample), features=batch.shape[1], tolerance=tolerance)
    if online.shape != batch.shape:
        report.skewed.append(FeatureSkew("<feature count>", [], len(sample), float("inf"), 0,
                                         float(batch.shape[1]), float(online.shape[1])))
        return report
    both_nan = np.isnan(batch) & np.isnan(online)
    diff = np.where(both_nan, 0.0, np.abs(batch - online))
    diff = np.where(np.isnan(diff), np.inf, diff)
    scale = np.maximum(1.0, np.abs(batch))
    bad = diff > tolerance * np.where(np.isnan(scale), 1.0, scale)
    for j in np.flatnonzero(bad.any(axis=0)):
        name = trained.feature_names[j]
        i = int(np.flatnonzero(bad[:, j])[0])
        report.skewed.append(FeatureSkew(name, trained.sources.get(name, []), int(bad[:, j].sum()),
                                         float(diff[:, j].max()), i, float(batch[i, j]), float(online[i, j])))
    return report


def load_serving_transform(reference: str) -> ServingTransform:
    """A team's own serving code, ``path/to/file.py:function`` or ``module:function``, taking
    ``(pipeline, record)`` and returning the feature row."""
    import importlib
    import importlib.util

    from mlsitter.errors import SpecError

    if ":" not in reference:
        raise SpecError(f"serving code {reference!r} must look like 'path/to/file.py:function' or 'module:function'")
    location, name = reference.rsplit(":", 1)
    if location.endswith(".py"):
        path = Path(location)
        if not path.exists():
            raise SpecError(f"serving code file {location!r} does not exist")
        spec = importlib.util.spec_from_file_location(f"mlsitter_serving_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    else:
        try:
            module = importlib.import_module(location)
        except ImportError as exc:
            raise SpecError(f"serving code module {location!r} cannot be imported: {exc}") from exc
    fn = getattr(module, name, None)
    if not callable(fn):
        raise SpecError(f"serving code {reference!r}: {name!r} is not a function in {location!r}")
    return fn
