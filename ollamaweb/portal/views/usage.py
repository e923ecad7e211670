"""A user's usage: the dashboard (charts, limits, recent requests), the request table, CSV."""

import csv

from django.http import HttpResponse
from django.shortcuts import render

from ollamaweb.keys.models import ApiKey

from .. import charts, stats
from ..limits import limits_for, period_bounds
from ..security import page
from ..zones import quota_now, quota_today

CHART_DAYS = 30


def _chart_context(series: stats.DailySeries) -> dict:
    labels = [day.strftime("%b %-d") for day in series.days]
    colours = {name: charts.colour_for(i, name) for i, name in enumerate(series.models)}
    tokens = [(name, colours[name], series.tokens[name]) for name in series.models]
    requests = [(name, colours[name], series.requests[name]) for name in series.models]
    daily_gpu = [sum(series.gpu_ms[m][i] for m in series.models) / 1000 for i in range(len(series.days))]
    unit, seconds = charts.time_unit(max(daily_gpu, default=0))
    gpu = [(name, colours[name], [ms / 1000 / seconds for ms in series.gpu_ms[name]]) for name in series.models]
    table = [
        {
            "day": day,
            "tokens": sum(series.tokens[m][i] for m in series.models),
            "requests": sum(series.requests[m][i] for m in series.models),
            "gpu_seconds": daily_gpu[i],
            "by_model": [
                (m, series.tokens[m][i], series.requests[m][i]) for m in series.models if series.requests[m][i]
            ],
        }
        for i, day in enumerate(series.days)
    ]
    return {
        "tokens_chart": charts.stacked_bars("chart-tokens", "Tokens per day, by model", labels, tokens, "tokens"),
        "requests_chart": charts.stacked_bars(
            "chart-requests", "Requests per day, by model", labels, requests, "requests"
        ),
        "gpu_chart": charts.stacked_bars(
            "chart-gpu", f"GPU time per day, by model, in {unit}", labels, gpu, f"GPU {unit}", integer=False
        ),
        "gpu_unit": unit,
        "legend": charts.legend([(name, colours[name]) for name in series.models]),
        "chart_table": [row for row in reversed(table) if row["requests"]],
        "range_totals": series.totals,
    }


@page
def dashboard(request):
    user = request.user
    now = quota_now()
    today = now.date()
    limits, limits_error = limits_for(user, now)
    day_end, month_end = period_bounds(now)
    context = {
        "section": "usage",
        "today": stats.period_totals(user, today),
        "month": stats.period_totals(user, today.replace(day=1)),
        "day_end": day_end,
        "month_end": month_end,
        "limits": limits,
        "limits_error": limits_error,
        "team_limits": any(row.shared for row in limits),
        "recent": stats.user_requests(user, size=10).rows,
        "active_keys": ApiKey.objects.usable().filter(user=user).count(),
        "chart_days": CHART_DAYS,
        **_chart_context(stats.daily_usage(user, CHART_DAYS, today)),
    }
    return render(request, "portal/dashboard.html", context)


@page
def requests_table(request):
    result = stats.user_requests(request.user, before=request.GET.get("before"), after=request.GET.get("after"))
    return render(request, "portal/requests.html", {"section": "requests", "page": result})


@page(no_store=True)
def usage_csv(request):
    """The user's daily usage per key and model, from the rollups, as CSV (small: one row a day, key, model)."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="ollamaweb-usage-{quota_today().isoformat()}.csv"'
    writer = csv.writer(response)
    writer.writerow(
        ["day", "key_name", "key_prefix", "model", "requests", "prompt_tokens", "completion_tokens", "total_tokens",
         "errors"]
    )  # fmt: skip
    names = dict(ApiKey.objects.filter(user=request.user).values_list("prefix", "name"))
    name_of = stats.model_namer()  # `mistral` and `mistral:latest` are one model: one row

    def flush(day, key, models):
        for model, (requests, prompt, completion, errors) in sorted(models.items()):
            row = [day.isoformat(), names.get(key, ""), key, model, requests, prompt, completion, prompt + completion]
            writer.writerow([*row, errors])

    current, models = None, {}
    for day, key, model, *numbers in stats.usage_csv_rows(request.user):
        if (day, key) != current:
            if current:
                flush(*current, models)
            current, models = (day, key), {}
        total = models.setdefault(name_of(model), [0, 0, 0, 0])
        for i, value in enumerate(numbers):
            total[i] += value
    if current:
        flush(*current, models)
    return response
