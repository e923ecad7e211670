"""The ASGI application: `ollamaweb.asgi:application`.

/v1 and /api requests go to a lean Django handler (gateway/handler.py: no middleware, no per-request
thread); `HEAD /` and non-browser `GET /` get Ollama's "Ollama is running" (gateway/probe.py);
everything else goes to the portal's handler with the full middleware stack. Channels routes
WebSockets; LifespanApp flushes request logs on shutdown.
"""

import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ollamaweb.settings")

from django.conf import settings
from django.core.asgi import get_asgi_application

portal_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from ollamaweb.gateway import probe as ollama_probe  # noqa: E402
from ollamaweb.gateway.handler import APIHandler  # noqa: E402
from ollamaweb.lifespan import LifespanApp  # noqa: E402
from ollamaweb.portal.routing import websocket_urlpatterns  # noqa: E402

# The OpenAI routes (/v1) and Ollama's native routes (/api) go to the lean API handler.
API_PREFIXES = ("/v1", "/api")
METRICS_PATH = "/metrics"  # served by the lean handler too: no session or CSRF for a scraper


api_app = APIHandler()


# http_app and route are plain functions that return the chosen app's coroutine: no frame of theirs
# stays alive for the length of a stream (bench/README.md, sixth pass).
def http_app(scope, receive, send):
    path = scope["path"]
    if path == METRICS_PATH or any(path == prefix or path.startswith(prefix + "/") for prefix in API_PREFIXES):
        return api_app(scope, receive, send)
    if ollama_probe.is_probe(scope):  # `HEAD /` and non-browser `GET /`: "Ollama is running"
        return ollama_probe.answer(scope, receive, send)
    return portal_app(scope, receive, send)


websocket_app = ProtocolTypeRouter(
    # The portal's WebSockets (the staff's live feed): session auth, same-origin only.
    {"websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))}
)


def route(scope, receive, send):
    return http_app(scope, receive, send) if scope["type"] == "http" else websocket_app(scope, receive, send)


application = LifespanApp(route)

# What start-up built (Django, the apps, the URL patterns) lives as long as the process: the
# collector need not walk it again. Young-generation passes every GC_YOUNG_THRESHOLD allocations
# instead of Python's 700: each pass walks every young object of the requests in flight, and a
# served request leaves no reference cycles to collect (gateway/handler.py); ~8 % of the CPU per
# request at 64 in flight (bench/README.md).
gc.freeze()
gc.set_threshold(settings.GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
