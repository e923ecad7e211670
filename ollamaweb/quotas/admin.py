from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from ollamaweb.keys.models import ApiKey
from ollamaweb.teams.models import Team

from . import services
from .counters import KEY, TEAM, CounterKey, Scope
from .models import QuotaPolicy, UsageCounter


def owner_name(scope: Scope) -> str:
    if scope.owner == KEY:
        key = ApiKey.objects.filter(pk=scope.owner_id).select_related("user").first()
        return f"key {key.prefix}… ({key.name or 'unnamed'}) of {key.user}" if key else f"deleted key #{scope.owner_id}"
    if scope.owner == TEAM:
        team = Team.objects.filter(pk=scope.owner_id).first()
        return f"team {team.name}" if team else f"deleted team #{scope.owner_id}"
    user = get_user_model().objects.filter(pk=scope.owner_id).first()
    return user.get_username() if user else f"deleted user #{scope.owner_id}"


class ScopeFilter(admin.SimpleListFilter):
    title = "applies to"
    parameter_name = "scope"

    def lookups(self, request, model_admin):
        return [("everyone", "everyone (defaults)"), ("user", "a user"), ("key", "an API key"), ("team", "a team")]

    def queryset(self, request, queryset):
        if self.value() == "everyone":
            return queryset.filter(user__isnull=True, api_key__isnull=True, team__isnull=True)
        if self.value() == "team":
            return queryset.filter(team__isnull=False)
        if self.value() == "user":
            return queryset.filter(user__isnull=False)
        if self.value() == "key":
            return queryset.filter(api_key__isnull=False)
        return queryset


class CounterKindFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return [
            ("t", "tokens (day/month)"),
            ("gpu", "GPU time (day/month)"),
            ("r", "requests per minute"),
            ("c", "in flight"),
        ]

    def queryset(self, request, queryset):
        return queryset.filter(key__startswith=f"{self.value()}:") if self.value() else queryset


@admin.register(QuotaPolicy)
class QuotaPolicyAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "model",
        "tokens_per_day",
        "tokens_per_month",
        "gpu_seconds_per_day",
        "gpu_seconds_per_month",
        "requests_per_minute",
        "max_concurrent",
        "updated_at",
    )
    list_filter = (ScopeFilter, "model")
    list_select_related = ("user", "api_key", "team")
    search_fields = ("user__username", "api_key__prefix", "team__name", "model")
    autocomplete_fields = ("user", "team")
    raw_id_fields = ("api_key",)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        class CheckedForm(form):
            def _post_clean(self):
                super()._post_clean()
                try:
                    services.check_policy(self.instance)
                except ValidationError as exc:
                    self.add_error(None, exc)

            def validate_unique(self):
                """Left to services.check_policy, which says what is duplicated in words."""

        return CheckedForm

    def save_model(self, request, obj, form, change):
        services.save_policy(obj, actor=request.user, request=request)

    def delete_model(self, request, obj):
        services.delete_policies([obj], actor=request.user, request=request)

    def delete_queryset(self, request, queryset):
        services.delete_policies(queryset, actor=request.user, request=request)


@admin.register(UsageCounter)
class UsageCounterAdmin(admin.ModelAdmin):
    """Live counters (database store); deleting one resets that period's usage."""

    list_display = ("description", "used", "reserved", "updated_at")
    list_filter = (CounterKindFilter, "updated_at")
    search_fields = ("key",)
    ordering = ("key",)
    readonly_fields = ("key", "used", "reserved", "updated_at")

    def has_add_permission(self, request):
        return False

    @admin.display(description="counter", ordering="key")
    def description(self, counter):
        """The counter in words: `alice · tokens on 2026-12-03 · llama3:latest`."""
        try:
            key = CounterKey.parse(counter.key)
        except (KeyError, ValueError, IndexError):
            return counter.key
        return key.describe(owner_name(key.scope))
