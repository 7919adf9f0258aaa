"""A scikit-learn ``ColumnTransformer`` built from the data and the user's feature spec, saved fitted.

Spec (YAML file or mapping; every key optional, columns not named are typed from the data)::

    numeric: [age, fare]                 # impute + scale
    categorical: [sex, embarked]         # impute + one-hot (default encoding)
    ordinal: [education]                 # impute + ordinal codes
    target_encode: [native-country]      # sklearn TargetEncoder: cross-fitted inside fit_transform
    datetime: [dteday]                   # year, month, day, day of week, hour
    ratios: ["capital-gain/hours-per-week"]
    interactions: ["age*hours-per-week"]
    text: [Name]                         # hashed word counts
    text_features: 32
    drop: [PassengerId]                  # never a feature
    keep: [sex]                          # pinned: selection and leakage pruning never remove it
    scale: standard                      # standard | robust | minmax | none
    impute_numeric: median               # median | mean | constant
    max_onehot_categories: 20
    high_cardinality: target             # object columns with > max_onehot_categories levels:
                                         # target | drop | onehot

Target encoding uses sklearn's ``TargetEncoder``, whose ``fit_transform`` cross-fits (each row is
encoded by a model that never saw its target), so encodings never leak into training rows.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (MinMaxScaler, OneHotEncoder, OrdinalEncoder, RobustScaler, StandardScaler,
                                   TargetEncoder)

from mlsitter.errors import SpecError
from mlsitter.ml.features._transformers import ColumnArithmetic, DatetimeParts, MissingAsNaN, TextHashing
from mlsitter.naming import stable_name

_LIST_KEYS = ("numeric", "categorical", "ordinal", "target_encode", "datetime", "ratios", "interactions",
              "text", "drop", "keep")
_SCALARS = {"scale": ("standard", "robust", "minmax", "none"), "impute_numeric": ("median", "mean", "constant"),
            "high_cardinality": ("target", "drop", "onehot")}
_ROLE_KEYS = ("numeric", "categorical", "ordinal", "target_encode", "datetime", "text")


@stable_name("ml.features.FeatureSpec")
@dataclass
class FeatureSpec:
    """What the user asked of the feature pipeline (see the module docstring)."""

    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    ordinal: list[str] = field(default_factory=list)
    target_encode: list[str] = field(default_factory=list)
    datetime: list[str] = field(default_factory=list)
    ratios: list[str] = field(default_factory=list)
    interactions: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    drop: list[str] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)
    text_features: int = 32
    scale: str = "standard"
    impute_numeric: str = "median"
    max_onehot_categories: int = 20
    high_cardinality: str = "target"


def _as_list(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, (str, int)) for v in value):
        return [str(v) for v in value]
    raise SpecError(f"feature spec '{key}' must be a list of column names, got {value!r}")


def parse_feature_spec(raw: Any) -> FeatureSpec:
    """Validate a spec mapping, a YAML file path or a YAML string; empty means 'infer everything'."""
    if raw is None or raw == "" or raw == {}:
        return FeatureSpec()
    if isinstance(raw, (str, Path)):
        text = str(raw)
        path = Path(text)
        if path.suffix.lower() in (".yaml", ".yml", ".json"):
            if not path.exists():
                raise SpecError(f"feature spec file {text!r} does not exist")
            text = path.read_text(encoding="utf-8")
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SpecError(f"feature spec is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SpecError(f"feature spec must be a mapping of keys {list(_LIST_KEYS)}, got {raw!r}")
    unknown = sorted(set(raw) - set(_LIST_KEYS) - set(_SCALARS) - {"text_features", "max_onehot_categories"})
    if unknown:
        raise SpecError(f"unknown feature spec key(s) {unknown}; allowed: "
                        f"{sorted([*_LIST_KEYS, *_SCALARS, 'text_features', 'max_onehot_categories'])}")
    spec = FeatureSpec(**{k: _as_list(raw.get(k), k) for k in _LIST_KEYS})
    for key, allowed in _SCALARS.items():
        if key in raw:
            value = str(raw[key]).lower()
            if value not in allowed:
                raise SpecError(f"feature spec '{key}' must be one of {list(allowed)}, got {raw[key]!r}")
            setattr(spec, key, value)
    for key in ("text_features", "max_onehot_categories"):
        if key in raw:
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise SpecError(f"feature spec '{key}' must be an integer >= 2, got {value!r}")
            setattr(spec, key, value)
    for key, op in (("ratios", "/"), ("interactions", "*")):
        for expr in getattr(spec, key):
            parts = [p.strip() for p in expr.split(op)]
            if len(parts) != 2 or not all(parts):
                raise SpecError(f"feature spec '{key}' entry {expr!r} must look like 'a{op}b' (two column names)")
    seen: dict[str, str] = {}
    for key in _ROLE_KEYS + ("drop",):
        for column in getattr(spec, key):
            if column in seen:
                raise SpecError(f"column {column!r} is listed under both '{seen[column]}' and '{key}' in the "
                                "feature spec; give each column one role")
            seen[column] = key
    pinned_dropped = sorted(set(spec.keep) & set(spec.drop))
    if pinned_dropped:
        raise SpecError(f"column(s) {pinned_dropped} are both pinned ('keep') and dropped ('drop'); choose one")
    return spec


def arithmetic_pairs(exprs: list[str], op: str) -> tuple[tuple[str, str], ...]:
    return tuple(tuple(p.strip() for p in e.split(op)) for e in exprs)  # type: ignore[misc]


@stable_name("ml.features.ColumnRoles")
@dataclass
class ColumnRoles:
    """Which raw column plays which role in the pipeline (after inference)."""

    numeric: list[str]
    categorical: list[str]
    ordinal: list[str]
    target_encode: list[str]
    datetime: list[str]
    text: list[str]
    ratios: tuple[tuple[str, str], ...]
    interactions: tuple[tuple[str, str], ...]
    dropped: dict[str, str]

    def inputs(self) -> list[str]:
        cols = [*self.numeric, *self.categorical, *self.ordinal, *self.target_encode, *self.datetime, *self.text]
        for a, b in (*self.ratios, *self.interactions):
            cols += [a, b]
        return list(dict.fromkeys(cols))


def infer_roles(frame: pd.DataFrame, target: str, spec: FeatureSpec, exclude: list[str] | None = None) -> ColumnRoles:
    """Assign a role to every column: the spec's choice, else typed from dtype and cardinality."""
    exclude = list(exclude or [])
    columns = [c for c in frame.columns if c != target]
    named = [c for key in (*_ROLE_KEYS, "drop", "keep") for c in getattr(spec, key)]
    named += [c for a, b in (*arithmetic_pairs(spec.ratios, "/"), *arithmetic_pairs(spec.interactions, "*"))
              for c in (a, b)]
    missing = sorted({c for c in named if c not in frame.columns})
    if missing:
        raise SpecError(f"feature spec names column(s) {missing} that are not in the data; "
                        f"its columns are {columns}")
    if target in named:
        raise SpecError(f"feature spec uses the target {target!r} as a feature; remove it from the spec")
    roles = ColumnRoles([], [], [], [], [], [], arithmetic_pairs(spec.ratios, "/"),
                        arithmetic_pairs(spec.interactions, "*"), {})
    explicit = {c: key for key in _ROLE_KEYS for c in getattr(spec, key)}
    n = len(frame)
    for column in columns:
        if column in spec.drop:
            roles.dropped[column] = "dropped in the spec"
            continue
        if column in exclude and column not in spec.keep and column not in explicit:
            roles.dropped[column] = "excluded (charter: id / personal data / post-outcome)"
            continue
        if column in explicit:
            getattr(roles, explicit[column]).append(column)
            continue
        series = frame[column]
        if pd.api.types.is_datetime64_any_dtype(series):
            roles.datetime.append(column)
        elif pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            if series.notna().sum() == 0:
                roles.dropped[column] = "all values missing"
            else:
                roles.numeric.append(column)
        else:
            levels = series.nunique(dropna=True)
            if levels <= 1:
                roles.dropped[column] = "constant"
            elif levels <= spec.max_onehot_categories:
                roles.categorical.append(column)
            elif levels / max(n, 1) > 0.5 and column not in spec.keep:
                roles.dropped[column] = f"{levels} distinct values in {n} rows (identifier-like)"
            elif spec.high_cardinality == "target":
                roles.target_encode.append(column)
            elif spec.high_cardinality == "onehot":
                roles.categorical.append(column)
            else:
                roles.dropped[column] = f"high cardinality ({levels} levels)"
    return roles


