"""Child processes of a test run end with it."""

from __future__ import annotations

from collections.abc import Callable

from scanning.analyzers.parallel import end_with_parent


def die_with_parent() -> Callable[[], None] | None:
    """A preexec hook asking Linux to SIGTERM the child when the test run that started it dies.

    Without it a killed pytest leaves its worker consuming the shared Redis queues, and the next
    run's tasks land in a process whose data root no longer exists.
    """
    return end_with_parent()
