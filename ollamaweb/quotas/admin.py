from django.contrib import admin

from .models import QuotaPolicy, UsageCounter


@admin.register(QuotaPolicy)
class QuotaPolicyAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "model",
        "tokens_per_day",
        "tokens_per_month",
        "requests_per_minute",
        "max_concurrent",
        "updated_at",
    )
    list_filter = ("model",)
    search_fields = ("user__username", "api_key__prefix", "model")
    autocomplete_fields = ("user",)
    raw_id_fields = ("api_key",)


@admin.register(UsageCounter)
class UsageCounterAdmin(admin.ModelAdmin):
    """Live counters (database store); deleting one resets that period's usage."""

    list_display = ("key", "used", "reserved", "updated_at")
    search_fields = ("key",)
    readonly_fields = ("key", "used", "reserved", "updated_at")

    def has_add_permission(self, request):
        return False
