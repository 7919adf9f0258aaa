"""The ``mlsitter`` command line. Exit codes are documented in ``EXIT_CODES`` (and the README)."""

from __future__ import annotations

import datetime as _dt
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, NoReturn

import click

from mlsitter.errors import JournalCorruptError, MlsitterError, RunLockedError, UserError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_WAITING, EXIT_VERIFY, EXIT_LOCKED, EXIT_CANCELLED, EXIT_INTERNAL = (
    0, 1, 2, 3, 4, 5, 6, 70)
EXIT_CODES = {
    EXIT_OK: "completed (or the command succeeded)",
    EXIT_FAILED: "the run failed (a gate, a task error, a refused override)",
    EXIT_USAGE: "bad input: unknown process, missing/invalid input, wrong state, unreadable file",
    EXIT_WAITING: "the run is waiting (approval, external result, timer or child run)",
    EXIT_VERIFY: "verification failed or the store is corrupt",
    EXIT_LOCKED: "another runner is executing the run",
    EXIT_CANCELLED: "the run was cancelled",
    EXIT_INTERNAL: "an unexpected internal error (with traceback)",
}
STATUS_EXIT = {"completed": EXIT_OK, "failed": EXIT_FAILED, "waiting": EXIT_WAITING, "ready": EXIT_WAITING,
               "interrupted": EXIT_WAITING, "cancelled": EXIT_CANCELLED, "running": EXIT_OK, "created": EXIT_OK}

# Commands that live in their own modules ("module:attribute"); loaded when the CLI starts.
EXTRA_COMMANDS: list[str] = [
    "mlsitter.cli.compliance:compliance",
    "mlsitter.cli.describe:describe",
    "mlsitter.cli.lineage:lineage",
    "mlsitter.cli.serve:serve",
    "mlsitter.cli.serve:rollback",
    "mlsitter.cli.trust:verify",
    "mlsitter.cli.trust:digest",
    "mlsitter.cli.ui:ui",
    "mlsitter.cli.users:users",
]


def _console(stderr: bool = False):
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not console.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
        console = Console(stderr=stderr, highlight=False, soft_wrap=True, width=160)
    return console


def _fail(message: str, code: int) -> NoReturn:
    from rich.markup import escape

    _console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", markup=True)  # '[...]' in a message stays
    sys.exit(code)


class _Group(click.Group):
    """Turns mlsitter errors into one clear line and an exit code; no traceback for user errors."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            _fail(str(exc), EXIT_USAGE)
        except RunLockedError as exc:
            _fail(str(exc), EXIT_LOCKED)
        except JournalCorruptError as exc:
            _fail(str(exc), EXIT_VERIFY)
        except MlsitterError as exc:
            _fail(str(exc), EXIT_FAILED)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="mlsitter")
def main() -> None:
    """Run the ML lifecycle as durable, quality-gated, human-approvable processes.

    \b
    Exit codes: 0 completed, 1 failed, 2 bad input, 3 waiting, 4 verification failed,
    5 run locked by another runner, 6 cancelled, 70 internal error.
    """


def _runner(show_progress: bool = False):
    from mlsitter.runtime import Runner

    return Runner()


def _dump(value: Any) -> None:
    from mlsitter.runtime.values import jsonable

    click.echo(json.dumps(jsonable(value), indent=2, default=str))


def _ts(at: float | None) -> str:
    if not at:
        return "—"
    return _dt.datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S")


def _gate_column(g: Any) -> str:
    """passed/warned-or-overridden/failed, as the dashboard's runs list shows them."""
    return f"{g.passed}/{g.warned + g.overridden}/{g.failed}"


def _duration(start: float | None, end: float | None) -> str:
    if not start:
        return "—"
    secs = (end or time.time()) - start
    if secs < 1:
        return f"{secs * 1000:.0f} ms"
    if secs < 120:
        return f"{secs:.1f} s"
    return f"{secs / 60:.1f} min"


