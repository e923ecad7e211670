"""Building blocks the apps' admin modules share."""

from django.contrib import admin


class ChoiceFilter(admin.SimpleListFilter):
    """A list filter over fixed choices: `conditions` maps each value to its label and its condition (a Q,
    or a function returning one when it depends on the time)."""

    conditions: dict = {}

    def lookups(self, request, model_admin):
        return [(value, label) for value, (label, _) in self.conditions.items()]

    def queryset(self, request, queryset):
        choice = self.conditions.get(self.value())
        if choice is None:
            return queryset
        condition = choice[1]
        return queryset.filter(condition() if callable(condition) else condition)


class ServicesAdmin(admin.ModelAdmin):
    """A model admin whose writes go through the app's services, which audit them and forget caches:
    `save_with(obj, actor=, request=)` and `delete_with(objects, actor=, request=)` (set with staticmethod)."""

    save_with = None
    delete_with = None

    def save_model(self, request, obj, form, change):
        self.save_with(obj, actor=request.user, request=request)

    def delete_model(self, request, obj):
        self.delete_with([obj], actor=request.user, request=request)

    def delete_queryset(self, request, queryset):
        self.delete_with(queryset, actor=request.user, request=request)


class ReadOnlyAdmin(admin.ModelAdmin):
    """A model admin for records of what happened: they are listed and read, never added or changed by hand
    (deleting stays as the model's admin allows it)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
