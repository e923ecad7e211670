import json

from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from ollamaweb.core.admin_base import ChoiceFilter, ServicesAdmin

from . import services
from .models import ApiKey, OllamaPublicKey

NEW_SECRET_SESSION = "ollamaweb_admin_new_key"
MAX_ALLOWED_MODELS = 100


class ModelListField(forms.CharField):
    """A list of model names typed as text: one per line or separated by commas (not JSON)."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 60, "placeholder": "gpt-4o\nllama3:latest"})

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return "\n".join(str(name) for name in value)
        return value

    def to_python(self, value):
        if isinstance(value, list | tuple):
            return [str(name) for name in value]
        text = super().to_python(value) or ""
        if text.startswith("["):  # a JSON list, as the old field took it
            try:
                listed = json.loads(text)
            except ValueError:
                raise forms.ValidationError("Type model names, one per line or separated by commas.") from None
            text = "\n".join(str(name) for name in listed) if isinstance(listed, list) else text
        names = [name.strip() for line in text.splitlines() for name in line.split(",") if name.strip()]
        for name in names:
            if len(name) > 200 or any(ch.isspace() for ch in name) or name.startswith(("[", "{", '"')):
                raise forms.ValidationError(f"“{name[:40]}” is not a model name.")
        if len(names) > MAX_ALLOWED_MODELS:
            raise forms.ValidationError(f"At most {MAX_ALLOWED_MODELS} models per key.")
        return list(dict.fromkeys(names))


class ApiKeyForm(forms.ModelForm):
    allowed_models = ModelListField(
        required=False,
        label="Allowed models",
        help_text="Model or alias names this key may use, one per line or separated by commas, "
        "e.g. <code>gpt-4o</code>. Empty: every model.",
    )

    class Meta:
        model = ApiKey
        fields = ("user", "name", "expires_at", "allowed_models", "revoked")


class KeyStatusFilter(ChoiceFilter):
    title = parameter_name = "status"
    conditions = {
        "active": (
            "active",
            lambda: Q(revoked=False) & (Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())),
        ),
        "expired": ("expired", lambda: Q(revoked=False, expires_at__lte=timezone.now())),
        "revoked": ("revoked", Q(revoked=True)),
    }


@admin.register(ApiKey)
class ApiKeyAdmin(ServicesAdmin):
    """Keys are listed by prefix only; a new key's secret is shown once, on the page that answers its creation.

    The secret is rendered straight into that response (never stored, never put in a message: Django's
    messages travel in a cookie), which is marked no-store.
    """

    list_display = (
        "prefix", "name", "user", "team", "status_badge", "models", "created_at", "last_used_at", "expires_at",
    )  # fmt: skip
    list_filter = (KeyStatusFilter, "can_manage_models", "created_at", "last_used_at", "expires_at")
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
        "can_manage_models",
        "revoked",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    autocomplete_fields = ("user", "team")
    actions = ["revoke_keys", "grant_manage_models", "revoke_manage_models"]
    delete_with = staticmethod(services.delete_keys)
    form = ApiKeyForm

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
        return (*self.readonly_fields, "user", "team", *(("revoked",) if obj.revoked else ()))

    def save_model(self, request, obj, form, change):
        if change:
            editable = {name: getattr(obj, name) for name in ("name", "expires_at", "allowed_models")}
            changed = {name: value for name, value in editable.items() if name in form.changed_data}
            services.update_key(obj, actor=request.user, request=request, **changed)
            if "can_manage_models" in form.changed_data:
                services.set_manage_models(obj, obj.can_manage_models, request.user, request=request)
            if "revoked" in form.changed_data and obj.revoked:
                obj.revoked = False
                services.revoke_key(obj, actor=request.user, request=request)
            return
        key, secret = services.issue_key(
            obj.user,
            obj.name,
            obj.expires_at,
            obj.allowed_models or (),
            team=obj.team,
            actor=request.user,
            request=request,
        )
        if obj.can_manage_models:
            services.set_manage_models(key, True, request.user, request=request)
        obj.pk, obj.prefix = key.pk, key.prefix
        obj._state.adding = False
        # The secret goes to a page of its own (with a copy button) through the server-side
        # session, never through the messages framework, whose storage is a cookie.
        request.session[NEW_SECRET_SESSION] = {"id": key.pk, "secret": secret}

    def response_add(self, request, obj, post_url_continue=None):
        if request.session.get(NEW_SECRET_SESSION, {}).get("id") == obj.pk:
            return redirect(reverse("admin:keys_apikey_secret", args=[obj.pk]))
        return super().response_add(request, obj, post_url_continue)

    def get_urls(self):
        secret = path("<int:pk>/secret/", self.admin_site.admin_view(self.secret_view), name="keys_apikey_secret")
        return [secret, *super().get_urls()]

    def secret_view(self, request, pk):
        """The new key's secret, once: it leaves the session as it is shown."""
        new = request.session.get(NEW_SECRET_SESSION)
        if not new or new.get("id") != pk:
            messages.info(request, "A new key's secret is shown only once, right after it is created.")
            return redirect(reverse("admin:keys_apikey_change", args=[pk]))
        del request.session[NEW_SECRET_SESSION]
        key = ApiKey.objects.select_related("user").get(pk=pk)
        context = {
            **self.admin_site.each_context(request),
            "title": "New API key",
            "key": key,
            "secret": new["secret"],
            "opts": self.model._meta,
        }
        response = TemplateResponse(request, "admin/keys/apikey/secret.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request, queryset):
        count = services.revoke_keys(queryset, actor=request.user, request=request)
        self.message_user(request, f"Revoked {count} key(s).")

    @admin.action(description="Allow selected keys to manage models")
    def grant_manage_models(self, request, queryset):
        for key in queryset:
            services.grant_manage_models(key, request.user, request=request)
        self.message_user(request, f"{queryset.count()} key(s) may now manage models.")

    @admin.action(description="Stop selected keys from managing models")
    def revoke_manage_models(self, request, queryset):
        for key in queryset:
            services.revoke_manage_models(key, request.user, request=request)
        self.message_user(request, f"{queryset.count()} key(s) may no longer manage models.")


@admin.register(OllamaPublicKey)
class OllamaPublicKeyAdmin(ServicesAdmin):
    """Users register their keys in the portal; here staff can see and delete them."""

    list_display = ("fingerprint", "name", "user", "api_key", "created_at")
    list_select_related = ("user", "api_key")
    search_fields = ("fingerprint", "name", "user__username", "public_key")
    readonly_fields = ("user", "api_key", "public_key", "fingerprint", "created_at")
    fields = ("user", "api_key", "name", "public_key", "fingerprint", "created_at")

    def has_add_permission(self, request):
        return False

    delete_with = staticmethod(services.delete_ollama_keys)

    def save_model(self, request, obj, form, change):
        services.save_ollama_key(obj)
