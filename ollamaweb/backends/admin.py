"""The admin for Ollama backends: health at a glance, models present and loaded, status history,
and model management pages (pull with live progress, copy or alias, delete with confirmation).

Header values (they often hold auth tokens) are never rendered: the change form shows them
masked and keeps a masked value unchanged on save.
"""

import asyncio
import functools
import re
from urllib.parse import urlencode

import orjson
from asgiref.sync import sync_to_async
from django import forms
from django.contrib import admin, messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.timezone import localtime
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from ollamaweb.audit.admin_mixins import AuditedAdmin
from ollamaweb.audit.services import arecord
from ollamaweb.catalog.models import ModelAlias

from . import pulls
from .models import Backend, BackendEvent, PullJob
from .operations import (
    TargetError,
    aconfigured_targets,
    copy_model,
    delete_model,
    find_model,
    human_size,
    on_each,
    same_model,
    select_targets,
)

MASK = "********"
ALL = "__all__"
HISTORY_LIMIT = 50
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$")


def badge(status: str):
    """A colored status label (colors in backends/admin.css)."""
    return format_html('<span class="ow-badge ow-{}">{}</span>', status, status)


def ago(moment) -> str:
    """A short "how long ago": 12 s ago, 3 min ago, 5 h ago, else the date."""
    seconds = max(0, int((timezone.now() - moment).total_seconds()))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return localtime(moment).strftime("%Y-%m-%d")


def backend_status(backend: Backend) -> str:
    return "unknown" if backend.is_up is None else ("up" if backend.is_up else "down")


def model_name(entry: dict) -> str:
    return entry.get("model") or entry.get("name") or "?"


def when(value):
    """An Ollama timestamp (RFC 3339, nanoseconds) as an aware datetime, or None."""
    if not isinstance(value, str) or not value:
        return None
    value = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))
    try:
        return parse_datetime(value)
    except ValueError:
        return None


def present_rows(backend: Backend) -> list[dict]:
    rows = []
    for entry in sorted(backend.present_models or (), key=model_name):
        details = entry.get("details") or {}
        families = details.get("families") or ([details["family"]] if details.get("family") else [])
        rows.append(
            {
                "name": model_name(entry),
                "size": human_size(entry.get("size")),
                "family": details.get("family") or "–",
                "families": ", ".join(families) or "–",
                "parameters": details.get("parameter_size") or "–",
                "quantization": details.get("quantization_level") or "–",
                "format": details.get("format") or "",
                "modified": when(entry.get("modified_at")),
                "digest": (entry.get("digest") or "")[:12],
            }
        )
    return rows


def loaded_rows(backend: Backend) -> list[dict]:
    rows = []
    for entry in backend.loaded_models or ():
        size, vram = entry.get("size") or 0, entry.get("size_vram")
        on_gpu = f"{100 * vram / size:.0f}% GPU" if size and vram is not None else ""
        rows.append(
            {
                "name": model_name(entry),
                "size": human_size(size),
                "vram": human_size(vram),
                "on_gpu": on_gpu,
                "expires": when(entry.get("expires_at")),
                "context": entry.get("context_length") or "–",
            }
        )
    return rows


# --- Backend -------------------------------------------------------------------------------------


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


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("up", "Up"), ("down", "Down"), ("unknown", "Unknown")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "up":
            return queryset.filter(is_up=True)
        if value == "down":
            return queryset.filter(is_up=False)
        if value == "unknown":
            return queryset.filter(is_up__isnull=True)
        return queryset


class BackendEventInline(admin.TabularInline):
    model = BackendEvent
    fields = ("at", "status", "message")
    readonly_fields = ("at", "status", "message")
    ordering = ("-at",)
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name = "status change"
    verbose_name_plural = f"Status history (newest first, last {HISTORY_LIMIT})"

    @admin.display(description="status")
    def status(self, event):
        return badge("up" if event.up else "down")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        object_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
        if not object_id or not str(object_id).isdigit():
            return queryset.none()
        newest = queryset.filter(backend_id=int(object_id)).order_by("-at", "-pk").values_list("pk", flat=True)
        return queryset.filter(pk__in=list(newest[:HISTORY_LIMIT])).order_by("-at", "-pk")


# Written by the health checkers, not by people: left out of the audit rows.
HEALTH_FIELDS = (
    "created_at",
    "is_up",
    "version",
    "latency_ms",
    "present_models",
    "loaded_models",
    "checked_at",
    "last_error",
)


