"""The staff's request explorer: filters, keyset paging, drill-down links, permissions."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from ollamaweb.keys.services import issue_key
from ollamaweb.portal import explorer
from ollamaweb.usage.models import RequestLog, UsageRollup

User = get_user_model()


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def people(db):
    alice = User.objects.create_user("alice")
    alfred = User.objects.create_user("alfred")
    bob = User.objects.create_user("bob")
    staff = User.objects.create_user("root", is_staff=True)
    keys = {
        "alice": issue_key(alice, "laptop")[0],
        "alfred": issue_key(alfred, "ci runner")[0],
        "bob": issue_key(bob, "laptop")[0],
    }
    return {"alice": alice, "alfred": alfred, "bob": bob, "staff": staff, "keys": keys}


def log(user, key, minutes_ago=0, **fields):
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    values = {
        "created_at": at,
        "finished_at": at + timedelta(seconds=1),
        "user": user,
        "api_key": key,
        "key_prefix": key.prefix,
        "endpoint": "chat.completions",
        "requested_model": "llama3",
        "resolved_model": "llama3:latest",
        "backend": "gpu1",
        "status": 200,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "latency_ms": 1500.0,
        "ttft_ms": 85.0,
        "total_duration_ms": 2500.0,
        "request_id": f"req_{RequestLog.objects.count():024x}",
        **fields,
    }
    row = RequestLog.objects.create(**values)
    UsageRollup.objects.get_or_create(
        day=at.date(), user=user, key_prefix=key.prefix, model=values["requested_model"], defaults={"requests": 1}
    )
    return row


@pytest.fixture
def rows(people):
    p, k = people, people["keys"]
    return {
        "a1": log(p["alice"], k["alice"], 1),
        "a2": log(p["alice"], k["alice"], 2, requested_model="qwen3:8b", resolved_model="qwen3:8b", backend="gpu2"),
        "f1": log(p["alfred"], k["alfred"], 3, status=503, error="backend down", endpoint="embeddings"),
        "b1": log(p["bob"], k["bob"], 4, requested_model="gpt-4o-mini", status=429, error="quota"),
        "old": log(p["bob"], k["bob"], 60 * 30, requested_model="mistral:7b"),
    }


def ids(client, query=""):
    response = client.get("/staff/requests/" + query)
    assert response.status_code == 200
    return [int(i) for i in re.findall(r'href="/staff/requests/(\d+)/"', response.content.decode())]


@pytest.fixture
def staff_client(people):
    client = Client()
    client.force_login(people["staff"])
    return client


def test_filters_select_the_matching_requests(staff_client, rows):
    r = {name: row.pk for name, row in rows.items()}
    assert ids(staff_client) == [r["a1"], r["a2"], r["f1"], r["b1"], r["old"]]  # newest first
    assert ids(staff_client, "?user=al") == [r["a1"], r["a2"], r["f1"]]  # partial: alice and alfred
    assert ids(staff_client, "?user=%3Dalice") == [r["a1"], r["a2"]]  # exact
    assert ids(staff_client, "?user=nobody") == []
    assert ids(staff_client, f"?request_id={rows['b1'].request_id}") == [r["b1"]]  # a client's x-request-id
    assert ids(staff_client, "?key=laptop") == [r["a1"], r["a2"], r["b1"], r["old"]]
    assert ids(staff_client, f"?key={rows['f1'].key_prefix}") == [r["f1"]]
    assert ids(staff_client, "?model=qwen") == [r["a2"]]  # partial, through the rollups' names
    assert ids(staff_client, "?model=GPT-4o") == [r["b1"]]  # case-insensitive
    assert ids(staff_client, "?model=llama3") == [r["a1"], r["f1"]]
    assert ids(staff_client, "?backend=gpu2") == [r["a2"]]
    assert ids(staff_client, "?endpoint=embeddings") == [r["f1"]]
    assert ids(staff_client, "?status=error") == [r["f1"], r["b1"]]
    assert ids(staff_client, "?status=5xx") == [r["f1"]]
    assert ids(staff_client, "?status=429") == [r["b1"]]
    assert ids(staff_client, "?range=1h") == [r["a1"], r["a2"], r["f1"], r["b1"]]
    assert ids(staff_client, "?user=bob&range=24h") == [r["b1"]]
    assert ids(staff_client, "?user=bob&range=7d") == [r["b1"], r["old"]]
    since = (datetime.now(UTC) - timedelta(minutes=2, seconds=30)).astimezone()
    assert ids(staff_client, f"?since={since:%Y-%m-%dT%H:%M:%S}") == [r["a1"], r["a2"]]


def test_rows_read_well(staff_client, rows, settings):
    settings.TIME_ZONE = "Europe/Paris"
    page = staff_client.get("/staff/requests/?user=%3Dalice").content.decode()
    assert "1.5 s" in page and "85 ms" in page  # durations
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (CET|CEST)", page)  # times with their zone
    assert "Europe/Paris" in page
    assert rows["a1"].request_id in page and "laptop" in page and "gpu2" in page
    assert "2.5 s" in page  # GPU time (Ollama's total_duration)
    detail = staff_client.get(f"/staff/requests/{rows['f1'].pk}/").content.decode()
    assert "backend down" in detail and "alfred" in detail and "ci runner" in detail
    assert rows["f1"].request_id in detail


def test_keyset_paging_walks_every_row_once(staff_client, people, monkeypatch):
    monkeypatch.setattr(explorer, "PAGE_SIZE", 3)
    monkeypatch.setattr(explorer.explore, "__defaults__", (None, None, 3))
    same = datetime.now(UTC) - timedelta(minutes=5)
    alice, alfred = (people[name] for name in ("alice", "alfred"))
    # Two users matched by "al" (one query per user, merged), rows interleaved in time.
    made = [log(user, people["keys"][user.username]).pk for user in (alice, alfred, alice, alfred)]
    for pk in made:  # four rows at the very same instant: the id breaks the tie
        RequestLog.objects.filter(pk=pk).update(created_at=same)
    made += [
        log(user, people["keys"][user.username], minutes_ago=m).pk for user, m in ((alfred, 1), (alice, 2), (alfred, 3))
    ]
    log(people["bob"], people["keys"]["bob"], minutes_ago=4)  # not matched
    expected = list(RequestLog.objects.filter(pk__in=made).order_by("-created_at", "-pk").values_list("pk", flat=True))
    seen, query = [], "?user=al"
    pages = 0
    while True:
        response = staff_client.get("/staff/requests/" + query)
        html = response.content.decode()
        seen += [int(i) for i in re.findall(r'href="/staff/requests/(\d+)/"', html)]
        pages += 1
        older = re.search(r'href="\?([^"]*before=[^"]+)" rel="next"', html)
        if not older:
            break
        query = "?" + older.group(1).replace("&amp;", "&")
        assert "user=al" in query  # filters survive paging
    assert seen == expected and pages == 3
    newer = re.search(r'href="\?([^"]*after=[^"]+)" rel="prev"', html).group(1).replace("&amp;", "&")
    back = [
        int(i)
        for i in re.findall(
            r'href="/staff/requests/(\d+)/"', staff_client.get("/staff/requests/?" + newer).content.decode()
        )
    ]
    assert back == expected[3:6]


def test_staff_only(people, rows):
    client = Client()
    client.force_login(people["alice"])
    assert client.get("/staff/requests/").status_code == 403
    assert client.get(f"/staff/requests/{rows['a1'].pk}/").status_code == 403
    assert Client().get("/staff/requests/").status_code == 302


def test_the_overview_links_to_matching_requests(staff_client, rows, fake_ollama, settings):
    settings.OLLAMA_HOST = fake_ollama.url
    html = staff_client.get("/staff/").content.decode()
    links = set(re.findall(r'href="(/staff/requests/[^"]*)"', html))
    assert "/staff/requests/?status=error&amp;range=24h" in links
    assert "/staff/requests/?range=today" in links
    assert f"/staff/requests/{rows['f1'].pk}/" in links  # the recent errors link to their request
    assert "/staff/requests/?user=%3Dalice&amp;range=7d" in links
    for link in links:
        assert staff_client.get(link.replace("&amp;", "&")).status_code == 200


def test_bad_filters_are_explained_not_errors(staff_client, rows):
    page = staff_client.get("/staff/requests/?status=teapot&since=yesterday-ish").content.decode()
    assert "Unknown status filter" in page and "Could not read the time" in page


def match_count(client, query=""):
    html = client.get("/staff/requests/" + query).content.decode()
    return re.search(r'<p class="match-count[^"]*">([^<]*)</p>', html).group(1)


def test_the_count_of_matches_stops_at_the_limit(staff_client, rows, monkeypatch):
    monkeypatch.setattr(explorer, "COUNT_LIMIT", 3)
    assert match_count(staff_client) == "More than 3 requests"  # 5 rows: counting stopped at 4
    assert match_count(staff_client, "?user=al") == "3 requests match"  # exactly the limit: no "more than"
    assert match_count(staff_client, "?user=%3Dalice") == "2 requests match"
    assert match_count(staff_client, "?status=5xx") == "1 request matches"
    assert match_count(staff_client, "?user=nobody") == "0 requests match"
    assert match_count(staff_client, "?model=l") == "3 requests match"  # one query per model (llama3, mistral:7b)
    monkeypatch.setattr(explorer, "COUNT_LIMIT", 2)
    assert match_count(staff_client, "?model=l") == "More than 2 requests match"  # the parts add up past the limit
    monkeypatch.setattr(explorer, "COUNT_LIMIT", 5)
    assert match_count(staff_client) == "5 requests"


def test_paging_through_rows_of_one_instant(staff_client, people, monkeypatch):
    """Rows with the same created_at are split across pages by id, with none lost or repeated."""
    monkeypatch.setattr(explorer.explore, "__defaults__", (None, None, 2))
    same = datetime.now(UTC) - timedelta(minutes=1)
    made = [log(people["bob"], people["keys"]["bob"]).pk for _ in range(5)]
    RequestLog.objects.filter(pk__in=made).update(created_at=same)
    expected = sorted(made, reverse=True)
    pages, query = [], ""
    while True:
        html = staff_client.get("/staff/requests/" + query).content.decode()
        pages.append([int(i) for i in re.findall(r'href="/staff/requests/(\d+)/"', html)])
        older = re.search(r'href="\?([^"]*before=[^"]+)" rel="next"', html)
        if not older:
            break
        query = "?" + older.group(1).replace("&amp;", "&")
    assert pages == [expected[0:2], expected[2:4], expected[4:]]
    while newer := re.search(r'href="\?([^"]*after=[^"]+)" rel="prev"', html):  # and back, newer pages
        html = staff_client.get("/staff/requests/?" + newer.group(1).replace("&amp;", "&")).content.decode()
        pages.append([int(i) for i in re.findall(r'href="/staff/requests/(\d+)/"', html)])
    assert pages[3:] == [expected[2:4], expected[0:2]]


def test_a_count_over_its_time_budget_says_more_than_the_rows_shown(staff_client, rows, monkeypatch):
    monkeypatch.setattr(explorer, "COUNT_BUDGET_MS", 0)  # every count stopped at its deadline
    monkeypatch.setattr(explorer.explore, "__defaults__", (None, None, 2))
    assert match_count(staff_client) == "More than 2 requests"  # a full page with older rows
    assert match_count(staff_client, "?user=%3Dalice") == "2 requests match"  # one page, all of them: exact
    page = staff_client.get("/staff/requests/").content.decode()
    assert len(re.findall(r'href="/staff/requests/(\d+)/"', page)) == 2  # the page itself is unaffected


def test_a_search_out_of_time_says_how_far_it_got_and_goes_on(staff_client, rows, monkeypatch):
    """Sparse matches: the page stops after its first window (1 hour) when its budget is spent."""
    monkeypatch.setattr(explorer, "PAGE_BUDGET_MS", 0)
    monkeypatch.setattr(explorer, "WINDOW_PAGES", 0)  # a first window of 1 hour, however sparse the log
    html = staff_client.get("/staff/requests/?user=%3Dbob").content.decode()
    assert ids(staff_client, "?user=%3Dbob") == [rows["b1"].pk]  # the last hour only; "old" is 30 hours back
    assert "Searched as far as" in html
    older = re.search(r'href="\?([^"]*before=[^"]+)" rel="next"', html).group(1).replace("&amp;", "&")
    monkeypatch.setattr(explorer, "PAGE_BUDGET_MS", 10_000)
    html = staff_client.get("/staff/requests/?" + older).content.decode()
    assert [int(i) for i in re.findall(r'href="/staff/requests/(\d+)/"', html)] == [rows["old"].pk]
    assert "Searched as far as" not in html and 'rel="next"' not in html  # the whole log read: the end
    newer = re.search(r'href="\?([^"]*after=[^"]+)" rel="prev"', html).group(1).replace("&amp;", "&")
    assert ids(staff_client, "?" + newer) == [rows["b1"].pk]  # and back
    assert "Searched as far as" not in staff_client.get("/staff/requests/?user=%3Dbob").content.decode()
    monkeypatch.setattr(explorer, "PAGE_BUDGET_MS", 0)
    monkeypatch.setattr(explorer, "COUNT_BUDGET_MS", 0)
    html = staff_client.get("/staff/requests/?user=%3Dbob&model=mistral").content.decode()
    assert re.findall(r'href="/staff/requests/(\d+)/"', html) == []  # nothing in the last hour, none counted
    assert "Not counted" in match_count(staff_client, "?user=%3Dbob&model=mistral")


def test_the_team_filter_reads_the_team_each_request_was_charged_to(staff_client, people, rows):
    from ollamaweb.teams.models import Team

    research, support = Team.objects.create(name="research"), Team.objects.create(name="support desk")
    # Charged at the time: a1 to research, b1 to support desk; a2 to no team. Nothing about who is
    # in which team today matters (none of them is a member of anything here).
    RequestLog.objects.filter(pk=rows["a1"].pk).update(team=research)
    RequestLog.objects.filter(pk__in=[rows["b1"].pk, rows["f1"].pk]).update(team=support)
    assert ids(staff_client, "?team=research") == [rows["a1"].pk]
    assert ids(staff_client, "?team=s") == [rows["a1"].pk, rows["f1"].pk, rows["b1"].pk]  # partial: both teams
    assert ids(staff_client, "?team=%3Dsupport desk") == [rows["f1"].pk, rows["b1"].pk]  # exact
    assert ids(staff_client, "?team=%3Dsupport") == []
    assert ids(staff_client, "?team=nobody") == []
    assert ids(staff_client, "?team=support&status=5xx") == [rows["f1"].pk]
    page = staff_client.get("/staff/requests/?team=support").content.decode()
    assert 'href="?team=%3Dsupport%20desk"' in page  # each row links to its team's requests
    detail = staff_client.get(f"/staff/requests/{rows['b1'].pk}/").content.decode()
    assert "support desk" in detail


def test_a_sparse_log_is_read_in_one_window(staff_client, rows, monkeypatch):
    """Five rows over 30 hours: the first window spans the whole log, so no budget can cut it short."""
    monkeypatch.setattr(explorer, "PAGE_BUDGET_MS", 0)
    html = staff_client.get("/staff/requests/?user=%3Dbob").content.decode()
    assert [int(i) for i in re.findall(r'href="/staff/requests/(\d+)/"', html)] == [rows["b1"].pk, rows["old"].pk]
    assert "Searched as far as" not in html


def test_a_log_quiet_for_hours_is_read_from_its_newest_row(staff_client, people, monkeypatch):
    """The first window starts at the newest request, not at now: nothing for 3 hours costs nothing."""
    monkeypatch.setattr(explorer, "PAGE_BUDGET_MS", 0)
    monkeypatch.setattr(explorer, "WINDOW_PAGES", 0)  # a first window of 1 hour
    made = [log(people["bob"], people["keys"]["bob"], minutes_ago=180 + m).pk for m in (0, 10, 20)]
    html = staff_client.get("/staff/requests/").content.decode()
    assert [int(i) for i in re.findall(r'href="/staff/requests/(\d+)/"', html)] == made
    assert "Searched as far as" not in html
