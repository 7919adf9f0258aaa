"""scikit-learn estimators in the journal as skops artifacts, which load only the recorded types."""

from __future__ import annotations

from typing import Any

from mlsitter.runtime.codec import TAG, Codec, ValueHandler, type_name


def is_estimator(value: Any) -> bool:
    """An instance of a class derived from scikit-learn's ``BaseEstimator``."""
    return any(c.__module__.startswith("sklearn.") and c.__name__ == "BaseEstimator" for c in type(value).__mro__)


def encode_estimator(value: Any, codec: Codec) -> dict[str, Any] | None:
    """Write the estimator with skops; decline (so it is pickled) when skops is missing or cannot write it."""
    try:
        import skops.io as sio

        data = sio.dumps(value)
        types = sio.get_untrusted_types(data=data)
    except Exception:  # skops missing or the object holds something it cannot write
        return None
    ref = codec.artifacts.put_bytes(data, "model.skops")
    return {TAG: "skops", "sha256": ref.sha256, "type": type_name(value), "types": types}


def decode_estimator(data: dict[str, Any], codec: Codec) -> Any:
    """Load the verified skops artifact, trusting only the types recorded in the journal."""
    import skops.io as sio

    # Only the types recorded (in the hash-chained journal) when the model was written are allowed.
    return sio.loads(codec.artifacts.read_verified(data["sha256"]), trusted=data["types"])


ESTIMATOR = ValueHandler(claims=is_estimator, encode=encode_estimator, tag="skops", decode=decode_estimator,
                         priority=60)
