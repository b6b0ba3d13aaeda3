"""The channel layer: Redis Pub/Sub, one message per organization event, fanned out in each web process.

Every event goes to one group (the organization's) and from there to every WebSocket of
that organization. channels_redis' list-based layer copies a group message into each
member channel and each consumer pops its copy with its own Redis round trip, so an
event for 20 open dashboards costs 20 writes and 20 reads; the Pub/Sub layer publishes
once, and each web process that has members subscribed receives it once and hands it to
its local consumers. Messages are not stored: a process that is not subscribed at that
moment does not get them — the dashboard refetches state after a reconnect
(docs/messaging.md), and the outbox keeps every domain event.

`group_send_once` marks an id as seen and publishes in one Redis round trip (a script),
so the bridge's de-duplication costs no second trip per message.

Redis Pub/Sub ignores database numbers, so the prefix gets the database number of the
first host: stacks sharing a Redis server on different databases stay apart. Hosts given
as URLs get explicit socket timeouts (redis-py 8 defaults to 5 s reads).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any
from urllib.parse import urlsplit

from channels_redis.pubsub import RedisPubSubChannelLayer

# Publish only if the key was not set yet: SET NX EX and PUBLISH, atomically.
PUBLISH_ONCE_SCRIPT = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('PUBLISH', KEYS[2], ARGV[2])
  return 1
end
return 0
"""

SOCKET_TIMEOUT_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 5.0


def with_timeouts(hosts: Any) -> Any:
    decoded: list[Any] = []
    for entry in hosts or []:
        if isinstance(entry, str | bytes):
            entry = {"address": entry}
        if isinstance(entry, dict):
            entry = {"socket_timeout": SOCKET_TIMEOUT_SECONDS, "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
                     "health_check_interval": 15, **entry}
        decoded.append(entry)
    return decoded or hosts


def database_number(hosts: Any) -> str:
    first = (hosts or [None])[0]
    address = first.get("address") if isinstance(first, dict) else first
    if isinstance(address, bytes):
        address = address.decode()
    if not isinstance(address, str):
        return "0"
    path = urlsplit(address).path.strip("/")
    return path if path.isdigit() else "0"


class RedisChannelLayer(RedisPubSubChannelLayer):
    DECODED_CACHE_SIZE = 256

    def __init__(self, *args: Any, hosts: Any = None, prefix: str = "asgi", capacity: int | None = None,
                 expiry: Any = None, group_expiry: Any = None, **kwargs: Any) -> None:
        # `capacity` and the expiries belong to the list-based layer; Pub/Sub stores nothing.
        super().__init__(*args, hosts=with_timeouts(hosts), prefix=f"{prefix}:db{database_number(hosts)}:",
                         **kwargs)
        self._decoded: OrderedDict[bytes, dict[str, Any]] = OrderedDict()

    def deserialize(self, message: bytes) -> Any:
        """A group message reaches every local member as the same bytes: decode it once.

        Each member gets its own shallow copy, so no consumer sees another's changes.
        """
        decoded = self._decoded.get(message)
        if decoded is None:
            decoded = super().deserialize(message)
            self._decoded[message] = decoded
            if len(self._decoded) > self.DECODED_CACHE_SIZE:
                self._decoded.popitem(last=False)
        return dict(decoded)

    async def group_send_once(self, group: str, message: dict[str, Any], *, key: str, ttl: int) -> bool:
        """`group_send`, unless `key` was already marked (within `ttl` seconds): then False.

        Both happen in one script on the group's Redis: no message is published without
        its key being marked, and no key is marked for a message that was not published.
        """
        layer = self._get_layer()
        group_channel = layer._get_group_channel_name(group)
        shard = layer._get_shard(group_channel)
        async with shard._lock:
            shard._ensure_redis()
            published = await shard._redis.eval(PUBLISH_ONCE_SCRIPT, 2, key, group_channel, int(ttl),
                                                self.serialize(message))
        return bool(published)
