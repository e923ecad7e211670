"""Staff: the request explorer (filters over the request log) and one request's details."""

from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.http import urlencode

from ollamaweb.usage.models import RequestLog

from .. import explorer
from ..security import page


@page(staff=True)
def requests(request):
    filters = explorer.parse_filters(request.GET)
    result = explorer.explore(filters, before=request.GET.get("before"), after=request.GET.get("after"))
    context = {
        "section": "explorer",
        "filters": filters,
        "query": urlencode(filters.query()),
        "page": result,
        "ranges": [(name, label) for name, (label, _) in explorer.RANGES.items()],
        "statuses": list(explorer.STATUSES.items()),
        "endpoints": explorer.ENDPOINTS,
        "backends": explorer.backend_names(),
        "since_value": explorer.local_input(filters.since) if filters.since and not filters.range else "",
        "until_value": explorer.local_input(filters.until) if filters.until and not filters.range else "",
        "zone": timezone.get_current_timezone_name(),
    }
    return render(request, "portal/staff/explorer.html", context)


@page(staff=True)
def request_detail(request, pk):
    row = get_object_or_404(RequestLog.objects.select_related("user", "team", "api_key"), pk=pk)
    return render(
        request,
        "portal/staff/request_detail.html",
        {"section": "explorer", "row": row, "zone": timezone.get_current_timezone_name()},
    )
