"""How usage numbers read on a page (the portal and the admin)."""


def readable_ms(value) -> str:
    """Milliseconds, readable: 85 ms, 1.2 s, 2 min 5 s ("—" for none)."""
    if value is None or value == "":
        return "—"
    value = float(value)
    if value < 1000:
        return f"{value:.0f} ms"
    if value < 60_000:
        return f"{value / 1000:.1f} s"
    minutes, seconds = divmod(int(value / 1000), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours:,} h {minutes} min"
