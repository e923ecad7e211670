"""WebSocket consumer of the live request feed (staff only)."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth import get_user_model

from ollamaweb.keys.models import ApiKey

from .feed import FEED_GROUP

FORBIDDEN = 4403


class RequestFeedConsumer(AsyncJsonWebsocketConsumer):
    """Pushes `{"type": "requests", "rows": [...]}` for every batch any gateway process writes."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not (user.is_authenticated and user.is_active and user.is_staff):
            await self.close(code=FORBIDDEN)  # before accept: the handshake is refused (HTTP 403)
            return
        self.usernames: dict[int, str] = {}
        self.key_names: dict[int, str] = {}
        self.joined = True
        await self.channel_layer.group_add(FEED_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if getattr(self, "joined", False):
            await self.channel_layer.group_discard(FEED_GROUP, self.channel_name)

    async def receive_json(self, content, **kwargs):
        """The feed is one-way; a client message is answered with a ping (keeps proxies happy)."""
        await self.send_json({"type": "pong"})

    async def feed_requests(self, event):
        rows = event["rows"]
        missing = {row["user_id"] for row in rows if row["user_id"] and row["user_id"] not in self.usernames}
        missing_keys = {row.get("key_id") for row in rows if row.get("key_id") and row["key_id"] not in self.key_names}
        if missing or missing_keys:
            usernames, key_names = await self._names(missing, missing_keys)
            self.usernames.update(usernames)
            self.key_names.update(key_names)
        for row in rows:
            row["user"] = self.usernames.get(row["user_id"], "") if row["user_id"] else ""
            row["key_name"] = self.key_names.get(row.get("key_id"), "") if row.get("key_id") else ""
        await self.send_json({"type": "requests", "rows": rows})

    @database_sync_to_async
    def _names(self, user_ids, key_ids):
        """Usernames and key names (a key's name rarely changes; a renamed key shows its old name here)."""
        if len(self.usernames) > 10_000:
            self.usernames.clear()
        if len(self.key_names) > 10_000:
            self.key_names.clear()
        users = get_user_model().objects.filter(pk__in=user_ids) if user_ids else []
        usernames = dict(users.values_list("pk", get_user_model().USERNAME_FIELD)) if user_ids else {}
        key_names = dict(ApiKey.objects.filter(pk__in=key_ids).values_list("pk", "name")) if key_ids else {}
        return usernames, key_names
