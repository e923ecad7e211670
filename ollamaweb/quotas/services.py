"""Every write to quota policies and counters goes through here (and forgets cached policies), with
its audit row (`actor`, `request`, `via` go to ollamaweb.audit.services.record)."""

from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from ollamaweb.audit.services import record, snapshot
from ollamaweb.keys.models import ApiKey

from .calendar import quota_now
from .counters import DAY, KEY, METERED, MONTH, USER, CounterKey
from .models import LIMIT_FIELDS, ONE_SCOPE, QuotaPolicy, UsageCounter
from .policy import policy_table
from .stores import RedisStore, current_store


def _forget_policies():
    policy_table.invalidate()
    transaction.on_commit(policy_table.invalidate)


def duplicate_policy(policy: QuotaPolicy) -> QuotaPolicy | None:
    """The existing policy for the same user, key or team and model, if there is one."""
    others = QuotaPolicy.objects.filter(
        user=policy.user_id, api_key=policy.api_key_id, team=policy.team_id, model=policy.model
    )
    return others.exclude(pk=policy.pk).first()


def check_policy(policy: QuotaPolicy):
    """Raise ValidationError (in words, not a constraint name) if `policy` cannot be saved."""
    if sum(bool(owner) for owner in (policy.user_id, policy.api_key_id, policy.team_id)) > 1:
        raise ValidationError(ONE_SCOPE)
    existing = duplicate_policy(policy)
    if existing is not None:
        everyone = not (policy.user_id or policy.api_key_id or policy.team_id)
        whose = "the default policy" if everyone else f"a policy for {existing}"
        on_model = f" for model {policy.model}" if policy.model else " for all models"
        raise ValidationError(f"There is already {whose}{on_model}: edit that one instead.")


def save_policy(policy: QuotaPolicy, *, actor=None, request=None, via="") -> QuotaPolicy:
    check_policy(policy)
    old = QuotaPolicy.objects.filter(pk=policy.pk).first() if policy.pk else None
    before = snapshot(old, exclude=("updated_at",))
    policy.save()
    _forget_policies()
    after = snapshot(policy, exclude=("updated_at",))
    if before != after:
        action = "quota.create" if before is None else "quota.update"
        record(actor, action, policy, before=before, after=after, request=request, via=via)
    return policy


def set_limits(
    user=None, api_key=None, model: str = "", *, team=None, actor=None, request=None, via="", **limits
) -> QuotaPolicy:
    """Set some limits of the policy for a user, a key, a team, or everyone (none); None clears a limit."""
    unknown = set(limits) - set(LIMIT_FIELDS)
    if unknown:
        raise ValueError(f"unknown limits: {', '.join(sorted(unknown))}")
    policy = QuotaPolicy.objects.filter(user=user, api_key=api_key, team=team, model=model).first()
    policy = policy or QuotaPolicy(user=user, api_key=api_key, team=team, model=model)
    for name, value in limits.items():
        setattr(policy, name, value)
    return save_policy(policy, actor=actor, request=request, via=via)


def delete_policies(policies, *, actor=None, request=None, via="") -> int:
    policies = list(policies)
    for policy in policies:
        target = ("quotas.quotapolicy", str(policy.pk), str(policy))
        before = snapshot(policy, exclude=("updated_at",))
        record(actor, "quota.delete", target, before=before, request=request, via=via)
    count = QuotaPolicy.objects.filter(pk__in=[policy.pk for policy in policies]).delete()[0]
    _forget_policies()
    return count


def reset_period_usage(user, now: datetime | None = None, *, actor=None, request=None, via="") -> int:
    """Forget the user's (and their keys') token and GPU-time counters for today and this month, every model.

    In the database and, when the quota store is Redis, there too. Returns how many counters were deleted.
    """
    now = now or quota_now()  # the quota calendar, whatever zone the (admin) request shows
    periods = [(DAY, f"{now:%Y-%m-%d}"), (MONTH, f"{now:%Y-%m}")]
    owners = [(USER, user.pk)] + [(KEY, pk) for pk in ApiKey.objects.filter(user=user).values_list("pk", flat=True)]
    prefixes = Q()
    for kind in METERED:
        for owner, owner_id in owners:
            prefixes |= Q(key__startswith=CounterKey.metered_prefix(kind, owner, owner_id))
    counters = UsageCounter.objects.filter(prefixes).values_list("pk", "key")
    doomed = [pk for pk, key in counters if _in_periods(key, periods)]
    deleted = UsageCounter.objects.filter(pk__in=doomed).delete()[0]
    store = current_store()
    if isinstance(store, RedisStore) and settings.REDIS_URL:
        deleted += _reset_redis(store, owners, periods)
    record(actor, "quota.reset_usage", user, after={"counters_deleted": deleted}, request=request, via=via)
    return deleted


def _in_periods(counter: str, periods) -> bool:
    key = CounterKey.parse(counter)
    return (key.period, key.start) in periods


def _reset_redis(store: RedisStore, owners, periods) -> int:
    import redis

    client = redis.Redis.from_url(store.url, socket_timeout=5, socket_connect_timeout=5)
    try:
        doomed = []
        for kind in METERED:
            for owner, owner_id in owners:
                prefix = store.prefix + CounterKey.metered_prefix(kind, owner, owner_id)
                for key in client.scan_iter(match=prefix + "*", count=500):
                    if _in_periods(key.decode().removeprefix(store.prefix), periods):
                        doomed.append(key)
        return client.delete(*doomed) if doomed else 0
    finally:
        client.close()
