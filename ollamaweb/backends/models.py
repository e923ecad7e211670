from django.db import models


class Backend(models.Model):
    """An Ollama server. The health fields are written by the gateway's health checkers."""

    name = models.CharField(max_length=100, unique=True)
    url = models.CharField(max_length=300, help_text="e.g. http://gpu1:11434 (host:port works too).")
    enabled = models.BooleanField(default=True)
    weight = models.PositiveIntegerField(default=1, help_text="Relative share of requests among equals.")
    max_concurrent = models.PositiveIntegerField(
        null=True, blank=True, help_text="Requests sent at once per gateway process; more wait in a queue."
    )
    headers = models.JSONField(default=dict, blank=True, help_text='Extra headers, e.g. {"Authorization": "Bearer …"}.')
    created_at = models.DateTimeField(auto_now_add=True)
    # Last health check.
    is_up = models.BooleanField(null=True, editable=False)
    version = models.CharField(max_length=50, blank=True, editable=False)
    latency_ms = models.FloatField(null=True, editable=False)
    present_models = models.JSONField(default=list, editable=False, help_text="Models present (/api/tags).")
    loaded_models = models.JSONField(default=list, editable=False, help_text="Models in memory (/api/ps).")
    checked_at = models.DateTimeField(null=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class BackendEvent(models.Model):
    """A change of a backend's status (up ↔ down), for its history."""

    backend = models.ForeignKey(Backend, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    up = models.BooleanField()
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self):
        return f"{self.backend} {'up' if self.up else 'down'} at {self.at:%Y-%m-%d %H:%M:%S}"
