"""What a run shows while it executes: plain periodic lines when output is redirected (a log, CI), and rich bars
with steps done of all, time left and the last progress line in a terminal."""

from __future__ import annotations

import io
from pathlib import Path

from click.testing import CliRunner
from rich.console import Console

from mlsitter.cli import main
from mlsitter.cli.progress import RunProgress
from mlsitter.runtime.store import Event

PROCESS = '''
from mlsitter import Context, task


@task(name="progress-case.square")
def square(x: int) -> int:
    return x * x


def squares(ctx: Context, n: int = 4) -> int:
    values = ctx.map(square, list(range(n)))
    ctx.log("info", f"trials {n}/{n}, best square {max(values)}")
    return sum(ctx.map(square, values))
'''


def test_redirected_output_gets_plain_lines_with_steps_done_of_all(tmp_path: Path) -> None:
    file = tmp_path / "squares.py"
    file.write_text(PROCESS, encoding="utf-8")
    res = CliRunner().invoke(main, ["run", f"{file}:squares", "-i", "n=4"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    lines = [line for line in res.stderr.splitlines() if line.startswith("[")]
    assert any(line.endswith("square: 0/4 started") for line in lines), res.stderr
    assert any("square: 4/4 done in" in line for line in lines), res.stderr  # the last item always shows
    # a step's progress line (throttled on its own) is shown beside the next count
    assert "square: 4/4 done in " in lines[-1] and lines[-1].endswith(" s · trials 4/4, best square 9"), res.stderr


def _event(kind: str, **data: object) -> Event:
    return Event("r", 0, kind, 0.0, dict(data))


def test_a_terminal_gets_a_bar_per_map_with_its_count_time_left_and_progress_line() -> None:
    now = [100.0]
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    with RunProgress(console, clock=lambda: now[0]) as progress:
        progress(_event("map.started", key="3", name="mlsitter.ml.modeling._hpo.evaluate_asked_trial", n=8))
        for i in range(2):
            now[0] += 5.0
            progress(_event("step.completed", key=f"3.{i}"))
        progress(_event("log", level="info", message="trials 2/8, best roc_auc 0.8731"))
        (bar,) = [t for t in progress.bars.tasks if t.description == "evaluate_asked_trial"]
        assert (bar.completed, bar.total, bar.fields["note"]) == (2, 8, "trials 2/8, best roc_auc 0.8731")
        group = progress.groups["3"]
        assert group.time_left(now[0]) == 30.0  # 5 s a trial, 6 to go
        assert group.line(now[0]) == "evaluate_asked_trial: 2/8 done in 10 s, about 30 s left"
        progress.bars.refresh()
        shown = console.file.getvalue()
        assert "2/8" in shown and "trials 2/8, best roc_auc 0.8731" in shown


def test_plain_lines_come_at_most_every_so_many_seconds() -> None:
    now = [0.0]
    out = io.StringIO()
    with RunProgress(Console(file=out, width=160), every_s=10.0, clock=lambda: now[0]) as progress:
        progress(_event("map.started", key="1", name="x.fit", n=30))
        for i in range(30):
            now[0] += 1.0
            progress(_event("step.completed", key=f"1.{i}"))
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 + 3 and lines[-1].endswith("fit: 30/30 done in 30 s")  # start, 10 s, 20 s, the end
