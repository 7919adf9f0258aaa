"""Task functions of the ``drift`` process: cut the data into windows (files, one file over time, or the
model server's prediction log), profile the reference once, compare each window with it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlsitter.errors import DataError, SpecError
from mlsitter.naming import stable_name
from mlsitter.runtime import task


@stable_name("drift.Window")
@dataclass
class Window:
    """One window of current data, written as Parquet in the run's folder (``rows`` 0: a gap, nothing to read)."""

    label: str
    path: str
    rows: int
    start: float | None = None
    end: float | None = None


@stable_name("drift.Plan")
@dataclass
class Plan:
    """Where the reference comes from and the windows to compare with it, in time order."""

    reference: str  # a table to profile ("" when a stored profile is reused)
    reference_label: str
    windows: list[Window]
    timestamp: str = ""
    notes: list[str] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # role -> column (prediction, target, score)


@stable_name("drift.ProfileInfo")
@dataclass
class ProfileInfo:
    """The stored reference profile: where it is and what it holds."""

    path: str
    rows: int
    kinds: dict[str, str]
    source: str
    accuracy: dict[str, Any] = field(default_factory=dict)
    calibrated: bool = False
    positive: str = ""


@stable_name("drift.WindowResult")
@dataclass
class WindowResult:
    """One window's drift (features and prediction, corrected decisions) and performance."""

    drift: Any  # mlsitter.ml.drift.WindowDrift
    performance: Any  # mlsitter.ml.drift.Performance


def window_seconds(window: str, numeric: bool) -> float:
    """A window size: a number in the timestamp's own unit, or a duration such as '7d', '12h', '30min'."""
    text = str(window).strip()
    try:
        size = float(text)
    except ValueError:
        if numeric:
            raise SpecError(f"window {window!r}: the timestamp column holds numbers, so the window is a number in "
                            "the same unit (e.g. 90)") from None
        import pandas as pd

        try:
            size = pd.Timedelta(text).total_seconds()
        except ValueError:
            raise SpecError(f"window {window!r} is not a duration; expected e.g. '7d', '12h', '30min' or seconds") from None
    if not size > 0 or math.isinf(size):
        raise SpecError(f"window {window!r} must be a positive size")
    return size


def _times(frame: Any, column: str) -> tuple[Any, bool]:
    """The timestamp column as float (numbers as they are, dates as epoch seconds); whether it was numeric."""
    import polars as pl

    from mlsitter.ml.io import require_columns

    require_columns(frame, [column], "timestamp")
    series = frame.get_column(column)
    if series.dtype.is_numeric():
        return series.cast(pl.Float64), True
    if series.dtype != pl.Datetime and series.dtype != pl.Date:
        parsed = series.cast(pl.Utf8).str.to_datetime(strict=False)
        if parsed.null_count() > series.null_count():
            bad = series.filter(parsed.is_null() & series.is_not_null()).head(3).to_list()
            raise DataError(f"timestamp column {column!r} holds values that are neither numbers nor dates: {bad}")
        series = parsed
    return series.cast(pl.Datetime("us")).dt.epoch("us").cast(pl.Float64) / 1e6, False


