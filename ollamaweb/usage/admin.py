from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.utils import timezone
from django.utils.html import format_html_join

from ollamaweb.quotas.models import QuotaPolicy
from ollamaweb.quotas.policy import scope_limits

from .models import RequestLog, UsageRollup
from .reports import totals_for_user


@admin.register(RequestLog)
class RequestLogAdmin(admin.ModelAdmin):
    """Read-only: the log is a record of what happened."""

    list_display = (
        "created_at", "user", "key_prefix", "endpoint", "requested_model", "resolved_model", "status",
        "stream", "prompt_tokens", "completion_tokens", "ttft_ms", "latency_ms",
    )  # fmt: skip
    list_filter = ("status", "endpoint", "stream", "usage_source", "created_at", "user", "requested_model")
    search_fields = ("user__username", "key_prefix", "requested_model", "resolved_model", "client_user", "error")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(UsageRollup)
class UsageRollupAdmin(admin.ModelAdmin):
    list_display = ("day", "user", "key_prefix", "model", "requests", "prompt_tokens", "completion_tokens", "errors")
    list_filter = ("day", "model")
    search_fields = ("user__username", "key_prefix", "model")
    date_hierarchy = "day"
    list_select_related = ("user",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class UsageUserAdmin(UserAdmin):
    """Django's user admin plus today's and this month's usage against the user's limits."""

    readonly_fields = (*UserAdmin.readonly_fields, "usage_summary")
    fieldsets = (*UserAdmin.fieldsets, ("Usage", {"fields": ("usage_summary",)}))

    @admin.display(description="usage")
    def usage_summary(self, user):
        if not user.pk:
            return "-"
        today = timezone.localdate()
        policies = {(p.user_id, p.api_key_id, p.model): p for p in QuotaPolicy.objects.filter(api_key=None)}
        limits = next((s for s in scope_limits(policies, user.pk, 0, "") if s.scope == f"u{user.pk}"), None)
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
