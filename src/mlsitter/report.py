"""Self-contained reports: one HTML file (plots embedded as PNG, no CDN) plus Markdown and JSON.

Every process builds its report with :class:`Report` so all reports look alike and open offline.
"""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from mlsitter.figures import figure_to_png as figure_png

_CSS = """
body{font:14px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1f2933;background:#f5f7fa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d9e2ec;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}.sub{color:#52606d;margin-bottom:16px}
section{background:#fff;border:1px solid #e4e7eb;border-radius:8px;padding:12px 18px;margin:14px 0}
table{border-collapse:collapse;margin:8px 0;font-size:13px;display:block;overflow-x:auto;max-width:100%}
th,td{border:1px solid #e4e7eb;padding:4px 8px;text-align:left;vertical-align:top;white-space:nowrap}
th{background:#f0f4f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
.metrics{display:flex;flex-wrap:wrap;gap:10px}.metric{border:1px solid #e4e7eb;border-radius:6px;padding:8px 12px;min-width:120px}
.metric .v{font-size:20px;font-weight:600}.metric .k{color:#52606d;font-size:12px}
.pass{color:#137333;font-weight:600}.fail{color:#c5221f;font-weight:600}.warn{color:#b06000;font-weight:600}
.note{border-left:4px solid #9fb3c8;padding:4px 10px;background:#f0f4f8;margin:8px 0}
.note.warn{border-color:#f0b429}.note.fail{border-color:#e12d39}
img{max-width:100%;height:auto;border:1px solid #e4e7eb;border-radius:4px;margin:6px 0}
figure{margin:8px 0}figcaption{color:#52606d;font-size:12px}
"""


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return f"{value:.3e}"
        return f"{value:,.4f}".rstrip("0").rstrip(".") if not value.is_integer() else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _records(data: Any, columns: Sequence[str] | None) -> tuple[list[str], list[list[Any]]]:
    """Normalise a DataFrame, a list of dicts or a list of rows into (columns, rows)."""
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # pandas / polars frame
        cols = [str(c) for c in data.columns]
        rows = [list(r) for r in (data.itertuples(index=False) if hasattr(data, "itertuples") else data.iter_rows())]
        return cols, rows
    items = list(data)
    if items and isinstance(items[0], Mapping):
        cols = list(columns) if columns else list(dict.fromkeys(k for item in items for k in item))
        return cols, [[item.get(c, "") for c in cols] for item in items]
    return list(columns or []), [list(r) for r in items]


@dataclass
class ReportFiles:
    """Paths of one written report."""

    html: Path
    markdown: Path
    json: Path
    images: list[Path] = field(default_factory=list)


