"""WebSocket consumer of the live request feed (staff only)."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth import get_user_model

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
        if missing:
            self.usernames.update(await self._usernames(missing))
        for row in rows:
            row["user"] = self.usernames.get(row["user_id"], "") if row["user_id"] else ""
        await self.send_json({"type": "requests", "rows": rows})

    @database_sync_to_async
    def _usernames(self, ids):
        if len(self.usernames) > 10_000:
            self.usernames.clear()
        users = get_user_model().objects.filter(pk__in=ids)
        return {pk: name for pk, name in users.values_list("pk", get_user_model().USERNAME_FIELD)}
