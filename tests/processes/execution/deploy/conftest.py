"""Fixtures of the deploy tests (shared with the serving tests)."""

from serving_fixtures import champion, fixtures_csv, registry, titanic_registry  # noqa: F401
