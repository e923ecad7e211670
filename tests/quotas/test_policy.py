"""Which limits apply to a request, and the counters they count in (pure: no store, no server)."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from ollamaweb.quotas.checks import plan_checks
from ollamaweb.quotas.counters import DAY, GPU, KEY, MONTH, TEAM, TOKENS, USER, CounterKey, Scope
from ollamaweb.quotas.models import QuotaPolicy
from ollamaweb.quotas.policy import Payer, policies_by_scope, scope_limits

NOW = datetime(2026, 12, 3, 14, 5, tzinfo=ZoneInfo("Europe/Berlin"))


def policies(*made: QuotaPolicy) -> dict:
    return policies_by_scope(made)


def test_a_personal_key_counts_for_its_team_its_user_and_itself():
    table = policies(
        QuotaPolicy(tokens_per_day=1000, requests_per_minute=60),  # the default for people
        QuotaPolicy(user_id=5, tokens_per_day=5000),  # overrides the default's tokens, keeps its rate
        QuotaPolicy(team_id=3, gpu_seconds_per_month=3600),
        QuotaPolicy(api_key_id=7, max_concurrent=2),
    )
    scopes = {limits.scope: limits for limits in scope_limits(table, Payer(5, 7, team_id=3), "")}
    assert set(scopes) == {Scope(TEAM, 3), Scope(USER, 5), Scope(KEY, 7)}
    assert (scopes[Scope(USER, 5)].tokens_per_day, scopes[Scope(USER, 5)].requests_per_minute) == (5000, 60)
    assert scopes[Scope(TEAM, 3)].gpu_seconds_per_month == 3600
    assert scopes[Scope(KEY, 7)].max_concurrent == 2


def test_a_team_key_counts_for_its_team_not_for_a_person():
    table = policies(QuotaPolicy(tokens_per_day=10), QuotaPolicy(team_id=3, tokens_per_day=10_000))
    scopes = scope_limits(table, Payer(5, 7, team_id=3, team_key=True), "llama3")
    assert [limits.scope for limits in scopes] == [Scope(TEAM, 3)]


def test_per_model_policies_add_scopes_on_that_model_only():
    table = policies(QuotaPolicy(team_id=3, model="llama3", tokens_per_day=50))
    assert [s.scope for s in scope_limits(table, Payer(5, 7, team_id=3), "llama3")] == [Scope(TEAM, 3, "llama3")]
    assert scope_limits(table, Payer(5, 7, team_id=3), "qwen3") == []
    assert scope_limits(table, Payer(5, 7), "llama3") == []  # not in the team


@pytest.mark.parametrize(
    "key, text, words",
    [
        (CounterKey(Scope(TEAM, 3), GPU, DAY, "2026-12-03"), "gpu:team3:d:2026-12-03", "Lab · GPU time on 2026-12-03"),
        (
            CounterKey(Scope(TEAM, 3, "llama3"), TOKENS, MONTH, "2026-12"),
            "t:team3:m:llama3:latest:m:2026-12",
            "Lab · tokens in 2026-12 · llama3:latest",
        ),
        (CounterKey(Scope(USER, 5), GPU, MONTH, "2026-12"), "gpu:u5:m:2026-12", "Lab · GPU time in 2026-12"),
    ],
)
def test_counter_keys_for_teams_and_gpu_time_read_back(key, text, words):
    assert str(key) == text and CounterKey.parse(text) == key
    assert key.describe("Lab") == words


def test_a_counter_scope_that_is_not_one_is_refused():
    with pytest.raises(ValueError):
        Scope.parse("x:m:llama3")


def test_gpu_limits_are_counted_in_milliseconds():
    (limits,) = scope_limits(policies(QuotaPolicy(team_id=3, gpu_seconds_per_day=90)), Payer(5, 7, team_id=3), "")
    (check,) = plan_checks([limits], NOW, tokens=100, gpu_ms=2500, lease_seconds=15)
    assert (check.counter, check.limit, check.cost) == ("gpu:team3:d:2026-12-03", 90_000, 2500)


def test_a_gpu_limit_too_large_for_a_counter_is_capped_not_overflowed():
    """The largest limit a policy stores (2^63 - 1 seconds) still fits the stores' 64-bit counters."""
    table = policies(QuotaPolicy(user_id=5, gpu_seconds_per_month=2**63 - 1))
    (check,) = plan_checks(scope_limits(table, Payer(5, 7), ""), NOW, tokens=1, gpu_ms=1, lease_seconds=15)
    assert check.limit < 2**63
