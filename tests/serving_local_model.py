"""A model class pickled by reference to this module, which only the test process can import: a server
process started for it fails to load it (a candidate that fails to start)."""

from __future__ import annotations

from serving_models import Wrapped


class OnlyImportableInTests(Wrapped):
    """The pipeline's answers, from a class a server process cannot import."""
