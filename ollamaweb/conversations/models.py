from django.conf import settings
from django.db import models


class StoredResponse(models.Model):
    """A response of `/v1/responses` kept for `previous_response_id`, retrieval and `input_items`.

    It holds only its own input items and output (earlier turns stay in the responses they belong
    to, linked by `previous_response_id`), so deleting a response removes its content for good.
    """

    id = models.CharField(primary_key=True, max_length=64)
    # No index of its own: the (user, created_at) index below serves every lookup by user, and one
    # index fewer is one page fewer written with each stored response.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="stored_responses", db_index=False
    )
    api_key = models.ForeignKey("keys.ApiKey", null=True, blank=True, on_delete=models.SET_NULL)
    model = models.CharField(max_length=200, help_text="The model as the client asked for it.")
    status = models.CharField(max_length=16)
    previous_response_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(db_index=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    input_items = models.JSONField(default=list, help_text="The request's new input items, with ids.")
    response = models.JSONField(help_text="The Response object as it was returned (output, usage, settings).")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "created_at"])]

    def __str__(self):
        return f"{self.id} ({self.model}, {self.status})"

    @property
    def output(self) -> list:
        return self.response.get("output") or []
