"""Feature engineering: scikit-learn feature pipelines, custom transformers, selection, training-serving skew,
and the Feast-backed feature store (definitions, point-in-time training sets, online lookups, consistency).

The modules are private; their public names are re-exported here (listed in ``__init__.pyi``) and
imported on first use, so importing one block does not import the rest."""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
