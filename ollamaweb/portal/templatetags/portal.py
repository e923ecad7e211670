from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html

from ollamaweb.usage.formatting import readable_ms

register = template.Library()


@register.filter
def num(value):
    """1234567 → 1,234,567 (empty for None)."""
    if value is None or value == "":
        return ""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return value


@register.filter
def ms(value):
    """Milliseconds, readable: 85 ms, 1.2 s, 2 min 5 s."""
    return readable_ms(value)


@register.filter
def seconds(value):
    """Seconds, readable: 85 ms, 1.2 s, 2 min 5 s."""
    return readable_ms(None if value is None else float(value) * 1000)


@register.filter
def until(moment: datetime | None):
    """A short, human duration from now until `moment`: 'in 5 h 3 min'."""
    if moment is None:
        return ""
    seconds = int((moment - timezone.now()).total_seconds())
    if seconds <= 0:
        return "now"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"in {days} d {hours} h"
    if hours:
        return f"in {hours} h {minutes} min"
    return f"in {max(1, minutes)} min"


@register.filter
def status_class(status):
    try:
        status = int(status)
    except (TypeError, ValueError):
        return "muted"
    if status >= 500 or status == 499:
        return "bad"
    if status >= 400:
        return "warn"
    return "ok"


@register.filter
def percent_class(percent):
    return "bad" if percent >= 90 else "warn" if percent >= 70 else "ok"


@register.filter
def get(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.simple_tag
def zone_name():
    """The zone this page shows times in (the user's: see portal/zones.py)."""
    return timezone.get_current_timezone_name()


@register.simple_tag
def time_header(label="Time"):
    """A table header's text for a time column, with its zone: 'Time (Europe/Paris)'."""
    return format_html('{} <span class="tz">({})</span>', label, timezone.get_current_timezone_name())


@register.filter
def key_label(row):
    """A key as people know it: its name (the prefix when it has none, or for a deleted key)."""
    key = getattr(row, "api_key", None) if not isinstance(row, dict) else None
    name = getattr(key, "name", "") if key is not None else (row.get("key_name", "") if isinstance(row, dict) else "")
    prefix = row.get("key_prefix", "") if isinstance(row, dict) else getattr(row, "key_prefix", "")
    return name or (f"{prefix}…" if prefix else "—")


@register.filter
def get_field(form, name):
    return form[name]
