"""Child processes of a test run end with it."""

from __future__ import annotations

import ctypes
import signal
import sys
from collections.abc import Callable


def die_with_parent() -> Callable[[], None] | None:
    """A preexec hook asking Linux to SIGTERM the child when the test run that started it dies.

    Without it a killed pytest leaves its worker consuming the shared Redis queues, and the next
    run's tasks land in a process whose data root no longer exists.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child must not load libraries
    pr_set_pdeathsig = 1

    def set_parent_death_signal() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)

    return set_parent_death_signal
