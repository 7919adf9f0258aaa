"""``mlsitter describe NAME`` (and ``mlsitter run NAME --help``): a process's inputs with their type,
default and meaning, read from the process's own declarations (:mod:`mlsitter.runtime.inputs`)."""

from __future__ import annotations

import io
import json
from typing import Any

import click


@click.command()
@click.argument("process")
@click.option("--json", "as_json", is_flag=True, help="Print the process and its inputs as JSON.")
def describe(process: str, as_json: bool) -> None:
    """Show PROCESS (a name from `mlsitter processes`, or path/to/file.py:function): its phase, purpose and
    every input it takes, with type, default and meaning."""
    from mlsitter.runtime.definitions import resolve

    spec = resolve(process)
    if as_json:
        click.echo(json.dumps(process_record(spec), indent=2, default=str))
        return
    from mlsitter.cli import _console

    print_process(spec, _console())


def process_record(spec: Any) -> dict[str, Any]:
    """The process and its inputs as plain JSON data (what ``describe --json`` prints)."""
    from mlsitter.runtime.inputs import input_specs

    inputs = []
    for s in input_specs(spec.fn):
        interval = s.interval
        inputs.append({
            "name": s.name, "type": s.type_text, "required": s.required,
            "default": None if s.required else _plain(s.default), "meaning": s.doc, "choices": s.choices,
            "range": None if interval is None else {"low": interval.low, "high": interval.high,
                                                    "closed": interval.closed},
        })
    return {"name": spec.name, "phase": spec.phase, "description": spec.description, "target": spec.target,
            "inputs": inputs}


def print_process(spec: Any, console: Any) -> None:
    """The process's name, phase and description, then the table of its inputs."""
    from rich import box
    from rich.table import Table

    from mlsitter.runtime.inputs import input_specs

    console.print(f"[bold]{spec.name}[/]" + (f"  (phase {spec.phase})" if spec.phase else ""))
    if spec.description:
        console.print(spec.description, markup=False)
    specs = input_specs(spec.fn)
    table = Table(title=f"\ninputs of {spec.name} (pass each as -i NAME=VALUE)", title_justify="left",
                  box=box.SIMPLE_HEAD)
    table.add_column("input", no_wrap=True)
    table.add_column("type", overflow="fold")
    table.add_column("default", overflow="fold")
    table.add_column("meaning", overflow="fold")
    for s in specs:
        default = "[bold]required[/]" if s.required else _escape(_shown_default(s.default))
        table.add_row(s.name, _escape(s.type_text), default, _escape(s.doc))
    console.print(table)


def process_help(name: str) -> str:
    """What ``mlsitter run NAME --help`` adds after the command's own help (UnknownProcessError if none)."""
    from rich.console import Console

    from mlsitter.runtime.definitions import resolve

    spec = resolve(name)
    buffer = io.StringIO()
    print_process(spec, Console(file=buffer, width=160, highlight=False, soft_wrap=True, color_system=None))
    return buffer.getvalue()


def _shown_default(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _plain(value: Any) -> Any:
    from mlsitter.runtime.values import jsonable

    return jsonable(value)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
