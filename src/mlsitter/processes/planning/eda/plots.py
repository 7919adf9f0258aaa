"""EDA figures (matplotlib, Agg): distributions, missingness matrix, correlation heatmaps, target relations.

Figures are small (about 100 KB each as PNG) so a report with all of them stays well under 5 MB.
Layout is fixed spacing rather than ``tight_layout`` and PNGs are saved without a tight bounding box:
both would draw every figure again, which dominated the report time on wide tables.
"""

from __future__ import annotations

import io
import math
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mlsitter.ml.data._correlation import Associations  # noqa: E402
from mlsitter.ml.io._frames import as_polars, sample_rows  # noqa: E402
from mlsitter.ml.data._profiling import ColumnProfile, DatasetProfile  # noqa: E402
from mlsitter.ml.data._target_analysis import TargetAnalysis  # noqa: E402

_BLUE = "#3b6ea5"
_ORANGE = "#d9822b"


def to_png(fig: Figure, dpi: int = 80) -> bytes:
    """PNG bytes of a figure (closed afterwards to free its memory)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()


def _grid(n: int, cols: int = 4, cell: tuple[float, float] = (3.2, 2.3)) -> tuple[Figure, list[Any]]:
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cell[0] * cols, cell[1] * rows), squeeze=False)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.06 if rows > 2 else 0.12, top=0.94 if rows > 2 else 0.88,
                        wspace=0.55, hspace=0.6)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.axis("off")
    for ax in flat[:n]:
        ax.locator_params(axis="x", nbins=4)
    return fig, flat[:n]


def _short(text: str, width: int = 18) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


#: histograms drawn at most in the distributions figure (the Columns table has every column)
MAX_HISTOGRAMS = 24


def plotted_columns(profile: DatasetProfile, first: str | None = None) -> list[ColumnProfile]:
    """The columns that have a histogram or top values, ``first`` (the target) leading, the others in order."""
    cols = [c for c in profile.columns if c.histogram or c.top_values]
    return sorted(cols, key=lambda c: c.name != first)


def distributions_figure(profile: DatasetProfile, max_columns: int = MAX_HISTOGRAMS,
                         first: str | None = None) -> Figure | None:
    """Histograms of numeric columns and bar charts of the top values of the others (``first`` leads)."""
    cols: list[ColumnProfile] = plotted_columns(profile, first)[:max_columns]
    if not cols:
        return None
    fig, axes = _grid(len(cols))
    for ax, col in zip(axes, cols):
        if col.histogram:
            counts, edges = col.histogram
            ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color=_BLUE, edgecolor="white", linewidth=0.3)
        else:
            labels = [_short(v, 12) for v, _ in col.top_values[:8]][::-1]
            ax.barh(labels, [n for _, n in col.top_values[:8]][::-1], color=_ORANGE)
            ax.tick_params(axis="y", labelsize=7)
        ax.set_title(f"{_short(col.name, 24)} ({col.kind})", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    return fig


def missingness_figure(frame: Any, max_rows: int = 400, seed: int = 0) -> Figure | None:
    """Which cells are missing (dark) over a row sample in file order, one column per stripe."""
    df = as_polars(frame)
    if df.width == 0:
        return None
    idx = np.sort(np.random.default_rng(seed).choice(df.height, size=min(max_rows, df.height), replace=False))
    sample = df[idx.tolist()] if df.height > max_rows else df
    mask = sample.select([pl.col(c).is_null() | (pl.col(c).is_nan() if sample[c].dtype.is_float() else pl.lit(False)) for c in df.columns]).to_numpy()
    fig, ax = plt.subplots(figsize=(min(12, 1.2 + 0.35 * df.width), 3.6))
    ax.imshow(mask.astype(float), aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks(range(df.width))
    ax.set_xticklabels([_short(c, 14) for c in df.columns], rotation=90, fontsize=7)
    ax.set_ylabel(f"{mask.shape[0]} sampled rows", fontsize=8)
    ax.set_title("Missing values (dark = missing)", fontsize=9)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.3, top=0.9)
    return fig


def heatmap_figure(names: Sequence[str], matrix: list[list[float | None]], title: str, signed: bool = True) -> Figure | None:
    """A labelled heatmap of an association matrix; values written in cells when it is small."""
    if len(names) < 2:
        return None
    values = np.array([[np.nan if v is None else v for v in row] for row in matrix], dtype=float)
    size = min(11, 2.5 + 0.32 * len(names))
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    image = ax.imshow(values, cmap="RdBu_r" if signed else "Blues", vmin=-1 if signed else 0, vmax=1)
    ax.set_xticks(range(len(names)))
    ax.set_yticks(range(len(names)))
    ax.set_xticklabels([_short(n, 14) for n in names], rotation=90, fontsize=7)
    ax.set_yticklabels([_short(n, 14) for n in names], fontsize=7)
    if len(names) <= 14:
        for i in range(len(names)):
            for j in range(len(names)):
                if np.isfinite(values[i, j]):
                    ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if abs(values[i, j]) > 0.6 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(title, fontsize=9)
    fig.subplots_adjust(left=0.2, right=0.84, bottom=0.2, top=0.94)
    return fig


def correlation_figures(assoc: Associations) -> list[tuple[str, Figure]]:
    """Spearman heatmap of numeric columns and Cramér's V heatmap of categorical ones."""
    out = []
    fig = heatmap_figure(assoc.numeric, assoc.spearman, "Spearman correlation (numeric columns)")
    if fig is not None:
        out.append(("Spearman correlation between numeric columns", fig))
    fig = heatmap_figure(assoc.categorical, assoc.cramers_v, "Cramér's V (categorical columns)", signed=False)
    if fig is not None:
        out.append(("Cramér's V between categorical columns", fig))
    return out


