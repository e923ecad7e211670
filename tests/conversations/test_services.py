"""Stored responses (ollamaweb/conversations/services.py): ownership, paging, chains, retention."""

import asyncio
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import IntegrityError
from django.utils import timezone

from ollamaweb.conversations import services
from ollamaweb.conversations.models import StoredResponse
from ollamaweb.core import loop_sqlite
from ollamaweb.core.errors import InvalidRequest, NotFound
from ollamaweb.usage.models import RequestLog
from tests.sqlite_lock import write_lock_held

pytestmark = [pytest.mark.django_db, pytest.mark.stores]


@pytest.fixture
def alice():
    return get_user_model().objects.create_user("alice")


@pytest.fixture
def bob():
    return get_user_model().objects.create_user("bob")


def message(item_id, role, text):
    kind = "output_text" if role == "assistant" else "input_text"
    return {
        "id": item_id,
        "type": "message",
        "role": role,
        "status": "completed",
        "content": [{"type": kind, "text": text}],
    }


def save(user, response_id, inputs, outputs, previous=None, instructions=None, created_at=None):
    response = {
        "id": response_id,
        "object": "response",
        "created_at": created_at or int(time.time()),
        "status": "completed",
        "model": "gpt-4o",
        "instructions": instructions,
        "previous_response_id": previous,
        "output": outputs,
        "usage": {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10},
    }
    return services.save_response(user.pk, None, response, inputs)


def test_save_and_get(alice):
    inputs = [message("msg_in", "user", "Hi")]
    outputs = [message("msg_out", "assistant", "Hello")]
    save(alice, "resp_1", inputs, outputs, previous="resp_0")
    stored = services.get_for_user(alice.pk, "resp_1")
    assert stored.user_id == alice.pk and stored.model == "gpt-4o" and stored.status == "completed"
    assert stored.previous_response_id == "resp_0" and stored.input_tokens == 7 and stored.output_tokens == 3
    assert stored.input_items == inputs and stored.output == outputs
    assert stored.response["usage"]["total_tokens"] == 10


def test_saving_again_replaces(alice):
    save(alice, "resp_1", [], [])
    save(alice, "resp_1", [message("m", "user", "x")], [message("o", "assistant", "y")])
    assert StoredResponse.objects.count() == 1
    assert services.get_for_user(alice.pk, "resp_1").output[0]["id"] == "o"


def test_another_users_response_is_not_found(alice, bob):
    save(alice, "resp_1", [], [])
    with pytest.raises(NotFound) as caught:
        services.get_for_user(bob.pk, "resp_1")
    assert caught.value.status == 404 and "resp_1" in caught.value.message
    with pytest.raises(NotFound):
        services.delete_for_user(bob.pk, "resp_1")
    assert StoredResponse.objects.filter(id="resp_1").exists()
    with pytest.raises(NotFound):
        services.list_input_items(bob.pk, "resp_1")


def test_delete(alice):
    save(alice, "resp_1", [], [])
    services.delete_for_user(alice.pk, "resp_1")
    assert not StoredResponse.objects.exists()
    with pytest.raises(NotFound):
        services.get_for_user(alice.pk, "resp_1")
    with pytest.raises(NotFound):
        services.delete_for_user(alice.pk, "resp_1")


def test_deleting_a_user_deletes_their_responses(alice):
    save(alice, "resp_1", [], [])
    alice.delete()
    assert not StoredResponse.objects.exists()


@pytest.fixture
def five_items(alice):
    items = [message(f"msg_{i}", "user", str(i)) for i in range(5)]
    save(alice, "resp_1", items, [])
    return alice


def ids(page):
    items, has_more = page
    return [item["id"] for item in items], has_more


def test_input_items_newest_first_by_default(five_items):
    assert ids(services.list_input_items(five_items.pk, "resp_1")) == (
        ["msg_4", "msg_3", "msg_2", "msg_1", "msg_0"],
        False,
    )


