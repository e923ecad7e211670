"""Small server-rendered SVG charts (no JavaScript, no third-party code).

Each chart is an `<svg role="img">` with a title and a description, a `<title>` tooltip per bar,
and the caller shows the same numbers as a table for screen readers and for copying.
"""

from django.utils.html import format_html
from django.utils.safestring import mark_safe

# Okabe–Ito colours (distinguishable with colour blindness), then grey for "other".
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999"]
OTHER = "#8a8f98"


def colour_for(index: int, name: str) -> str:
    return OTHER if name == "other" else PALETTE[index % len(PALETTE)]


def f1(value: float) -> str:
    return f"{value:.1f}"


def nice_max(value: float) -> float:
    """The smallest 1/2/2.5/5 × 10^n at or above value (at least 1)."""
    if value <= 1:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def integer_step(value: float, lines: int = 4) -> int:
    """The smallest whole 1/2/2.5/5 × 10^n step with `lines` steps reaching value (at least 1)."""
    target = max(1.0, value / lines)
    magnitude = 1
    while True:
        for step in (1, 2, 2.5, 5):
            candidate = step * magnitude
            if candidate >= target and float(candidate).is_integer():
                return int(candidate)
        magnitude *= 10


def amount(value: float) -> str:
    """1234 → 1,234; 12.3456 → 12.35 (for tooltips and descriptions)."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


TIME_UNITS = (("hours", 3600), ("minutes", 60), ("seconds", 1))


def time_unit(highest_seconds: float) -> tuple[str, int]:
    """The unit a chart of durations reads best in: hours from 2 h up, minutes from 2 min, else seconds."""
    for name, size in TIME_UNITS:
        if highest_seconds >= 2 * size:
            return name, size
    return "seconds", 1


def compact(value: float) -> str:
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            number = value / limit
            return f"{number:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{value:g}"


def stacked_bars(
    chart_id: str,
    title: str,
    labels: list[str],
    series: list[tuple[str, str, list[int]]],
    unit: str,
    tick_every: int = 5,
    integer: bool = True,
    width: int = 760,
    height: int = 240,
) -> str:
    """A stacked bar chart: `series` is [(name, colour, values per label)], bars share `labels`."""
    left, right, top, bottom = 60, 8, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    count = max(1, len(labels))
    totals = [sum(values[i] for _, _, values in series) for i in range(len(labels))]
    highest = max(totals, default=0)
    # Counts get whole-number grid lines (never "12.5 requests"): the top is 4 whole steps.
    maximum = 4 * integer_step(highest) if integer else nice_max(highest)
    slot = plot_w / count
    bar_w = max(1.0, slot * 0.72)
    parts = [
        format_html(
            '<svg class="chart" id="{}" viewBox="0 0 {} {}" role="img" aria-labelledby="{}-t {}-d" '
            'preserveAspectRatio="xMidYMid meet">',
            chart_id, width, height, chart_id, chart_id,
        ),
        format_html('<title id="{}-t">{}</title>', chart_id, title),
        format_html(
            '<desc id="{}-d">Total {} {} over {} periods; highest {} in one period.</desc>',
            chart_id, amount(sum(totals)), unit, len(labels), amount(max(totals, default=0)),
        ),
    ]  # fmt: skip
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        y = top + plot_h - fraction * plot_h
        parts.append(
            format_html(
                '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>',
                left, width - right, f1(y), f1(y), left - 6, f1(y + 4), compact(maximum * fraction),
            )
        )  # fmt: skip
    for i, label in enumerate(labels):
        x = left + i * slot + (slot - bar_w) / 2
        y = top + plot_h
        rects = []
        breakdown = []
        for name, colour, values in series:
            value = values[i]
            if not value:
                continue
            h = value / maximum * plot_h
            y -= h
            rects.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>', f1(x), f1(y), f1(bar_w), f1(h), colour
                )
            )
            breakdown.append(f"{name}: {amount(value)}")
        tip = f"{label}: {amount(totals[i])} {unit}" + (f" ({'; '.join(breakdown)})" if len(breakdown) > 1 else "")
        # A full-height transparent hit area so small bars still show their tooltip.
        parts.append(
            format_html(
                '<g class="bar"><title>{}</title><rect class="hit" x="{}" y="{}" width="{}" height="{}"/>',
                tip, f1(left + i * slot), top, f1(slot), plot_h,
            )
        )  # fmt: skip
        parts.extend(rects)
        parts.append(mark_safe("</g>"))
        last = i == len(labels) - 1
        if i % tick_every == 0 or last:
            x_label, anchor = (width - right, "end") if last else (left + i * slot + slot / 2, "middle")
            parts.append(
                format_html(
                    '<text class="axis" x="{}" y="{}" text-anchor="{}">{}</text>',
                    f1(x_label),
                    height - 8,
                    anchor,
                    label,
                )
            )
    parts.append(
        format_html(
            '<line class="baseline" x1="{}" x2="{}" y1="{}" y2="{}"/>', left, width - right, top + plot_h, top + plot_h
        )
    )
    parts.append(mark_safe("</svg>"))
    return mark_safe("".join(str(part) for part in parts))


def legend(series: list[tuple[str, str]]) -> str:
    items = "".join(
        str(
            format_html(
                '<li><svg width="12" height="12" aria-hidden="true" focusable="false">'
                '<rect width="12" height="12" rx="2" fill="{}"/></svg> {}</li>',
                colour,
                name,
            )
        )
        for name, colour in series
    )
    return mark_safe(f'<ul class="legend">{items}</ul>') if series else ""


def sparkline(chart_id: str, title: str, values: list[int], width: int = 240, height: int = 40) -> str:
    """A tiny line chart (for the staff overview's cards)."""
    maximum = max(values, default=0) or 1
    step = width / max(1, len(values) - 1)
    points = " ".join(f"{i * step:.1f},{height - 2 - v / maximum * (height - 4):.1f}" for i, v in enumerate(values))
    return format_html(
        '<svg class="spark" id="{}" viewBox="0 0 {} {}" role="img" aria-label="{}" preserveAspectRatio="none">'
        '<polyline points="{}" fill="none" stroke-width="2"/></svg>',
        chart_id, width, height, title, points,
    )  # fmt: skip