class Report:
    """Builds a report section by section; ``write`` saves HTML, Markdown and JSON side by side."""

    def __init__(self, title: str, subtitle: str = "") -> None:
        self.title = title
        self.subtitle = subtitle
        self._html: list[str] = []
        self._md: list[str] = [f"# {title}", ""] + ([subtitle, ""] if subtitle else [])
        self._images: list[tuple[str, bytes]] = []
        self.data: dict[str, Any] = {"title": title, "subtitle": subtitle, "sections": []}
        self._open = False

    # -- structure -------------------------------------------------------------------------------
    def section(self, title: str) -> "Report":
        self._close()
        self._html.append(f"<section><h2>{html.escape(title)}</h2>")
        self._md += [f"## {title}", ""]
        self.data["sections"].append({"title": title, "items": []})
        self._open = True
        return self

    def _close(self) -> None:
        if self._open:
            self._html.append("</section>")
            self._open = False

    def _item(self, kind: str, payload: Any) -> None:
        if not self.data["sections"]:
            self.data["sections"].append({"title": "", "items": []})
        self.data["sections"][-1]["items"].append({"kind": kind, **payload})

    # -- content ---------------------------------------------------------------------------------
    def heading(self, text: str) -> "Report":
        self._html.append(f"<h3>{html.escape(text)}</h3>")
        self._md += [f"### {text}", ""]
        return self

    def text(self, text: str) -> "Report":
        self._html.append(f"<p>{html.escape(text)}</p>")
        self._md += [text, ""]
        self._item("text", {"text": text})
        return self

    def note(self, text: str, level: str = "info") -> "Report":
        """A highlighted remark; level is 'info', 'warn' or 'fail'."""
        self._html.append(f'<div class="note {html.escape(level)}">{html.escape(text)}</div>')
        self._md += [f"> **{level}**: {text}", ""]
        self._item("note", {"text": text, "level": level})
        return self

    def bullets(self, items: Iterable[str]) -> "Report":
        items = list(items)
        self._html.append("<ul>" + "".join(f"<li>{html.escape(str(i))}</li>" for i in items) + "</ul>")
        self._md += [f"- {i}" for i in items] + [""]
        self._item("bullets", {"items": items})
        return self

    def metrics(self, values: Mapping[str, Any]) -> "Report":
        """Headline numbers shown as tiles."""
        tiles = "".join(
            f'<div class="metric"><div class="v">{html.escape(_fmt(v))}</div><div class="k">{html.escape(str(k))}</div></div>'
            for k, v in values.items()
        )
        self._html.append(f'<div class="metrics">{tiles}</div>')
        self._md += [f"- **{k}**: {_fmt(v)}" for k, v in values.items()] + [""]
        self._item("metrics", {"values": dict(values)})
        return self

    def table(self, data: Any, columns: Sequence[str] | None = None, max_rows: int = 200, caption: str = "") -> "Report":
        """A table from a DataFrame, a list of dicts, or rows plus ``columns``; long tables are cut."""
        cols, rows = _records(data, columns)
        shown = rows[:max_rows]
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        body = "".join(
            "<tr>" + "".join(
                f'<td class="num">{html.escape(_fmt(v))}</td>' if _is_num(v) else f"<td>{html.escape(_fmt(v))}</td>" for v in r
            ) + "</tr>"
            for r in shown
        )
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        more = f"<p class='sub'>{len(rows) - len(shown):,} more rows not shown</p>" if len(rows) > len(shown) else ""
        self._html.append(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}")
        if cols:
            self._md += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
            self._md += ["| " + " | ".join(_fmt(v).replace("|", "\\|") for v in r) + " |" for r in shown]
            self._md.append("")
        self._item("table", {"columns": cols, "rows": [[_jsonable(v) for v in r] for r in shown], "total_rows": len(rows)})
        return self

    def figure(self, fig: Any, caption: str = "", name: str | None = None) -> "Report":
        """Embed a matplotlib figure (or PNG bytes) inline; the PNG is also written beside the report."""
        png = fig if isinstance(fig, (bytes, bytearray)) else figure_png(fig)
        name = name or f"figure-{len(self._images) + 1}.png"
        self._images.append((name, bytes(png)))
        data = base64.b64encode(png).decode("ascii")
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self._html.append(f'<figure><img alt="{html.escape(caption or name)}" src="data:image/png;base64,{data}">{cap}</figure>')
        self._md += [f"![{caption or name}]({name})", ""]
        self._item("figure", {"name": name, "caption": caption})
        return self

    def gates(self, gates: Iterable[Mapping[str, Any]]) -> "Report":
        """Gate outcomes: dicts with name, value, op, threshold, passed."""
        rows = []
        for g in gates:
            status = "pass" if g.get("passed") else ("overridden" if g.get("overridden") else "fail")
            rows.append({"gate": g["name"], "measured": g.get("value"), "rule": f"{g.get('op', '')} {_fmt(g.get('threshold'))}", "status": status})
        return self.table(rows, columns=["gate", "measured", "rule", "status"])

    def json_block(self, key: str, value: Any) -> "Report":
        """Attach machine-readable data to the JSON output only."""
        self.data[key] = _jsonable(value)
        return self

    # -- output ----------------------------------------------------------------------------------
    def to_html(self) -> str:
        self._close()
        sub = f'<div class="sub">{html.escape(self.subtitle)}</div>' if self.subtitle else ""
        return (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width,initial-scale=1'>"
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head>"
            f"<body><main><h1>{html.escape(self.title)}</h1>{sub}{''.join(self._html)}</main></body></html>"
        )

    def to_markdown(self) -> str:
        return "\n".join(self._md)

    def write(self, directory: str | Path, stem: str = "report") -> ReportFiles:
        """Write ``stem.html``, ``stem.md``, ``stem.json`` and the PNGs into ``directory``."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        files = ReportFiles(html=out / f"{stem}.html", markdown=out / f"{stem}.md", json=out / f"{stem}.json")
        files.html.write_text(self.to_html(), encoding="utf-8")
        files.markdown.write_text(self.to_markdown(), encoding="utf-8")
        files.json.write_text(json.dumps(_jsonable(self.data), indent=2, allow_nan=False), encoding="utf-8")
        for name, png in self._images:
            p = out / name
            p.write_bytes(png)
            files.images.append(p)
        return files


def _jsonable(value: Any) -> Any:
    """Convert numpy/pandas scalars and containers into plain JSON values (NaN -> None)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
