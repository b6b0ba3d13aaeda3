"""Process-wide settings of long-running Gatehouse processes."""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Exclude everything loaded so far (Django, the apps, their modules) from garbage collection.

    A full collection walks every tracked object: with Django loaded that is about 130,000
    of them and 60 ms or more, and it comes every few seconds in a process that handles
    thousands of small messages a second (web workers with WebSockets, the MQTT bridge, the
    outbox relay). That pause was most of the live feed's p99. Startup objects live as long
    as the process, so leaving them out loses nothing; cycles made later are still collected.
    """
    gc.collect()
    gc.freeze()
