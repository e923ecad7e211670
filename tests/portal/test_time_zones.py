"""One time zone per user, labelled: the profile's, else the browser's (cookie), else the server's.
Quota calendars stay in the server's zone whatever the user sees."""

from datetime import UTC, datetime

import pytest
from django.test import Client
from django.utils import timezone

from ollamaweb.keys.services import issue_key
from ollamaweb.portal.models import Profile
from ollamaweb.portal.zones import TZ_COOKIE, quota_today
from ollamaweb.quotas.models import QuotaPolicy
from tests.portal.helpers import client_for, log, text

MOMENT = datetime(2026, 7, 1, 13, 5, 9, tzinfo=UTC)


@pytest.fixture
def logged(alice):
    key, _ = issue_key(alice, "laptop")
    return log(alice, key, created_at=MOMENT, finished_at=MOMENT)


def test_without_a_choice_pages_show_the_server_zone_and_say_so(alice, logged):
    html = text(client_for(alice).get("/requests/"))
    assert "Jul 1, 13:05:09" in html and '<span class="tz">(UTC)</span>' in html
    assert '<meta name="time-zone" content="UTC">' in html


def test_the_browsers_zone_from_its_cookie(alice, logged):
    client = client_for(alice)
    client.cookies[TZ_COOKIE] = "America/New_York"
    html = text(client.get("/requests/"))
    assert "Jul 1, 09:05:09" in html and "(America/New_York)" in html
    assert '<meta name="time-zone" content="America/New_York">' in html
    assert 'Times in <span class="tz-name">America/New_York</span>' in html


@pytest.mark.parametrize("junk", ["Mars/Olympus", "../../etc/passwd", "x" * 200, ""])
def test_a_bad_cookie_falls_back_to_the_server_zone(alice, logged, junk):
    client = client_for(alice)
    client.cookies[TZ_COOKIE] = junk
    html = text(client.get("/requests/"))
    assert "Jul 1, 13:05:09" in html and "(UTC)" in html


def test_the_profiles_zone_wins_and_is_kept_in_the_session(alice, logged):
    client = Client()
    client.cookies[TZ_COOKIE] = "America/New_York"
    client.post("/accounts/login/", {"username": "alice", "password": "pw-alice-123"})
    response = client.post("/accounts/profile/", {"time_zone": "Asia/Tokyo"}, follow=True)
    assert "Times are now shown in Asia/Tokyo" in text(response)
    assert Profile.objects.get(user=alice).time_zone == "Asia/Tokyo"
    assert "Jul 1, 22:05:09" in text(client.get("/requests/"))
    # A new sign-in elsewhere finds it too.
    other = Client()
    other.post("/accounts/login/", {"username": "alice", "password": "pw-alice-123"})
    assert "Jul 1, 22:05:09" in text(other.get("/requests/"))
    # "My browser's zone" again.
    client.post("/accounts/profile/", {"time_zone": ""})
    assert "Jul 1, 09:05:09" in text(client.get("/requests/"))
    assert client.post("/accounts/profile/", {"time_zone": "Not/AZone"}).status_code == 200  # form error
    assert Profile.objects.get(user=alice).time_zone == ""


def test_quota_periods_stay_in_the_server_calendar(alice, settings):
    settings.TIME_ZONE = "UTC"
    QuotaPolicy.objects.create(user=alice, tokens_per_day=1000)
    client = client_for(alice)
    client.cookies[TZ_COOKIE] = "Pacific/Kiritimati"  # UTC+14: usually another calendar day
    html = text(client.get("/"))
    # Today's limit resets at the next UTC midnight, shown in the user's zone (14:00 there).
    assert ", 14:00</time>" in html and "(Pacific/Kiritimati)" in html
    assert quota_today() == timezone.localdate(timezone.now(), UTC)


def test_the_admin_shows_the_users_zone_too(staff, alice, logged):
    staff.is_superuser = True
    staff.save()
    client = client_for(staff)
    client.cookies[TZ_COOKIE] = "Asia/Tokyo"
    html = text(client.get(f"/admin/usage/requestlog/{logged.pk}/change/"))
    assert "July 1, 2026, 10:05 p.m." in html and "Times in Asia/Tokyo" in html
    # The admin's scripts (the pull page's progress times) format times in the same zone.
    assert '<meta name="time-zone" content="Asia/Tokyo">' in html
