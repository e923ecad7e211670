from django.urls import path

from .consumers import RequestFeedConsumer

websocket_urlpatterns = [
    path("ws/staff/feed/", RequestFeedConsumer.as_asgi()),
]
