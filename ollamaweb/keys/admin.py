from django.contrib import admin, messages
from django.db.models import Q
from django.utils import timezone
from django.utils.html import format_html

from ollamaweb.audit.admin_mixins import AuditedAdmin
from ollamaweb.audit.services import record, snapshot

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
class ApiKeyAdmin(AuditedAdmin, admin.ModelAdmin):
    """Keys are listed by prefix only; a new key's secret is shown once, in a message, on creation."""

    audit_name = "key"
    audit_exclude = ("last_used_at",)

    list_display = (
        "prefix", "name", "user", "team", "status_badge", "models", "created_at", "last_used_at", "expires_at",
    )  # fmt: skip
    list_filter = (KeyStatusFilter, "created_at", "last_used_at", "expires_at")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    search_fields = ("prefix", "name", "user__username", "user__email")
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    fields = (
        "user",
        "team",
        "name",
        "expires_at",
        "allowed_models",
        "revoked",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    autocomplete_fields = ("user", "team")
    actions = ["revoke_keys"]

    def get_readonly_fields(self, request, obj=None):
        # A key's owner is fixed once it exists (its usage and quotas are the owner's).
        return (*self.readonly_fields, "user", "team") if obj is not None else self.readonly_fields

    def get_autocomplete_fields(self, request):
        return self.autocomplete_fields

    @admin.display(description="models")
    def models(self, key):
        return ", ".join(str(name) for name in key.allowed_models) if key.allowed_models else "all"

    @admin.display(description="status")
    def status_badge(self, key):
        colour = {"active": "#2e7d32", "revoked": "#c62828", "expired": "#8d6e63"}[key.status]
        return format_html('<strong style="color:{}">{}</strong>', colour, key.status)

    def audit_verb(self, before, after):
        return "revoke" if after.get("revoked") and not (before or {}).get("revoked") else "update"

    def save_model(self, request, obj, form, change):
        if change:
            if obj.revoked and not obj.revoked_at:
                obj.revoked_at = timezone.now()
            super().save_model(request, obj, form, change)  # with its audit row (AuditedAdmin)
            return
        key, secret = ApiKey.issue(obj.user, obj.name, obj.expires_at, obj.allowed_models, team=obj.team)
        obj.pk, obj.prefix = key.pk, key.prefix
        obj._state.adding = False
        record(request.user, "key.create", key, after=snapshot(key), request=request)
        messages.warning(request, f"New API key (shown only once, copy it now): {secret}")

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request, queryset):
        count = 0
        for key in queryset.filter(revoked=False):
            before = snapshot(key)
            key.revoke()
            record(request.user, "key.revoke", key, before=before, after=snapshot(key), request=request)
            count += 1
        self.message_user(request, f"Revoked {count} key(s).")
