"""Usage reports from the rollups, log retention, and the admin's per-user usage summary."""

import json
from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.utils import timezone

from ollamaweb.quotas.models import QuotaPolicy
from ollamaweb.usage.models import RequestLog, UsageRollup
from tests.conftest import settle_logs
from tests.fake_ollama import Reply

HI = [{"role": "user", "content": "hi"}]


def test_usage_command_reads_rollups_of_real_requests(gateway, client, fake_ollama):
    fake_ollama.reply = Reply(content="x", prompt_eval_count=3, eval_count=4)
    for _ in range(2):
        client.chat.completions.create(model="llama3", messages=HI)
    client.embeddings.create(model="all-minilm", input="hello world")
    settle_logs(gateway)
    out = StringIO()
    call_command("usage", "--format", "json", stdout=out)
    rows = {row["model"]: row for row in json.loads(out.getvalue())}
    # GPU time is the fake's total_duration (1 ms load + 3 × 0.2 ms prompt + 4 × 10 ms output), per request in ms.
    assert rows["llama3"] == {
        "user": "alice", "team": "", "model": "llama3", "requests": 2, "prompt_tokens": 6,
        "completion_tokens": 8, "total_tokens": 14, "gpu_seconds": 2 * 0.042, "errors": 0,
    }  # fmt: skip
    assert rows["all-minilm"]["requests"] == 1


def test_prunelogs_keeps_rollups(gateway, client, fake_ollama):
    client.chat.completions.create(model="llama3", messages=HI)
    settle_logs(gateway)
    RequestLog.objects.update(created_at=timezone.now() - timedelta(days=100))
    out = StringIO()
    call_command("prunelogs", "--older-than", "90", stdout=out)
    assert "Deleted 1 request-log rows" in out.getvalue()
    assert not RequestLog.objects.exists()
    assert UsageRollup.objects.get().requests == 1


def test_admin_user_page_shows_usage_against_limits(gateway, client, fake_ollama, user, admin_client):
    fake_ollama.reply = Reply(content="x", prompt_eval_count=30, eval_count=70)
    QuotaPolicy.objects.create(user=user, tokens_per_day=1000)
    client.chat.completions.create(model="llama3", messages=HI, max_tokens=100)
    settle_logs(gateway)
    page = admin_client.get(f"/admin/auth/user/{user.pk}/change/").content.decode()
    assert "<strong>Today</strong>: 1 requests, 100 of 1,000 (10%) tokens" in page
    assert "<strong>This month</strong>: 1 requests, 100 (no limit) tokens" in page