def _parse_inputs(pairs: tuple[str, ...], inputs_file: str | None) -> dict[str, Any]:
    from mlsitter.errors import InputError

    values: dict[str, Any] = {}
    if inputs_file:
        path = Path(inputs_file)
        if not path.is_file():
            raise InputError(f"inputs file {inputs_file!r} does not exist")
        text = path.read_text(encoding="utf-8")
        try:
            if path.suffix.lower() in (".yaml", ".yml"):
                import yaml

                loaded = yaml.safe_load(text)
            else:
                loaded = json.loads(text)
        except Exception as exc:
            raise InputError(f"inputs file {inputs_file!r} is not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}") from None
        if not isinstance(loaded, dict):
            raise InputError(f"inputs file {inputs_file!r} must hold a mapping of input names to values")
        values.update(loaded)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--input expects KEY=VALUE, got {pair!r}")
        values[key.strip()] = value
    return values


def _report_handle(handle: Any, as_json: bool) -> NoReturn:
    from mlsitter.runtime import Store

    store = Store()
    if as_json:
        result = store.get_run(handle.run_id).result if handle.status == "completed" else None
        if result is not None:  # decoded, so dataclass results print as plain JSON objects
            from mlsitter.runtime.codec import Codec

            result = Codec(store.artifacts).decode(result)
        _dump({"run_id": handle.run_id, "process": handle.process, "status": handle.status, "error": handle.error,
               "waiting": handle.waiting, "result": result})
        sys.exit(STATUS_EXIT.get(handle.status, EXIT_OK))
    console = _console()
    colour = {"completed": "green", "failed": "red", "waiting": "yellow"}.get(handle.status, "white")
    console.print(f"run [bold]{handle.run_id}[/] ({handle.process}): [{colour} bold]{handle.status}[/]")
    if handle.status == "failed":
        console.print(f"[red]{handle.error}[/]")
    elif handle.status == "waiting":
        waiting = handle.waiting or {}
        console.print(f"waiting for: {waiting.get('reason')}")
        if waiting.get("kind") == "breakpoint" or (waiting.get("kind") == "child"):
            console.print(f"  answer with: mlsitter approve {handle.run_id} [--feedback ...]  |  "
                          f"mlsitter reject {handle.run_id} --feedback \"...\"   then  mlsitter resume {handle.run_id}")
        elif waiting.get("kind") == "external":
            console.print(f"  see: mlsitter tasks pending; answer: mlsitter tasks post {handle.run_id} --result FILE")
        elif waiting.get("kind") == "timer":
            console.print("  wakes with: mlsitter resume --due (or a running `mlsitter worker`)")
    elif handle.status == "completed" and handle.result is not None:
        from mlsitter.runtime.values import jsonable

        text = json.dumps(jsonable(handle.result), indent=2, default=str)
        console.print(text if len(text) < 3000 else text[:3000] + "\n…", markup=False)
    console.print(f"journal: {store.location}  ·  artifacts: {store.artifacts.root}", style="dim")
    sys.exit(STATUS_EXIT.get(handle.status, EXIT_OK))


def _progress() -> Any:
    """What a run shows while it executes: rich bars in a terminal, plain periodic lines when redirected."""
    from mlsitter.cli.progress import RunProgress

    return RunProgress(_console(stderr=True))


class _RunCommand(click.Command):
    """``run``, whose ``--help`` also describes the process named before or after it (its inputs)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if any(a in ctx.help_option_names for a in args):
            ctx.meta["mlsitter.run.process"] = self._process_argument(ctx, args)
        return super().parse_args(ctx, args)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_help(ctx, formatter)
        name = ctx.meta.get("mlsitter.run.process")
        if name:
            from mlsitter.cli.describe import process_help

            formatter.write("\n" + process_help(name))

    def _process_argument(self, ctx: click.Context, args: list[str]) -> str | None:
        """The first argument that is neither an option nor an option's value: the PROCESS argument."""
        takes_value = {opt for p in self.get_params(ctx) if isinstance(p, click.Option) and not p.is_flag
                       for opt in p.opts}
        skip = False
        for arg in args:
            if skip:
                skip = False
            elif arg in takes_value:
                skip = True
            elif not arg.startswith("-"):
                return arg
        return None


