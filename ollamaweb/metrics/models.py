from django.db import models


class AlertWebhook(models.Model):
    """Where alerts go: a Slack-compatible incoming webhook or any URL that takes JSON."""

    SLACK, JSON = "slack", "json"
    FORMATS = [(SLACK, 'Slack-compatible ({"text": …})'), (JSON, "plain JSON (every field)")]

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=500, help_text="POSTed to with the alert as JSON.")
    format = models.CharField(max_length=10, choices=FORMATS, default=SLACK)
    enabled = models.BooleanField(default=True)
    on_backend = models.BooleanField("backend down / up", default=True)
    on_quota = models.BooleanField("users passing 80 % and 100 % of a token quota", default=True)
    on_error_rate = models.BooleanField("error rate above the threshold", default=True)
    error_rate_threshold = models.FloatField(
        default=0.2, help_text="Share of requests failing with a 5xx status that raises the alert (0.2 = 20 %)."
    )
    error_rate_window_minutes = models.PositiveIntegerField(default=5, help_text="Measured over this many minutes.")
    error_rate_min_requests = models.PositiveIntegerField(
        default=20, help_text="No error-rate alert with fewer requests than this in the window."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "alert webhook"

    def __str__(self):
        return self.name


class Alert(models.Model):
    """One condition that was met, once: `key` names the condition (a second try to raise it is a no-op)."""

    BACKEND, QUOTA, ERROR_RATE, TEST = "backend", "quota", "error_rate", "test"
    KINDS = [(BACKEND, "backend"), (QUOTA, "quota"), (ERROR_RATE, "error rate"), (TEST, "test")]

    key = models.CharField(max_length=255, unique=True)
    kind = models.CharField(max_length=20, choices=KINDS)
    title = models.CharField(max_length=300)
    text = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.title


class AlertCondition(models.Model):
    """A condition that comes and goes (the error rate of a webhook): alert on the way up only."""

    key = models.CharField(max_length=255, unique=True)
    active = models.BooleanField(default=False)
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.key}: {'active' if self.active else 'clear'}"


class AlertDelivery(models.Model):
    """One alert to one webhook, sent by a background task with retries."""

    PENDING, SENT, FAILED = "pending", "sent", "failed"
    STATUSES = [(PENDING, "pending"), (SENT, "sent"), (FAILED, "failed")]

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    webhook = models.ForeignKey(AlertWebhook, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=STATUSES, default=PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-next_attempt_at"]
        constraints = [models.UniqueConstraint(fields=["alert", "webhook"], name="one_delivery_per_alert_webhook")]
        verbose_name_plural = "alert deliveries"

    def __str__(self):
        return f"{self.alert} → {self.webhook}: {self.status}"
