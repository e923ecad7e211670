from django.contrib import admin

from . import services
from .models import CatalogSettings, ModelAlias


@admin.register(ModelAlias)
class ModelAliasAdmin(admin.ModelAdmin):
    list_display = ("name", "target", "description", "updated_at")
    search_fields = ("name", "target", "description")
    list_filter = ("target",)
    readonly_fields = ("created_at", "updated_at")
    ordering = ("name",)


@admin.register(CatalogSettings)
class CatalogSettingsAdmin(admin.ModelAdmin):
    """One row: the list links to it, and it can be added once and never deleted."""

    list_display = ("__str__", "claude_default_target", "updated_at")
    readonly_fields = ("updated_at",)

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not CatalogSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        saved = services.set_claude_default_target(obj.claude_default_target)
        obj.pk, obj.updated_at = saved.pk, saved.updated_at
