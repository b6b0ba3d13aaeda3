"""Rate limits count in clock-aligned fixed windows; tests that fill one must not straddle two."""

from __future__ import annotations

import time


def start_in_fresh_window(seconds: int = 60, *, room: float = 15.0) -> None:
    """Wait for the next window when fewer than `room` seconds are left in the current one."""
    left = seconds - time.time() % seconds
    if left < room:
        time.sleep(left + 0.05)