def _label(start: float, end: float, numeric: bool) -> str:
    if numeric:
        return f"{start:g}-{end:g}"
    import datetime as dt

    return dt.datetime.fromtimestamp(start, dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def split_windows(frame: Any, timestamp: str, window: str, out_dir: Path) -> tuple[list[Window], list[str]]:
    """Rows into consecutive windows of ``window`` from the first timestamp, each written as Parquet; a window
    without rows between two with rows is kept as a gap (rows 0) so the report shows it."""
    import polars as pl

    times, numeric = _times(frame, timestamp)
    notes = []
    if times.null_count():
        notes.append(f"{times.null_count():,} row(s) without a timestamp left out")
    size = window_seconds(window, numeric)
    start = float(times.min())
    index = ((times - start) / size).floor().cast(pl.Int64)
    framed = frame.with_columns(index.alias("__window")).filter(pl.col("__window").is_not_null())
    out_dir.mkdir(parents=True, exist_ok=True)
    windows = []
    present = set(framed.get_column("__window").unique().to_list())
    for i in range(int(max(present)) + 1):
        lo, hi = start + i * size, start + (i + 1) * size
        if i not in present:
            windows.append(Window(_label(lo, hi, numeric), "", 0, lo, hi))
            notes.append(f"window {_label(lo, hi, numeric)} has no rows (a gap in the data)")
            continue
        part = framed.filter(pl.col("__window") == i).drop("__window")
        path = out_dir / f"window-{i:04d}.parquet"
        part.write_parquet(path)
        windows.append(Window(_label(lo, hi, numeric), str(path), part.height, lo, hi))
    return windows, notes


def prediction_log_frame(directory: str, model: str = "") -> Any:
    """The model server's prediction log as a table: its input columns, ``prediction``, ``score``, ``label``
    (from the feedback log, where a label came) and ``at`` (epoch seconds); shadow answers left out."""
    import polars as pl

    from mlsitter.ml.serving import read_feedback, read_predictions

    if not Path(directory).is_dir():
        raise DataError(f"prediction_log {directory!r} is not a folder; expected a deployment's log folder")
    rows = [r for r in read_predictions(directory, model=model or None)
            if r.get("outcome") == "ok" and not r.get("shadow")]
    if not rows:
        raise DataError(f"prediction_log {directory!r} holds no served predictions"
                        + (f" of model {model!r}" if model else "") + "; expected predictions-*.jsonl lines")
    labels = read_feedback(directory)
    records = [{**r.get("inputs", {}), "prediction": r.get("output"), "score": r.get("score"),
                "label": labels.get((r["request_id"], int(r.get("index", 0)))), "at": float(r["at"])} for r in rows]
    return pl.from_dicts(records, infer_schema_length=None)


def _is_parquet(path: str) -> bool:
    return str(path).lower().endswith((".parquet", ".pq")) and Path(path).is_file()


@task(name="drift.plan_windows")
def plan_windows(out_dir: str, reference: str = "", current: str = "", timestamp: str = "", window: str = "",
                 prediction_log: str = "", model: str = "", reuse_profile: bool = False) -> Plan:
    """Read the current data once and cut it into windows (Parquet in the run's folder). Without a reference
    the first window is the reference; with neither timestamp nor window the whole table is one window."""
    from mlsitter.ml.drift import columns_of, read_frame

    folder = Path(out_dir) / "windows"
    columns: dict[str, str] = {}
    if prediction_log:
        frame = prediction_log_frame(prediction_log, model)
        timestamp = timestamp or "at"
        columns = {"prediction": "prediction", "score": "score", "target": "label"}
    elif current and not timestamp and _is_parquet(current):  # compared in place, a group of columns at a time
        frame = None
    elif current:
        frame = read_frame(current, "current")
    else:
        raise SpecError("drift needs current= (a table), or prediction_log= (a deployment's log folder)")
    if bool(timestamp) != bool(window) and not prediction_log:
        raise SpecError("timestamp= and window= go together: the column to order by and each window's size")
    notes: list[str] = []
    if frame is None:
        windows = [Window("current", current, columns_of(current).height)]
    elif timestamp:
        windows, notes = split_windows(frame, timestamp, window or "1e18", folder)
    else:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "current.parquet"
        frame.write_parquet(path)
        windows = [Window("current", str(path), frame.height)]
    ref = reference
    ref_label = reference or ""
    if not reference and not reuse_profile:
        if len([w for w in windows if w.rows]) < 2:
            raise SpecError("no reference: give reference= (or reference_profile=), or timestamp= and window= so the "
                            "first window is the reference and the later ones are compared with it")
        first = windows.pop(0)
        ref, ref_label = first.path, f"first window {first.label}"
    return Plan(ref, ref_label, windows, timestamp, notes, columns)


@task(name="drift.profile_reference")
def profile_reference(reference: str, out: str, features: list[str], categorical: list[str], exclude: list[str],
                      prediction: str = "", target: str = "", score: str = "", positive: str = "",
                      max_sample: int = 100_000, bins: int = 10, seed: int = 0, label: str = "") -> ProfileInfo:
    """Profile the reference once (summaries, bins, categories, a bounded sample) and write it as ``.npz``; with
    labels also the reference accuracy, with scores the calibration that estimates accuracy without labels."""
    from mlsitter.ml.drift import build_profile, calibrate, columns_of, labelled_accuracy, read_frame, save_profile

    table = columns_of(reference if _is_parquet(reference) else read_frame(reference, "reference"))
    if table.height == 0:
        raise DataError(f"reference {reference!r} has columns {table.columns[:10]} but no rows")
    present = [c for c in exclude if c and c in table.columns]
    profile = build_profile(table, features=features, categorical=categorical, exclude=present,
                            prediction=prediction if prediction in table.columns else "", max_sample=max_sample,
                            bins=bins, seed=seed, source=label or reference)
    if target and target in table.columns:
        frame = table.read([c for c in (target, prediction, score) if c and c in table.columns])
        labels = frame.get_column(target).to_list()
        profile.target = target
        if prediction and prediction in frame.columns:
            n, acc, low, high = labelled_accuracy(frame.get_column(prediction).to_list(), labels)
            profile.accuracy = {"labelled": n, "accuracy": acc, "low": low, "high": high}
        if score and score in frame.columns:
            from mlsitter.ml.drift import as_labels

            classes = sorted({v for v in as_labels(labels) if v != ""})
            if len(classes) != 2:
                raise DataError(f"reference: target {target!r} has {len(classes)} classes {classes[:5]}; estimating "
                                "accuracy from scores needs a binary target")
            profile.positive = str(positive or classes[-1]).strip().lower()
            profile.calibration = calibrate(frame.get_column(score).cast(float).to_list(), labels, profile.positive)
    path = save_profile(profile, out)
    return ProfileInfo(str(path), profile.rows, {n: p.kind for n, p in profile.features.items()}, profile.source,
                       profile.accuracy, bool(profile.calibration), profile.positive)


@task(name="drift.load_profile")
def load_reference_profile(path: str) -> ProfileInfo:
    """Reuse a stored profile (the ``reference-profile.npz`` artifact of an earlier run); the reference data
    itself is not read again."""
    from mlsitter.ml.drift import load_profile

    profile = load_profile(path)
    return ProfileInfo(str(path), profile.rows, {n: p.kind for n, p in profile.features.items()}, profile.source,
                       profile.accuracy, bool(profile.calibration), profile.positive)


@task(name="drift.compare_window")
def compare(profile: str, window: Window, thresholds: Any, columns: dict[str, str], timestamp: str = "",
            max_accuracy_drop: float = 0.05, seed: int = 0) -> WindowResult:
    """One window against the reference profile: columns checked, every feature tested, p-values corrected
    together, effect sizes against their thresholds; accuracy on labels and estimated from scores."""
    import polars as pl

    from mlsitter.ml.drift import (
        Performance, check_window, columns_of, compare_window, estimated_accuracy, labelled_accuracy, load_profile)

    ref = load_profile(profile)
    table = columns_of(window.path)
    roles = {k: v for k, v in columns.items() if v}
    check_window(ref, table, f"current window {window.label}", allowed=[timestamp, *roles.values()])
    drift = compare_window(ref, table, thresholds, label=window.label, seed=seed, prediction=roles.get("prediction", ""))
    perf = Performance(window.label)
    frame = table.read([c for c in roles.values() if c in table.columns])
    pred, target, score = (roles.get(k, "") for k in ("prediction", "target", "score"))
    if pred in frame.columns and target in frame.columns:
        perf.labelled, perf.accuracy, perf.low, perf.high = labelled_accuracy(frame.get_column(pred).to_list(),
                                                                              frame.get_column(target).to_list())
        base = ref.accuracy.get("accuracy")
        perf.degraded = bool(perf.high is not None and base is not None and perf.high < base - max_accuracy_drop)
    if score in frame.columns and ref.calibration:
        perf.scored, perf.estimated, perf.estimated_low, perf.estimated_high = estimated_accuracy(
            frame.get_column(score).cast(pl.Float64).to_numpy(),
            frame.get_column(pred).to_list() if pred in frame.columns else None, ref.calibration, ref.positive)
    return WindowResult(drift, perf)