def test_input_items_paging(five_items):
    user = five_items.pk
    assert ids(services.list_input_items(user, "resp_1", order="asc", limit=2)) == (["msg_0", "msg_1"], True)
    assert ids(services.list_input_items(user, "resp_1", order="asc", limit=2, after="msg_1")) == (
        ["msg_2", "msg_3"],
        True,
    )
    assert ids(services.list_input_items(user, "resp_1", order="asc", limit=2, after="msg_3")) == (["msg_4"], False)
    assert ids(services.list_input_items(user, "resp_1", limit=3, after="msg_4")) == (["msg_3", "msg_2", "msg_1"], True)
    assert ids(services.list_input_items(user, "resp_1", limit=100, after="msg_0")) == ([], False)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"order": "sideways"}, "order"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"after": "nope"}, "after"),
    ],
)
def test_input_items_bad_parameters(five_items, kwargs, param):
    with pytest.raises(InvalidRequest) as caught:
        services.list_input_items(five_items.pk, "resp_1", **kwargs)
    assert caught.value.param == param and caught.value.status == 400


def test_chain_is_rebuilt_oldest_first_without_instructions(alice):
    save(alice, "resp_a", [message("in_a", "user", "My name is Ada.")], [message("out_a", "assistant", "Hi Ada")],
         instructions="Be terse.")  # fmt: skip
    call = {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"}
    save(alice, "resp_b", [message("in_b", "user", "Call f")], [call], previous="resp_a")
    output = {"id": "fco_1", "type": "function_call_output", "call_id": "call_1", "output": "42"}
    save(alice, "resp_c", [output], [message("out_c", "assistant", "It is 42")], previous="resp_b")
    items = services.conversation_items(alice.pk, "resp_c")
    assert [item["id"] for item in items] == ["in_a", "out_a", "in_b", "fc_1", "fco_1", "out_c"]
    assert all("Be terse." not in str(item) for item in items)
    assert [i["id"] for i in services.conversation_items(alice.pk, "resp_a")] == ["in_a", "out_a"]


def test_a_long_chain_is_read_in_one_query(alice, django_assert_num_queries):
    previous = None
    for i in range(30):
        save(alice, f"resp_{i}", [message(f"in_{i}", "user", str(i))], [message(f"out_{i}", "assistant", "ok")],
             previous=previous)  # fmt: skip
        previous = f"resp_{i}"
    with django_assert_num_queries(1):
        items = services.conversation_items(alice.pk, "resp_29")
    assert [item["id"] for item in items] == [f"{kind}_{i}" for i in range(30) for kind in ("in", "out")]


def test_unknown_or_foreign_previous_response(alice, bob):
    save(bob, "resp_bob", [message("m", "user", "secret")], [])
    for response_id in ("resp_nope", "resp_bob"):
        with pytest.raises(InvalidRequest) as caught:
            services.conversation_items(alice.pk, response_id)
        error = caught.value
        assert error.code == "previous_response_not_found" and error.param == "previous_response_id"
        assert error.message == f"Previous response with id '{response_id}' not found."


def test_a_deleted_response_breaks_later_chains(alice):
    save(alice, "resp_a", [message("a", "user", "1")], [])
    save(alice, "resp_b", [message("b", "user", "2")], [], previous="resp_a")
    save(alice, "resp_c", [message("c", "user", "3")], [], previous="resp_b")
    services.delete_for_user(alice.pk, "resp_a")
    with pytest.raises(InvalidRequest) as caught:
        services.conversation_items(alice.pk, "resp_c")
    assert caught.value.message == "Previous response with id 'resp_a' not found."


def test_chain_depth_limit(alice):
    previous = None
    for i in range(5):
        save(alice, f"resp_{i}", [message(f"m{i}", "user", str(i))], [], previous=previous)
        previous = f"resp_{i}"
    assert len(services.conversation_items(alice.pk, "resp_4", max_depth=5)) == 5
    with pytest.raises(InvalidRequest) as caught:
        services.conversation_items(alice.pk, "resp_4", max_depth=4)
    assert caught.value.code == "conversation_too_long"


def test_expired_responses_are_not_served_and_are_pruned(alice, settings):
    settings.RESPONSES_RETENTION_DAYS = 30
    old = int((timezone.now() - timedelta(days=31)).timestamp())
    save(alice, "resp_old", [message("m", "user", "x")], [], created_at=old)
    save(alice, "resp_new", [message("n", "user", "y")], [], previous="resp_old")
    with pytest.raises(NotFound):
        services.get_for_user(alice.pk, "resp_old")
    with pytest.raises(InvalidRequest):
        services.conversation_items(alice.pk, "resp_new")
    assert services.prune_expired() == 1
    assert list(StoredResponse.objects.values_list("id", flat=True)) == ["resp_new"]


def test_retention_zero_keeps_everything(alice, settings):
    settings.RESPONSES_RETENTION_DAYS = 0
    save(alice, "resp_old", [], [], created_at=int((timezone.now() - timedelta(days=3000)).timestamp()))
    assert services.get_for_user(alice.pk, "resp_old").id == "resp_old"
    assert services.prune_expired() == 0


def test_prunelogs_prunes_stored_responses(alice, settings):
    settings.RESPONSES_RETENTION_DAYS = 7
    save(alice, "resp_old", [], [], created_at=int((timezone.now() - timedelta(days=8)).timestamp()))
    save(alice, "resp_new", [], [])
    out = StringIO()
    call_command("prunelogs", "--older-than", "90", stdout=out)
    assert "Deleted 1 stored responses older than 7 days." in out.getvalue()
    assert list(StoredResponse.objects.values_list("id", flat=True)) == ["resp_new"]
    assert not RequestLog.objects.exists()


def row(user_id, response_id):
    response = {"id": response_id, "object": "response", "created_at": int(time.time()), "status": "completed",
                "model": "gpt-4o", "output": [message(f"out_{response_id}", "assistant", "Hello")]}  # fmt: skip
    return services.ResponseRow.of(user_id, None, response, [message(f"in_{response_id}", "user", "Hi")])


def _count_database_thread_batches(monkeypatch) -> list[int]:
    from ollamaweb.core.db import one_writer_thread

    if not one_writer_thread():
        pytest.skip("the loop thread's writes and the grouped ones are SQLite's")
    batches, save_rows = [], services.save_rows

    def counting(rows):
        batches.append(len(rows))
        return save_rows(rows)

    monkeypatch.setattr(services._saving, "_run_many", counting)
    return batches


@pytest.mark.django_db(transaction=True)
def test_responses_are_stored_on_the_loop_thread_when_the_write_lock_is_free(alice, bob, monkeypatch):
    """No database-thread hop when nothing else writes; a response of a user deleted meanwhile is
    still refused (its own connection checks foreign keys too), through the regular path."""
    batches = _count_database_thread_batches(monkeypatch)

    async def burst():
        await asyncio.gather(*(services.store(row(alice.pk, f"resp_{i}")) for i in range(50)))

    asyncio.run(burst())
    assert batches == []
    for i in range(50):
        assert services.get_for_user(alice.pk, f"resp_{i}").output[0]["id"] == f"out_resp_{i}"
    with pytest.raises(IntegrityError):
        asyncio.run(services.store(row(bob.pk + 1000, "resp_orphan")))
    assert batches == [1] and not StoredResponse.objects.filter(id="resp_orphan").exists()


@pytest.mark.django_db(transaction=True)
def test_responses_finishing_together_while_another_process_holds_the_lock_share_a_transaction(alice, monkeypatch):
    """They wait on the loop's thread, tried again together in short steps, and are written in one
    transaction once the lock is free: no database-thread hop."""
    batches = _count_database_thread_batches(monkeypatch)
    commits = []
    loop_sqlite._connection().set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)

    async def burst(release):
        stored = asyncio.gather(*(services.store(row(alice.pk, f"resp_{i}")) for i in range(50)))
        await asyncio.sleep(0.1)
        assert not stored.done()
        release.set()
        await stored

    try:
        with write_lock_held() as release:
            asyncio.run(burst(release))
    finally:
        loop_sqlite._connection().set_trace_callback(None)
    assert batches == [] and len(commits) <= 2  # all fifty in one transaction (two if one came late)
    for i in range(50):
        assert services.get_for_user(alice.pk, f"resp_{i}").output[0]["id"] == f"out_resp_{i}"


@pytest.mark.django_db(transaction=True)
def test_a_response_that_cannot_be_stored_does_not_lose_the_others_of_its_transaction(alice):
    errors = services.save_rows([row(alice.pk, "resp_1"), row(alice.pk + 1000, "resp_2"), row(alice.pk, "resp_3")])
    assert errors[0] is None and errors[2] is None
    assert isinstance(errors[1], IntegrityError)  # no such user
    assert sorted(StoredResponse.objects.values_list("id", flat=True)) == ["resp_1", "resp_3"]
