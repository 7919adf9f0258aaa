"""A user-written mlsitter process: check a dataset, train a baseline in a child run, review a report.

It uses every everyday intrinsic: tasks, a map over columns, a gate on a measured number, a child
call, and a refine loop whose rejection feedback changes the next report.

    mlsitter run examples/titanic_quality.py:titanic-quality -i data=examples/data/titanic.csv
    mlsitter run examples/titanic_quality.py:titanic-quality -i data=examples/data/titanic.csv --approve auto

Feedback understood by the report review: ``exclude: col1, col2`` drops columns from the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlsitter import Context, process, task


@task(retries=2, backoff=0.2)
def load_csv(path: str):
    """Read the CSV (retried: network file systems hiccup)."""
    import pandas as pd

    from mlsitter.errors import DataError

    if not Path(path).is_file():
        raise DataError(f"data file {path!r} does not exist; expected a CSV file")
    return pd.read_csv(path)


def column_stats(column: str, frame) -> dict:
    """Missing share, distinct values and (for numbers) mean of one column."""
    series = frame[column]
    stats = {"column": column, "dtype": str(series.dtype), "missing_share": float(series.isna().mean()),
             "distinct": int(series.nunique())}
    if series.dtype.kind in "if":
        stats["mean"] = float(series.mean())
    return stats


def cross_validate_baseline(path: str, target: str, seed: int) -> dict:
    """5-fold CV accuracy of a logistic regression and of the majority-class dummy."""
    import pandas as pd
    from sklearn.compose import make_column_transformer
    from sklearn.dummy import DummyClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = pd.read_csv(path)
    y = frame.pop(target)
    numeric = [c for c in frame.columns if frame[c].dtype.kind in "if" and frame[c].nunique() > 2 or c in ("Pclass",)]
    categorical = [c for c in ("Sex", "Embarked") if c in frame.columns]
    prep = make_column_transformer(
        (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), [c for c in numeric if c != "PassengerId"]),
        (make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")), categorical),
    )
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    model = cross_val_score(make_pipeline(prep, LogisticRegression(max_iter=1000)), frame, y, cv=cv)
    dummy = cross_val_score(DummyClassifier(), frame, y, cv=cv)
    return {"accuracy": float(model.mean()), "accuracy_std": float(model.std()), "dummy_accuracy": float(dummy.mean())}


def write_report(stats: list[dict], baseline: dict, feedback: str | None, out_dir: str) -> str:
    """An HTML report of the column checks and the baseline; honours ``exclude:`` feedback."""
    from mlsitter.report import Report

    excluded = []
    if feedback and feedback.strip().lower().startswith("exclude:"):
        excluded = [c.strip() for c in feedback.split(":", 1)[1].split(",") if c.strip()]
    rows = [s for s in stats if s["column"] not in excluded]
    report = Report("Titanic data check", f"{len(rows)} columns" + (f", excluded: {', '.join(excluded)}" if excluded else ""))
    report.section("Baseline").metrics({"CV accuracy": baseline["accuracy"], "dummy accuracy": baseline["dummy_accuracy"]})
    report.section("Columns").table(rows, columns=["column", "dtype", "missing_share", "distinct", "mean"])
    if feedback:
        report.note(f"Reviewer feedback applied: {feedback}")
    files = report.write(out_dir, stem=f"report-{len(excluded)}-{abs(hash(feedback or '')) % 10**6}")
    return str(files.html)


@dataclass
class BaselineResult:
    accuracy: float
    dummy_accuracy: float


@process("baseline", phase="planning")
def baseline(ctx: Context, data: str, target: str = "Survived", min_lift: float = 0.05) -> BaselineResult:
    """Cross-validated baseline that must beat the majority class by ``min_lift``."""
    scores = ctx.task(cross_validate_baseline, path=data, target=target, seed=ctx.seed())
    ctx.gate("lift-over-dummy", scores["accuracy"] - scores["dummy_accuracy"], ">=", min_lift)
    return BaselineResult(scores["accuracy"], scores["dummy_accuracy"])


@process("titanic-quality", phase="planning")
def titanic_quality(ctx: Context, data: str, target: str = "Survived", max_missing: float = 0.8) -> dict:
    """Column checks, a missing-data gate, a baseline child run and a reviewed report."""
    frame = ctx.task(load_csv, path=data)
    stats = ctx.map(column_stats, list(frame.columns), frame=frame)
    worst = max(s["missing_share"] for s in stats)
    ctx.gate("worst-column-missing-share", worst, "<=", max_missing, on_fail="ask")
    scores = ctx.call("baseline", data=data, target=target)
    for attempt in ctx.refine("report", max_attempts=3):
        path = ctx.task(write_report, stats=stats, baseline={"accuracy": scores.accuracy,
                        "dummy_accuracy": scores.dummy_accuracy}, feedback=attempt.feedback, out_dir=str(ctx.workdir))
        report = ctx.artifact("report.html", path)
        attempt.review("Approve the data-check report?", artifacts=[report])
    ctx.log("info", f"report approved after {attempt.number} attempt(s)")
    return {"rows": len(frame), "columns": len(stats), "worst_missing_share": worst,
            "baseline_accuracy": scores.accuracy, "report": report.path}
