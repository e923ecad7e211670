"""Staff pages: the overview, the live request feed, and invite links."""

import asyncio
import time
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from ollamaweb.audit.services import record, snapshot
from ollamaweb.backends.config import BackendConfig, aconfigured_backends
from ollamaweb.backends.operations import error_text
from ollamaweb.backends.registry import registry
from ollamaweb.core.errors import GatewayError
from ollamaweb.usage.models import RequestLog

from .. import charts, stats
from ..feed import feed_row
from ..forms import InviteForm
from ..models import Invite
from ..security import page
from ..zones import quota_today, quota_zone
from .account import registration_mode

BACKEND_CHECK_TIMEOUT = 3.0


async def backend_status(target: BackendConfig) -> dict:
    """GET /api/version of one backend, with its latency (and this process's in-flight count)."""
    state = registry.state_of(target.name)
    status = {
        "name": target.name,
        "url": target.url,
        "enabled": target.enabled,
        "up": None,
        "latency_ms": None,
        "inflight": state.inflight if state else None,
    }
    if not target.enabled:
        return status
    started = time.perf_counter()
    try:
        answer = await asyncio.wait_for(target.client().request("GET", "/api/version"), BACKEND_CHECK_TIMEOUT)
    except (GatewayError, OSError) as exc:
        return {**status, "up": False, "error": error_text(exc)}
    except TimeoutError:
        return {**status, "up": False, "error": f"no answer within {BACKEND_CHECK_TIMEOUT:g} s"}
    latency = (time.perf_counter() - started) * 1000
    return {**status, "up": True, "version": answer.get("version", "?"), "latency_ms": latency}


def _overview_numbers() -> dict:
    today = quota_today()
    activity = stats.recent_activity()
    unauthenticated = stats.unauthenticated_count(timezone.now() - timedelta(days=1))
    minute_labels = [m.strftime("%H:%M") for m in activity["minutes"]]
    hour_labels = [h.strftime("%H:00") for h in activity["hours"]]
    return {
        "activity": activity,
        "unauthenticated": unauthenticated,
        "quota_zone": str(quota_zone()),
        "today_totals": stats.day_totals(today),
        "week_top": stats.top_usage(today - timedelta(days=6)),
        "week_gpu": stats.top_gpu_time(today - timedelta(days=6)),
        "week_start": today - timedelta(days=6),
        "errors": stats.recent_errors(),
        "rpm_chart": charts.stacked_bars(
            "chart-rpm",
            "Requests per minute, last hour",
            minute_labels,
            [("requests", charts.PALETTE[0], activity["requests_per_minute"])],
            "requests",
            tick_every=10,
        ),
        "tph_chart": charts.stacked_bars(
            "chart-tph",
            "Tokens per hour, last 24 hours",
            hour_labels,
            [("tokens", charts.PALETTE[2], activity["tokens_per_hour"])],
            "tokens",
            tick_every=4,
        ),
    }


async def _backend_statuses() -> list[dict]:
    return list(await asyncio.gather(*(backend_status(target) for target in await aconfigured_backends())))


@page(staff=True)
async def overview(request):
    numbers, backends = await asyncio.gather(
        sync_to_async(_overview_numbers)(),
        _backend_statuses(),
    )
    context = {"section": "staff", **numbers, "backends": backends, "registration_mode": registration_mode()}
    return await sync_to_async(render)(request, "portal/staff/overview.html", context)


@page(staff=True)
def feed(request):
    """The live feed page: the last rows now, new ones over the WebSocket as they are written."""
    rows = RequestLog.objects.select_related("user", "api_key").order_by("-created_at")[:25]
    initial = []
    for row in rows:
        item = feed_row(row)
        item["created_at"] = row.created_at  # a datetime, for the template's date filter
        item["user"] = row.user.get_username() if row.user else ""
        item["key_name"] = row.api_key.name if row.api_key else ""
        item["id"] = row.pk
        initial.append(item)
    return render(request, "portal/staff/feed.html", {"section": "feed", "initial_rows": initial})


@page(staff=True, no_store=True)
def invites(request):
    created = None
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data["expires_in"]
        expires_at = timezone.now() + timedelta(days=int(days)) if days else None
        invite, token = Invite.issue(request.user, form.cleaned_data["note"], expires_at)
        record(request.user, "invite.create", invite, after=snapshot(invite), request=request)
        created = {"invite": invite, "link": request.build_absolute_uri(f"/accounts/register/{token}/")}
        form = InviteForm()
    context = {
        "section": "invites",
        "form": form,
        "created": created,
        "invites": Invite.objects.select_related("created_by", "used_by")[:100],
        "registration_mode": registration_mode(),
    }
    return render(request, "portal/staff/invites.html", context)


@page(staff=True)
@require_POST
def delete_invite(request, pk):
    invite = get_object_or_404(Invite, pk=pk, used_at__isnull=True)
    before, target = snapshot(invite), ("portal.invite", str(invite.pk), str(invite))
    invite.delete()
    record(request.user, "invite.delete", target, before=before, request=request)
    messages.success(request, "The invite link no longer works.")
    return redirect("portal:invites")