@admin.register(Backend)
class BackendAdmin(AuditedAdmin, admin.ModelAdmin):
    form = BackendForm
    audit_name = "backend"
    audit_exclude = HEALTH_FIELDS
    list_display = (
        "name",
        "status_badge",
        "url",
        "version_display",
        "latency",
        "models_count",
        "loaded_count",
        "checked",
    )
    list_display_links = ("name",)
    list_filter = (StatusFilter, "enabled")
    search_fields = ("name", "url", "version")
    readonly_fields = ("status_badge", "version_display", "latency", "checked_at", "last_error_display")
    inlines = [BackendEventInline]
    change_list_template = "admin/backends/backend/change_list.html"
    change_form_template = "admin/backends/backend/change_form.html"

    def get_fieldsets(self, request, obj=None):
        config = (None, {"fields": ("name", "url", "enabled", "weight", "max_concurrent", "headers")})
        if obj is None:
            return [config]
        health = (
            "Health (last check)",
            {"fields": ("status_badge", "version_display", "latency", "checked_at", "last_error_display")},
        )
        return [config, health]

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    @admin.display(description="status", ordering="is_up")
    def status_badge(self, backend):
        if not backend.enabled:
            return format_html("{} {}", badge(backend_status(backend)), badge("disabled"))
        return badge(backend_status(backend))

    @admin.display(description="version", ordering="version")
    def version_display(self, backend):
        return backend.version or "–"

    @admin.display(description="latency", ordering="latency_ms")
    def latency(self, backend):
        return "–" if backend.latency_ms is None else f"{backend.latency_ms:.0f} ms"

    @admin.display(description="checked", ordering="checked_at")
    def checked(self, backend):
        if backend.checked_at is None:
            return "never"
        return format_html(
            '<span title="{}">{}</span>',
            localtime(backend.checked_at).strftime("%Y-%m-%d %H:%M:%S"),
            ago(backend.checked_at),
        )

    @admin.display(description="models")
    def models_count(self, backend):
        return len(backend.present_models or ())

    @admin.display(description="loaded")
    def loaded_count(self, backend):
        return len(backend.loaded_models or ())

    @admin.display(description="last error")
    def last_error_display(self, backend):
        if not backend.last_error:
            return "–"
        return format_html('<span style="color:#c62828;white-space:pre-wrap">{}</span>', backend.last_error)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        backend = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if backend is not None:
            extra_context.update(
                present_models=present_rows(backend),
                loaded_models=loaded_rows(backend),
                pull_url=reverse("admin:backends_backend_pull") + "?" + urlencode({"backend": backend.name}),
                delete_url=reverse("admin:backends_backend_delete_model") + "?" + urlencode({"backend": backend.name}),
            )
        return super().change_view(request, object_id, form_url, extra_context)

    # --- Model management pages ----------------------------------------------------------------

    def get_urls(self):
        def view(function):
            return staff_view(functools.partial(function, self))

        custom = [
            path("pull/", view(pull_view), name="backends_backend_pull"),
            path("pull/<uuid:batch>/", view(pull_job_view), name="backends_backend_pull_job"),
            path("pull/<uuid:batch>/events/", view(pull_events_view), name="backends_backend_pull_events"),
            path("pull/<uuid:batch>/status/", view(pull_status_view), name="backends_backend_pull_status"),
            path("copy/", view(copy_view), name="backends_backend_copy"),
            path("delete-model/", view(delete_model_view), name="backends_backend_delete_model"),
        ]
        return custom + super().get_urls()

    async def page_context(self, request, title, **extra):
        context = await sync_to_async(self.admin_site.each_context)(request)
        context.update(title=title, opts=self.model._meta, **extra)
        return context


def staff_view(view):
    """An async admin view: staff with the change-backend permission; others go to the login page."""

    async def wrapper(request, *args, **kwargs):
        user = await request.auser()
        request.user = user
        if not (user.is_active and user.is_staff):
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        if not await sync_to_async(user.has_perm)("backends.change_backend"):
            raise PermissionDenied("You may not manage backends.")
        return await view(request, *args, **kwargs)

    return csrf_protect(never_cache(wrapper))


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


def known_models(targets_rows) -> list[str]:
    names = set()
    for row in targets_rows:
        names.update(model_name(entry) for entry in row.present_models or ())
    return sorted(names)


