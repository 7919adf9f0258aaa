"""The lifecycle report (HTML + Markdown + JSON): the chain, each child's report, gates and who approved what."""

from __future__ import annotations

from typing import Any

from mlsitter.report import Report
from mlsitter.runtime import task


@task(name="lifecycle.write_report")
def write_lifecycle_report(out_dir: str, data: str, target: str, children: list[Any], skipped: list[dict[str, str]],
                           model: str, router: str) -> dict[str, str]:
    """Write ``lifecycle-report.{html,md,json}``."""
    failed = sum(1 for c in children for g in c.gates if g["outcome"] == "fail")
    asked = [a for c in children for a in c.approvals]
    rep = Report(f"Lifecycle of {data} (target {target})",
                 f"{len(children)} child runs; model {model or '(none trained)'}" + (f", served at {router}" if router else ""))
    rep.section("Summary")
    rep.metrics({"child runs": len(children), "gates": sum(len(c.gates) for c in children), "failed gates": failed,
                 "approvals": sum(1 for a in asked if a["answer"] == "approved"),
                 "rejections": sum(1 for a in asked if a["answer"] == "rejected"), "skipped steps": len(skipped)})
    rep.section("Chain")
    rep.table([{"#": c.step, "process": c.process, "run": c.run_id, "status": c.status,
                "gates passed": f"{sum(1 for g in c.gates if g['outcome'] == 'pass')}/{len(c.gates)}",
                "approved by": ", ".join(sorted({a["by"] for a in c.approvals if a["answer"] == "approved" and a["by"]})),
                "report": c.report} for c in children], caption="every child run, in the order it ran")
    if skipped:
        rep.table(skipped, caption="steps not run, and why")
    for c in children:
        rep.section(f"{c.step}. {c.process} ({c.run_id})")
        rep.text(f"status {c.status}; report: {c.report or '(none)'}")
        if c.gates:
            rep.table(c.gates, caption="gates")
        if c.approvals:
            rep.table(c.approvals, caption="questions and who answered them")
    rep.json_block("chain", [{"step": c.step, "process": c.process, "run_id": c.run_id, "status": c.status,
                              "report": c.report, "gates": c.gates, "approvals": c.approvals, "children": c.children}
                             for c in children])
    files = rep.write(out_dir, "lifecycle-report")
    return {"html": str(files.html), "markdown": str(files.markdown), "json": str(files.json)}
