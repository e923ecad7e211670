"""The ASGI application: `ollamaweb.asgi:application`.

/v1 requests go to a lean Django handler (api_handler.py: no middleware, no per-request thread);
everything else to the portal's handler with the full middleware stack. Channels routes
WebSockets; LifespanApp flushes request logs on shutdown.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ollamaweb.settings")

from django.core.asgi import get_asgi_application

portal_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from ollamaweb.gateway.handler import APIHandler  # noqa: E402
from ollamaweb.lifespan import LifespanApp  # noqa: E402
from ollamaweb.portal.routing import websocket_urlpatterns  # noqa: E402

API_PREFIX = "/v1"


api_app = APIHandler()


async def http_app(scope, receive, send):
    path = scope["path"]
    if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
        return await api_app(scope, receive, send)
    return await portal_app(scope, receive, send)


application = LifespanApp(
    ProtocolTypeRouter(
        {
            "http": http_app,
            # The portal's WebSockets (the staff's live feed): session auth, same-origin only.
            "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
        }
    )
)
