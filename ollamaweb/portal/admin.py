from django.contrib import admin

from .models import Invite


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    """Invite links are made on the portal's Invites page (the link is shown there once)."""

    list_display = ("__str__", "note", "created_by", "created_at", "expires_at", "status", "used_by", "used_at")
    list_filter = ("created_at", "used_at")
    search_fields = ("note", "created_by__username", "used_by__username")
    readonly_fields = ("created_by", "created_at", "used_by", "used_at")
    list_select_related = ("created_by", "used_by")

    def has_add_permission(self, request):
        return False
