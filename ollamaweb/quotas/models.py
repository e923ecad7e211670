from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

LIMIT_FIELDS = (
    "tokens_per_day", "tokens_per_month", "gpu_seconds_per_day", "gpu_seconds_per_month", "requests_per_minute",
    "max_concurrent",
)  # fmt: skip
ONE_SCOPE = "A policy is for everyone, a user, one API key or a team: not for more than one of them."


class QuotaPolicy(models.Model):
    """Limits for everyone (no user, key or team), a user, one API key, or a team; optionally for one model.

    A user's policy overrides the default policy field by field (an empty field inherits the
    default). A key's policy applies in addition to its user's, and a team's to the whole team's
    use together (quotas/policy.py: scope_limits). Empty everywhere = unlimited.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="quota_policies"
    )
    api_key = models.ForeignKey(
        "keys.ApiKey", null=True, blank=True, on_delete=models.CASCADE, related_name="quota_policies"
    )
    team = models.ForeignKey(
        "teams.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="quota_policies"
    )
    model = models.CharField(
        max_length=200, blank=True, help_text="Limit only this backend model; empty = all models together."
    )
    tokens_per_day = models.PositiveBigIntegerField(null=True, blank=True)
    tokens_per_month = models.PositiveBigIntegerField(null=True, blank=True)
    gpu_seconds_per_day = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="GPU time (Ollama's total_duration) per day, in seconds."
    )
    gpu_seconds_per_month = models.PositiveBigIntegerField(null=True, blank=True)
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    max_concurrent = models.PositiveIntegerField(null=True, blank=True, help_text="Requests in flight at once.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "quota policy"
        verbose_name_plural = "quota policies"
        constraints = [
            models.UniqueConstraint(
                fields=["model"],
                condition=Q(user__isnull=True, api_key__isnull=True, team__isnull=True),
                name="quota_one_default_per_model",
            ),
            models.UniqueConstraint(
                fields=["user", "model"], condition=Q(api_key__isnull=True), name="quota_one_user_policy_per_model"
            ),
            models.UniqueConstraint(fields=["api_key", "model"], name="quota_one_key_policy_per_model"),
            models.UniqueConstraint(fields=["team", "model"], name="quota_one_team_policy_per_model"),
            models.CheckConstraint(
                condition=~(
                    Q(user__isnull=False, api_key__isnull=False)
                    | Q(user__isnull=False, team__isnull=False)
                    | Q(api_key__isnull=False, team__isnull=False)
                ),
                name="quota_policy_one_scope",
            ),
        ]

    def __str__(self):
        if self.api_key_id:
            scope = f"key {self.api_key.prefix}"
        elif self.team_id:
            scope = f"team {self.team}"
        else:
            scope = f"user {self.user}" if self.user_id else "everyone"
        return f"{scope}{f' / {self.model}' if self.model else ''}"

    def validate_constraints(self, exclude=None):
        """The one-policy-per-scope constraints are checked by services.check_policy, which every write
        goes through and which says in words which policy exists (not "Constraint … is violated")."""
        exclude = set(exclude or ()) | {"user", "api_key", "team", "model"}
        super().validate_constraints(exclude=exclude)

    def clean(self):
        if sum(bool(owner) for owner in (self.user_id, self.api_key_id, self.team_id)) > 1:
            raise ValidationError(ONE_SCOPE)


class UsageCounter(models.Model):
    """A shared counter for one limit in one period (`t:u5:d:2026-11-25`), updated atomically."""

    key = models.CharField(max_length=255, unique=True)
    used = models.BigIntegerField(default=0)
    reserved = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.key}: {self.used} used, {self.reserved} reserved"


class QuotaInstance(models.Model):
    """A running gateway process, as its quota holds know it; renewed every few seconds (see leases.py)."""

    instance = models.CharField(max_length=100, primary_key=True)
    heartbeat_at = models.DateTimeField()

    def __str__(self):
        return f"{self.instance} (alive at {self.heartbeat_at:%H:%M:%S})"


class QuotaHold(models.Model):
    """What one request holds in one counter (reserved tokens, or a concurrency slot) until it is
    released or settled, or until the reaper gives it back because its process stopped beating."""

    member = models.CharField(max_length=120, db_index=True)  # "<instance>/<request's random id>"
    instance = models.CharField(max_length=100)
    counter = models.CharField(max_length=255)
    amount = models.BigIntegerField()

    def __str__(self):
        return f"{self.member}: {self.amount} in {self.counter}"
