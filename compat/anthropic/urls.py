"""Anthropic routes. Claude Code appends /v1/messages to ANTHROPIC_BASE_URL, so a base URL given
with /v1 arrives as /v1/v1/messages: both work. Its `?beta=true` query is ignored."""

from django.urls import re_path

from .views import CountTokensView, MessagesView

urlpatterns = [
    re_path(r"^(?:v1/)?v1/messages/count_tokens/?$", CountTokensView.as_view(), name="anthropic-count-tokens"),
    re_path(r"^(?:v1/)?v1/messages/?$", MessagesView.as_view(), name="anthropic-messages"),
]
