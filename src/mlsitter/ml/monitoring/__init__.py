"""Monitoring building blocks: parsing a model server's Prometheus ``/metrics``, the scraped time-series
table, SLOs with multi-window multi-burn-rate alerts (SRE workbook), anomaly detection on the series and a
simulated deployment that emits real exposition text at simulated timestamps.

The modules are private; their public names are re-exported here (listed in ``__init__.pyi``) and
imported on first use."""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