async def model_suggestions() -> list[str]:
    return known_models([row async for row in Backend.objects.all()])


async def pull_view(model_admin, request):
    targets = await aconfigured_targets()
    if request.method == "POST":
        form = PullForm(request.POST, targets=targets)
        if form.is_valid():
            batch = await pulls.start_jobs(form.cleaned_data["model"], form.cleaned_data["targets"], request.user)
            await arecord(
                request.user,
                "model.pull",
                ("model", "", form.cleaned_data["model"]),
                after={"backends": [t.name for t in form.cleaned_data["targets"]], "batch": str(batch)},
                request=request,
            )
            return HttpResponseRedirect(reverse("admin:backends_backend_pull_job", args=[batch]))
    else:
        initial = {
            "model": request.GET.get("model", ""),
            "backend": request.GET.get("backend") or default_backend(targets),
        }
        form = PullForm(initial=initial, targets=targets)
    recent = [job async for job in PullJob.objects.order_by("-created_at")[:20]]
    context = await model_admin.page_context(
        request,
        "Pull a model",
        form=form,
        recent=recent,
        suggestions=await model_suggestions(),
    )
    return TemplateResponse(request, "admin/backends/pull.html", context)


async def pull_job_view(model_admin, request, batch):
    jobs = await pulls.batch_payload(batch)
    if not jobs:
        raise Http404("No such pull.")
    context = await model_admin.page_context(
        request,
        f"Pull {jobs[0]['model']}",
        jobs=jobs,
        batch=batch,
        events_url=reverse("admin:backends_backend_pull_events", args=[batch]),
        status_url=reverse("admin:backends_backend_pull_status", args=[batch]),
        pull_url=reverse("admin:backends_backend_pull"),
    )
    return TemplateResponse(request, "admin/backends/pull_job.html", context)


async def pull_status_view(model_admin, request, batch):
    jobs = await pulls.batch_payload(batch)
    if not jobs:
        raise Http404("No such pull.")
    return HttpResponse(orjson.dumps({"jobs": jobs}), content_type="application/json")


POLL_INTERVAL = 0.5
KEEPALIVE_SECONDS = 15


