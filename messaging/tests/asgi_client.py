"""A WebSocket client that talks ASGI to an application in-process (no server, no socket).

Channels ships one in `channels.testing`, but that package imports Daphne (and Twisted)
at import time; this is the little the tests need, on asgiref's ApplicationCommunicator.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote, urlsplit

from asgiref.testing import ApplicationCommunicator


class WebsocketCommunicator(ApplicationCommunicator):
    def __init__(self, application: Any, path: str, headers: list[tuple[bytes, bytes]] | None = None,
                 subprotocols: list[str] | None = None) -> None:
        parts = urlsplit(path)
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "path": unquote(parts.path),
            "raw_path": parts.path.encode(),
            "query_string": parts.query.encode(),
            "headers": headers or [],
            "subprotocols": subprotocols or [],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        super().__init__(application, scope)
        self.accepted_subprotocol: str | None = None

    async def connect(self, timeout: float = 1) -> tuple[bool, Any]:
        """(True, subprotocol) when accepted; (False, close code) when refused."""
        await self.send_input({"type": "websocket.connect"})
        response = await self.receive_output(timeout)
        if response["type"] == "websocket.close":
            return False, response.get("code", 1000)
        self.accepted_subprotocol = response.get("subprotocol")
        return True, self.accepted_subprotocol

    async def send_json_to(self, data: Any) -> None:
        await self.send_input({"type": "websocket.receive", "text": json.dumps(data)})

    async def receive_json_from(self, timeout: float = 1) -> Any:
        response = await self.receive_output(timeout)
        if response["type"] != "websocket.send" or "text" not in response:
            raise AssertionError(f"expected a text frame, got {response!r}")
        return json.loads(response["text"])

    async def disconnect(self, code: int = 1000, timeout: float = 1) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)
