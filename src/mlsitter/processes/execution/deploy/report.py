"""The deploy report (HTML + Markdown + JSON): validation, each stage's numbers against its thresholds,
the decision, and the traffic shares over time."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from mlsitter.report import Report
from mlsitter.runtime import task


def _when(at: float) -> str:
    return _dt.datetime.fromtimestamp(at, _dt.timezone.utc).strftime("%H:%M:%S")


def shares_figure(changes: list[dict[str, Any]], end: float) -> Any:
    """A step plot of each version's share of traffic over the run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3))
    versions = sorted({v for c in changes for v in c["shares"]})
    start = changes[0]["at"] if changes else end
    for version in versions:
        xs, ys = [], []
        for c in changes:
            xs.append(c["at"] - start)
            ys.append(100 * c["shares"].get(version, 0.0))
        xs.append(end - start)
        ys.append(ys[-1] if ys else 0.0)
        ax.step(xs, ys, where="post", label=version)
    ax.set_xlabel("seconds since the servers started")
    ax.set_ylabel("share of traffic (%)")
    ax.set_ylim(-2, 102)
    ax.legend(loc="center right")
    fig.tight_layout()
    return fig


def stage_rows(windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per analysis window: the stage, verdict, both sides' numbers and each check."""
    rows = []
    for w in windows:
        a = w["analysis"]
        row = {"stage": w["stage"], "window": f"{_when(a.start)}-{_when(a.end)}", "verdict": a.verdict,
               "candidate requests": a.candidate.requests, "champion requests": a.champion.requests,
               "candidate errors": a.candidate.errors, "candidate p99 ms": a.candidate.p99_ms,
               "champion p99 ms": a.champion.p99_ms, "candidate accuracy": a.candidate.accuracy,
               "champion accuracy": a.champion.accuracy, "agreement": a.agreement, "score shift (KS)": a.score_shift}
        rows.append(row)
    return rows


def check_rows(windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"stage": w["stage"], "check": c.name, "measured": c.value, "rule": f"{c.op} {c.threshold}",
             "passed": c.passed, "detail": c.detail} for w in windows for c in w["analysis"].checks]


@task(name="deploy.write_report")
def write_deploy_report(out_dir: str, model: str, candidate: int, champion: int | None, status: str, reason: str,
                        validation: Any, gates: list[dict[str, Any]], windows: list[dict[str, Any]],
                        changes: list[dict[str, Any]], end: float) -> dict[str, str]:
    """Write ``deploy-report.{html,md,json}`` and the traffic plot."""
    title = f"Deploy {model}/{candidate}" + (f" against champion {model}/{champion}" if champion else " (first deploy)")
    rep = Report(title, f"outcome: {status} — {reason}")
    rep.section("Summary")
    rep.metrics({"outcome": status, "windows analysed": len(windows), "traffic changes": len(changes),
                 "validation p99 (ms)": round(validation.p99_ms, 2), "smoke predictions": validation.smoke_ok})
    rep.note(reason, "info" if status == "promoted" else "fail")
    rep.section("Validation")
    rep.gates(gates)
    rep.table(validation.schema, caption="input schema")
    if validation.smoke_errors:
        rep.bullets(validation.smoke_errors)
    rep.section("Stages")
    if windows:
        rep.table(stage_rows(windows), caption="each analysis window, candidate against the champion on the same window")
        rep.table(check_rows(windows), caption="every check against its threshold")
    else:
        rep.text("No analysis window (first deploy: the model serves alone).")
    rep.section("Traffic over time")
    if changes:
        rep.figure(shares_figure(changes, end), caption="share of live traffic per version", name="traffic.png")
        rep.table([{"at": _when(c["at"]), "phase": c.get("phase", ""),
                    "shares": ", ".join(f"{v} {100 * s:.0f}%" for v, s in sorted(c["shares"].items()))}
                   for c in changes])
    files = rep.write(Path(out_dir), "deploy-report")
    return {"html": str(files.html), "markdown": str(files.markdown), "json": str(files.json)}
