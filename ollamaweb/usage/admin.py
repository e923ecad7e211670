from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from ollamaweb.core.admin_base import ChoiceFilter, ReadOnlyAdmin, ServicesAdmin
from ollamaweb.keys import services as key_services
from ollamaweb.quotas.calendar import quota_today
from ollamaweb.quotas.counters import USER, Scope
from ollamaweb.quotas.models import QuotaPolicy
from ollamaweb.quotas.policy import Payer, policies_by_scope, scope_limits
from ollamaweb.quotas.services import reset_period_usage

from .formatting import readable_ms
from .models import RequestLog, UnwrittenRequest, UsageRollup
from .reports import totals_for_user


class StatusClassFilter(ChoiceFilter):
    title = "outcome"
    parameter_name = "outcome"
    conditions = {
        "ok": ("succeeded (2xx)", Q(status__lt=400)),
        "client": ("client errors (4xx)", Q(status__gte=400, status__lt=500)),
        "server": ("server errors (5xx)", Q(status__gte=500)),
    }


class EndpointFilter(ChoiceFilter):
    """Fixed choices: a field filter would run SELECT DISTINCT over the whole log."""

    title = "endpoint"
    parameter_name = "endpoint"
    ENDPOINTS = (
        "chat.completions", "completions", "embeddings", "models", "models.retrieve",
        "responses", "responses.retrieve", "responses.delete", "responses.input_items",
        "messages", "messages.count_tokens",
        "ollama.chat", "ollama.generate", "ollama.embed", "ollama.embeddings", "ollama.tags", "ollama.show",
        "ollama.pull",
    )  # fmt: skip

    conditions = {name: (name, Q(endpoint=name)) for name in ENDPOINTS}


@admin.register(RequestLog)
class RequestLogAdmin(ReadOnlyAdmin):
    """Read-only: the log is a record of what happened."""

    list_display = (
        "created_at", "user", "key", "endpoint", "requested_model", "resolved_model", "status",
        "stream", "prompt_tokens", "completion_tokens", "ttft", "latency",
    )  # fmt: skip
    # No date_hierarchy and no filter on free-text columns: both would scan the whole log
    # (SELECT DISTINCT) on every page view; the created_at filter uses its index.
    list_filter = (StatusClassFilter, "created_at", EndpointFilter, "stream", "usage_source")
    # Partial matches: part of a username, key name or model; a key prefix from its start.
    search_fields = (
        "user__username", "^key_prefix", "api_key__name", "requested_model", "resolved_model", "client_user",
        "=request_id",
    )  # fmt: skip
    search_help_text = (
        "Part of a username, key name, model or client user, the start of a key prefix (sk-…), or a request id."
    )
    list_select_related = ("user", "api_key")
    show_full_result_count = False
    list_per_page = 50

    def get_fields(self, request, obj=None):
        """Every field, durations (`…_ms`) shown readable (1.1 s) instead of as raw floats."""
        names = [field.name for field in RequestLog._meta.fields if field.name != "id"]
        return [f"{name}_readable" if name.endswith("_ms") else name for name in names]

    def get_readonly_fields(self, request, obj=None):
        return [name for name in self.get_fields(request, obj) if name.endswith("_readable")]

    @admin.display(description="key", ordering="key_prefix")
    def key(self, row):
        name = row.api_key.name if row.api_key_id and row.api_key else ""
        return f"{name} ({row.key_prefix}…)" if name else (f"{row.key_prefix}…" if row.key_prefix else "—")

    @admin.display(description="time to first token", ordering="ttft_ms")
    def ttft(self, row):
        return readable_ms(row.ttft_ms)

    @admin.display(description="latency", ordering="latency_ms")
    def latency(self, row):
        return readable_ms(row.latency_ms)


def _duration_display(field):
    @admin.display(description=str(field.verbose_name).removesuffix(" ms"), ordering=field.name)
    def display(self, row):
        return readable_ms(getattr(row, field.name))

    return display


for _field in RequestLog._meta.fields:  # ttft_ms_readable, latency_ms_readable, …
    if _field.name.endswith("_ms"):
        setattr(RequestLogAdmin, f"{_field.name}_readable", _duration_display(_field))


