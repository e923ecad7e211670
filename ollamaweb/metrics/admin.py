from django.contrib import admin, messages
from django.db import models

from .alerts import send_test_alert
from .models import Alert, AlertDelivery, AlertWebhook


@admin.register(AlertWebhook)
class AlertWebhookAdmin(admin.ModelAdmin):
    list_display = ("name", "url", "format", "enabled", "on_backend", "on_quota", "on_error_rate")
    list_filter = ("enabled", "format")
    actions = ["send_test"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = [
        (None, {"fields": ("name", "url", "format", "enabled")}),
        ("Alerts", {"fields": ("on_backend", "on_quota", "on_error_rate")}),
        (
            "Error rate",
            {"fields": ("error_rate_threshold", "error_rate_window_minutes", "error_rate_min_requests")},
        ),
    ]

    @admin.action(description="Send a test alert")
    def send_test(self, request, queryset):
        for webhook in queryset:
            send_test_alert(webhook)
        messages.success(request, f"Test alert queued for {queryset.count()} webhook(s); see Alert deliveries.")


class DeliveryInline(admin.TabularInline):
    model = AlertDelivery
    extra = 0
    can_delete = False
    fields = ("webhook", "status", "attempts", "next_attempt_at", "sent_at", "last_error")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("created_at", "kind", "title")
    list_filter = ("kind", "created_at")
    search_fields = ("title", "key")
    readonly_fields = ("created_at", "kind", "key", "title", "text", "details")
    inlines = [DeliveryInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(admin.ModelAdmin):
    list_display = ("alert", "webhook", "status", "attempts", "next_attempt_at", "sent_at")
    list_filter = ("status", "webhook")
    list_select_related = ("alert", "webhook")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
