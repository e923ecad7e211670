from django.contrib import admin
from django.utils.html import format_html, format_html_join

from ollamaweb.core.admin_base import ReadOnlyAdmin

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read-only: audit rows are never added, changed or deleted by hand."""

    list_display = ("created_at", "actor_name", "action", "target_type", "target_repr", "source", "ip")
    list_filter = ("action", "source", "target_type", "created_at")
    search_fields = ("actor_name", "action", "target_repr", "target_id", "ip")
    date_hierarchy = "created_at"
    fields = (
        "created_at", "actor", "actor_name", "action", "target_type", "target_id", "target_repr",
        "source", "ip", "user_agent", "change_table",
    )  # fmt: skip
    readonly_fields = fields

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="before → after")
    def change_table(self, event):
        rows = format_html_join(
            "", "<tr><th>{}</th><td>{}</td><td>{}</td></tr>", ((n, repr(b), repr(a)) for n, b, a in event.changes)
        )
        return format_html("<table><tr><th>field</th><th>before</th><th>after</th></tr>{}</table>", rows)
