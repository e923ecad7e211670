"""Audit rows for the Django admin's saves and deletions: mix AuditedAdmin into a ModelAdmin.

    class ModelAliasAdmin(AuditedAdmin, admin.ModelAdmin):
        audit_name = "alias"        # actions become alias.create / alias.update / alias.delete

The row holds the object's fields before and after (scrubbed of secrets); saves that change
nothing write no row.
"""

from django.db import transaction

from . import services


class AuditedAdmin:
    audit_name = ""  # defaults to the model name
    audit_exclude = ()  # fields left out of before/after (e.g. timestamps that change on every save)

    def _audit_action(self, verb):
        return f"{self.audit_name or self.model._meta.model_name}.{verb}"

    def _audit_snapshot(self, obj):
        return services.snapshot(obj, exclude=self.audit_exclude)

    def save_model(self, request, obj, form, change):
        before = None
        if change and obj.pk is not None:
            old = type(obj)._default_manager.filter(pk=obj.pk).first()
            before = self._audit_snapshot(old)
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            after = self._audit_snapshot(obj)
            if change and before == after:
                return
            verb = self.audit_verb(before, after) if change else "create"
            services.record(request.user, self._audit_action(verb), obj, before=before, after=after, request=request)

    def audit_verb(self, before, after) -> str:
        return "update"

    def delete_model(self, request, obj):
        before = self._audit_snapshot(obj)
        target = services._target(obj)
        with transaction.atomic():
            super().delete_model(request, obj)
            services.record(request.user, self._audit_action("delete"), target, before=before, request=request)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset:
                services.record(
                    request.user,
                    self._audit_action("delete"),
                    services._target(obj),
                    before=self._audit_snapshot(obj),
                    request=request,
                )
            super().delete_queryset(request, queryset)