def _scaler(kind: str):
    return {"standard": StandardScaler(), "robust": RobustScaler(), "minmax": MinMaxScaler()}.get(kind, "passthrough")


def build_feature_pipeline(roles: ColumnRoles, spec: FeatureSpec, task: str = "classification",
                           seed: int = 0) -> ColumnTransformer:
    """The unfitted ColumnTransformer for these roles (dense output, pandas-friendly names)."""
    steps: list[tuple[str, Any, list[str]]] = []
    impute = SimpleImputer(strategy=spec.impute_numeric, fill_value=0 if spec.impute_numeric == "constant" else None)
    if roles.numeric:
        steps.append(("num", make_pipeline(impute, _scaler(spec.scale)), roles.numeric))
    if roles.categorical:
        steps.append(("cat", make_pipeline(
            MissingAsNaN(), SimpleImputer(strategy="constant", fill_value="missing"),
            OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=spec.max_onehot_categories,
                          sparse_output=False)), roles.categorical))
    if roles.ordinal:
        steps.append(("ord", make_pipeline(
            MissingAsNaN(), SimpleImputer(strategy="constant", fill_value="missing"),
            OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)), roles.ordinal))
    if roles.target_encode:
        target_type = "continuous" if task == "regression" else "auto"
        steps.append(("te", make_pipeline(
            MissingAsNaN(), SimpleImputer(strategy="constant", fill_value="missing"),
            TargetEncoder(target_type=target_type, cv=KFold(5, shuffle=True, random_state=seed))), roles.target_encode))
    if roles.datetime:
        steps.append(("dt", make_pipeline(DatetimeParts(), SimpleImputer(strategy="median",
                                                                         keep_empty_features=True)), roles.datetime))
    if roles.ratios:
        cols = list(dict.fromkeys(c for pair in roles.ratios for c in pair))
        steps.append(("ratio", make_pipeline(ColumnArithmetic(roles.ratios, "ratio"),
                                             SimpleImputer(strategy="median", keep_empty_features=True)), cols))
    if roles.interactions:
        cols = list(dict.fromkeys(c for pair in roles.interactions for c in pair))
        steps.append(("inter", make_pipeline(ColumnArithmetic(roles.interactions, "product"),
                                             SimpleImputer(strategy="median", keep_empty_features=True)), cols))
    if roles.text:
        steps.append(("text", TextHashing(spec.text_features), roles.text))
    if not steps:
        raise SpecError("the feature spec leaves no feature columns; un-drop some columns")
    return ColumnTransformer(steps, remainder="drop", sparse_threshold=0.0, verbose_feature_names_out=True)


