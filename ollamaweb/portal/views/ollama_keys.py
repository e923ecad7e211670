"""Ollama keys: register the public key of the Ollama CLI (`~/.ollama/id_ed25519.pub`), list, remove.

With `OLLAMA_AUTH=1` the CLI signs its requests with that key (ollamaweb/keys/signatures.py); a
registered key acts as one of the user's API keys (its allowed models, scope and quotas).
"""

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from ollamaweb.keys import services
from ollamaweb.keys.models import ApiKey, OllamaPublicKey

from ..forms import submit
from ..playground_keys import PLAYGROUND_KEY_NAME
from ..security import page


class OllamaKeyForm(forms.Form):
    public_key = forms.CharField(
        label="Public key",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false", "placeholder": "ssh-ed25519 AAAA…"}),
        help_text="The one line in ~/.ollama/id_ed25519.pub (on Windows: %USERPROFILE%\\.ollama\\id_ed25519.pub).",
    )
    api_key = forms.ModelChoiceField(
        label="Acts as API key",
        queryset=ApiKey.objects.none(),
        empty_label=None,
        help_text="Signed requests use this key's allowed models, quotas and scope, and are logged under it.",
    )
    name = forms.CharField(max_length=100, required=False, help_text="Defaults to the key's comment.")

    def __init__(self, *args, user, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["api_key"].queryset = (
            ApiKey.objects.usable().filter(user=user).exclude(name=PLAYGROUND_KEY_NAME).order_by("-created_at")
        )
        self.fields["api_key"].label_from_instance = lambda key: f"{key.prefix}… — {key.name or 'unnamed'}"


@page(no_store=True)
def ollama_keys(request):
    form = OllamaKeyForm(request.POST or None, user=request.user)
    status = 200
    if request.method == "POST":
        key = submit(
            form,
            "public_key",
            lambda data: services.register_ollama_key(
                request.user, data["api_key"], data["public_key"], data["name"], request=request
            ),
        )
        if key is not None:
            messages.success(request, f"Registered Ollama key {key.fingerprint}.")
            return redirect("portal:ollama-keys")
        status = 400
    context = {
        "section": "keys",
        "form": form,
        "has_api_keys": form.fields["api_key"].queryset.exists(),
        "ollama_keys": OllamaPublicKey.objects.filter(user=request.user).select_related("api_key"),
        "host": request.build_absolute_uri("/").rstrip("/"),
    }
    return render(request, "portal/ollama_keys.html", context, status=status)


@page
@require_POST
def remove_ollama_key(request, pk):
    key = services.remove_ollama_key(request.user, pk, request=request)
    if key is None:
        messages.info(request, "That Ollama key was already removed.")
    else:
        messages.success(request, f"Removed Ollama key {key.fingerprint}. It stops working at once.")
    return redirect("portal:ollama-keys")
