from django.contrib import admin
from django.db.models import Q
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html

from .models import ApiKey


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
    list_filter = (KeyStatusFilter, "created_at", "last_used_at", "expires_at")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    search_fields = ("prefix", "name", "user__username", "user__email")
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    fields = (
        "user",
        "name",
        "expires_at",
        "allowed_models",
        "revoked",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    autocomplete_fields = ("user",)
    actions = ["revoke_keys"]

    def get_readonly_fields(self, request, obj=None):
        # A key's owner is fixed once it exists (its usage and quotas are the owner's).
        return (*self.readonly_fields, "user") if obj is not None else self.readonly_fields

    def get_autocomplete_fields(self, request):
        return self.autocomplete_fields

    @admin.display(description="models")
    def models(self, key):
        return ", ".join(str(name) for name in key.allowed_models) if key.allowed_models else "all"

    @admin.display(description="status")
    def status_badge(self, key):
        colour = {"active": "#2e7d32", "revoked": "#c62828", "expired": "#8d6e63"}[key.status]
        return format_html('<strong style="color:{}">{}</strong>', colour, key.status)

    def save_model(self, request, obj, form, change):
        if change:
            if obj.revoked and not obj.revoked_at:
                obj.revoke()
            super().save_model(request, obj, form, change)
            return
        key, secret = ApiKey.issue(obj.user, obj.name, obj.expires_at, obj.allowed_models)
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
        count = 0
        for key in queryset.filter(revoked=False):
            key.revoke()
            count += 1
        self.message_user(request, f"Revoked {count} key(s).")
