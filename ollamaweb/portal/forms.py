from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm, UserCreationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils import timezone

from .zones import zone_choices

EXPIRY_CHOICES = [
    ("", "Never"),
    ("1", "In 1 day"),
    ("7", "In 7 days"),
    ("30", "In 30 days"),
    ("90", "In 90 days"),
    ("365", "In 1 year"),
]
MAX_ALLOWED_MODELS = 100


def submit(form, field: str, write):
    """What `write(form.cleaned_data)` returns if the form is valid and the write succeeds, else None;
    a ValidationError the write raises (a service refusing the change) is shown on `field`."""
    if not form.is_valid():
        return None
    try:
        return write(form.cleaned_data)
    except ValidationError as exc:
        form.add_error(field, exc)
        return None


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="Something to recognise it by, e.g. “laptop” or “CI”.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    expires_in = forms.ChoiceField(label="Expires", choices=EXPIRY_CHOICES, required=False)
    models = forms.MultipleChoiceField(
        label="Allowed models",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave all unticked to allow every model.",
    )
    other_models = forms.CharField(
        label="Other model names",
        required=False,
        max_length=2000,
        help_text="Comma-separated names not listed above (models or aliases).",
    )

    def __init__(self, *args, model_names=(), **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["models"].choices = [(name, name) for name in model_names]
        if not model_names:
            del self.fields["models"]
            self.fields["other_models"].label = "Allowed models"
            self.fields["other_models"].help_text = "Comma-separated model or alias names; empty allows every model."

    def clean_other_models(self):
        names = [name.strip() for name in self.cleaned_data["other_models"].split(",") if name.strip()]
        for name in names:
            if len(name) > 200 or any(ch.isspace() for ch in name):
                raise forms.ValidationError(f"“{name[:40]}” is not a model name.")
        return names

    def clean(self):
        cleaned = super().clean()
        names = list(dict.fromkeys([*cleaned.get("models", []), *cleaned.get("other_models", [])]))
        if len(names) > MAX_ALLOWED_MODELS:
            raise forms.ValidationError(f"At most {MAX_ALLOWED_MODELS} models per key.")
        cleaned["allowed_models"] = names
        days = cleaned.get("expires_in")
        cleaned["expires_at"] = timezone.now() + timedelta(days=int(days)) if days else None
        return cleaned


class RegistrationForm(UserCreationForm):
    email = forms.EmailField(required=False, help_text="Optional; lets an administrator reach you.")

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class InviteForm(forms.Form):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    note = forms.CharField(max_length=200, required=False, help_text="Who it is for (only staff see this).")
    expires_in = forms.ChoiceField(
        label="Expires",
        choices=[("1", "In 1 day"), ("7", "In 7 days"), ("30", "In 30 days"), ("", "Never")],
        initial="7",
        required=False,
    )


class SpacedPasswordResetForm(PasswordResetForm):
    """Django's reset form, sending at most one e-mail per account every OLLAMAWEB_PASSWORD_RESET_INTERVAL
    seconds, so the public form cannot be used to flood someone's mailbox. The page answers the same
    either way."""

    def get_users(self, email):
        interval = settings.PASSWORD_RESET_INTERVAL
        for user in super().get_users(email):
            if interval <= 0 or cache.add(f"ollamaweb:password-reset-sent:{user.pk}", 1, timeout=interval):
                yield user


class ProfileForm(forms.Form):
    time_zone = forms.ChoiceField(
        label="Time zone",
        required=False,
        help_text="Every time in the portal and the admin is shown in this zone.",
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [("", "My browser’s time zone"), *zone_choices()]


class UserCreateForm(forms.ModelForm):
    """A staff member adds someone: a password now, or a one-time link for them to choose one."""

    SIGN_IN_CHOICES = [
        ("invite", "Give them a link to choose their password"),
        ("password", "Set a password now"),
    ]
    sign_in = forms.ChoiceField(
        label="How they sign in", choices=SIGN_IN_CHOICES, initial="invite", widget=forms.RadioSelect
    )
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Only when setting a password now.",
    )
    is_staff = forms.BooleanField(label="Staff (sees the overview, users and the admin)", required=False)

    class Meta:
        model = get_user_model()
        fields = ("username", "email")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("sign_in") == "password":
            password = cleaned.get("password") or ""
            if not password:
                self.add_error("password", "Enter a password, or give them a link instead.")
            else:
                from django.contrib.auth.password_validation import validate_password

                try:
                    validate_password(password)
                except forms.ValidationError as error:
                    self.add_error("password", error)
        return cleaned


BIG_LIMIT, SMALL_LIMIT = 10**15, 2**31 - 1  # what the columns hold (a bigger number is refused, not a 500)


def _limit(label: str, maximum: int = BIG_LIMIT):
    return forms.IntegerField(label=label, min_value=0, max_value=maximum, required=False)


class QuotaForm(forms.Form):
    """A user's own limits; an empty field inherits the default for everyone."""

    empty_means = "default"  # the fields' placeholder

    tokens_per_day = _limit("Tokens per day")
    tokens_per_month = _limit("Tokens per month")
    gpu_seconds_per_day = _limit("GPU-seconds per day")
    gpu_seconds_per_month = _limit("GPU-seconds per month")
    requests_per_minute = _limit("Requests per minute", SMALL_LIMIT)
    max_concurrent = _limit("Requests at once", SMALL_LIMIT)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs.setdefault("inputmode", "numeric")
            field.widget.attrs.setdefault("placeholder", self.empty_means)


class TeamLimitsForm(QuotaForm):
    """A team's limits on all models or on one model; an empty field is no limit (teams inherit nothing)."""

    empty_means = "no limit"
    field_order = ("model",)

    model = forms.CharField(
        label="Model",
        max_length=200,
        required=False,
        help_text="Empty: all models together. A model name limits only that model (on top of the above).",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].widget.attrs.update(placeholder="all models", inputmode="text", autocomplete="off")

    def clean_model(self):
        name = self.cleaned_data["model"].strip()
        if any(ch.isspace() for ch in name):
            raise forms.ValidationError(f"“{name[:40]}” is not a model name.")
        return name