# -- commands ----------------------------------------------------------------------------------------
@main.command(cls=_RunCommand)
@click.argument("process")
@click.option("-i", "--input", "pairs", multiple=True, metavar="KEY=VALUE", help="A process input (repeatable).")
@click.option("--inputs", "inputs_file", type=click.Path(dir_okay=False), help="YAML or JSON file of inputs.")
@click.option("--approve", "policy", default="manual", show_default=True,
              help="Approval policy: manual, auto, gates-passed (add '+production' to let it approve production breakpoints).")
@click.option("--executor", type=click.Choice(["inline", "process", "ray"]), default=None,
              help="Where tasks run (default inline; ray: on $RAY_ADDRESS or a local Ray cluster).")
@click.option("--seed", type=int, default=None,
              help="Run seed (default: random, recorded); also the process's seed input if it has one and -i names none.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def run(process: str, pairs: tuple[str, ...], inputs_file: str | None, policy: str, executor: str | None,
        seed: int | None, as_json: bool) -> None:
    """Start PROCESS (a name from `mlsitter processes`, or path/to/file.py:function).

    `mlsitter run PROCESS --help` (or `mlsitter describe PROCESS`) lists its inputs."""
    from mlsitter.runtime import Runner

    inputs = _parse_inputs(pairs, inputs_file)
    with _progress() as progress:
        runner = Runner(on_event=None if as_json else progress)
        handle = runner.start(process, inputs, approve=policy, executor=executor, seed=seed)
    _report_handle(handle, as_json)


