"""The retraining report (HTML + Markdown + JSON): each trigger with its numbers, the comparison, fairness, decision."""

from __future__ import annotations

from typing import Any

from mlsitter.report import Report
from mlsitter.runtime import task


@task(name="retraining.write_report")
def write_retraining_report(out_dir: str, result: dict[str, Any]) -> dict[str, str]:
    """Write ``retraining-report.{html,md,json}``."""
    rep = Report(f"Retraining of {result['champion']}", f"{result['status']}: {result['reason']}")
    rep.section("Triggers")
    rep.table([{"trigger": t["name"], "fired": t["fired"], "measured": t["value"], "threshold": t["threshold"],
                "why": t["why"]} for t in result["triggers"]], caption=f"after {result['checks']} check(s)")
    if result.get("challenger"):
        rep.section("Champion against challenger")
        c = result["comparison"]
        rep.metrics({"champion": result["champion"], "challenger": result["challenger"], "metric": c.get("metric"),
                     "test": c.get("test"), "champion score": c.get("champion"), "challenger score": c.get("challenger"),
                     "difference": c.get("difference"), "p-value (one-sided)": c.get("p_value"), "holdout rows": c.get("n")})
        rep.text(f"dataset version of the new window: {result['dataset_version']}")
    if result.get("fairness"):
        rep.section("Fairness")
        f = result["fairness"]
        rep.table([{"model": role, **f[role]} for role in ("champion", "challenger")], caption="worst over the attributes")
        rep.text(f"change (positive: the challenger is fairer): {f['change']}")
    rep.section("Decision")
    rep.note(result["reason"], "info" if result["status"] in ("deployed", "not-triggered") else "warn")
    rep.json_block("result", result)
    files = rep.write(out_dir, "retraining-report")
    return {"html": str(files.html), "markdown": str(files.markdown), "json": str(files.json)}
