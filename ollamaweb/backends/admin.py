"""The admin for Ollama backends: health at a glance, models present and loaded, status history,
and model management pages (pull with live progress, copy or alias, delete with confirmation).

Header values (they often hold auth tokens) are never rendered: the change form shows them
masked and keeps a masked value unchanged on save.
"""

import functools
import re
from urllib.parse import urlencode

from asgiref.sync import sync_to_async
from django.contrib import admin
from django.db.models import Q
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.timezone import localtime

from ollamaweb.core.admin_base import ChoiceFilter, ReadOnlyAdmin, ServicesAdmin

from . import services
from .config import serving_backends
from .forms import BackendForm
from .models import Backend, BackendEvent, PullJob
from .operations import (
    human_size,
    model_name,
)
from .registry import BackendState, registry
from .views import (
    copy_view,
    delete_model_view,
    pull_events_view,
    pull_job_view,
    pull_status_view,
    pull_view,
    staff_view,
)

HISTORY_LIMIT = 50


def badge(status: str):
    """A colored status label (colors in backends/admin.css)."""
    return format_html('<span class="ow-badge ow-{}">{}</span>', status, status)


def ago(moment) -> str:
    """A short "how long ago": 12 s ago, 3 min ago, 5 h ago, else the date."""
    seconds = max(0, int((timezone.now() - moment).total_seconds()))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return localtime(moment).strftime("%Y-%m-%d")


def backend_status(backend: Backend) -> str:
    return "unknown" if backend.is_up is None else ("up" if backend.is_up else "down")


def when(value):
    """An Ollama timestamp (RFC 3339, nanoseconds) as an aware datetime, or None."""
    if not isinstance(value, str) or not value:
        return None
    value = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))
    try:
        return parse_datetime(value)
    except ValueError:
        return None


def present_rows(backend: Backend) -> list[dict]:
    rows = []
    for entry in sorted(backend.present_models or (), key=model_name):
        details = entry.get("details") or {}
        families = details.get("families") or ([details["family"]] if details.get("family") else [])
        rows.append(
            {
                "name": model_name(entry),
                "size": human_size(entry.get("size")),
                "family": details.get("family") or "–",
                "families": ", ".join(families) or "–",
                "parameters": details.get("parameter_size") or "–",
                "quantization": details.get("quantization_level") or "–",
                "format": details.get("format") or "",
                "modified": when(entry.get("modified_at")),
                "digest": (entry.get("digest") or "")[:12],
            }
        )
    return rows


def loaded_rows(backend: Backend) -> list[dict]:
    rows = []
    for entry in backend.loaded_models or ():
        size, vram = entry.get("size") or 0, entry.get("size_vram")
        on_gpu = f"{100 * vram / size:.0f}% GPU" if size and vram is not None else ""
        rows.append(
            {
                "name": model_name(entry),
                "size": human_size(size),
                "vram": human_size(vram),
                "on_gpu": on_gpu,
                "expires": when(entry.get("expires_at")),
                "context": entry.get("context_length") or "–",
            }
        )
    return rows


class StatusFilter(ChoiceFilter):
    title = parameter_name = "status"
    conditions = {
        "up": ("Up", Q(is_up=True)),
        "down": ("Down", Q(is_up=False)),
        "unknown": ("Unknown", Q(is_up__isnull=True)),
    }


class BackendEventInline(admin.TabularInline):
    model = BackendEvent
    fields = ("at", "status", "message")
    readonly_fields = ("at", "status", "message")
    ordering = ("-at",)
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name = "status change"
    verbose_name_plural = f"Status history (newest first, last {HISTORY_LIMIT})"

    @admin.display(description="status")
    def status(self, event):
        return badge("up" if event.up else "down")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        object_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
        if not object_id or not str(object_id).isdigit():
            return queryset.none()
        newest = queryset.filter(backend_id=int(object_id)).order_by("-at", "-pk").values_list("pk", flat=True)
        return queryset.filter(pk__in=list(newest[:HISTORY_LIMIT])).order_by("-at", "-pk")


