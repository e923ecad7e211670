from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from ollamaweb.core.admin_base import ServicesAdmin

from . import services
from .models import CatalogSettings, ModelAlias


class ServedModelForm(forms.ModelForm):
    """A form naming a model that a backend must serve, unless `pending` is ticked: `check(cleaned)` (a
    services check) raises ValidationError for the field `checked_field`."""

    pending = forms.BooleanField(
        required=False, help_text="Save even if no backend has the model yet (e.g. a model being pulled)."
    )
    checked_field = ""

    def check(self, cleaned: dict) -> None:
        raise NotImplementedError

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            self.check(cleaned)
        except ValidationError as exc:
            self.add_error(self.checked_field, exc)
        return cleaned


class ModelAliasForm(ServedModelForm):
    checked_field = "target"

    class Meta:
        model = ModelAlias
        fields = ("name", "target", "description")

    def check(self, cleaned):
        services.check_alias(
            cleaned.get("name", ""),
            cleaned.get("target", ""),
            services.known_models(),
            allow_pending=cleaned.get("pending"),
            instance=self.instance,
        )


@admin.register(ModelAlias)
class ModelAliasAdmin(ServicesAdmin):
    form = ModelAliasForm
    list_display = ("name", "target", "description", "updated_at")
    search_fields = ("name", "target", "description")
    list_filter = ("target",)
    readonly_fields = ("created_at", "updated_at")
    ordering = ("name",)
    save_with = staticmethod(services.save_alias)
    delete_with = staticmethod(services.delete_aliases)


class CatalogSettingsForm(ServedModelForm):
    checked_field = "claude_default_target"

    class Meta:
        model = CatalogSettings
        fields = ("claude_default_target",)

    def check(self, cleaned):
        services.check_claude_default_target(
            cleaned.get("claude_default_target", ""), services.known_models(), allow_pending=cleaned.get("pending")
        )


@admin.register(CatalogSettings)
class CatalogSettingsAdmin(admin.ModelAdmin):
    """One row: it can be added once, edited, and never deleted."""

    form = CatalogSettingsForm
    list_display = ("__str__", "claude_default_target", "updated_at")
    readonly_fields = ("updated_at",)

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not CatalogSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        saved = services.set_claude_default_target(
            obj.claude_default_target, allow_pending=True, actor=request.user, request=request
        )  # the form checked it
        obj.pk, obj.updated_at = saved.pk, saved.updated_at
