from django.conf import settings
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


class PullJob(models.Model):
    """A model download (`ollama pull`) started from the admin, run by a task in a server process.

    The task writes its progress here (at most every ~0.5 s), so any process can show it. A job
    still "running" whose row has not been touched for STALL_AFTER died with its process.
    """

    QUEUED, RUNNING, SUCCESS, ERROR, INTERRUPTED = "queued", "running", "success", "error", "interrupted"
    STATUS_CHOICES = [
        (QUEUED, "queued"),
        (RUNNING, "running"),
        (SUCCESS, "success"),
        (ERROR, "error"),
        (INTERRUPTED, "interrupted"),
    ]
    STALLED = "stalled"  # not stored: a running job whose process stopped writing
    STALL_AFTER_SECONDS = 120

    batch = models.UUIDField(db_index=True, help_text="Jobs started together (one form submission).")
    model = models.CharField(max_length=300)
    backend = models.ForeignKey(Backend, null=True, blank=True, on_delete=models.SET_NULL, related_name="pull_jobs")
    backend_name = models.CharField(max_length=100, help_text="The backend's name when the job started.")
    backend_url = models.CharField(max_length=300)
    status = models.CharField(max_length=20, choices=STATUS_CHOICES, default=QUEUED, db_index=True)
    message = models.CharField(max_length=300, blank=True, help_text="Ollama's last status line.")
    layers = models.JSONField(default=list, blank=True, help_text="[{digest, completed, total}] in pull order.")
    percent = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "backend_name"]
        verbose_name = "pull job"

    def __str__(self):
        return f"pull {self.model} on {self.backend_name}"

    @property
    def effective_status(self) -> str:
        """The status, or "stalled" for a running/queued job nobody has updated for 2 minutes."""
        from django.utils import timezone

        if self.status in (self.QUEUED, self.RUNNING) and self.updated_at is not None:
            if (timezone.now() - self.updated_at).total_seconds() > self.STALL_AFTER_SECONDS:
                return self.STALLED
        return self.status

    @property
    def finished(self) -> bool:
        return self.effective_status in (self.SUCCESS, self.ERROR, self.INTERRUPTED, self.STALLED)