@admin.register(Backend)
class BackendAdmin(ServicesAdmin):
    form = BackendForm
    list_display = (
        "name",
        "status_badge",
        "url",
        "version_display",
        "latency",
        "models_count",
        "loaded_count",
        "checked",
    )
    list_display_links = ("name",)
    list_filter = (StatusFilter, "enabled")
    search_fields = ("name", "url", "version")
    readonly_fields = ("status_badge", "version_display", "latency", "checked_at", "last_error_display")
    inlines = [BackendEventInline]
    change_list_template = "admin/backends/backend/change_list.html"
    change_form_template = "admin/backends/backend/change_form.html"
    save_with = staticmethod(services.save_backend)
    delete_with = staticmethod(services.remove_backends)

    def get_fieldsets(self, request, obj=None):
        config = (None, {"fields": ("name", "url", "enabled", "weight", "max_concurrent", "headers")})
        if obj is None:
            return [config]
        health = (
            "Health (last check)",
            {"fields": ("status_badge", "version_display", "latency", "checked_at", "last_error_display")},
        )
        return [config, health]

    def changelist_view(self, request, extra_context=None):
        """The list of rows, and above it the OLLAMA_HOST backends when those are what serves."""
        serving = serving_backends()
        extra_context = dict(extra_context or {})
        if all(config.from_environment for config in serving):
            extra_context["environment_backends"] = [
                registry.state_of(config.name) or BackendState(config) for config in serving
            ]
        return super().changelist_view(request, extra_context)

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    @admin.display(description="status", ordering="is_up")
    def status_badge(self, backend):
        if not backend.enabled:
            return format_html("{} {}", badge(backend_status(backend)), badge("disabled"))
        return badge(backend_status(backend))

    @admin.display(description="version", ordering="version")
    def version_display(self, backend):
        return backend.version or "–"

    @admin.display(description="latency", ordering="latency_ms")
    def latency(self, backend):
        return "–" if backend.latency_ms is None else f"{backend.latency_ms:.0f} ms"

    @admin.display(description="checked", ordering="checked_at")
    def checked(self, backend):
        if backend.checked_at is None:
            return "never"
        return format_html(
            '<span title="{}">{}</span>',
            localtime(backend.checked_at).strftime("%Y-%m-%d %H:%M:%S"),
            ago(backend.checked_at),
        )

    @admin.display(description="models")
    def models_count(self, backend):
        return len(backend.present_models or ())

    @admin.display(description="loaded")
    def loaded_count(self, backend):
        return len(backend.loaded_models or ())

    @admin.display(description="last error")
    def last_error_display(self, backend):
        if not backend.last_error:
            return "–"
        return format_html('<span style="color:#c62828;white-space:pre-wrap">{}</span>', backend.last_error)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        backend = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if backend is not None:
            extra_context.update(
                present_models=present_rows(backend),
                loaded_models=loaded_rows(backend),
                pull_url=reverse("admin:backends_backend_pull") + "?" + urlencode({"backend": backend.name}),
                delete_url=reverse("admin:backends_backend_delete_model") + "?" + urlencode({"backend": backend.name}),
            )
        return super().change_view(request, object_id, form_url, extra_context)

    # --- Model management pages ----------------------------------------------------------------

    def get_urls(self):
        def view(function):
            return staff_view(functools.partial(function, self))

        custom = [
            path("pull/", view(pull_view), name="backends_backend_pull"),
            path("pull/<uuid:batch>/", view(pull_job_view), name="backends_backend_pull_job"),
            path("pull/<uuid:batch>/events/", view(pull_events_view), name="backends_backend_pull_events"),
            path("pull/<uuid:batch>/status/", view(pull_status_view), name="backends_backend_pull_status"),
            path("copy/", view(copy_view), name="backends_backend_copy"),
            path("delete-model/", view(delete_model_view), name="backends_backend_delete_model"),
        ]
        return custom + super().get_urls()

    async def page_context(self, request, title, **extra):
        context = await sync_to_async(self.admin_site.each_context)(request)
        context.update(title=title, opts=self.model._meta, **extra)
        return context


@admin.register(PullJob)
class PullJobAdmin(ReadOnlyAdmin):
    list_display = ("model", "backend_name", "status_badge", "progress", "created_by", "created_at", "finished_at")
    list_filter = ("status", "backend_name")
    search_fields = ("model", "backend_name")
    fields = (
        "model",
        "backend_name",
        "backend_url",
        "status_badge",
        "progress",
        "message",
        "error",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "updated_at",
        "live_page",
    )
    readonly_fields = fields
    list_select_related = ("created_by",)
    change_list_template = "admin/backends/pulljob/change_list.html"

    @admin.display(description="status", ordering="status")
    def status_badge(self, job):
        return badge(job.effective_status)

    @admin.display(description="progress", ordering="percent")
    def progress(self, job):
        return "–" if job.percent is None else f"{job.percent:.0f}%"

    @admin.display(description="live page")
    def live_page(self, job):
        url = reverse("admin:backends_backend_pull_job", args=[job.batch])
        return format_html('<a href="{}">{}</a>', url, "Show the progress")
