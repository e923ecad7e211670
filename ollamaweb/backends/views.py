"""The backends admin's model-management pages: pull with live progress, copy or alias, delete."""

import asyncio

import orjson
from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from ollamaweb.audit.services import arecord
from ollamaweb.catalog import services as alias_services
from ollamaweb.catalog.models import ModelAlias

from . import pulls
from .config import aconfigured_backends
from .forms import CopyForm, DeleteForm, PullForm, default_backend
from .models import Backend, PullJob
from .operations import (
    copy_model,
    delete_model,
    find_model,
    human_size,
    model_name,
    on_each,
    same_model,
)


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


def known_models(targets_rows) -> list[str]:
    names = set()
    for row in targets_rows:
        names.update(model_name(entry) for entry in row.present_models or ())
    return sorted(names)


async def model_suggestions() -> list[str]:
    return known_models([row async for row in Backend.objects.all()])


async def form_page(model_admin, request, template: str, title: str, form, **extra):
    """A model-management form page, suggesting the model names the backends reported."""
    context = await model_admin.page_context(request, title, form=form, suggestions=await model_suggestions(), **extra)
    return TemplateResponse(request, template, context)


def initial_from_query(request, targets, **fields) -> dict:
    """A form's initial data: `fields` (name → default) from the query string, and the backend it names
    (or the default one)."""
    initial = {name: request.GET.get(name, default) for name, default in fields.items()}
    return {**initial, "backend": request.GET.get("backend") or default_backend(targets)}


async def report_outcomes(request, outcomes, action: str, model: str, done: str, failed: str, **after):
    """Audit `action` on `model` for each backend's outcome and tell the staff member (`done` and `failed`
    are messages the backend's name ends); a backend that changed has its model list refreshed."""
    for outcome in outcomes:
        backend = outcome.target.name
        await arecord(request.user, action, ("model", "", model), after=outcome.audited(**after), request=request)
        if outcome.ok:
            messages.success(request, f"{done} {backend}.")
            await pulls.after_change(outcome.target)
        else:
            messages.error(request, f"{failed} {backend}: {outcome.message}")


async def pull_view(model_admin, request):
    targets = await aconfigured_backends()
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
        form = PullForm(initial=initial_from_query(request, targets, model=""), targets=targets)
    recent = [job async for job in PullJob.objects.order_by("-created_at")[:20]]
    return await form_page(model_admin, request, "admin/backends/pull.html", "Pull a model", form, recent=recent)


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
    targets = await aconfigured_backends()
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
        form = CopyForm(initial=initial_from_query(request, targets, source="", mode="alias"), targets=targets)
    aliases_url = reverse("admin:catalog_modelalias_changelist")
    return await form_page(
        model_admin, request, "admin/backends/copy.html", "Copy a model", form, aliases_url=aliases_url
    )


async def create_alias(request, source, destination):
    created = not await ModelAlias.objects.filter(name=destination).aexists()
    try:
        await sync_to_async(alias_services.set_alias)(
            destination, source, allow_pending=True, actor=request.user, request=request
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return
    verb = "Created" if created else "Updated"
    messages.success(
        request, f"{verb} the alias {destination} → {source}: clients may now ask for {destination} on every backend."
    )
    known = await model_suggestions()
    if known and not any(same_model(source, name) for name in known):
        messages.warning(request, f"No backend reported a model named {source} at its last health check.")


async def real_copy(request, targets, source, destination):
    outcomes = await on_each(targets, copy_model, source, destination)
    done, failed = f"Copied {source} to {destination} on", f"Could not copy {source} on"
    await report_outcomes(request, outcomes, "model.copy", source, done, failed, destination=destination)


async def delete_model_view(model_admin, request):
    targets = await aconfigured_backends()
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
        form = DeleteForm(initial=initial_from_query(request, targets, model=""), targets=targets)
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
    return await form_page(
        model_admin, request, "admin/backends/delete_model.html", "Delete a model", form, checks=rows
    )


async def delete_everywhere(request, targets, model):
    if not targets:
        messages.error(request, "Nothing deleted: no backend was confirmed.")
        return
    outcomes = await on_each(targets, delete_model, model)
    await report_outcomes(
        request, outcomes, "model.delete", model, f"Deleted {model} from", f"Could not delete {model} from"
    )
