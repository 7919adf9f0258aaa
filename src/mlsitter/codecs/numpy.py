"""numpy values in the journal: scalars as Python numbers, arrays (not of objects) as ``.npy`` artifacts."""

from __future__ import annotations

import io
from typing import Any

from mlsitter.runtime.codec import TAG, Codec, ValueHandler, type_name


def is_scalar(value: Any) -> bool:
    """A numpy scalar (or 0-d array) whose ``item()`` is a Python value."""
    return (type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", None) == 0
            and value.item() is not None)


def is_array(value: Any) -> bool:
    """A numpy array that ``.npy`` holds without pickle."""
    return type_name(value) == "numpy.ndarray" and value.dtype != object


def encode_array(value: Any, codec: Codec) -> dict[str, Any]:
    """Write the array as ``.npy`` (no pickle) into the artifact store."""
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, value, allow_pickle=False)
    ref = codec.artifacts.put_bytes(buffer.getvalue(), "array.npy")
    return {TAG: "ndarray", "sha256": ref.sha256, "shape": list(value.shape)}


def decode_array(data: dict[str, Any], codec: Codec) -> Any:
    """Load the verified ``.npy`` artifact."""
    import numpy as np

    return np.load(io.BytesIO(codec.artifacts.read_verified(data["sha256"])), allow_pickle=False)


SCALAR = ValueHandler(claims=is_scalar, encode=lambda value, codec: codec.encode(value.item()),
                      fingerprint=lambda value: value.item(), priority=10)
ARRAY = ValueHandler(claims=is_array, encode=encode_array, tag="ndarray", decode=decode_array, priority=40)
