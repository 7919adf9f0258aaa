"""The compliance record as one self-contained HTML page (no scripts, no external files), for auditors.

The page depends only on the record, so an offline check can render it again and compare byte for byte.
"""

from __future__ import annotations

import html
import json
from typing import Any

from mlsitter.runtime.compliance import ApprovalEvidence, ComplianceRecord, GateEvidence

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;color:#1b1f24;padding:0 1em}
h1{font-size:1.5em}h2{margin-top:1.6em;border-bottom:1px solid #ccd;padding-bottom:.2em}h3{margin:1.1em 0 .3em}
table{border-collapse:collapse;margin:.4em 0 .8em;width:100%}td,th{border:1px solid #d5d9e0;padding:.25em .5em;
text-align:left;vertical-align:top}th{background:#f3f5f8}.mono{font-family:ui-monospace,monospace;font-size:.9em}
.o{display:inline-block;padding:0 .5em;border-radius:.6em;font-size:.85em;background:#e8eaee}
.o-passed,.o-approved{background:#d8f3dc}.o-failed,.o-rejected{background:#fbd5d5}
.o-pending,.o-partial,.o-warned{background:#fff1c2}.o-overridden{background:#ecdcfb}.muted{color:#667}
"""


def _e(value: Any) -> str:
    return html.escape(value if isinstance(value, str) else json.dumps(value, default=str))


def _badge(outcome: str) -> str:
    return f'<span class="o o-{_e(outcome.replace(" ", "-"))}">{_e(outcome)}</span>'


def _gates(gates: list[GateEvidence]) -> str:
    if not gates:
        return ""
    rows = "".join(f"<tr><td>{_e(g.name)}</td><td class=mono>{_e(g.value)}</td><td class=mono>{_e(g.operator)} "
                   f"{_e(g.threshold)}</td><td>{_badge(g.outcome)}{' by ' + _e(g.overridden_by) if g.overridden_by else ''}"
                   f"</td><td>{_e(g.process)} <span class='mono muted'>{_e(g.run_id)}</span></td><td>{_e(g.at)}</td></tr>"
                   for g in gates)
    return ("<table><tr><th>gate</th><th>measured</th><th>rule</th><th>outcome</th><th>run</th><th>at</th></tr>"
            f"{rows}</table>")


def _approvals(questions: list[ApprovalEvidence]) -> str:
    out = []
    for q in questions:
        signed = "".join(
            f"<li>{_e(s.user)} <span class=muted>({_e(s.auth)}{', ' + _e(s.host) if s.host else ''})</span>"
            f"{' claimed as ' + _e(s.claimed_by) if s.claimed_by else ''} at {_e(s.at)}"
            f"{' — partial approval' if s.partial else ''}{' — <b>the run starter</b>' if s.by_starter else ''}</li>"
            for s in q.signatures) or "<li class=muted>no answer yet</li>"
        policy = (f"<p class=muted>rules {', '.join(map(_e, q.policy.get('tags', [])))}, version "
                  f"{_e(str(q.policy.get('version')))}, sha256 <span class=mono>{_e(str(q.policy.get('sha256')))}</span>"
                  f"{'; needs ' + _e(str(q.needed)) + ' approvers' if q.needed else ''}</p>") if q.policy else ""
        numbers = "".join(f"<li>{_e(n['name'])}: <span class=mono>{_e(n['value'])} {_e(n['operator'])} "
                          f"{_e(n['threshold'])}</span> {_badge(n['outcome'])}</li>" for n in q.numbers)
        files = "".join(f"<li>{_e(str(a.get('name')))} <span class=mono>sha256 {_e(str(a.get('sha256')))}</span></li>"
                        for a in q.artifacts)
        out.append(
            f"<h3>{_e(q.question)} {_badge(q.outcome)}{' (' + _e(q.option) + ')' if q.option else ''}</h3>"
            f"<p class=muted>{_e(q.process)} <span class=mono>{_e(q.run_id)}</span> question #{_e(q.key)}, asked "
            f"{_e(q.asked_at)}{'; tags ' + ', '.join(map(_e, q.tags)) if q.tags else ''}</p>"
            f"<ul>{signed}</ul>{policy}{'<p>feedback: ' + _e(q.feedback) + '</p>' if q.feedback else ''}"
            f"{'<p>on the numbers:</p><ul>' + numbers + '</ul>' if numbers else ''}"
            f"{'<p>evidence files:</p><ul>' + files + '</ul>' if files else ''}")
    return "".join(out)


def render_html(record: ComplianceRecord) -> str:
    """The whole record: runs, then each CRISP-DM phase with its checkpoints' gates and approvals, then files."""
    runs = "".join(f"<tr><td class=mono>{_e(r.run_id)}</td><td>{_e(r.process)}</td><td>{_badge(r.status)}</td>"
                   f"<td>{_e(r.events)} events, head <span class=mono>{_e(r.head[:16])}</span></td>"
                   f"<td>{_e((r.starter or {}).get('user', '—'))}</td>"
                   f"<td>{_e('version ' + str(r.policy['version']) if r.policy else 'no approval rules')}</td></tr>"
                   for r in record.runs)
    body = [f"<h1>Compliance record of {_e(record.process)} run <span class=mono>{_e(record.run_id)}</span> "
            f"{_badge(record.status)}</h1>",
            "<table><tr><th>run</th><th>process</th><th>status</th><th>journal</th><th>starter</th>"
            f"<th>approval rules</th></tr>{runs}</table>"]
    for phase in record.phases:
        body.append(f"<h2>{_e(phase.title)}</h2>")
        for cp in phase.checkpoints:
            empty = "" if cp.gates or cp.approvals else "<p class=muted>no gate or approval serves this checkpoint</p>"
            body.append(f"<h3>{_e(cp.title)} {_badge(cp.outcome)}</h3><p class=muted>asks for: {_e(cp.asks)}</p>"
                        f"{empty}{_gates(cp.gates)}{_approvals(cp.approvals)}")
    if record.untagged_gates or record.untagged_approvals:
        body.append("<h2>Not tied to a checkpoint</h2>" + _gates(record.untagged_gates)
                    + _approvals(record.untagged_approvals))
    files = "".join(f"<tr><td>{_e(str(a['name']))}</td><td class=mono>{_e(str(a['sha256']))}</td>"
                    f"<td>{_e(a['size'])}</td><td class=mono>{_e(a['run_id'])}</td></tr>" for a in record.artifacts)
    if files:
        body.append(f"<h2>Artifacts</h2><table><tr><th>name</th><th>sha256</th><th>bytes</th><th>run</th></tr>{files}</table>")
    return (f"<!doctype html><html lang=en><meta charset=utf-8><title>Compliance record {_e(record.run_id)}</title>"
            f"<style>{_STYLE}</style><body>{''.join(body)}</body></html>\n")
