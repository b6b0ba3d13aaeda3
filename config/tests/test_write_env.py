"""scripts/write_env.py: a new checkout gets its own secrets and, when the default port is taken, its own broker port."""

from __future__ import annotations

import socket

from scripts.write_env import own_broker_url


def test_the_default_port_is_kept_when_free() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    assert own_broker_url(f"mqtt://127.0.0.1:{free}") == f"mqtt://127.0.0.1:{free}"


def test_a_port_held_by_another_broker_moves_to_the_next_free_one() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        url = own_broker_url(f"mqtt://127.0.0.1:{port}")
        moved = int(url.rsplit(":", 1)[1])
        assert url.startswith("mqtt://127.0.0.1:") and port < moved < port + 50
        with socket.socket() as check:  # nothing answers there
            assert check.connect_ex(("127.0.0.1", moved)) != 0
