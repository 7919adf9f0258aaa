"""polars frames in the journal as Parquet artifacts."""

from __future__ import annotations

import io
from typing import Any

from mlsitter.runtime.codec import TAG, Codec, ValueHandler


def is_frame(value: Any) -> bool:
    """A polars DataFrame."""
    return type(value).__module__.startswith("polars") and type(value).__name__ == "DataFrame"


def encode_frame(value: Any, codec: Codec) -> dict[str, Any]:
    """Write the frame as Parquet into the artifact store, LZ4-compressed: about twice as fast to write as the
    default zstd for a little more size, and read back by the same reader as frames journaled before."""
    buffer = io.BytesIO()
    value.write_parquet(buffer, compression="lz4")
    ref = codec.artifacts.put_bytes(buffer.getvalue(), "frame.parquet")
    return {TAG: "polars", "sha256": ref.sha256, "rows": value.height}


def decode_frame(data: dict[str, Any], codec: Codec) -> Any:
    """Read the verified Parquet artifact back as a polars frame."""
    import polars as pl

    return pl.read_parquet(io.BytesIO(codec.artifacts.read_verified(data["sha256"])))


FRAME = ValueHandler(claims=is_frame, encode=encode_frame, tag="polars", decode=decode_frame, priority=30)
