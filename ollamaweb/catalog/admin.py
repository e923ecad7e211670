from django.contrib import admin

from .models import ModelAlias


@admin.register(ModelAlias)
class ModelAliasAdmin(admin.ModelAdmin):
    list_display = ("name", "target", "description", "updated_at")
    search_fields = ("name", "target", "description")
    list_filter = ("target",)
    readonly_fields = ("created_at", "updated_at")
    ordering = ("name",)
