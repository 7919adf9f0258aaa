"""Figures as PNG bytes; layer-neutral (runtime stores figures, ml reports embed them)."""

from __future__ import annotations

import io
from typing import Any


def figure_to_png(fig: Any, dpi: int = 100) -> bytes:
    """Render a matplotlib figure to PNG and close it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()
