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


COLORS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (148, 103, 189), (140, 86, 75))
RED, GREY, BLACK = (214, 39, 40), (200, 200, 200), (40, 40, 40)
BURN_TICKS = (0.01, 1.0, 6.0, 14.4, 100.0, 1000.0)


class _Panel:
    """One plot area of the figure: data coordinates to pixels (y linear or log10)."""

    def __init__(self, box: tuple[int, int, int, int], x: tuple[float, float], y: tuple[float, float],
                 log: bool = False) -> None:
        import math

        self.box, self.log = box, log
        self.x0, self.x1 = x[0], x[1] if x[1] > x[0] else x[0] + 1.0
        f = math.log10 if log else float
        self.y0, self.y1 = f(y[0]), f(y[1]) if f(y[1]) > f(y[0]) else f(y[0]) + 1.0

    def point(self, x: float, y: float) -> tuple[float, float]:
        import math

        left, top, right, bottom = self.box
        value = math.log10(max(y, 10 ** self.y0)) if self.log else y
        value = min(max(value, self.y0), self.y1)
        return (left + (x - self.x0) / (self.x1 - self.x0) * (right - left),
                bottom - (value - self.y0) / (self.y1 - self.y0) * (bottom - top))


def _dashed(draw: Any, a: tuple[float, float], b: tuple[float, float], color: tuple[int, int, int],
            dash: int) -> None:
    length = max(abs(b[0] - a[0]), 1.0)
    steps = int(length // (2 * dash)) + 1
    for i in range(steps):
        x0 = a[0] + i * 2 * dash
        draw.line([(x0, a[1]), (min(x0 + dash, b[0]), b[1])], fill=color, width=1)


def series_figure(frame: Any, burns: Any, objectives: dict[str, float]) -> bytes:
    """One PNG: per SLI, its per-tick ratio against the objective (left, dashed) and each rule's long-window
    burn rate with the rule's factor dotted (right, log scale). Drawn with Pillow on fixed axes: a few
    milliseconds, where a matplotlib figure of six axes cost seconds on every run."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    rows, width, row_h, top_pad, bottom_pad = len(objectives), 990, 170, 28, 40
    image = Image.new("RGB", (width, top_pad + rows * row_h + bottom_pad), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=11)
    start = float(frame["at"].min()) if len(frame) else 0.0
    end = float(frame["at"].max()) if len(frame) else 1.0
    hours = ((start - start) / 3600, (end - start) / 3600)
    rules = sorted({str(r) for r in burns["rule"]}) if len(burns) else []
    draw.text((90, 8), "SLI per tick", fill=BLACK, font=font)
    draw.text((width // 2 + 60, 8), "long-window burn rate per rule", fill=BLACK, font=font)
    for row, (sli, objective) in enumerate(objectives.items()):
        top = top_pad + row * row_h
        column = f"{sli}_sli"
        values = [float(v) for v in frame[column].dropna()] if column in frame else []
        low = min([objective, *values]) if values else objective
        left = _Panel((80, top, width // 2 - 20, top + row_h - 24), hours, (max(0.0, low - (1 - low) * 0.2), 1.0))
        right = _Panel((width // 2 + 50, top, width - 20, top + row_h - 24), hours, (1e-3, 2000.0), log=True)
        for panel in (left, right):
            draw.rectangle(panel.box, outline=BLACK)
        draw.text((4, top + 40), f"{sli}\n(objective\n{objective:g})", fill=BLACK, font=font)
        for value in (left.y0, objective, 1.0):
            y = left.point(0, value)[1]
            draw.text((left.box[0] - 48, y - 6), f"{value:.4g}", fill=BLACK, font=font)
        _dashed(draw, left.point(hours[0], objective), left.point(hours[1], objective), RED, 5)
        if column in frame and len(frame):
            points = [left.point((a - start) / 3600, v) for a, v in zip(frame["at"], frame[column]) if v == v]
            if len(points) > 1:
                draw.line(points, fill=COLORS[0], width=2)
        for tick in BURN_TICKS:
            y = right.point(0, tick)[1]
            draw.line([(right.box[0], y), (right.box[2], y)], fill=GREY)
            draw.text((right.box[0] - 34, y - 6), f"{tick:g}", fill=BLACK, font=font)
        mine = burns[burns["sli"] == sli] if len(burns) else burns
        for number, rule in enumerate(rules):
            color = COLORS[number % len(COLORS)]
            group = mine[mine["rule"] == rule] if len(mine) else mine
            points = [right.point((a - start) / 3600, max(float(b), 1e-3)) for a, b in zip(group["at"], group["long_burn"])]
            if len(points) > 1:
                draw.line(points, fill=color, width=2)
            factor = float(rule.split("x")[0])
            _dashed(draw, right.point(hours[0], factor), right.point(hours[1], factor), color, 2)
            if row == 0:
                draw.text((right.box[0] + 8, right.box[1] + 4 + 13 * number), rule, fill=color, font=font)
    bottom = top_pad + rows * row_h - 24
    for panel in (left, right) if objectives else ():
        for fraction in (0.0, 0.5, 1.0):
            x = panel.box[0] + fraction * (panel.box[2] - panel.box[0])
            draw.text((x - 10, bottom + 4), f"{hours[0] + fraction * (hours[1] - hours[0]):.2g}", fill=BLACK, font=font)
        draw.text((panel.box[0] + 120, bottom + 20), "hours since the first tick", fill=BLACK, font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
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
    echoes = any("echo_of_incident" in a for a in alerts)  # the incident an alert only echoed, where one did
    rep.table([{**a, "started_at": _when(a["started_at"]), "ended_at": _when(a["ended_at"]),
                **({"echo_of_incident": a.get("echo_of_incident") or ""} if echoes else {})} for a in alerts]
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
