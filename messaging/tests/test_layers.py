"""The channel layer: Redis Pub/Sub fan-out, one decode per process, publish-once for the bridge."""

import asyncio
import uuid

from channels.layers import get_channel_layer
from django.conf import settings

from messaging.layers import database_number
from messaging.tests.helpers import WAIT


async def joined(group: str, members: int = 1):
    layer = get_channel_layer()
    channels = [await layer.new_channel() for _ in range(members)]
    for channel in channels:
        await layer.group_add(group, channel)
    return layer, channels


async def test_group_send_once_publishes_a_key_once_and_keeps_it_for_its_ttl():
    import redis.asyncio as aioredis

    group = f"test.once.{uuid.uuid4().hex}"
    key = f"gh-test:messaging:seen:{uuid.uuid4().hex}"
    layer, (channel,) = await joined(group)
    try:
        assert await layer.group_send_once(group, {"type": "test.message", "n": 1}, key=key, ttl=60)
        assert not await layer.group_send_once(group, {"type": "test.message", "n": 2}, key=key, ttl=60)
        await layer.group_send(group, {"type": "test.message", "n": "sentinel"})
        # Published in order on one connection: had the duplicate gone out, it would come before the sentinel.
        assert [(await asyncio.wait_for(layer.receive(channel), WAIT))["n"] for _ in range(2)] == [1, "sentinel"]
        redis = aioredis.Redis.from_url(settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0])
        try:
            assert 0 < await redis.ttl(key) <= 60
            await redis.delete(key)
        finally:
            await redis.aclose()
        assert await layer.group_send_once(group, {"type": "test.message", "n": 3}, key=key, ttl=60)
        assert (await asyncio.wait_for(layer.receive(channel), WAIT))["n"] == 3
    finally:
        await layer.group_discard(group, channel)


async def test_every_member_gets_its_own_copy_of_a_group_message():
    group = f"test.copies.{uuid.uuid4().hex}"
    layer, channels = await joined(group, members=2)
    try:
        await layer.group_send(group, {"type": "test.message", "payload": {"id": "x"}})
        first, second = [await asyncio.wait_for(layer.receive(c), WAIT) for c in channels]
        assert first == second and first is not second
        first["type"] = "changed"  # one consumer's change is not another's
        assert second["type"] == "test.message"
    finally:
        for channel in channels:
            await layer.group_discard(group, channel)


def test_the_prefix_carries_the_redis_database_number():
    assert database_number(["redis://127.0.0.1:6379/10"]) == "10"
    assert database_number([{"address": "redis://127.0.0.1:6379"}]) == "0"
    assert database_number([("127.0.0.1", 6379)]) == "0"
