from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from . import services
from .models import ModelAlias


class ModelAliasForm(forms.ModelForm):
    pending = forms.BooleanField(
        required=False, help_text="Save even if no backend has the target yet (e.g. a model being pulled)."
    )

    class Meta:
        model = ModelAlias
        fields = ("name", "target", "description")

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            services.check_alias(
                cleaned.get("name", ""),
                cleaned.get("target", ""),
                services.known_models(),
                allow_pending=cleaned.get("pending"),
                instance=self.instance,
            )
        except ValidationError as exc:
            self.add_error("target", exc)
        return cleaned


@admin.register(ModelAlias)
class ModelAliasAdmin(admin.ModelAdmin):
    form = ModelAliasForm
    list_display = ("name", "target", "description", "updated_at")
    search_fields = ("name", "target", "description")
    list_filter = ("target",)
    readonly_fields = ("created_at", "updated_at")
    ordering = ("name",)

    def save_model(self, request, obj, form, change):
        services.save_alias(obj, actor=request.user, request=request)

    def delete_model(self, request, obj):
        services.delete_aliases([obj], actor=request.user, request=request)

    def delete_queryset(self, request, queryset):
        services.delete_aliases(queryset, actor=request.user, request=request)