@admin.register(UsageRollup)
class UsageRollupAdmin(ReadOnlyAdmin):
    list_display = ("day", "user", "key_prefix", "model", "requests", "prompt_tokens", "completion_tokens", "errors")
    list_filter = ("day", "model")
    search_fields = ("user__username", "key_prefix", "model")
    date_hierarchy = "day"
    list_select_related = ("user",)


class UsageUserAdmin(ServicesAdmin, UserAdmin):
    """Django's user admin plus today's and this month's usage against the user's limits."""

    readonly_fields = (*UserAdmin.readonly_fields, "related", "usage_summary")
    fieldsets = (
        (None, {"fields": ("related",)}),
        *UserAdmin.fieldsets,
        ("Usage", {"fields": ("usage_summary",)}),
    )
    list_display = ("username", "email", "is_active", "is_staff", "date_joined", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser", "date_joined")
    actions = ["activate_users", "deactivate_users", "reset_period_usage"]
    save_with = staticmethod(key_services.save_user)
    delete_with = staticmethod(key_services.delete_users)

    @admin.display(description="see also")
    def related(self, user):
        if not user.pk:
            return "-"
        links = [
            (reverse("admin:keys_apikey_changelist") + f"?user__id__exact={user.pk}", "API keys"),
            (reverse("admin:quotas_quotapolicy_changelist") + f"?user__id__exact={user.pk}", "Quota policies"),
            (reverse("admin:usage_requestlog_changelist") + f"?user__id__exact={user.pk}", "Requests"),
            (reverse("admin:usage_usagerollup_changelist") + f"?user__id__exact={user.pk}", "Daily usage"),
            (reverse("portal:user", args=[user.pk]), "In the portal (limits, keys, requests)"),
        ]
        return format_html(
            '<span class="related-links">{}</span>', format_html_join(" · ", '<a href="{}">{}</a>', links)
        )

    @admin.action(description="Activate selected users (approve sign-ups)")
    def activate_users(self, request, queryset):
        count = key_services.set_users_active(queryset, True, actor=request.user, request=request)
        self.message_user(request, f"Activated {count} user(s).")

    @admin.action(description="Deactivate selected users (their API keys stop working)")
    def deactivate_users(self, request, queryset):
        count = key_services.set_users_active(
            queryset.exclude(pk=request.user.pk), False, actor=request.user, request=request
        )
        self.message_user(request, f"Deactivated {count} user(s).")

    @admin.action(description="Reset period usage (today's and this month's token counters)")
    def reset_period_usage(self, request, queryset):
        total = 0
        for user in queryset:
            total += reset_period_usage(user, actor=request.user, request=request)
        self.message_user(
            request,
            f"Reset today's and this month's token usage of {queryset.count()} user(s) ({total} counter(s) deleted).",
        )

    @admin.display(description="usage")
    def usage_summary(self, user):
        if not user.pk:
            return "-"
        today = quota_today()
        policies = policies_by_scope(QuotaPolicy.objects.filter(api_key=None, team=None))
        limits = next(
            (s for s in scope_limits(policies, Payer(user.pk, 0), "") if s.scope == Scope(USER, user.pk)), None
        )
        rows = []
        for label, since, limit in (
            ("Today", today, limits and limits.tokens_per_day),
            ("This month", today.replace(day=1), limits and limits.tokens_per_month),
        ):
            totals = totals_for_user(user, since)
            quota = f" of {limit:,} ({100 * totals['tokens'] / limit:.0f}%)" if limit else " (no limit)"
            rows.append((label, totals["requests"], f"{totals['tokens']:,}{quota}"))
        return format_html_join("", "<p><strong>{}</strong>: {} requests, {} tokens</p>", rows)


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), UsageUserAdmin)


@admin.register(UnwrittenRequest)
class UnwrittenRequestAdmin(ReadOnlyAdmin):
    """Records the request log could not store (their quota was settled all the same)."""

    list_display = ("set_aside_at", "request_id", "error")
    search_fields = ("request_id", "error")
    readonly_fields = ("set_aside_at", "request_id", "error", "record")
