"""Fixtures of the serving tests (shared with the deploy tests)."""

from serving_fixtures import registry, servers, titanic_registry  # noqa: F401
