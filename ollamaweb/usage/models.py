from django.conf import settings
from django.db import models


class RequestLog(models.Model):
    """One row per API request, whatever its outcome (written in batches by writer.py)."""

    class UsageSource(models.TextChoices):
        NONE = "none", "no generation"
        MEASURED = "measured", "reported by the backend"
        COUNTED = "counted", "prompt estimated, output counted from the chunks generated"
        ESTIMATED = "estimated", "prompt estimated, nothing generated"

    request_id = models.CharField(
        max_length=40, blank=True, db_index=True, help_text="Returned to the client in x-request-id."
    )
    created_at = models.DateTimeField(db_index=True, help_text="When the request arrived.")
    finished_at = models.DateTimeField()
    # user, api_key and team are indexed as the first column of their (…, created_at) indexes below,
    # which serve lookups by the column alone as well: no index of their own to update for every row.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, db_index=False)
    api_key = models.ForeignKey("keys.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, db_index=False)
    key_prefix = models.CharField(max_length=12, blank=True)
    team = models.ForeignKey(
        "teams.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_index=False,
        help_text="The team the request was charged to.",
    )
    endpoint = models.CharField(max_length=64)
    method = models.CharField(max_length=8, default="POST")
    requested_model = models.CharField(max_length=200, blank=True)
    resolved_model = models.CharField(max_length=200, blank=True)
    backend = models.CharField(max_length=100, blank=True, help_text="The Ollama backend that served it.")
    status = models.PositiveSmallIntegerField()
    error = models.TextField(blank=True)
    stream = models.BooleanField(default=False)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    usage_source = models.CharField(max_length=10, choices=UsageSource.choices, default=UsageSource.NONE)
    total_duration_ms = models.FloatField(null=True, blank=True, help_text="Ollama's total_duration: GPU time.")
    load_duration_ms = models.FloatField(null=True, blank=True)
    prompt_eval_duration_ms = models.FloatField(null=True, blank=True)
    eval_duration_ms = models.FloatField(null=True, blank=True)
    gpu_ms = models.PositiveBigIntegerField(
        default=0,
        help_text="GPU time charged, milliseconds: total_duration, or for a request cut short the time a backend worked on it.",
    )
    ttft_ms = models.FloatField(null=True, blank=True, help_text="Time to first token, milliseconds.")
    latency_ms = models.FloatField(help_text="Total time until the last byte, milliseconds.")
    client_user = models.CharField(max_length=256, blank=True, help_text="The request's `user` field.")
    response_id = models.CharField(
        max_length=64, blank=True, help_text="The stored response it made or used (resp_…, /v1/responses)."
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "created_at"]),
            models.Index(fields=["requested_model", "created_at"]),
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["response_id"], condition=~models.Q(response_id=""), name="requestlog_response_id"),
            # The staff's request explorer (ollamaweb/portal/explorer.py).
            models.Index(fields=["backend", "created_at"]),
            models.Index(fields=["endpoint", "created_at"]),
            models.Index(fields=["api_key", "created_at"]),
            models.Index(fields=["team", "created_at"]),
            # Errors (~2 % of the log) in time order: the explorer's status filters walk it.
            models.Index(fields=["created_at"], condition=models.Q(status__gte=400), name="requestlog_errors"),
        ]

    def __str__(self):
        return f"{self.endpoint} {self.requested_model} {self.status}"

    @property
    def total_tokens(self):
        return self.prompt_tokens + self.completion_tokens


# From exact to least exact: a request with several calls is labelled by its least exact one.
USAGE_SOURCE_ORDER = [
    RequestLog.UsageSource.NONE,
    RequestLog.UsageSource.MEASURED,
    RequestLog.UsageSource.COUNTED,
    RequestLog.UsageSource.ESTIMATED,
]


class UsageRollup(models.Model):
    """Requests, tokens and GPU time per user, team, key, model and day, kept up to date as requests settle."""

    day = models.DateField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="usage_rollups")
    team = models.ForeignKey("teams.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    key_prefix = models.CharField(max_length=12)
    model = models.CharField(max_length=200)
    requests = models.PositiveBigIntegerField(default=0)
    errors = models.PositiveBigIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    gpu_ms = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-day", "user", "model"]
        # One row per (day, user, team, key, model); a NULL team is one value here (two partial
        # constraints, since SQLite has no NULLS NOT DISTINCT).
        constraints = [
            models.UniqueConstraint(
                fields=["day", "user", "key_prefix", "model"],
                condition=models.Q(team__isnull=True),
                name="one_rollup_per_day_key_model",
            ),
            models.UniqueConstraint(
                fields=["day", "user", "team", "key_prefix", "model"],
                condition=models.Q(team__isnull=False),
                name="one_team_rollup_per_day_key_model",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "day"]),
            models.Index(fields=["team", "day"]),
            # The explorer's list of model names, read by skipping from one name to the next.
            models.Index(fields=["model"], name="usagerollup_model"),
        ]

    def __str__(self):
        return f"{self.day} {self.user_id} {self.model}: {self.requests} requests"

    @property
    def total_tokens(self):
        return self.prompt_tokens + self.completion_tokens


class UnwrittenRequest(models.Model):
    """A request record the log could not store (kept whole, with why), for staff to look at."""

    set_aside_at = models.DateTimeField(auto_now_add=True, db_index=True)
    request_id = models.CharField(max_length=40, blank=True, db_index=True)
    error = models.TextField()
    record = models.JSONField(help_text="The request's record as the gateway had it.")

    class Meta:
        ordering = ["-set_aside_at"]
        verbose_name = "request set aside"
        verbose_name_plural = "requests set aside"

    def __str__(self):
        return f"{self.request_id or 'request'} set aside at {self.set_aside_at:%Y-%m-%d %H:%M:%S}"