async def pull_events_view(model_admin, request, batch):
    """Server-sent events: the batch's jobs whenever they change, then `done` once all have ended.

    It polls the PullJob rows, so it works whichever server process runs the pull.
    """
    if not await PullJob.objects.filter(batch=batch).aexists():
        raise Http404("No such pull.")

    async def events():
        last, quiet = None, 0.0
        while True:
            jobs = await pulls.batch_payload(batch)
            data = orjson.dumps({"jobs": jobs}).decode()
            if data != last:
                last, quiet = data, 0.0
                yield f"event: progress\ndata: {data}\n\n"
            elif quiet >= KEEPALIVE_SECONDS:
                quiet = 0.0
                yield ": keep-alive\n\n"
            if all(job["finished"] for job in jobs):
                yield "event: done\ndata: {}\n\n"
                return
            await asyncio.sleep(POLL_INTERVAL)
            quiet += POLL_INTERVAL

    response = StreamingHttpResponse(events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


async def copy_view(model_admin, request):
    targets = await aconfigured_targets()
    if request.method == "POST":
        form = CopyForm(request.POST, targets=targets)
        if form.is_valid():
            source, destination = form.cleaned_data["source"], form.cleaned_data["destination"]
            if form.cleaned_data["mode"] == "alias":
                await create_alias(request, source, destination)
            else:
                await real_copy(request, form.cleaned_data["targets"], source, destination)
            return HttpResponseRedirect(request.path)
    else:
        form = CopyForm(
            initial={
                "source": request.GET.get("source", ""),
                "backend": request.GET.get("backend") or default_backend(targets),
                "mode": request.GET.get("mode", "alias"),
            },
            targets=targets,
        )
    context = await model_admin.page_context(
        request,
        "Copy a model",
        form=form,
        suggestions=await model_suggestions(),
        aliases_url=reverse("admin:catalog_modelalias_changelist"),
    )
    return TemplateResponse(request, "admin/backends/copy.html", context)


async def create_alias(request, source, destination):
    old = await ModelAlias.objects.filter(name=destination).afirst()
    alias, created = await ModelAlias.objects.aupdate_or_create(name=destination, defaults={"target": source})
    action = "alias.create" if created else "alias.update"
    before = {"name": destination, "target": old.target} if old else None
    await arecord(
        request.user, action, alias, before=before, after={"name": destination, "target": source}, request=request
    )
    verb = "Created" if created else "Updated"
    messages.success(
        request, f"{verb} the alias {destination} → {source}: clients may now ask for {destination} on every backend."
    )
    known = await model_suggestions()
    if known and not any(same_model(source, name) for name in known):
        messages.warning(request, f"No backend reported a model named {source} at its last health check.")


async def real_copy(request, targets, source, destination):
    outcomes = await on_each(targets, copy_model, source, destination)
    for outcome in outcomes:
        await arecord(
            request.user,
            "model.copy",
            ("model", "", source),
            after={
                "destination": destination,
                "backend": outcome.target.name,
                "ok": outcome.ok,
                "error": outcome.message,
            },
            request=request,
        )
        if outcome.ok:
            messages.success(request, f"Copied {source} to {destination} on {outcome.target.name}.")
            await pulls.after_change(outcome.target)
        else:
            messages.error(request, f"Could not copy {source} on {outcome.target.name}: {outcome.message}")


async def delete_model_view(model_admin, request):
    targets = await aconfigured_targets()
    checks = None
    if request.method == "POST":
        form = DeleteForm(request.POST, targets=targets)
        if form.is_valid():
            model, chosen = form.cleaned_data["model"], form.cleaned_data["targets"]
            if request.POST.get("confirm") == "yes":
                names = set(request.POST.getlist("targets"))
                await delete_everywhere(request, [t for t in chosen if t.name in names], model)
                return HttpResponseRedirect(reverse("admin:backends_backend_changelist"))
            checks = await on_each(chosen, find_model, model)
            if not any(c.ok and c.detail for c in checks):
                problems = [c for c in checks if not c.ok]
                messages.error(
                    request,
                    f"None of the selected backends{' that answered' if problems else ''} has {model}."
                    + "".join(f" {c.target.name}: {c.message}" for c in problems),
                )
                checks = None
    else:
        form = DeleteForm(
            initial={
                "model": request.GET.get("model", ""),
                "backend": request.GET.get("backend") or default_backend(targets),
            },
            targets=targets,
        )
    rows = None
    if checks is not None:
        rows = [
            {
                "name": c.target.name,
                "present": bool(c.ok and c.detail),
                "size": human_size((c.detail or {}).get("size")),
                "error": "" if c.ok else c.message,
            }
            for c in checks
        ]
    context = await model_admin.page_context(
        request,
        "Delete a model",
        form=form,
        checks=rows,
        suggestions=await model_suggestions(),
    )
    return TemplateResponse(request, "admin/backends/delete_model.html", context)


async def delete_everywhere(request, targets, model):
    if not targets:
        messages.error(request, "Nothing deleted: no backend was confirmed.")
        return
    for outcome in await on_each(targets, delete_model, model):
        await arecord(
            request.user,
            "model.delete",
            ("model", "", model),
            after={"backend": outcome.target.name, "ok": outcome.ok, "error": outcome.message},
            request=request,
        )
        if outcome.ok:
            messages.success(request, f"Deleted {model} from {outcome.target.name}.")
            await pulls.after_change(outcome.target)
        else:
            messages.error(request, f"Could not delete {model} from {outcome.target.name}: {outcome.message}")


# --- Pull jobs ---------------------------------------------------------------------------------


@admin.register(PullJob)
class PullJobAdmin(admin.ModelAdmin):
    list_display = ("model", "backend_name", "status_badge", "progress", "created_by", "created_at", "finished_at")
    list_filter = ("status", "backend_name")
    search_fields = ("model", "backend_name")
    fields = (
        "model",
        "backend_name",
        "backend_url",
        "status_badge",
        "progress",
        "message",
        "error",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "updated_at",
        "live_page",
    )
    readonly_fields = fields
    list_select_related = ("created_by",)
    change_list_template = "admin/backends/pulljob/change_list.html"

    @admin.display(description="status", ordering="status")
    def status_badge(self, job):
        return badge(job.effective_status)

    @admin.display(description="progress", ordering="percent")
    def progress(self, job):
        return "–" if job.percent is None else f"{job.percent:.0f}%"

    @admin.display(description="live page")
    def live_page(self, job):
        url = reverse("admin:backends_backend_pull_job", args=[job.batch])
        return format_html('<a href="{}">{}</a>', url, "Show the progress")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
