"""Alert webhooks against a local receiver: backend down/up, quotas at 80 % and 100 %, error rate,
retries, once per condition, never on the request path."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest

from ollamaweb.backends.health import check_all
from ollamaweb.backends.registry import registry
from ollamaweb.backends.services import set_backend
from ollamaweb.metrics.alerts import QuotaOwner, alert_runner, send_test_alert
from ollamaweb.metrics.models import Alert, AlertDelivery, AlertWebhook
from ollamaweb.quotas.services import set_limits
from tests.conftest import settle_logs
from tests.fake_ollama import Reply

HI = [{"role": "user", "content": "hi"}]
DOWN = "http://127.0.0.1:9"


class Receiver:
    """A local webhook receiver: records JSON bodies; fails the first `fail` posts with a 500."""

    def __init__(self):
        self.bodies: list[dict] = []
        self.attempts = 0
        self.fail = 0
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(receiver.delay)
                receiver.attempts += 1
                if receiver.fail > 0:
                    receiver.fail -= 1
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b"try later")
                    return
                receiver.bodies.append(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def texts(self):
        return [body.get("text") or body.get("title") for body in self.bodies]

    def stop(self):
        self.server.shutdown()


@pytest.fixture
def receiver():
    started = Receiver()
    yield started
    started.stop()


@pytest.fixture
def fast_retries(settings):
    settings.ALERT_RETRY_SECONDS = 0.01


def run_round(gateway):
    return gateway.call(alert_runner.run_once(), timeout=20)


def delivered(gateway, receiver, count, timeout=5):
    """Run a round, then wait until the receiver has `count` bodies (the background task may be the
    one sending: signals and new alerts wake it); then check that no more arrive."""
    run_round(gateway)
    deadline = time.monotonic() + timeout
    while len(receiver.bodies) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    assert len(receiver.bodies) == count, receiver.bodies
    return receiver.bodies


def hook(receiver, **fields):
    return AlertWebhook.objects.create(name=fields.pop("name", "ops"), url=receiver.url, **fields)


def test_backend_down_and_up_are_sent_once_each(gateway, receiver, fake_ollama):
    hook(receiver, format="slack", on_quota=False, on_error_rate=False)
    set_backend("gpu-a", fake_ollama.url)

    def health_round():
        registry.invalidate()
        gateway.call(check_all(registry))

    health_round()  # first sight: up, no change, no alert
    set_backend("gpu-a", DOWN)
    health_round()
    health_round()  # still down: nothing new
    delivered(gateway, receiver, 1)
    set_backend("gpu-a", fake_ollama.url)
    health_round()
    delivered(gateway, receiver, 2)
    assert [text.split("\n")[0] for text in receiver.texts()] == [
        "*Backend gpu-a is down*",
        "*Backend gpu-a is up again*",
    ]
    assert AlertDelivery.objects.filter(status="sent").count() == 2


def test_quota_alerts_at_80_and_100_percent_once_per_period(gateway, client, user, receiver, fake_ollama):
    hook(receiver, format="json", on_backend=False, on_error_rate=False)
    set_limits(user=user, tokens_per_day=100)
    fake_ollama.reply = Reply(content="ok", prompt_eval_count=30, eval_count=12)  # 42 tokens a request

    def spend_and_check(alerts):
        client.chat.completions.create(model="llama3", messages=HI, max_tokens=10)
        settle_logs(gateway)
        delivered(gateway, receiver, alerts)

    spend_and_check(0)  # 42 %: nothing
    spend_and_check(1)  # 84 %: the 80 % alert
    assert [(b["kind"], b["details"]["threshold"], b["details"]["used"]) for b in receiver.bodies] == [
        ("quota", 80, 84)
    ]
    assert receiver.bodies[0]["details"]["user"] == "alice" and "84 %" in receiver.bodies[0]["title"]
    delivered(gateway, receiver, 1)  # nothing new happened: nothing new sent
    set_limits(user=user, tokens_per_day=1000)  # room for one more request ...
    spend_and_check(1)  # 126 of 1000: below 80 % of the new limit
    set_limits(user=user, tokens_per_day=120)  # ... now 126 of 120: past 100 %
    alert_runner.check_next_round(
        QuotaOwner("user", user.pk)
    )  # (a refused request uses no tokens, so it does not queue a check)
    delivered(gateway, receiver, 2)
    assert [b["details"]["threshold"] for b in receiver.bodies] == [80, 100]
    assert receiver.bodies[1]["details"]["used"] == 126
    delivered(gateway, receiver, 2)


def test_error_rate_alert_fires_once_and_clears(gateway, client, receiver, fake_ollama):
    hook(receiver, on_backend=False, on_quota=False, error_rate_threshold=0.5, error_rate_min_requests=4)
    for _ in range(2):
        client.chat.completions.create(model="llama3", messages=HI)
    fake_ollama.reply = Reply(status=500, error="model runner crashed")
    for _ in range(3):
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="llama3", messages=HI)
    settle_logs(gateway)
    delivered(gateway, receiver, 1)  # 3 of 5 failed: 60 % > 50 %
    for _ in range(3):
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="llama3", messages=HI)
    settle_logs(gateway)
    delivered(gateway, receiver, 1)  # still high: no second alert
    assert receiver.bodies[0]["text"].startswith("*Error rate 60 %")
    fake_ollama.reply = Reply()
    for _ in range(8):
        client.chat.completions.create(model="llama3", messages=HI)
    settle_logs(gateway)
    delivered(gateway, receiver, 2)  # 6 of 16: back under the threshold
    assert receiver.bodies[1]["text"].startswith("*Error rate back to 38 %")


def test_failed_deliveries_are_retried_then_given_up(gateway, receiver, settings, fast_retries):
    settings.ALERT_MAX_ATTEMPTS = 3
    webhook = hook(receiver, format="json")
    receiver.fail = 2
    send_test_alert(webhook)
    deadline = time.monotonic() + 10
    while AlertDelivery.objects.get().status == "pending" and time.monotonic() < deadline:
        run_round(gateway)
        time.sleep(0.05)
    delivery = AlertDelivery.objects.get()
    assert (delivery.status, delivery.attempts, receiver.attempts) == ("sent", 3, 3)
    assert receiver.bodies[0]["kind"] == "test"

    receiver.fail = 10
    send_test_alert(webhook)
    deadline = time.monotonic() + 10
    while AlertDelivery.objects.exclude(pk=delivery.pk).get().status == "pending" and time.monotonic() < deadline:
        run_round(gateway)
        time.sleep(0.05)
    failed = AlertDelivery.objects.exclude(pk=delivery.pk).get()
    assert (failed.status, failed.attempts) == ("failed", 3)
    assert "HTTP 500" in failed.last_error


async def start_runner():
    alert_runner.ensure_running()


def test_the_background_task_delivers_without_a_request_waiting(gateway, client, receiver, settings):
    """A slow receiver delays no request: alerts go out from the runner's own task."""
    settings.ALERT_INTERVAL = 5  # (the server starts it at start-up; tests turn it off by default)
    gateway.call(start_runner())
    receiver.delay = 1.5
    webhook = hook(receiver)
    send_test_alert(webhook)  # wakes the runner
    started = time.perf_counter()
    client.chat.completions.create(model="llama3", messages=HI)
    assert time.perf_counter() - started < 1.0
    deadline = time.monotonic() + 10
    while not receiver.bodies and time.monotonic() < deadline:
        time.sleep(0.05)
    assert receiver.bodies and Alert.objects.count() == 1
    gateway.call(alert_runner.stop())


