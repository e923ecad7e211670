from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from ollamaweb.core.admin_base import ReadOnlyAdmin

from .models import StoredResponse


@admin.register(StoredResponse)
class StoredResponseAdmin(ReadOnlyAdmin):
    """Read-only: stored responses are what a user's clients sent and received."""

    list_display = (
        "id",
        "created_at",
        "user",
        "model",
        "status",
        "input_tokens",
        "output_tokens",
        "previous_response_id",
    )
    list_filter = ("status", "created_at")
    search_fields = ("=id", "=user__username", "=previous_response_id", "model")
    list_select_related = ("user",)
    show_full_result_count = False
    readonly_fields = [field.name for field in StoredResponse._meta.fields] + ["request_log"]

    @admin.display(description="request log")
    def request_log(self, obj):
        url = reverse("admin:usage_requestlog_changelist") + f"?response_id={obj.pk}"
        return format_html('<a href="{}">requests that made or used this response</a>', url)
