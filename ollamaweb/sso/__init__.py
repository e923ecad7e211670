"""Single sign-on with OpenID Connect (mozilla-django-oidc), configured from the environment.

See claims.py for how a provider's claims become a username, the staff flag and team memberships,
backend.py for just-in-time users; the sign-in routes (/accounts/sso/...) are in portal/views/sso.py.
"""
