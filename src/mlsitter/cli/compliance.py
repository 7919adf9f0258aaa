"""``mlsitter compliance RUN [-o BUNDLE]`` and ``mlsitter compliance verify BUNDLE``: checkpoints an auditor reads."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlsitter.cli import EXIT_OK, EXIT_VERIFY, _dump, _fmt

if TYPE_CHECKING:
    from mlsitter.runtime.compliance import ApprovalEvidence, ComplianceRecord, GateEvidence


class _RunOrCommand(click.Group):
    """``compliance RUN`` means ``compliance show RUN``; ``compliance verify BUNDLE`` is the subcommand."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["show", *args]
        return super().resolve_command(ctx, args)


@click.group(cls=_RunOrCommand)
def compliance() -> None:
    """A run's compliance checkpoints by CRISP-DM phase, its signed bundle, and the bundle's offline check.

    \b
    mlsitter compliance RUN                  checkpoints with their evidence and who approved
    mlsitter compliance RUN -o bundle.zip    also write the signed bundle (JSON, HTML, journals)
    mlsitter compliance verify bundle.zip    check a bundle with the journal key, without the store
    """


@compliance.command("show")
@click.argument("run_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the signed bundle (a zip) here.")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
def show(run_id: str, output: str | None, as_json: bool) -> None:
    """Show RUN's checkpoints (and its children's): gates with measured values, approvals with identities."""
    from mlsitter.runtime.bundle import export_bundle
    from mlsitter.runtime.compliance import build_record, journals
    from mlsitter.runtime.store import Store

    store = Store()
    runs = journals(store, run_id)
    record = build_record(runs, next(iter(runs)))
    if output:
        info = export_bundle(store, record.run_id, output)
        click.echo(f"bundle of {len(info.runs)} run(s) with {len(info.members) + 1} members written to {info.path}; "
                   f"check it with: mlsitter compliance verify {info.path}", err=True)
    if as_json:
        _dump(asdict(record))
        return
    _print_record(record)


def _print_record(record: ComplianceRecord) -> None:
    click.echo(f"compliance record of {record.process} run {record.run_id} ({record.status}), "
               f"{len(record.runs)} run(s)")
    for run in record.runs:
        rules = f"rules version {run.policy['version']} (sha256 {run.policy['sha256'][:12]})" if run.policy else \
            "no approval rules"
        starter = (run.starter or {}).get("user", "—")
        click.echo(f"  {run.run_id}  {run.process:<18} {run.status:<10} starter {starter} · {rules}")
    for phase in record.phases:
        click.echo(f"\n{phase.title}")
        for cp in phase.checkpoints:
            click.echo(f"  {cp.title}: {cp.outcome}")
            for gate in cp.gates:
                _print_gate(gate)
            for question in cp.approvals:
                _print_question(question)
    if record.untagged_gates or record.untagged_approvals:
        click.echo("\nNot tied to a checkpoint")
        for gate in record.untagged_gates:
            _print_gate(gate)
        for question in record.untagged_approvals:
            _print_question(question)


def _print_gate(g: GateEvidence) -> None:
    by = f" by {g.overridden_by}" if g.overridden_by else ""
    click.echo(f"    gate {g.name}: measured {_fmt(g.value)}, required {g.operator} {_fmt(g.threshold)} -> "
               f"{g.outcome}{by}  [{g.process} {g.run_id}]")


def _print_question(q: ApprovalEvidence) -> None:
    option = f" ({q.option})" if q.option else ""
    click.echo(f"    approval #{q.key} {q.question!r}: {q.outcome}{option}  [{q.process} {q.run_id}]")
    for s in q.signatures:
        notes = [n for n in (f"claimed {s.claimed_by}" if s.claimed_by else "", "partial" if s.partial else "",
                             "the run's starter" if s.by_starter else "") if n]
        click.echo(f"      {s.user} ({s.auth}{', ' + s.host if s.host else ''}) at {s.at}"
                   + (f" · {', '.join(notes)}" if notes else ""))
    if q.policy:
        click.echo(f"      under rules {', '.join(q.policy.get('tags', []))} version {q.policy.get('version')}"
                   + (f", {q.needed} approvers needed" if q.needed else ""))
    if q.numbers:
        shown = "; ".join(f"{n['name']} {_fmt(n['value'])} {n['operator']} {_fmt(n['threshold'])} ({n['outcome']})"
                          for n in q.numbers)
        click.echo(f"      on the numbers: {shown}")


@compliance.command("verify")
@click.argument("bundle", type=click.Path(dir_okay=False))
@click.option("--key-file", type=click.Path(dir_okay=False), default=None,
              help="The journal key file (default: $MLSITTER_JOURNAL_KEY[_FILE] or the key folder's key of the "
                   "bundle's store).")
@click.option("--against-store", is_flag=True, help="Also check that the store still holds the journals the bundle "
                                                     "pinned (not cut, rewritten or deleted since).")
@click.option("--json", "as_json", is_flag=True)
def verify(bundle: str, key_file: str | None, against_store: bool, as_json: bool) -> None:
    """Check a compliance bundle offline: signature, every member's hash, the journals' keyed chains, heads,
    and that its JSON and HTML are what the journals say. Exit 0 when it holds, 4 when not."""
    from mlsitter.cli.trust import echo_outcome
    from mlsitter.runtime.bundle import check_store, verify_bundle
    from mlsitter.runtime.keys import key_from_file

    key = key_from_file(Path(key_file).expanduser()) if key_file else None
    report = verify_bundle(bundle, key)
    if against_store:
        from mlsitter.runtime.store import Store

        report.problems += check_store(Store(), bundle)
        report.ok = not report.problems
    if as_json:
        _dump(asdict(report))
    else:
        where = " and the store still holds its journals" if against_store else ""
        echo_outcome(bundle, report.problems, f"run {report.run_id} and {len(report.runs) - 1} child run(s), signed "
                     f"under the journal key ({report.key_source}); every member, chain and head intact{where}")
    sys.exit(EXIT_OK if report.ok else EXIT_VERIFY)

