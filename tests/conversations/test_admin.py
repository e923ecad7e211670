"""The admin of stored responses: read-only, searchable, linked to the request-log rows."""

import time
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model

from ollamaweb.conversations import services
from ollamaweb.usage.models import RequestLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored():
    user = get_user_model().objects.create_user("carol")
    response = {"id": "resp_admin1", "created_at": int(time.time()), "status": "completed", "model": "llama3",
                "output": [], "usage": {"input_tokens": 3, "output_tokens": 4}}  # fmt: skip
    services.save_response(user.pk, None, response, [{"id": "msg_1", "type": "message", "role": "user", "content": []}])
    now = datetime.now(UTC)
    common = {"created_at": now, "finished_at": now, "user": user, "status": 200, "latency_ms": 1.0}
    RequestLog.objects.create(endpoint="responses", response_id="resp_admin1", **common)
    RequestLog.objects.create(endpoint="chat.completions", requested_model="other-model", **common)
    return response


def test_list_and_detail_link_to_the_log(admin_client, stored):
    listing = admin_client.get("/admin/conversations/storedresponse/?q=resp_admin1")
    assert listing.status_code == 200 and "resp_admin1" in listing.content.decode()
    detail = admin_client.get("/admin/conversations/storedresponse/resp_admin1/change/").content.decode()
    assert "/admin/usage/requestlog/?response_id=resp_admin1" in detail and "msg_1" in detail
    log_page = admin_client.get("/admin/usage/requestlog/?response_id=resp_admin1").content.decode()
    assert "responses" in log_page and "other-model" not in log_page


def test_read_only(admin_client, stored):
    assert admin_client.get("/admin/conversations/storedresponse/add/").status_code == 403
    page = admin_client.post("/admin/conversations/storedresponse/resp_admin1/change/", {"model": "x"})
    assert page.status_code == 403


def test_endpoint_filter_knows_responses(admin_client, stored):
    page = admin_client.get("/admin/usage/requestlog/?endpoint=responses").content.decode()
    assert "responses.input_items" in page and "other-model" not in page
