from django.urls import include, re_path

from .openai.responses_views import ResponseDetailView, ResponseInputItemsView, ResponsesView
from .openai.views import (
    ChatCompletionsView,
    CompletionsView,
    EmbeddingsView,
    ModelDetailView,
    ModelListView,
    UnknownRouteView,
)

urlpatterns = [
    re_path(r"", include("compat.anthropic.urls")),
    re_path(r"^v1/chat/completions/?$", ChatCompletionsView.as_view(), name="chat-completions"),
    re_path(r"^v1/completions/?$", CompletionsView.as_view(), name="completions"),
    re_path(r"^v1/embeddings/?$", EmbeddingsView.as_view(), name="embeddings"),
    re_path(r"^v1/responses/?$", ResponsesView.as_view(), name="responses"),
    re_path(
        r"^v1/responses/(?P<response_id>[^/]+)/input_items/?$",
        ResponseInputItemsView.as_view(),
        name="response-input-items",
    ),
    re_path(r"^v1/responses/(?P<response_id>[^/]+)/?$", ResponseDetailView.as_view(), name="response-detail"),
    re_path(r"^v1/models/?$", ModelListView.as_view(), name="models"),
    re_path(r"^v1/models/(?P<model>.+?)/?$", ModelDetailView.as_view(), name="model-detail"),
    re_path(r"^v1(/.*)?$", UnknownRouteView.as_view(), name="unknown-route"),
    re_path(r"", include("compat.ollama.urls")),
]
