from django.contrib import admin
from django.db import transaction

from ollamaweb.audit.admin_mixins import AuditedAdmin
from ollamaweb.audit.services import record

from . import services
from .models import Membership, Team


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ("user",)
    fields = ("user", "role", "is_default", "source", "created_at")
    readonly_fields = ("source", "created_at")


def _members(team):
    return sorted((m.user.get_username(), m.role, m.is_default) for m in team.memberships.select_related("user"))


@admin.register(Team)
class TeamAdmin(AuditedAdmin, admin.ModelAdmin):
    """Teams with their members; team keys are API keys with a team (see API keys)."""

    audit_name = "team"
    audit_exclude = ("created_at",)
    list_display = ("name", "description", "member_count", "models", "created_at")
    search_fields = ("name", "description")
    inlines = [MembershipInline]

    @admin.display(description="members")
    def member_count(self, team):
        return team.memberships.count()

    @admin.display(description="models")
    def models(self, team):
        return ", ".join(team.allowed_models) if team.allowed_models else "all"

    def save_formset(self, request, form, formset, change):
        team = form.instance
        before = _members(team) if change else []
        with transaction.atomic():
            super().save_formset(request, form, formset, change)
            for user_id in {m.user_id for m in team.memberships.all()} | {
                o.user_id for o in formset.deleted_objects if o.user_id
            }:
                services._ensure_default(user_id)
            after = _members(team)
            if after != before:
                record(
                    request.user,
                    "team.members",
                    team,
                    before={"members": [list(m) for m in before]},
                    after={"members": [list(m) for m in after]},
                    request=request,
                )


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin, admin.ModelAdmin):
    audit_name = "team_membership"
    audit_exclude = ("created_at",)
    list_display = ("team", "user", "role", "is_default", "source", "created_at")
    list_filter = ("role", "source", "team")
    search_fields = ("team__name", "user__username")
    autocomplete_fields = ("user", "team")
