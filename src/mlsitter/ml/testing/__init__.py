"""Testing a served ML system: contract tests of a model server and the ML Test Score (Breck et al. 2017)
scored from evidence records.

The modules are private; their public names are re-exported here (listed in ``__init__.pyi``) and
imported on first use, so importing one block does not import the rest."""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