@main.command()
@click.option("--status", default="", help="Only runs with this status.")
@click.option("--process", "process_name", default="", help="Only runs of this process.")
@click.option("--since", default="", help="Only runs started on or after this day (YYYY-MM-DD, local time).")
@click.option("--until", default="", help="Only runs started on or before this day (YYYY-MM-DD, local time).")
@click.option("--input", "input_value", default="", help="Only runs with this input value: KEY=VALUE.")
@click.option("--tag", default="", help="Only runs that asked a question with this tag (e.g. production).")
@click.option("--order", default="newest", show_default=True,
              help="newest, oldest, longest, process or status.")
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def runs(status: str, process_name: str, since: str, until: str, input_value: str, tag: str, order: str, limit: int,
         as_json: bool) -> None:
    """List runs, newest first (or in --order), filtered."""
    from rich.table import Table

    from mlsitter.runtime import Store
    from mlsitter.runtime.run_filters import RunFilters
    from mlsitter.runtime.views import gate_counts

    store = Store()
    filters = RunFilters(status=status, process=process_name, since=since, until=until, input=input_value, tag=tag,
                         order=order)
    records = store.list_runs(**filters.store_filters(), order=order, limit=limit)
    gates = gate_counts(store, records)  # a warn gate that missed and an overridden gate are not failures
    if as_json:
        _dump([{"run_id": r.run_id, "process": r.process, "status": r.status, "created_at": r.created_at,
                "ended_at": r.ended_at, "gates_passed": gates[r.run_id].passed, "gates_failed": gates[r.run_id].failed,
                "gates_warned": gates[r.run_id].warned + gates[r.run_id].overridden,  # missed, not blocking
                "waiting": (r.waiting or {}).get("reason") if r.status in ("waiting", "ready") else None,
                "interrupted": r.interrupted, "parent_run_id": r.parent_run_id} for r in records])
        return
    table = Table(title=f"runs in {store.location if store.db_url else store.home}")
    table.add_column("run", no_wrap=True)
    table.add_column("process", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for col in ("started", "duration", "gates ✓/⚠/✗"):
        table.add_column(col)
    table.add_column("waiting for", overflow="fold")
    for r in records:
        note = (r.waiting or {}).get("reason", "") if r.status in ("waiting", "ready") else ""
        if r.interrupted:
            note = f"{r.interrupted}; {r.resume_command}"
        table.add_row(r.run_id, r.process, r.status, _ts(r.created_at), _duration(r.created_at, r.clock_stopped_at),
                      _gate_column(gates[r.run_id]), note or "")
    _console().print(table)


@main.command()
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True)
def status(run_id: str, as_json: bool) -> None:
    """Show a run: status, gates with measured values, steps, approvals, children, artifacts."""
    from dataclasses import asdict

    from rich.table import Table

    from mlsitter.runtime import Store
    from mlsitter.runtime.views import build_view

    store = Store()
    view = build_view(store, run_id)
    r = view.run
    if as_json:
        _dump({"run_id": r.run_id, "process": r.process, "status": r.status, "inputs": r.inputs, "error": r.error,
               "waiting": r.waiting, "parent_run_id": r.parent_run_id, "result": r.result,
               "gates": [{**asdict(g), "outcome": g.outcome} for g in view.gates],
               "steps": [asdict(s) for s in view.steps], "breakpoints": [asdict(b) for b in view.breakpoints],
               "children": view.children, "artifacts": view.artifacts, "events": view.events,
               "interrupted": r.interrupted or (_last_interruption(store, r.run_id) if r.status == "interrupted" else None),
               "resume": r.resume_command if r.status in ("interrupted", "ready") else None})
        sys.exit(STATUS_EXIT.get(r.status, EXIT_OK))
    console = _console()
    console.print(f"[bold]{r.run_id}[/]  process [bold]{r.process}[/]  status [bold]{r.status}[/]  "
                  f"policy {r.policy}  started {_ts(r.created_at)}  duration {_duration(r.created_at, r.clock_stopped_at)}")
    if r.parent_run_id:
        console.print(f"parent run: {r.parent_run_id}")
    if r.error:
        console.print(f"[red]error: {r.error}[/]")
    if r.waiting and r.status in ("waiting", "ready"):
        console.print(f"[yellow]waiting for: {r.waiting.get('reason')}[/]")
    if r.status == "interrupted":
        console.print(f"[yellow]interrupted: {r.interrupted or _last_interruption(store, r.run_id)}[/]\n"
                      f"  resume with: {r.resume_command}  (or a running `mlsitter worker`)")
    if view.gates:
        table = Table(title="gates")
        for col in ("gate", "measured", "rule", "outcome", "on fail", "overridden by"):
            table.add_column(col)
        for g in view.gates:
            colour = {"pass": "green", "fail": "red", "warn": "yellow", "overridden": "magenta"}[g.outcome]
            table.add_row(g.name, _fmt(g.value), f"{g.operator} {_fmt(g.threshold)}", f"[{colour}]{g.outcome}[/]",
                          g.on_fail, g.overridden_by or "")
        console.print(table)
    if view.breakpoints:
        table = Table(title="approvals")
        for col in ("#", "question", "answer", "by", "feedback"):
            table.add_column(col)
        for b in view.breakpoints:
            answer = "pending" if b.approved is None else ("approved" if b.approved else "rejected")
            table.add_row(b.key, b.question, answer + (f" ({b.option})" if b.option else ""), _answered_by(b), b.feedback)
        console.print(table)
        for b in view.breakpoints:
            if b.approved is None:
                _print_evidence(console, b)
    done = sum(1 for s in view.steps if s.status == "completed")
    retried = sum(1 for s in view.steps if s.attempts > 1)
    console.print(f"steps: {done}/{len(view.steps)} completed, {retried} retried · events: {view.events} · "
                  f"artifacts: {len(view.artifacts)} · children: {len(view.children)}")
    for c in view.children:
        child = build_view(store, c["child_run_id"])
        outcomes = [g.outcome for g in child.gates]
        answers = ", ".join(f"{'pending' if b.approved is None else 'approved' if b.approved else 'rejected'}"
                            + (f" by {b.by}" if b.by else "") for b in child.breakpoints)
        console.print(f"  child {child.run.run_id} ({child.run.process}): {child.run.status} · gates "
                      f"{outcomes.count('pass')}/{len(outcomes)} passed" + (f", {outcomes.count('fail')} failed"
                                                                           if "fail" in outcomes else "")
                      + (f" · questions: {answers}" if answers else ""))
    sys.exit(STATUS_EXIT.get(r.status, EXIT_OK))


