"""Forms of the backends admin: a backend's settings (header values masked) and the model-management pages."""

import re

from django import forms

from .models import Backend
from .operations import (
    TargetError,
    same_model,
    select_targets,
)

MASK = "********"


ALL = "__all__"


MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$")


class BackendForm(forms.ModelForm):
    headers = forms.JSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60, "autocomplete": "off", "spellcheck": "false"}),
        help_text=(
            'Extra HTTP headers for this backend, e.g. {"Authorization": "Bearer …"}. Values are never shown: '
            f"a value left as {MASK} is kept; type a new value to replace it; remove the key to delete it."
        ),
    )

    class Meta:
        model = Backend
        fields = ("name", "url", "enabled", "weight", "max_concurrent", "headers")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stored = self.instance.headers if self.instance.pk else {}
        self.initial["headers"] = {name: MASK for name in stored or {}}

    def clean_headers(self):
        value = self.cleaned_data.get("headers")
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            raise forms.ValidationError('Give a JSON object, e.g. {"Authorization": "Bearer …"}.')
        stored = (self.instance.headers if self.instance.pk else None) or {}
        headers = {}
        for name, header_value in value.items():
            if not isinstance(header_value, str):
                raise forms.ValidationError(f"The value of {name!r} must be a string.")
            if header_value == MASK:
                if name not in stored:
                    raise forms.ValidationError(f"Give a value for the header {name!r}.")
                header_value = stored[name]
            headers[name] = header_value
        return headers

    def clean_url(self):
        url = self.cleaned_data["url"].strip()
        if "," in url:
            raise forms.ValidationError("One URL per backend.")
        return url


def default_backend(targets) -> str:
    enabled = [t for t in targets if t.enabled]
    if len(enabled) == 1:
        return enabled[0].name
    return ALL if enabled else ""


def choose(targets, value):
    return select_targets(targets, backend=None if value == ALL else value, all=value == ALL)


def validate_model_name(value):
    if not MODEL_NAME.match(value):
        raise forms.ValidationError("Not a model name (e.g. llama3.2, qwen3:8b, hf.co/org/repo:Q4_K_M).")


class BackendChoiceForm(forms.Form):
    backend = forms.ChoiceField(label="Backend")

    def __init__(self, *args, targets=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.targets = list(targets)
        self.fields["backend"].choices = backend_choices(self.targets)

    def clean_backend(self):
        value = self.cleaned_data["backend"]
        try:
            self.cleaned_data["targets"] = choose(self.targets, value)
        except TargetError as exc:
            raise forms.ValidationError(str(exc)) from None
        return value


def backend_choices(targets):
    enabled = [t for t in targets if t.enabled]
    choices = [(ALL, f"All enabled backends ({len(enabled)})")] if len(enabled) > 1 else []
    for target in targets:
        label = target.name if target.url.endswith(target.name) else f"{target.name} ({target.url})"
        choices.append((target.name, label + ("" if target.enabled else " — disabled")))
    return choices


class PullForm(BackendChoiceForm):
    model = forms.CharField(
        label="Model",
        max_length=300,
        validators=[validate_model_name],
        help_text="As for `ollama pull`: llama3.2, qwen3:8b, hf.co/org/repo:tag …",
    )
    field_order = ["model", "backend"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].widget.attrs.update(list="ow-known-models", autofocus=True)


class CopyForm(BackendChoiceForm):
    MODES = [
        ("alias", "Create an alias: instant, on every backend, no disk space"),
        ("copy", "Real copy on the backend(s), like ollama cp"),
    ]
    source = forms.CharField(label="Source model", max_length=300, validators=[validate_model_name])
    destination = forms.CharField(label="New name", max_length=200, validators=[validate_model_name])
    mode = forms.ChoiceField(choices=MODES, initial="alias", widget=forms.RadioSelect)
    field_order = ["source", "destination", "mode", "backend"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["backend"].required = False
        self.fields["backend"].help_text = "For a real copy only."
        self.fields["source"].widget.attrs.update(list="ow-known-models", autofocus=True)

    def clean_backend(self):
        if self.data.get("mode") != "copy":
            return ""
        return super().clean_backend()

    def clean(self):
        data = super().clean()
        if data.get("source") and data.get("destination") and same_model(data["source"], data["destination"]):
            raise forms.ValidationError("The new name is the same as the source.")
        return data


class DeleteForm(BackendChoiceForm):
    model = forms.CharField(label="Model", max_length=300, validators=[validate_model_name])
    field_order = ["model", "backend"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].widget.attrs.update(list="ow-known-models", autofocus=True)
