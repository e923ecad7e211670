from django.contrib import admin

from ollamaweb.core.admin_base import ReadOnlyAdmin

from . import services
from .models import Membership, Team


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ("user",)
    fields = ("user", "role", "is_default", "source", "created_at")
    readonly_fields = ("is_default", "source", "created_at")  # users choose their default team in the portal


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    """Teams with their members; team keys are API keys with a team (see API keys). Every change goes
    through teams.services, which writes the audit rows."""

    list_display = ("name", "description", "member_count", "models", "created_at")
    search_fields = ("name", "description")
    inlines = [MembershipInline]

    @admin.display(description="members")
    def member_count(self, team):
        return team.memberships.count()

    @admin.display(description="models")
    def models(self, team):
        return ", ".join(team.allowed_models) if team.allowed_models else "all"

    def save_model(self, request, obj, form, change):
        who = {"request": request}
        if change:
            fields = {name: getattr(obj, name) for name in ("name", "description", "allowed_models")}
            obj.refresh_from_db()
            services.update_team(request.user, obj, **fields, **who)
        else:
            team = services.create_team(request.user, obj.name, obj.description, obj.allowed_models, **who)
            obj.pk, obj._state.adding, obj.created_at = team.pk, False, team.created_at

    def save_formset(self, request, form, formset, change):
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        team = form.instance
        formset.save(commit=False)
        for membership in formset.deleted_objects:
            services.remove_member(request.user, membership, request=request)
        for membership, changed in formset.changed_objects:
            if "role" in changed:
                services.set_role(
                    request.user, Membership.objects.get(pk=membership.pk), membership.role, request=request
                )
        for membership in formset.new_objects:
            services.add_member(request.user, team, membership.user, membership.role, request=request)

    def delete_model(self, request, obj):
        services.delete_team(request.user, obj, request=request)

    def delete_queryset(self, request, queryset):
        for team in queryset:
            services.delete_team(request.user, team, request=request)


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    """Read only here: members are added and changed on their team's page."""

    list_display = ("team", "user", "role", "is_default", "source", "created_at")
    list_filter = ("role", "source", "team")
    search_fields = ("team__name", "user__username")

    def delete_model(self, request, obj):
        services.remove_member(request.user, obj, request=request)

    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("team", "user"):
            services.remove_member(request.user, membership, request=request)
