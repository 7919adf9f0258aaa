"""Drift statistics: a reference profile computed once, per-feature tests against it (KS, Wasserstein,
chi-square, Jensen-Shannon, PSI) with multiple-testing correction, and performance over windows (with
labels, or estimated from calibrated scores without them).

The modules are private; their public names are re-exported here (listed in ``__init__.pyi``) and
imported on first use."""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