def _answered_by(b: Any) -> str:
    """Who answered (the authenticated account beside a claimed name) and the approvals short of the quorum."""
    who = b.identity or {}
    shown = b.by
    if who.get("user") and not b.by.startswith(who["user"]):
        shown += f" (as {who['user']})"
    if who.get("auth"):
        shown += f" [{who['auth']}]"
    if b.approvals:
        names = ", ".join(a["user"] + (f" ({a['claimed_by']})" if a.get("claimed_by") else "") for a in b.approvals)
        count = f"{len(b.approvals)} of {b.needed} approvals so far" if b.approved is None else "earlier approvals"
        shown = f"{shown}; {count}: {names}" if shown else f"{count}: {names}"
    return shown


def _last_interruption(store: Any, run_id: str) -> str:
    events = store.events(run_id, types=("run.interrupted",))
    return str(events[-1].data.get("reason", "")) if events else "the run was interrupted"


def _print_evidence(console: Any, pending: Any) -> None:
    """What a pending question carries: its tables (lists of records in its context) and its artifacts."""
    from rich.table import Table

    context = pending.context if isinstance(pending.context, dict) else {}
    for key, value in context.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            table = Table(title=f"{key} (question {pending.key})")
            columns = list(dict.fromkeys(k for row in value for k in row))
            for col in columns:
                table.add_column(str(col))
            for row in value:
                table.add_row(*(_fmt(row.get(col, "")) for col in columns))
            console.print(table)
    for artifact in pending.artifacts:
        if isinstance(artifact, dict):
            console.print(f"evidence: {artifact.get('name')}  {artifact.get('path') or ''}")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@main.command()
@click.argument("run_id")
@click.option("--type", "types", multiple=True, help="Only events of this type (repeatable).")
@click.option("--json", "as_json", is_flag=True)
def events(run_id: str, types: tuple[str, ...], as_json: bool) -> None:
    """Print a run's journal."""
    from mlsitter.runtime import Store

    store = Store()
    run = store.get_run(run_id)
    evs = store.events(run.run_id, types=types or None)
    if as_json:
        _dump([{"seq": e.seq, "type": e.type, "at": e.at, "data": e.data, "hash": e.hash} for e in evs])
        return
    for e in evs:
        data = {k: v for k, v in e.data.items() if k not in ("result", "traceback", "schema")}
        text = json.dumps(data, default=str)
        click.echo(f"{e.seq:>5}  {_ts(e.at)}  {e.type:<20} {text[:200]}")


def _answer(run_id: str, approved: bool, feedback: str | None, by: str | None, option: str | None,
            do_resume: bool, as_json: bool) -> None:
    runner = _runner()
    leaf = runner.answer(run_id, approved=approved, feedback=feedback, by=by, option=option)
    drift = runner.policy_drift(leaf.run_id)
    if drift:
        click.echo(f"note: {drift}", err=True)
    quorum = runner.approval_status(leaf.run_id) if leaf.status == "waiting" else None
    if quorum is not None:  # a partial approval: the rules ask for more distinct approvers
        if as_json:
            _report_handle(runner.handle(run_id), as_json)
        more = quorum.needed - len(quorum.approvals)
        _console().print(f"approval {len(quorum.approvals)} of {quorum.needed} journaled for run {leaf.run_id} "
                         f"(rules: {', '.join(quorum.tags)}, version {quorum.version}); it waits for {more} more "
                         "distinct approver" + ("s" if more > 1 else ""))
        return
    if do_resume:
        runner.resume(leaf.run_id)
        _report_handle(runner.handle(run_id), as_json)
    verb = "approved" if approved else "rejected"
    _console().print(f"{verb} run {leaf.run_id} (answer journaled); continue with: mlsitter resume {leaf.run_id}")


@main.command()
@click.argument("run_id")
@click.option("--feedback", default=None, help="Optional note journaled with the approval.")
@click.option("--option", default=None, help="One of the options the breakpoint offers.")
@click.option("--by", default=None, help="A name to journal as claimed (claimed_by); the answer is authenticated "
              "as your OS account, which approval rules judge.")
@click.option("--resume", "do_resume", is_flag=True, help="Continue the run right away.")
@click.option("--json", "as_json", is_flag=True)
def approve(run_id: str, feedback: str | None, option: str | None, by: str | None, do_resume: bool, as_json: bool) -> None:
    """Approve the breakpoint RUN_ID waits on."""
    _answer(run_id, True, feedback, by, option, do_resume, as_json)


