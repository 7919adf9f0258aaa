"""``mlsitter verify`` and ``mlsitter digest``: prove a store's journals, and keep signed heads elsewhere."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlsitter.cli import EXIT_OK, EXIT_VERIFY, _dump
from mlsitter.errors import InputError

if TYPE_CHECKING:
    from mlsitter.runtime.store import Store


def _runs(store: Store, run_id: str | None, all_runs: bool) -> list[str]:
    if bool(run_id) == all_runs:
        raise InputError("give either a RUN_ID or --all")
    if all_runs:
        return [r[0] for r in store.conn.execute("SELECT run_id FROM runs ORDER BY created_at, run_id")]
    return [store.get_run(str(run_id)).run_id]


@click.command()
@click.argument("run_id", required=False)
@click.option("--all", "all_runs", is_flag=True, help="Verify every run in the store.")
@click.option("--against", "digest_file", type=click.Path(dir_okay=False),
              help="Also compare with a digest kept elsewhere (`mlsitter digest`); without RUN_ID/--all, its runs.")
@click.option("--json", "as_json", is_flag=True)
def verify(run_id: str | None, all_runs: bool, digest_file: str | None, as_json: bool) -> None:
    """Check runs' keyed hash chains, heads, runs-table fields and every file they refer to."""
    from mlsitter.runtime.integrity import VerifyReport, check_digest, read_digest, verify_runs
    from mlsitter.runtime.store import Store

    store = Store()
    digest = read_digest(digest_file) if digest_file else None
    if digest is not None and not run_id and not all_runs:
        ids = [str(r["run_id"]) for r in digest["runs"]]
    else:
        ids = _runs(store, run_id, all_runs)
    present = [i for i in ids if store.raw_run(i) is not None]
    reports = {r.run_id: r for r in verify_runs(store, present)}
    against = check_digest(store, digest) if digest is not None else {}
    for name, problems in against.items():
        report = reports.get(name)
        if report is None:  # a run the digest names that the store no longer has, or the digest itself
            report = reports[name] = VerifyReport(name, True, 0, 0, 0, [])
        report.problems += [f"against {digest_file}: {p}" for p in problems]
        report.ok = not report.problems
    ok = all(r.ok for r in reports.values())
    if as_json:
        _dump([asdict(r) for r in reports.values()])
    else:
        for rep in reports.values():
            pinned = " and matches the digest" if rep.run_id in against else ""
            echo_outcome(rep.run_id, rep.problems, f"{rep.events} events chained under the journal key, "
                         f"{rep.artifacts} artifacts and {rep.files} recorded files intact{pinned}")
    sys.exit(EXIT_OK if ok else EXIT_VERIFY)


def echo_outcome(name: str, problems: list[str], summary: str) -> None:
    """``NAME: OK — summary`` when nothing is wrong, else ``NAME: FAILED`` and one line per problem."""
    if not problems:
        click.echo(f"{name}: OK — {summary}")
        return
    click.echo(f"{name}: FAILED")
    for problem in problems:
        click.echo(f"  - {problem}")


@click.command()
@click.argument("run_id", required=False)
@click.option("--all", "all_runs", is_flag=True, help="A digest of every run in the store.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the digest here (default: stdout).")
def digest(run_id: str | None, all_runs: bool, output: str | None) -> None:
    """Print a signed digest of runs' heads (event count, last hash, status) to keep outside the store.

    \b
    Later, `mlsitter verify --against FILE` proves the journals were not shortened, rewritten or deleted
    since. A digest is made only of runs that verify.
    """
    from mlsitter.runtime.integrity import make_digest
    from mlsitter.runtime.store import Store

    store = Store()
    made = make_digest(store, _runs(store, run_id, all_runs))
    text = json.dumps(made, indent=2) + "\n"
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"digest of {len(made['runs'])} run(s) written to {output}; keep it outside {store.home}", err=True)
    else:
        click.echo(text, nl=False)
