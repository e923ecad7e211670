"""Access rules and response headers for every portal page.

`page()` wraps a view (sync or async): sign-in required unless `public`, staff only when `staff`
(a signed-in non-staff user gets 403), and a strict Content-Security-Policy: the portal's pages
load script, style and images from this server only, and run no inline script.
"""

import functools

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def _refusal(request, user, staff: bool, public: bool):
    if public:
        return None
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if staff and not (user.is_active and user.is_staff):
        raise PermissionDenied("Staff only.")
    return None


def secure_headers(response, no_store=False):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if no_store:
        response.headers["Cache-Control"] = "no-store"
    return response


def page(view=None, *, staff=False, public=False, no_store=False):
    """Decorate a portal view; usable bare (`@page`) or with options (`@page(staff=True)`)."""
    if view is None:
        return functools.partial(page, staff=staff, public=public, no_store=no_store)

    if iscoroutinefunction(view):

        @functools.wraps(view)
        async def wrapper(request, *args, **kwargs):
            # Resolve the user now: the lazy request.user would query the database in async code.
            request.user = await request.auser()
            refusal = _refusal(request, request.user, staff, public)
            response = refusal or await view(request, *args, **kwargs)
            return secure_headers(response, no_store)

        markcoroutinefunction(wrapper)
    else:

        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            refusal = _refusal(request, request.user, staff, public)
            response = refusal or view(request, *args, **kwargs)
            return secure_headers(response, no_store)

    return wrapper