@main.command()
@click.argument("run_id")
@click.option("--feedback", required=True, help="What to change; the next refine attempt receives it.")
@click.option("--option", default=None, help="One of the options the breakpoint offers.")
@click.option("--by", default=None, help="A name to journal as claimed (claimed_by), apart from your OS account.")
@click.option("--resume", "do_resume", is_flag=True, help="Continue the run right away.")
@click.option("--json", "as_json", is_flag=True)
def reject(run_id: str, feedback: str, option: str | None, by: str | None, do_resume: bool, as_json: bool) -> None:
    """Reject the breakpoint RUN_ID waits on, with feedback."""
    _answer(run_id, False, feedback, by, option, do_resume, as_json)


@main.command()
@click.argument("run_id", required=False)
@click.option("--due", is_flag=True, help="Resume every run whose timer is due or whose answer arrived.")
@click.option("--json", "as_json", is_flag=True)
def resume(run_id: str | None, due: bool, as_json: bool) -> None:
    """Continue a waiting or interrupted run (or all due runs with --due)."""
    from mlsitter.errors import InputError

    runner = _runner()
    if due == bool(run_id):
        raise InputError("give either a RUN_ID or --due")
    if due:
        handles = runner.resume_due()
        if as_json:
            _dump([{"run_id": h.run_id, "status": h.status} for h in handles])
        else:
            for h in handles:
                click.echo(f"{h.run_id} ({h.process}): {h.status}")
            if not handles:
                click.echo("no run is due")
        return
    with _progress() as progress:
        runner.on_event = None if as_json else progress
        handle = runner.resume(run_id)
    _report_handle(handle, as_json)


@main.command()
@click.argument("run_id")
@click.option("--reason", default="", help="Why (journaled), e.g. what was fixed.")
@click.option("--by", default=None, help="A name to journal as claimed (claimed_by), apart from your OS account.")
@click.option("--json", "as_json", is_flag=True)
def retry(run_id: str, reason: str, by: str | None, as_json: bool) -> None:
    """Run a failed run again: steps it completed come from the journal, the failed step and the rest run now
    (failed children too); recorded gates and answers stand. Journaled with your OS account."""
    runner = _runner()
    with _progress() as progress:
        runner.on_event = None if as_json else progress
        handle = runner.retry(run_id, reason=reason, by=by)
    _report_handle(handle, as_json)


@main.group()
def tasks() -> None:
    """External effects waiting for a result (and approvals), across runs."""


@tasks.command("pending")
@click.option("--json", "as_json", is_flag=True)
def tasks_pending(as_json: bool) -> None:
    """List every waiting breakpoint and external effect."""
    runner = _runner()
    items = []
    for r in runner.pending():
        w = r.waiting or {}
        items.append({"run_id": r.run_id, "process": r.process, "kind": w.get("kind"), "key": w.get("key"),
                      "external_kind": w.get("external_kind"), "question": w.get("question"),
                      "spec": w.get("spec"), "schema": w.get("schema"), "options": w.get("options")})
    if as_json:
        _dump(items)
        return
    if not items:
        click.echo("nothing is pending")
    for it in items:
        if it["kind"] == "external":
            click.echo(f"{it['run_id']}  task {it['key']}  external {it['external_kind']}")
            click.echo(f"    spec:   {json.dumps(it['spec'], default=str)}")
            click.echo(f"    schema: {json.dumps(it['schema'])}")
        else:
            click.echo(f"{it['run_id']}  approval {it['key']}: {it['question']}")


