"""Writes to quota policies. Saving or deleting a policy invalidates the policy cache (signals.py)."""

from django.core.exceptions import ValidationError
from django.db import transaction

from .models import LIMIT_FIELDS, QuotaPolicy
from .policy import policy_table


def set_quota(*, user=None, api_key=None, model: str = "", **limits) -> QuotaPolicy | None:
    """Set the limits of one scope (the default with neither user nor key, a user, or a key).

    `limits` maps LIMIT_FIELDS to a number or None (no limit: inherit the default). A policy
    whose limits are all None is deleted. Returns the policy, or None when deleted/absent.
    """
    unknown = set(limits) - set(LIMIT_FIELDS)
    if unknown:
        raise ValueError(f"unknown limits: {', '.join(sorted(unknown))}")
    if user is not None and api_key is not None:
        raise ValidationError("A policy is for a user or for one of their keys, not both.")
    for name, value in limits.items():
        if value is not None and (not isinstance(value, int) or value < 0):
            raise ValidationError({name: "A limit is a whole number, 0 or more."})
    with transaction.atomic():
        policy = QuotaPolicy.objects.select_for_update().filter(user=user, api_key=api_key, model=model).first()
        values = {name: limits.get(name, getattr(policy, name, None)) for name in LIMIT_FIELDS}
        if all(value is None for value in values.values()):
            if policy is not None:
                policy.delete()
            policy = None
        else:
            policy = policy or QuotaPolicy(user=user, api_key=api_key, model=model)
            for name, value in values.items():
                setattr(policy, name, value)
            policy.save()
    policy_table.invalidate()
    return policy