def target_figure(frame: Any, analysis: TargetAnalysis, kinds: dict[str, str], top: int = 8, max_rows: int = 20_000, seed: int = 0) -> Figure | None:
    """For the strongest features: target rate per category/bin (classification) or mean target (regression)."""
    features = [p.feature for p in analysis.features if kinds.get(p.feature) in ("numeric", "categorical", "boolean")][:top]
    if not features:
        return None
    df = sample_rows(as_polars(frame).filter(pl.col(analysis.target).is_not_null()), max_rows, seed)
    if analysis.task == "classification":
        positive = list(analysis.classes)[-1]
        y = (df[analysis.target].cast(pl.String) == positive).cast(pl.Float64)
        ylabel = f"P({analysis.target}={_short(positive, 10)})"
    else:
        y = df[analysis.target].cast(pl.Float64)
        ylabel = f"mean {analysis.target}"
    fig, axes = _grid(len(features), cols=4, cell=(3.2, 2.4))
    for ax, feature in zip(axes, features):
        col = df[feature]
        if kinds[feature] == "numeric" and col.n_unique() > 12:
            x = col.cast(pl.Float64)
            edges = np.unique(np.nanquantile(x.drop_nulls().to_numpy(), np.linspace(0, 1, 11)))
            codes = np.searchsorted(edges[1:-1], x.fill_null(np.nan).to_numpy(), side="right")
            frame_xy = pl.DataFrame({"bin": codes, "y": y, "ok": x.is_not_null()}).filter(pl.col("ok"))
            means = frame_xy.group_by("bin").agg(pl.col("y").mean()).sort("bin")
            centers = [(edges[i] + edges[min(i + 1, len(edges) - 1)]) / 2 for i in means["bin"].to_list()]
            ax.plot(centers, means["y"].to_list(), marker="o", color=_BLUE, markersize=3)
        else:
            frame_xy = pl.DataFrame({"v": col.cast(pl.String).fill_null("(missing)"), "y": y})
            means = frame_xy.group_by("v").agg(pl.col("y").mean(), pl.len()).sort("len", descending=True).head(10)
            ax.barh([_short(v, 12) for v in means["v"].to_list()][::-1], means["y"].to_list()[::-1], color=_ORANGE)
            ax.tick_params(axis="y", labelsize=7)
        power = next(p for p in analysis.features if p.feature == feature)
        flag = " LEAK?" if power.leak else ""
        ax.set_title(f"{_short(feature, 20)} ({analysis.score_name} {power.single_feature_score:.2f}){flag}", fontsize=8,
                     color="#c5221f" if power.leak else "black")
        ax.set_ylabel(ylabel, fontsize=7)
        ax.tick_params(axis="x", labelsize=7)
    return fig