@tasks.command("post")
@click.argument("run_id")
@click.argument("key", required=False)
@click.option("--result", "result_file", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="JSON file with the result ('-' for stdin).")
@click.option("--value", default=None, help="The result as inline JSON.")
@click.option("--by", default=None)
@click.option("--resume", "do_resume", is_flag=True, help="Continue the run right away.")
@click.option("--json", "as_json", is_flag=True)
def tasks_post(run_id: str, key: str | None, result_file: str | None, value: str | None, by: str | None,
               do_resume: bool, as_json: bool) -> None:
    """Give the result of the external effect RUN_ID waits on (validated against its schema)."""
    from mlsitter.errors import InputError

    if (result_file is None) == (value is None):
        raise InputError("give the result with exactly one of --result FILE or --value JSON")
    try:
        text = value if value is not None else (sys.stdin.read() if result_file == "-" else Path(result_file).read_text())
        result = json.loads(text)
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"the result is not readable JSON: {exc}") from None
    runner = _runner()
    leaf = runner.post_external(run_id, key, result, by=by)
    if do_resume:
        runner.resume(leaf.run_id)
        _report_handle(runner.handle(run_id), as_json)
    click.echo(f"result accepted for run {leaf.run_id}; continue with: mlsitter resume {leaf.run_id}")


@main.command()
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True)
def artifacts(run_id: str, as_json: bool) -> None:
    """List a run's artifacts with their content hashes and paths."""
    from rich.table import Table

    from mlsitter.runtime import Store
    from mlsitter.runtime.views import build_view

    view = build_view(Store(), run_id)
    items = [{k: a[k] for k in ("name", "media_type", "size", "sha256", "path")} for a in view.artifacts]
    if as_json:
        _dump(items)
        return
    table = Table(title=f"artifacts of {view.run.run_id}")
    for col in ("name", "type", "size", "sha256", "path"):
        table.add_column(col, overflow="fold")
    for a in items:
        table.add_row(a["name"], a["media_type"], f"{a['size']:,}", a["sha256"][:12], a["path"])
    _console().print(table)


@main.command()
@click.argument("run_id")
@click.option("--reason", default="", help="Why (journaled).")
@click.option("--by", default=None, help="A name to journal as claimed (claimed_by), apart from your OS account.")
def cancel(run_id: str, reason: str, by: str | None) -> None:
    """Cancel a run that is not executing (its unfinished children too); journaled with your OS account."""
    run = _runner().cancel(run_id, reason=reason, by=by)
    click.echo(f"run {run.run_id} cancelled")


@main.command()
@click.option("--json", "as_json", is_flag=True)
def processes(as_json: bool) -> None:
    """List the installed processes; one that fails to load is listed with its error (exit code 1)."""
    from mlsitter.runtime.definitions import registered

    found = registered()
    specs = found.processes
    if as_json:
        _dump([{"name": s.name, "phase": s.phase, "description": s.description, "target": s.target}
               for s in specs.values()] + [{"name": n, "error": e} for n, e in found.broken.items()])
    else:
        for name in sorted(specs):
            s = specs[name]
            click.echo(f"{name:<22} {s.phase or '':<11} {s.description}")
        for name, error in sorted(found.broken.items()):
            click.echo(f"{name:<22} cannot be loaded: {error}", err=True)
    if found.broken:
        raise SystemExit(1)


@main.command()
@click.option("--interval", default=5.0, show_default=True, help="Seconds between looks at the store.")
@click.option("--once", is_flag=True, help="Look once and exit.")
@click.option("--recover/--no-recover", default=True, show_default=True,
              help="Also resume runs whose runner died (their lease ran out).")
@click.option("--max-recoveries", default=3, show_default=True,
              help="Leave a run alone after its runner died this many times (it may be what kills it).")
def worker(interval: float, once: bool, recover: bool, max_recoveries: int) -> None:
    """Resume runs whose timers are due or whose answers arrived (and interrupted runs), until stopped."""
    from mlsitter.runtime.runner import RecoveryPolicy

    runner = _runner()
    policy = RecoveryPolicy(max_recoveries) if recover else None
    while True:
        for h in runner.resume_due(recover=policy):
            click.echo(f"{_ts(time.time())}  {h.run_id} ({h.process}): {h.status}")
        if once:
            return
        time.sleep(interval)


def _load_extra(target: str) -> Callable[..., Any] | None:
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError as exc:  # an optional extra is not installed
        click.echo(f"note: command {target} unavailable ({exc}); install mlsitter[all]", err=True)
        return None


for _target in EXTRA_COMMANDS:
    _cmd = _load_extra(_target)
    if _cmd is not None:
        main.add_command(_cmd)
