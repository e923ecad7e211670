from django.contrib import admin

from .models import RequestLog


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
