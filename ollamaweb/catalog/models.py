from django.db import models


class ModelAlias(models.Model):
    """A public model name served by a backend model (what `ollama cp llama3 gpt-3.5-turbo` did)."""

    name = models.CharField(max_length=200, unique=True, help_text="Name clients ask for, e.g. gpt-4o.")
    target = models.CharField(max_length=200, help_text="Backend model it resolves to, e.g. qwen3:8b.")
    description = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "model alias"
        verbose_name_plural = "model aliases"

    def __str__(self):
        return f"{self.name} → {self.target}"


class CatalogSettings(models.Model):
    """Catalog-wide settings, one row (edited in the admin or with ollamaweb.catalog.services)."""

    claude_default_target = models.CharField(
        "default model for Claude names",
        max_length=200,
        blank=True,
        help_text=(
            "Backend model that serves any claude-… name without an alias of its own (Claude Code asks for "
            "claude-sonnet-…, claude-opus-…, claude-haiku-…), e.g. qwen3-coder:30b. Empty: such names are unknown models."
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "catalog settings"
        verbose_name_plural = "catalog settings"

    def __str__(self):
        return "Catalog settings"

    @classmethod
    def current(cls) -> "CatalogSettings":
        return cls.objects.filter(pk=1).first() or cls(pk=1)
