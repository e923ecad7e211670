from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q

from ollamaweb.core.admin_base import ChoiceFilter, ServicesAdmin
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


class ScopeFilter(ChoiceFilter):
    title = "applies to"
    parameter_name = "scope"
    conditions = {
        "everyone": ("everyone (defaults)", Q(user__isnull=True, api_key__isnull=True, team__isnull=True)),
        "user": ("a user", Q(user__isnull=False)),
        "key": ("an API key", Q(api_key__isnull=False)),
        "team": ("a team", Q(team__isnull=False)),
    }


class CounterKindFilter(ChoiceFilter):
    title = parameter_name = "kind"
    conditions = {
        kind: (label, Q(key__startswith=f"{kind}:"))
        for kind, label in (
            ("t", "tokens (day/month)"),
            ("gpu", "GPU time (day/month)"),
            ("r", "requests per minute"),
            ("c", "in flight"),
        )
    }


@admin.register(QuotaPolicy)
class QuotaPolicyAdmin(ServicesAdmin):
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
    save_with = staticmethod(services.save_policy)
    delete_with = staticmethod(services.delete_policies)

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
