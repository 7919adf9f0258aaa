"""matplotlib figures in the journal as PNG artifacts; they come back as :class:`ArtifactRef`."""

from __future__ import annotations

from typing import Any

from mlsitter.figures import figure_to_png
from mlsitter.runtime.codec import Codec, ValueHandler, type_name


def is_figure(value: Any) -> bool:
    """A matplotlib Figure."""
    return type_name(value) == "matplotlib.figure.Figure"


def encode_figure(value: Any, codec: Codec) -> Any:
    """Render the figure to PNG, store it, and journal the reference (a core ``ref`` tag)."""
    return codec.encode(codec.artifacts.put_bytes(figure_to_png(value), "figure.png"))


FIGURE = ValueHandler(claims=is_figure, encode=encode_figure, priority=50)
