"""Ollama's native API under /api (see views.py)."""

from django.urls import re_path

from . import views

urlpatterns = [
    re_path(r"^api/chat/?$", views.ChatView.as_view(), name="ollama-chat"),
    re_path(r"^api/generate/?$", views.GenerateView.as_view(), name="ollama-generate"),
    re_path(r"^api/embed/?$", views.EmbedView.as_view(), name="ollama-embed"),
    re_path(r"^api/embeddings/?$", views.EmbeddingsView.as_view(), name="ollama-embeddings"),
    re_path(r"^api/tags/?$", views.TagsView.as_view(), name="ollama-tags"),
    re_path(r"^api/show/?$", views.ShowView.as_view(), name="ollama-show"),
    re_path(r"^api/ps/?$", views.PsView.as_view(), name="ollama-ps"),
    re_path(r"^api/version/?$", views.VersionView.as_view(), name="ollama-version"),
    re_path(r"^api/pull/?$", views.PullView.as_view(), name="ollama-pull"),
    re_path(r"^api/push/?$", views.PushView.as_view(), name="ollama-push"),
    re_path(r"^api/create/?$", views.CreateView.as_view(), name="ollama-create"),
    re_path(r"^api/copy/?$", views.CopyView.as_view(), name="ollama-copy"),
    re_path(r"^api/delete/?$", views.DeleteView.as_view(), name="ollama-delete"),
    re_path(r"^api/blobs/(?P<digest>[^/]+)/?$", views.BlobView.as_view(), name="ollama-blobs"),
    re_path(r"^api(/.*)?$", views.UnknownRouteView.as_view(), name="ollama-unknown"),
]
