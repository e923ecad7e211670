from django.urls import re_path

from .openai.views import (
    ChatCompletionsView,
    CompletionsView,
    EmbeddingsView,
    ModelDetailView,
    ModelListView,
    UnknownRouteView,
)

urlpatterns = [
    re_path(r"^v1/chat/completions/?$", ChatCompletionsView.as_view(), name="chat-completions"),
    re_path(r"^v1/completions/?$", CompletionsView.as_view(), name="completions"),
    re_path(r"^v1/embeddings/?$", EmbeddingsView.as_view(), name="embeddings"),
    re_path(r"^v1/models/?$", ModelListView.as_view(), name="models"),
    re_path(r"^v1/models/(?P<model>.+?)/?$", ModelDetailView.as_view(), name="model-detail"),
    re_path(r"^v1(/.*)?$", UnknownRouteView.as_view(), name="unknown-route"),
]
