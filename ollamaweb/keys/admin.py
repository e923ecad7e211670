from django.contrib import admin
from django.db.models import Q
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html

from . import services
from .models import ApiKey, OllamaPublicKey


class KeyStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "active"), ("expired", "expired"), ("revoked", "revoked")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(revoked=False).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        if self.value() == "expired":
            return queryset.filter(revoked=False, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked=True)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are listed by prefix only; a new key's secret is shown once, on the page that answers its creation.

    The secret is rendered straight into that response (never stored, never put in a message: Django's
    messages travel in a cookie), which is marked no-store.
    """

    list_display = (
        "prefix", "name", "user", "status_badge", "models", "created_at", "last_used_at", "expires_at",
    )  # fmt: skip
    list_filter = (KeyStatusFilter, "can_manage_models", "created_at", "last_used_at", "expires_at")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    search_fields = ("prefix", "name", "user__username", "user__email")
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    fields = (
        "user",
        "name",
        "expires_at",
        "allowed_models",
        "can_manage_models",
        "revoked",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    autocomplete_fields = ("user",)
    actions = ["revoke_keys", "grant_manage_models", "revoke_manage_models"]

    def get_autocomplete_fields(self, request):
        return self.autocomplete_fields

    @admin.display(description="models")
    def models(self, key):
        return ", ".join(str(name) for name in key.allowed_models) if key.allowed_models else "all"

    @admin.display(description="status")
    def status_badge(self, key):
        colour = {"active": "#2e7d32", "revoked": "#c62828", "expired": "#8d6e63"}[key.status]
        return format_html('<strong style="color:{}">{}</strong>', colour, key.status)

    def get_readonly_fields(self, request, obj=None):
        # A key's owner is fixed once it exists (its usage and quotas are the owner's); revoking is final.
        if obj is None:
            return self.readonly_fields
        return (*self.readonly_fields, "user", *(("revoked",) if obj.revoked else ()))

    def save_model(self, request, obj, form, change):
        if change:
            editable = {name: getattr(obj, name) for name in ("name", "expires_at", "allowed_models")}
            services.update_key(obj, **{name: value for name, value in editable.items() if name in form.changed_data})
            if "can_manage_models" in form.changed_data:
                services.set_manage_models(obj, obj.can_manage_models, request.user)
            if "revoked" in form.changed_data and obj.revoked:
                obj.revoked = False
                services.revoke_key(obj)
            return
        key, secret = services.issue_key(obj.user, obj.name, obj.expires_at, obj.allowed_models)
        if obj.can_manage_models:
            services.set_manage_models(key, True, request.user)
        obj.pk, obj.prefix = key.pk, key.prefix
        obj._state.adding = False
        request._new_api_key_secret = secret

    def response_add(self, request, obj, post_url_continue=None):
        secret = getattr(request, "_new_api_key_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "New API key",
            "key": obj,
            "secret": secret,
        }
        response = TemplateResponse(request, "admin/keys/apikey/key_created.html", context)
        response.headers["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request, queryset):
        count = services.revoke_keys(queryset)
        self.message_user(request, f"Revoked {count} key(s).")

    def delete_model(self, request, obj):
        services.delete_keys([obj])

    def delete_queryset(self, request, queryset):
        services.delete_keys(queryset)

    @admin.action(description="Allow selected keys to manage models")
    def grant_manage_models(self, request, queryset):
        for key in queryset:
            services.grant_manage_models(key, request.user)
        self.message_user(request, f"{queryset.count()} key(s) may now manage models.")

    @admin.action(description="Stop selected keys from managing models")
    def revoke_manage_models(self, request, queryset):
        for key in queryset:
            services.revoke_manage_models(key, request.user)
        self.message_user(request, f"{queryset.count()} key(s) may no longer manage models.")


@admin.register(OllamaPublicKey)
class OllamaPublicKeyAdmin(admin.ModelAdmin):
    """Users register their keys in the portal; here staff can see and delete them."""

    list_display = ("fingerprint", "name", "user", "api_key", "created_at")
    list_select_related = ("user", "api_key")
    search_fields = ("fingerprint", "name", "user__username", "public_key")
    readonly_fields = ("user", "api_key", "public_key", "fingerprint", "created_at")
    fields = ("user", "api_key", "name", "public_key", "fingerprint", "created_at")

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        services.save_ollama_key(obj)

    def delete_model(self, request, obj):
        services.delete_ollama_keys([obj])

    def delete_queryset(self, request, queryset):
        services.delete_ollama_keys(queryset)
