"""Two refine attempts' artifacts side by side (the reports as rendered, sandboxed) with a line diff of their text,
so a reviewer sees what the feedback changed."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from html.parser import HTMLParser

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from markupsafe import Markup

from mlsitter.dashboard.app import Dashboard, dashboard
from mlsitter.dashboard.links import file_url
from mlsitter.dashboard.pages import _page
from mlsitter.dashboard.run_page import build_run_page
from mlsitter.errors import InputError
from mlsitter.runtime.store import Store

router = APIRouter(include_in_schema=False)
MAX_DIFF_BYTES = 2_000_000  # larger artifacts are shown side by side without a text diff


class _Text(HTMLParser):
    """The visible text of an HTML report, one line per block of text (scripts and styles left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("script", "style") and self._skip > 0

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.lines.append(" ".join(data.split()))


def text_lines(data: bytes, name: str) -> list[str] | None:
    """The lines a diff compares: an HTML report's visible text, a text file's lines; None for binary files."""
    if len(data) > MAX_DIFF_BYTES or b"\0" in data[:4096]:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if name.lower().endswith((".html", ".htm")):
        parser = _Text()
        parser.feed(text)
        return parser.lines
    return text.splitlines()


@dataclass
class AttemptPair:
    """One artifact name in both attempts: their URLs and the diff of their text (None: not comparable as text)."""

    name: str
    url_a: str | None
    url_b: str | None
    diff: Markup | None
    added: int
    removed: int


def attempt_pairs(store: Store, run_id: str, loop: str, a: int, b: int) -> list[AttemptPair]:
    """The artifacts the reviews of attempts ``a`` and ``b`` of refine loop ``loop`` showed, paired by name."""
    page = build_run_page(store, run_id)
    by_attempt = {r.attempt: r for r in page.refines if r.name == loop}
    if not by_attempt:
        loops = sorted({r.name for r in page.refines})
        raise InputError(f"run {run_id} has no refine loop {loop!r}; its loops: {', '.join(loops) or 'none'}")
    missing = [n for n in (a, b) if n not in by_attempt or by_attempt[n].review is None]
    if missing:
        raise InputError(f"refine loop {loop!r} of run {run_id} has no reviewed attempt {missing[0]}; reviewed: "
                         f"{', '.join(str(n) for n, r in sorted(by_attempt.items()) if r.review)}")
    arts = {n: {x["name"]: x for x in by_attempt[n].review.artifacts if "sha256" in x}  # type: ignore[union-attr]
            for n in (a, b)}
    pairs = []
    for name in sorted(set(arts[a]) | set(arts[b])):
        left, right = arts[a].get(name), arts[b].get(name)
        lines = [_lines(store, x, name) for x in (left, right)]
        diff, added, removed = None, 0, 0
        if lines[0] is not None and lines[1] is not None:
            delta = list(difflib.unified_diff(lines[0], lines[1], lineterm="", n=0))[2:]
            added, removed = sum(d.startswith("+") for d in delta), sum(d.startswith("-") for d in delta)
            diff = Markup(difflib.HtmlDiff(wrapcolumn=70).make_table(lines[0], lines[1], f"attempt {a}",
                                                                      f"attempt {b}", context=True, numlines=2))
        pairs.append(AttemptPair(name, left and file_url(store, left["sha256"], name),
                                 right and file_url(store, right["sha256"], name), diff, added, removed))
    return pairs


def _lines(store: Store, art: dict[str, str] | None, name: str) -> list[str] | None:
    path = store.artifacts.find(art["sha256"]) if art else None
    return text_lines(path.read_bytes(), name) if path is not None else None


@router.get("/runs/{run_id}/refine/{loop}")
def attempts_page(request: Request, run_id: str, loop: str, a: int, b: int,
                  cfg: Dashboard = Depends(dashboard)) -> Response:
    run = cfg.store.get_run(run_id)
    return _page(cfg, request, "attempts.html", run=run, loop=loop, a=a, b=b,
                 pairs=attempt_pairs(cfg.store, run.run_id, loop, a, b))
