"""The observability report (HTML + Markdown + JSON): the SLI series against their objectives, the burn
rates of every rule, the alerts, the gaps, the anomalies and each incident's timeline; and the postmortem
of one incident (Markdown)."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from mlsitter.report import Report
from mlsitter.runtime import task


def _when(at: float | None) -> str:
    if at is None:
        return "—"
    return _dt.datetime.fromtimestamp(at, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _minutes(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds / 60:.1f} min"


def series_figure(frame: Any, burns: Any, objectives: dict[str, float]) -> bytes:
    """One PNG: per SLI, its per-tick ratio against the objective (left) and each rule's long-window burn
    rate with the rule's factor dotted (right, log scale). One figure, rendered once, keeps the report quick."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = len(objectives)
    fig, axes = plt.subplots(rows, 2, figsize=(11, 2.1 * rows), sharex=True, squeeze=False)
    start = frame["at"].min() if len(frame) else 0.0
    for (left, right), (sli, objective) in zip(axes, objectives.items()):
        column = f"{sli}_sli"
        if column in frame:
            left.plot((frame["at"] - start) / 3600, frame[column], lw=1)
        left.axhline(objective, color="tab:red", ls="--", lw=1)
        left.set_ylabel(f"{sli}\n(objective {objective:g})", fontsize=8)
        mine = burns[burns["sli"] == sli] if len(burns) else burns
        for rule, group in (mine.groupby("rule") if len(mine) else []):
            line = right.plot((group["at"] - start) / 3600, group["long_burn"].clip(lower=1e-3), lw=1, label=rule)
            right.axhline(float(str(rule).split("x")[0]), color=line[0].get_color(), ls=":", lw=0.8)
        right.set_yscale("log")
        right.set_yticks([0.01, 1, 6, 14.4, 100, 1000], ["0.01", "1", "6", "14.4", "100", "1000"])
        right.minorticks_off()  # fixed ticks: log locators are slow to compute
        right.set_ylim(1e-3, 2000)
    axes[0, 1].legend(loc="upper left", fontsize=7)
    axes[0, 0].set_title("SLI per tick", fontsize=9)
    axes[0, 1].set_title("long-window burn rate per rule", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("hours since the first tick")
    fig.subplots_adjust(left=0.08, right=0.98, top=0.93, bottom=0.12, hspace=0.15, wspace=0.15)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


@task(name="observability.write_report")
def write_observability_report(out_dir: str, table: str, source: str, objectives: dict[str, float],
                               latency_threshold_ms: float, alerts: list[dict[str, Any]],
                               incidents: list[dict[str, Any]], gaps: list[dict[str, Any]],
                               anomalies: list[Any]) -> dict[str, str]:
    """Write ``observability-report.{html,md,json}`` and close the table (checkpointed) for recording."""
    from mlsitter.ml.monitoring import MetricsTable, close_table, interval_frame

    frame = interval_frame(table)
    with MetricsTable(table) as t:
        burns = t.frame("burns")
    close_table(table)
    rep = Report("Observability", f"source {source}")
    rep.section("Summary")
    rep.metrics({"ticks": len(frame), "alerts": len(alerts), "incidents": len(incidents), "gaps": len(gaps),
                 "anomalies": len(anomalies)})
    rep.table([{"SLI": k, "objective": v, "error budget": round(1 - v, 6),
                "definition": {"availability": "ok / (ok + error) requests",
                               "latency": f"requests answered within {latency_threshold_ms:g} ms / all",
                               "quality": "right / labelled predictions (prediction log)"}[k]}
               for k, v in objectives.items()], caption="SLOs")
    rep.section("SLIs and burn rates")
    rep.figure(series_figure(frame, burns, objectives), name="slis.png",
               caption="left: each SLI per tick against its objective (dashed); right: the long-window burn rate of "
                       "each rule against its factor (dotted)")
    rep.section("Alerts")
    rep.table([{**a, "started_at": _when(a["started_at"]), "ended_at": _when(a["ended_at"])} for a in alerts]
              or [{"alerts": "none fired"}])
    rep.section("Incidents")
    for number, incident in enumerate(incidents, 1):
        rep.text(f"Incident {number}: {incident['severity']} on {incident['sli']} ({incident['rule']}), "
                 f"{incident['status']}; time to detect {_minutes(incident['time_to_detect_s'])}, time to resolve "
                 f"{_minutes(incident['time_to_resolve_s'])}.")
        rep.table([{**e, "at": _when(e["at"])} for e in incident["timeline"]], caption=f"incident {number} timeline")
    if not incidents:
        rep.text("No incident.")
    rep.section("Gaps and anomalies")
    rep.table([{**g, "at": _when(g["at"])} for g in gaps] or [{"gaps": "every scrape answered"}],
              caption="failed or malformed scrapes")
    rep.table([{"series": a.series, "at": _when(a.at), "value": a.value, "expected": a.expected, "robust z": a.score}
               for a in anomalies] or [{"anomalies": "none"}], caption="anomalies (robust z of the residual)")
    files = rep.write(Path(out_dir), "observability-report")
    return {"html": str(files.html), "markdown": str(files.markdown), "json": str(files.json), "table": table}


@task(name="observability.write_postmortem")
def write_postmortem(out_dir: str, number: int, incident: dict[str, Any], objective: float) -> dict[str, str]:
    """The postmortem of one resolved incident: summary, impact, times to detect and resolve, timeline."""
    lines = [f"# Postmortem {number}: {incident['severity']} on {incident['sli']}", "",
             f"- Alert: {incident['rule']} against the {incident['sli']} objective {objective:g}",
             f"- Impact started: {_when(incident['impact_started_at'])} UTC",
             f"- Detected: {_when(incident['detected_at'])} UTC (time to detect "
             f"{_minutes(incident['time_to_detect_s'])})",
             f"- Mitigated: {_when(incident['mitigated_at'])} UTC",
             f"- Resolved: {_when(incident['resolved_at'])} UTC (time to resolve "
             f"{_minutes(incident['time_to_resolve_s'])} after detection)",
             f"- Remediation: {incident['remediation'] or 'none'}", "", "## Timeline", "",
             "| at (UTC) | event | by | detail |", "|---|---|---|---|"]
    lines += [f"| {_when(e['at'])} | {e['event']} | {e['by']} | {e['detail']} |" for e in incident["timeline"]]
    lines += ["", "## Follow-ups", "", "- (write what will keep this from happening again)"]
    path = Path(out_dir) / f"postmortem-{number}.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"markdown": str(path)}
