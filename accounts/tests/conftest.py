from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _fresh_login_throttles() -> Iterator[None]:
    """Throttle windows live in Redis, outside the test's transaction: start each test clean."""
    from accounts import redis_store

    redis_store.clear(("throttle",))
    yield
