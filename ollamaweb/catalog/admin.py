from django.contrib import admin

from ollamaweb.audit.admin_mixins import AuditedAdmin

from .models import ModelAlias


@admin.register(ModelAlias)
class ModelAliasAdmin(AuditedAdmin, admin.ModelAdmin):
    audit_name = "alias"
    audit_exclude = ("created_at", "updated_at")
    list_display = ("name", "target", "description", "updated_at")
    search_fields = ("name", "target", "description")
    list_filter = ("target",)
    readonly_fields = ("created_at", "updated_at")
    ordering = ("name",)
