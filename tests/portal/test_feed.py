"""The staff's live request feed: the consumer's access rules, and end to end through the real server.

The log writer publishes each written batch to the channel layer; a staff member's WebSocket
(session auth, same origin) receives the rows; nobody else can connect.
"""

import asyncio
import json

import pytest
import websockets
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from websockets.sync.client import connect

from ollamaweb.portal import feed
from ollamaweb.portal.routing import websocket_urlpatterns
from ollamaweb.usage.models import RequestLog
from ollamaweb.usage.records import UsageRecord
from tests.conftest import settle_logs
from tests.portal.helpers import session_id

User = get_user_model()
HI = [{"role": "user", "content": "hi"}]


def record(user_id=None, model="llama3", status=200):
    item = UsageRecord(endpoint="chat.completions", user_id=user_id, key_prefix="sk-feedtest1", requested_model=model)
    item.add_usage(3, 4)
    item.finish(status, "boom" if status >= 400 else "")
    return item


async def open_feed(user):
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), "/ws/staff/feed/")
    communicator.scope["user"] = user
    connected, code = await communicator.connect()
    return communicator, connected, code


@pytest.mark.parametrize("who", ["anonymous", "user", "inactive staff"])
def test_only_active_staff_may_connect(db, who):
    user = {
        "anonymous": AnonymousUser(),
        "user": User.objects.create_user("alice"),
        "inactive staff": User.objects.create_user("old", is_staff=True, is_active=False),
    }[who]

    async def attempt():
        communicator, connected, code = await open_feed(user)
        await communicator.disconnect()
        return connected, code

    connected, code = async_to_sync(attempt)()
    assert not connected and code == 4403


def test_staff_receive_published_batches(transactional_db):
    staff = User.objects.create_user("root", is_staff=True)
    alice = User.objects.create_user("alice")

    async def scenario():
        communicator, connected, _ = await open_feed(staff)
        assert connected
        await feed.publish_requests([record(alice.pk, "llama3"), record(None, "gpt-x", 401)])
        message = await communicator.receive_json_from(timeout=5)
        await communicator.send_json_to({"type": "ping"})
        pong = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return message, pong

    message, pong = async_to_sync(scenario)()
    assert pong == {"type": "pong"}
    assert message["type"] == "requests"
    first, second = message["rows"]
    assert first["user"] == "alice" and first["model"] == "llama3" and first["status"] == 200
    assert first["prompt_tokens"] == 3 and first["completion_tokens"] == 4 and first["key_prefix"] == "sk-feedtest1"
    assert second["user"] == "" and second["status"] == 401 and second["error"] == "boom"
    assert set(first) >= {"created_at", "endpoint", "latency_ms", "ttft_ms", "stream"}


def test_publishing_never_raises(monkeypatch, caplog):
    class Broken:
        async def group_send(self, *args):
            raise ConnectionError("redis is down")

    monkeypatch.setattr(feed, "get_channel_layer", lambda: Broken())
    monkeypatch.setattr(feed, "_last_warning", 0.0)
    async_to_sync(feed.publish_requests)([record()])
    assert "could not publish 1 requests to the live feed" in caplog.text


def test_a_broken_feed_does_not_stop_request_logging(gateway, client, fake_ollama, monkeypatch):
    class Broken:
        async def group_send(self, *args):
            raise ConnectionError("channel layer down")

    monkeypatch.setattr(feed, "get_channel_layer", lambda: Broken())
    client.chat.completions.create(model="llama3", messages=HI)
    assert settle_logs(gateway) == 1
    assert RequestLog.objects.get().status == 200


def session_cookie(user) -> str:
    return f"sessionid={session_id(user)}"


def ws_url(gateway):
    return gateway.url.replace("http://", "ws://") + "/ws/staff/feed/"


def test_live_feed_end_to_end(gateway, client, fake_ollama, user):
    """A staff browser session sees a request made with the openai client, as it is logged."""
    staff = User.objects.create_user("root", is_staff=True)
    headers = {"Cookie": session_cookie(staff), "Origin": gateway.url}
    with connect(ws_url(gateway), additional_headers=headers, open_timeout=10) as socket:
        client.chat.completions.create(model="llama3", messages=HI)
        message = json.loads(socket.recv(timeout=10))
    assert message["type"] == "requests"
    [row] = message["rows"]
    assert row["user"] == "alice" and row["model"] == "llama3" and row["status"] == 200
    assert row["endpoint"] == "chat.completions"
    assert row["backend"] == fake_ollama.url.split("://", 1)[1]  # which backend served it


@pytest.mark.parametrize("case", ["no session", "not staff", "other origin"])
def test_live_feed_refuses_everyone_else(gateway, user, case):
    staff = User.objects.create_user("root", is_staff=True)
    headers = {
        "no session": {"Origin": gateway.url},
        "not staff": {"Cookie": session_cookie(user), "Origin": gateway.url},
        "other origin": {"Cookie": session_cookie(staff), "Origin": "http://evil.example.com"},
    }[case]
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        connect(ws_url(gateway), additional_headers=headers, open_timeout=10)
    assert refused.value.response.status_code == 403


def test_channel_layer_is_configured():
    assert get_channel_layer() is not None
    assert asyncio.iscoroutinefunction(feed.publish_requests)


def test_feed_crosses_processes_through_the_redis_layer(monkeypatch):
    """Two RedisChannelLayer instances stand for two gateway processes (what REDIS_URL configures)."""
    from channels_redis.core import RedisChannelLayer

    from tests.services import redis_url_or_skip

    url = redis_url_or_skip()

    async def scenario():
        listener = RedisChannelLayer(hosts=[url], prefix="ollamaweb-test-feed")
        writer = RedisChannelLayer(hosts=[url], prefix="ollamaweb-test-feed")
        monkeypatch.setattr(feed, "get_channel_layer", lambda: writer)
        channel = await listener.new_channel()
        await listener.group_add(feed.FEED_GROUP, channel)
        try:
            await feed.publish_requests([record(7, "llama3")])
            return await asyncio.wait_for(listener.receive(channel), 5)
        finally:
            await listener.group_discard(feed.FEED_GROUP, channel)
            await listener.flush()
            await listener.close_pools()
            await writer.close_pools()

    message = async_to_sync(scenario)()
    assert message["type"] == "feed.requests"
    assert message["rows"][0]["user_id"] == 7 and message["rows"][0]["model"] == "llama3"