def feature_sources(transformer: ColumnTransformer) -> dict[str, list[str]]:
    """Map each output feature of a fitted ColumnTransformer to the raw column(s) it came from."""
    sources: dict[str, list[str]] = {}
    for name, step, columns in transformer.transformers_:
        if name == "remainder" or step == "drop":
            continue
        outputs = step.get_feature_names_out(list(columns))
        last = step.steps[0][1] if isinstance(step, Pipeline) else step
        pairs = getattr(last, "pairs", None)
        for i, out in enumerate(outputs):
            full = f"{name}__{out}"
            if pairs:
                sources[full] = list(pairs[i])
            else:
                match = [c for c in columns if str(out).startswith(str(c))]
                sources[full] = [max(match, key=len)] if match else list(columns)
    return sources


@stable_name("ml.features.FittedFeaturePipeline")
@dataclass
class FittedFeaturePipeline:
    """A fitted pipeline plus what serving needs: the raw input schema, feature names and their sources."""

    transformer: ColumnTransformer
    input_columns: list[str]
    input_dtypes: dict[str, str]
    feature_names: list[str]
    sources: dict[str, list[str]]
    roles: ColumnRoles
    target: str
    task: str

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The offline (batch) path: a frame of raw rows -> feature matrix."""
        return np.asarray(self.transformer.transform(frame[self.input_columns]), dtype=float)

    def transform_record(self, record: dict[str, Any]) -> np.ndarray:
        """The serving path: one JSON-like record, typed to the training schema, -> one feature row."""
        row = pd.DataFrame([{c: record.get(c) for c in self.input_columns}])
        for column, dtype in self.input_dtypes.items():
            if dtype.startswith("datetime"):
                row[column] = pd.to_datetime(row[column], errors="coerce")
            elif dtype in ("object", "string", "category", "str"):
                row[column] = row[column].astype(object).where(row[column].notna(), np.nan)
            else:
                row[column] = pd.to_numeric(row[column], errors="coerce").astype("float64")
        return np.asarray(self.transformer.transform(row), dtype=float)[0]

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL))
        return p


def load_feature_pipeline(path: str | Path) -> FittedFeaturePipeline:
    """Load a pipeline saved by :meth:`FittedFeaturePipeline.save` (trusted artifacts only: pickle)."""
    p = Path(path)
    if not p.exists():
        raise SpecError(f"feature pipeline artifact {str(p)!r} does not exist")
    loaded = pickle.loads(p.read_bytes())
    if not isinstance(loaded, FittedFeaturePipeline):
        raise SpecError(f"{str(p)!r} is not a saved feature pipeline (got {type(loaded).__name__})")
    return loaded


def fit_feature_pipeline(frame: pd.DataFrame, y: np.ndarray, target: str, spec: FeatureSpec, task: str,
                         exclude: list[str] | None = None, seed: int = 0) -> tuple[FittedFeaturePipeline, np.ndarray]:
    """Infer roles, build and fit the pipeline; returns it and the cross-fitted training features."""
    roles = infer_roles(frame, target, spec, exclude)
    transformer = build_feature_pipeline(roles, spec, task=task, seed=seed)
    inputs = roles.inputs()
    X = frame[inputs]
    train_features = np.asarray(transformer.fit_transform(X, y), dtype=float)
    dtypes = {c: str(frame[c].dtype) for c in inputs}
    fitted = FittedFeaturePipeline(transformer, inputs, dtypes, [str(n) for n in transformer.get_feature_names_out()],
                                   feature_sources(transformer), roles, target, task)
    return fitted, train_features


FEATURE_FEEDBACK_KEYS = ("drop", "keep", "ratio", "interaction", "target_encode", "onehot", "ordinal", "text",
                         "scale")


def revise_spec(spec: FeatureSpec, feedbacks: list[str]) -> tuple[FeatureSpec, list[str]]:
    """Apply reviewers' directives in order: ``drop: a, b`` / ``keep: a`` (pin) / ``ratio: a/b`` /
    ``interaction: a*b`` / ``target_encode: c`` / ``onehot: c`` / ``ordinal: c`` / ``text: c`` /
    ``scale: robust``. A column moved to a new role leaves its old one. Returns the spec and notes."""
    from mlsitter.ml.handoffs._review_feedback import parse_feedback

    raw = {k: list(v) if isinstance(v, list) else v for k, v in spec.__dict__.items()}
    notes: list[str] = []
    roles = {"target_encode": "target_encode", "onehot": "categorical", "ordinal": "ordinal", "text": "text"}
    for text in feedbacks:
        fb = parse_feedback(text, allowed=FEATURE_FEEDBACK_KEYS)
        for column in fb.get_list("drop"):
            raw["keep"] = [c for c in raw["keep"] if c != column]
            for key in _ROLE_KEYS:
                raw[key] = [c for c in raw[key] if c != column]
            if column not in raw["drop"]:
                raw["drop"].append(column)
            notes.append(f"drop {column}")
        for column in fb.get_list("keep"):
            raw["drop"] = [c for c in raw["drop"] if c != column]
            if column not in raw["keep"]:
                raw["keep"].append(column)
            notes.append(f"keep (pin) {column}")
        for key, role in roles.items():
            for column in fb.get_list(key):
                for other in _ROLE_KEYS + ("drop",):
                    raw[other] = [c for c in raw[other] if c != column]
                raw[role].append(column)
                notes.append(f"{column} -> {role}")
        for key, target in (("ratio", "ratios"), ("interaction", "interactions")):
            for expr in fb.get_list(key):
                if expr not in raw[target]:
                    raw[target].append(expr)
                notes.append(f"add {key} {expr}")
        if "scale" in fb.directives:
            raw["scale"] = fb.directives["scale"].strip().lower()
            notes.append(f"scale -> {raw['scale']}")
    return parse_feature_spec(raw), notes
