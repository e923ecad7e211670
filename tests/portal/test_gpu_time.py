"""GPU time in the portal: a user's daily chart and totals, the staff overview's week of GPU use by
user and team (with links to their requests), and GPU-time limits on the staff user page."""

import re
from datetime import timedelta

from ollamaweb.audit.models import AuditEvent
from ollamaweb.portal import charts
from ollamaweb.portal.zones import quota_now, quota_today
from ollamaweb.quotas.models import QuotaPolicy, UsageCounter
from ollamaweb.teams import services as teams
from tests.portal.helpers import client_for, log, rollup, text


def visible(html):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def test_time_unit_and_amounts_read_well():
    assert charts.time_unit(0) == ("seconds", 1) and charts.time_unit(119) == ("seconds", 1)
    assert charts.time_unit(120) == ("minutes", 60) and charts.time_unit(7199) == ("minutes", 60)
    assert charts.time_unit(7200) == ("hours", 3600)
    assert charts.amount(1234) == "1,234" and charts.amount(5.0) == "5" and charts.amount(2 / 3) == "0.67"


def test_usage_page_charts_gpu_time_per_day(alice, bob):
    today = quota_today()
    rollup(alice, "llama3", day=today, gpu_ms=300_000)  # 5 minutes
    rollup(alice, "qwen3:8b", day=today, key_prefix="sk-other", gpu_ms=60_000)
    rollup(alice, "llama3", day=today - timedelta(days=3), gpu_ms=30_000)
    rollup(bob, "llama3", day=today, gpu_ms=9_999_000)
    html = text(client_for(alice).get("/"))
    chart = re.search(r'<svg class="chart" id="chart-gpu".*?</svg>', html, re.S).group(0)
    assert "GPU time per day, by model, in minutes" in chart
    assert "Total 6.5 GPU minutes over 30 periods; highest 6 in one period." in chart
    label = today.strftime("%b %-d")
    assert f"{label}: 6 GPU minutes (llama3:latest: 5; qwen3:8b: 1)" in chart
    assert 'GPU time per day <span class="muted small">(minutes)</span>' in html
    rows = {
        row.group(1): visible(row.group(0))
        for row in re.finditer(r'<tr>\s*<th scope="row"><time datetime="([\d-]+)">.*?</tr>', html, re.S)
    }
    assert "6 min 0 s" in rows[today.isoformat()]
    assert "30.0 s" in rows[(today - timedelta(days=3)).isoformat()]
    assert "6 min 30 s GPU" in html  # the last 30 days' card
    assert "166 min" not in html and "2 h 46 min" not in html  # bob's


def test_usage_page_without_gpu_time_says_nothing_of_it_in_the_cards(alice):
    rollup(alice, "llama3")
    html = text(client_for(alice).get("/"))
    assert " GPU</p>" not in html
    assert "Total 0 GPU seconds over 30 periods" in html  # the chart is there, empty


def test_overview_shows_who_used_the_gpus_this_week(staff, alice, bob, backend, django_user_model):
    carol = django_user_model.objects.create_user("carol")
    lab, ops = teams.create_team(staff, "Lab"), teams.create_team(staff, "Ops")
    today = quota_today()
    rollup(alice, day=today, team=lab, gpu_ms=600_000, requests=4)  # 10 minutes
    rollup(bob, day=today - timedelta(days=6), gpu_ms=1_800_000, requests=9)  # 30 minutes, no team
    rollup(carol, day=today - timedelta(days=7), team=ops, gpu_ms=99_000_000)  # before this week
    rollup(carol, day=today, key_prefix="sk-idle", requests=3)  # no GPU time
    html = text(client_for(staff).get("/staff/"))
    card = re.search(r'id="gpu-week".*?</section>', html, re.S).group(0)
    assert "40 min 0 s in all" in visible(card)
    users = re.search(r'class="data gpu-users".*?</table>', card, re.S).group(0)
    rows = re.findall(r"<tr data-user=.*?</tr>", users, re.S)
    assert [visible(row) for row in rows] == ["bob requests 30 min 0 s 75% 9", "alice requests 10 min 0 s 25% 4"]
    assert 'href="/staff/requests/?user=%3Dbob&amp;range=7d"' in users
    assert f'href="/staff/users/{bob.pk}/"' in users
    teams_table = re.search(r'class="data gpu-teams".*?</table>', card, re.S).group(0)
    assert [visible(row) for row in re.findall(r"<tr data-team=.*?</tr>", teams_table, re.S)] == [
        "Lab requests 10 min 0 s 25% 4"
    ]
    assert f'href="/teams/{lab.pk}/"' in teams_table and "Ops" not in teams_table and "carol" not in card
    assert 'href="/staff/requests/?team=%3DLab&amp;range=7d"' in teams_table

    log(bob, requested_model="bobs-model")
    log(alice, team=lab, requested_model="alices-model")
    found = text(client_for(staff).get("/staff/requests/?user=%3Dbob&range=7d"))
    assert "bobs-model" in found and "alices-model" not in found  # the link finds bob's requests
    found = text(client_for(staff).get("/staff/requests/?team=%3DLab&range=7d"))
    assert "alices-model" in found and "bobs-model" not in found  # ... and Lab's


def test_overview_says_when_no_gpu_time_was_recorded(staff, backend):
    card = re.search(r'id="gpu-week".*?</section>', text(client_for(staff).get("/staff/")), re.S).group(0)
    assert "No GPU time recorded this week." in card and "No team was charged GPU time this week." in card


def test_staff_user_page_shows_gpu_usage_beside_gpu_limits(staff, alice):
    now = quota_now()
    UsageCounter.objects.create(key=f"t:u{alice.pk}:d:{now:%Y-%m-%d}", used=250)
    UsageCounter.objects.create(key=f"gpu:u{alice.pk}:d:{now:%Y-%m-%d}", used=90_000)
    client = client_for(staff)
    response = client.post(
        f"/staff/users/{alice.pk}/quota/", {"tokens_per_day": "1000", "gpu_seconds_per_day": "120"}, follow=True
    )
    html = text(response)
    assert "Used 250 of 1,000 (25%)" in html  # tokens beside tokens, GPU time beside GPU time
    assert "Used 1 min 30 s of 120 (75%)" in html
    assert QuotaPolicy.objects.get(user=alice).gpu_seconds_per_day == 120
    event = AuditEvent.objects.get(action="quota.create")
    assert event.actor == staff and event.source == "portal"
    rollup(alice, gpu_ms=90_000)
    assert "1 min 30 s GPU" in text(client.get(f"/staff/users/{alice.pk}/"))
