"""Teams: members with a role, the models the team may use, and team-owned service keys.

A team key is an ApiKey with `team` set (keys app, migration 0002): it belongs to the team, and its
`user` is the member who created it (kept for the audit trail and the request log). Which team a
request is charged to is decided by policy.team_for().
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    allowed_models = models.JSONField(
        default=list, blank=True, help_text="Model or alias names the team's members and keys may use; empty = all."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="teams")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        MEMBER = "member", "member"
        ADMIN = "admin", "team admin"

    class Source(models.TextChoices):
        LOCAL = "local", "added in ollamaweb"
        SSO = "sso", "from single sign-on groups"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships")
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)
    is_default = models.BooleanField(
        default=False, help_text="The team the user's personal keys are charged to (one per user)."
    )
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.LOCAL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team_user"),
            models.UniqueConstraint(fields=["user"], condition=Q(is_default=True), name="one_default_team_per_user"),
        ]

    def __str__(self):
        return f"{self.user} in {self.team} ({self.role})"

    @property
    def is_admin(self):
        return self.role == self.Role.ADMIN
