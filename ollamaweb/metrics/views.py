"""GET /metrics: Prometheus text format.

Protected by OLLAMAWEB_METRICS_TOKEN when it is set (`Authorization: Bearer <token>`); open when it
is not (the Prometheus convention: keep the port private or set the token). OLLAMAWEB_METRICS=0
turns metrics off altogether (404, nothing observed).
"""

import hmac
import os

from django.conf import settings
from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from .collector import backend_collector


def multiprocess_registry() -> CollectorRegistry:
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(backend_collector)
    return registry


def authorized(request) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return True
    presented = request.headers.get("Authorization", "")
    scheme, _, value = presented.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


async def metrics(request):
    if not settings.METRICS_ENABLED:
        return HttpResponse("Not found\n", status=404, content_type="text/plain")
    if request.method not in ("GET", "HEAD"):
        return HttpResponse("Method not allowed\n", status=405, content_type="text/plain", headers={"Allow": "GET"})
    if not authorized(request):
        return HttpResponse(
            "A bearer token is required (OLLAMAWEB_METRICS_TOKEN).\n",
            status=401,
            content_type="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    registry = multiprocess_registry() if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else REGISTRY
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
