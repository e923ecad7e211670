"""The audit log. Write with `ollamaweb.audit.services.record` (also reachable as `audit.record`)."""


def record(*args, **kwargs):
    from .services import record as _record

    return _record(*args, **kwargs)


def snapshot(*args, **kwargs):
    from .services import snapshot as _snapshot

    return _snapshot(*args, **kwargs)
