"""Audit test fixtures and a guard for the committed-data tests."""

from __future__ import annotations

from typing import Any

import pytest

COMMITTED_FIXTURES = {"live_tenant", "live_web"}


def pytest_collection_finish(session: Any) -> None:
    """pytest-django creates the test database only if some selected test is a database test.

    Selected alone, the committed-data tests would run against DATABASE_URL's database:
    refuse that instead.
    """
    items = session.items
    uses_committed = any(COMMITTED_FIXTURES & set(getattr(item, "fixturenames", ())) for item in items)
    has_db_test = any(item.get_closest_marker("django_db") for item in items)
    if uses_committed and not has_db_test:
        pytest.exit("Committed-data tests need the test database, which pytest-django creates only when a "
                    "database test is selected too: run the whole module, e.g. `pytest audit/tests/test_live.py`.",
                    returncode=4)