def test_a_teams_gpu_time_quota_alerts_for_the_team(gateway, user, receiver, fake_ollama):
    """A team past 80 % of its GPU-time quota: one alert naming the team, from every member's use."""
    from django.contrib.auth import get_user_model

    from ollamaweb.keys.services import issue_key
    from ollamaweb.teams import services as teams

    hook(receiver, format="json", on_backend=False, on_error_rate=False)
    bob = get_user_model().objects.create_user("bob")
    lab = teams.create_team(None, "Lab")
    for member in (user, bob):
        teams.add_member(None, lab, member)
    set_limits(team=lab, gpu_seconds_per_day=1)
    fake_ollama.reply = Reply(content="ok", prompt_eval_count=5, eval_count=42)  # 1 + 1 + 420 ms of GPU time
    for member in (user, bob):  # one after the other: the second fits in what the first left
        _, secret = issue_key(member, "laptop")
        openai.OpenAI(base_url=gateway.url + "/v1/", api_key=secret, max_retries=0).chat.completions.create(
            model="llama3", messages=HI, max_tokens=10
        )
        settle_logs(gateway)
    delivered(gateway, receiver, 1)
    (body,) = receiver.bodies
    assert body["title"] == "Team Lab has used 84 % of its daily GPU-time quota"
    assert body["details"]["team"] == "Lab" and body["details"]["threshold"] == 80
    assert body["details"]["used"] == pytest.approx(0.844)


def test_no_webhook_no_alert(gateway, client, user, fake_ollama):
    set_limits(user=user, tokens_per_day=50)
    fake_ollama.reply = Reply(content="ok", prompt_eval_count=30, eval_count=30)  # 60 of 50: past 100 %
    client.chat.completions.create(model="llama3", messages=HI, max_tokens=5)
    settle_logs(gateway)
    alert_runner.check_next_round(QuotaOwner("user", user.pk))
    run_round(gateway)
    assert Alert.objects.count() == 0
    AlertWebhook.objects.create(name="late", url="http://127.0.0.1:9/", on_backend=False, on_error_rate=False)
    alert_runner.check_next_round(QuotaOwner("user", user.pk))
    run_round(gateway)
    assert Alert.objects.get().details["threshold"] == 100  # the same check does alert with a webhook


def test_webhooks_are_configured_in_the_admin(db, receiver):
    from django.contrib.auth import get_user_model
    from django.test import Client

    admin = get_user_model().objects.create_superuser("boss", password="pw-boss-123")
    client = Client()
    client.force_login(admin)
    response = client.post(
        "/admin/metrics/alertwebhook/add/",
        {
            "name": "slack",
            "url": receiver.url,
            "format": "slack",
            "enabled": "on",
            "on_backend": "on",
            "on_error_rate": "on",
            "error_rate_threshold": "0.25",
            "error_rate_window_minutes": "10",
            "error_rate_min_requests": "50",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    webhook = AlertWebhook.objects.get()
    assert (webhook.on_backend, webhook.on_quota, webhook.error_rate_threshold) == (True, False, 0.25)
    response = client.post(
        "/admin/metrics/alertwebhook/", {"action": "send_test", "_selected_action": [webhook.pk]}, follow=True
    )
    assert "Test alert queued" in response.content.decode()
    assert AlertDelivery.objects.get().webhook == webhook
    for page in ("/admin/metrics/alert/", f"/admin/metrics/alert/{Alert.objects.get().pk}/change/",
                 "/admin/metrics/alertdelivery/"):  # fmt: skip
        assert client.get(page).status_code == 200
