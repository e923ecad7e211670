from django.contrib import admin

from ollamaweb.audit.admin_mixins import AuditedAdmin

from .models import QuotaPolicy, UsageCounter


class ScopeFilter(admin.SimpleListFilter):
    title = "applies to"
    parameter_name = "scope"

    def lookups(self, request, model_admin):
        return [("everyone", "everyone (defaults)"), ("user", "a user"), ("key", "an API key")]

    def queryset(self, request, queryset):
        if self.value() == "everyone":
            return queryset.filter(user__isnull=True, api_key__isnull=True)
        if self.value() == "user":
            return queryset.filter(user__isnull=False)
        if self.value() == "key":
            return queryset.filter(api_key__isnull=False)
        return queryset


class CounterKindFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return [("t", "tokens (day/month)"), ("r", "requests per minute"), ("c", "in flight")]

    def queryset(self, request, queryset):
        return queryset.filter(key__startswith=f"{self.value()}:") if self.value() else queryset


@admin.register(QuotaPolicy)
class QuotaPolicyAdmin(AuditedAdmin, admin.ModelAdmin):
    audit_name = "quota"
    audit_exclude = ("updated_at",)
    list_display = (
        "__str__",
        "model",
        "tokens_per_day",
        "tokens_per_month",
        "requests_per_minute",
        "max_concurrent",
        "updated_at",
    )
    list_filter = (ScopeFilter, "model")
    list_select_related = ("user", "api_key")
    search_fields = ("user__username", "api_key__prefix", "model")
    autocomplete_fields = ("user",)
    raw_id_fields = ("api_key",)


@admin.register(UsageCounter)
class UsageCounterAdmin(AuditedAdmin, admin.ModelAdmin):
    audit_name = "quota_counter"
    audit_exclude = ("updated_at",)
    """Live counters (database store); deleting one resets that period's usage."""

    list_display = ("key", "used", "reserved", "updated_at")
    list_filter = (CounterKindFilter, "updated_at")
    search_fields = ("key",)
    ordering = ("key",)
    readonly_fields = ("key", "used", "reserved", "updated_at")

    def has_add_permission(self, request):
        return False
