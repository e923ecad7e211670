"""/v1/responses end to end: the openai client → real ASGI server → fake Ollama, with stored conversations."""

import asyncio
import base64
import json

import httpx
import openai
import orjson
import pydantic
import pytest

from ollamaweb.backends.health import check_all
from ollamaweb.backends.models import Backend
from ollamaweb.backends.registry import registry
from ollamaweb.catalog.services import set_alias
from ollamaweb.conversations.models import StoredResponse
from ollamaweb.keys.services import issue_key
from ollamaweb.quotas.services import delete_policies, set_limits
from ollamaweb.usage.models import RequestLog
from tests.api.weather import CITY, weather_function
from tests.conftest import only_log, settle_logs
from tests.fake_ollama import Reply

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake-image-bytes").decode()
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {**CITY, "additionalProperties": False},
    "strict": True,
}


def chat_requests(fake):
    return [r.json for r in fake.requests if r.path == "/api/chat"]


def last_native(fake):
    return chat_requests(fake)[-1]


def answer_call(client, previous, call, output: str, tools: list):
    """The next turn after `previous`: the output of its tool call `call` (a function or custom tool call)."""
    return client.responses.create(
        model="llama3",
        previous_response_id=previous.id,
        input=[{"type": f"{call.type}_output", "call_id": call.call_id, "output": output}],
        tools=tools,
    )


@pytest.fixture
def other_client(gateway, django_user_model):
    bob = django_user_model.objects.create_user("bob", password="pw-bob-123")
    return openai.OpenAI(base_url=gateway.url + "/v1/", api_key=issue_key(bob, "bob key")[1], max_retries=0)


# --- creating responses ------------------------------------------------------------------------------


def test_text_response_with_exact_usage_stored_and_logged(client, gateway, fake_ollama, user):
    fake_ollama.reply = Reply(content="Hello there, friend!", prompt_eval_count=26, eval_count=7)

    response = client.responses.create(model="llama3", input="Say hello", instructions="Be friendly.")

    assert response.output_text == "Hello there, friend!"
    assert response.id.startswith("resp_") and len(response.id) > 30
    assert response.object == "response" and response.status == "completed" and response.model == "llama3"
    assert response.instructions == "Be friendly." and response.error is None
    [message] = response.output
    assert message.type == "message" and message.role == "assistant" and message.status == "completed"
    assert message.id.startswith("msg_")
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (26, 7, 33)
    native = last_native(fake_ollama)
    assert native["model"] == "llama3" and native["stream"] is True  # generations are read as streams
    assert native["messages"] == [
        {"role": "system", "content": "Be friendly."},
        {"role": "user", "content": "Say hello"},
    ]
    assert "options" not in native  # nothing forced: the Modelfile's defaults hold
    stored = StoredResponse.objects.get()
    assert (stored.id, stored.user_id, stored.model, stored.status) == (response.id, user.pk, "llama3", "completed")
    assert (stored.input_tokens, stored.output_tokens) == (26, 7)
    log = only_log(gateway)
    assert (log.endpoint, log.requested_model, log.status, log.stream) == ("responses", "llama3", 200, False)
    assert (log.prompt_tokens, log.completion_tokens, log.usage_source) == (26, 7, "measured")
    assert log.response_id == response.id  # the log row and the stored response are linked


def test_streamed_response_through_the_sdk_helper(client, gateway, fake_ollama):
    fake_ollama.reply = Reply(content="One two three", prompt_eval_count=9, eval_count=3)

    with client.responses.stream(model="llama3", input="Count") as stream:
        events = list(stream)
        final = stream.get_final_response()

    kinds = [event.type for event in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert "".join(deltas) == "One two three" and len(deltas) == 3
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert final.output_text == "One two three" and final.status == "completed"
    assert (final.usage.input_tokens, final.usage.output_tokens, final.usage.total_tokens) == (9, 3, 12)
    assert last_native(fake_ollama)["stream"] is True
    # Stored before response.completed was sent: retrievable at once.
    assert client.responses.retrieve(final.id).output_text == "One two three"
    settle_logs(gateway)
    log = RequestLog.objects.get(endpoint="responses")
    assert (log.stream, log.prompt_tokens, log.completion_tokens, log.status) == (True, 9, 3, 200)
    assert log.response_id == final.id


def test_raw_stream_wire_format(gateway, api_key, fake_ollama):
    fake_ollama.reply = Reply(content="Hi", prompt_eval_count=4, eval_count=1)
    with httpx.stream(
        "POST",
        gateway.url + "/v1/responses",
        headers={"Authorization": f"Bearer {api_key[1]}"},
        json={"model": "llama3", "input": "hi", "stream": True},
        timeout=20,
    ) as reply:
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
        body = reply.read().decode()
    blocks = [block for block in body.split("\n\n") if block]
    for block in blocks:
        event_line, data_line = block.split("\n")
        assert event_line == "event: " + json.loads(data_line.removeprefix("data: "))["type"]
    assert "[DONE]" not in body
    assert json.loads(blocks[-1].split("\n")[1][6:])["response"]["usage"]["total_tokens"] == 5


def test_async_stream(async_client, fake_ollama):
    import asyncio

    async def run():
        async with async_client.responses.stream(model="llama3", input="hi") as stream:
            async for _ in stream:
                pass
            return await stream.get_final_response()

    assert asyncio.run(run()).output_text == "Hello there, friend!"


def test_sampling_fields_reach_the_backend(client, gateway, fake_ollama):
    client.responses.create(
        model="llama3",
        input="hi",
        temperature=0.3,
        top_p=0.8,
        max_output_tokens=50,
        user="end-user-7",
        metadata={"ticket": "42"},
    )
    assert last_native(fake_ollama)["options"] == {"temperature": 0.3, "top_p": 0.8, "num_predict": 50}
    assert only_log(gateway).client_user == "end-user-7"


def test_settings_are_echoed(client, fake_ollama):
    response = client.responses.create(
        model="llama3",
        input="hi",
        metadata={"ticket": "42"},
        temperature=0.5,
        max_output_tokens=64,
        parallel_tool_calls=False,
        tools=[WEATHER],
        tool_choice="auto",
    )
    assert response.metadata == {"ticket": "42"} and response.temperature == 0.5
    assert response.max_output_tokens == 64 and response.parallel_tool_calls is False
    assert response.tool_choice == "auto" and response.tools[0].name == "get_weather"


def test_max_output_tokens_gives_an_incomplete_response(client, fake_ollama):
    fake_ollama.reply = Reply(content="one two three four five")
    response = client.responses.create(model="llama3", input="count", max_output_tokens=2)
    assert response.status == "incomplete" and response.incomplete_details.reason == "max_output_tokens"
    assert response.output_text == "one two"


def test_vision_input(client, fake_ollama):
    response = client.responses.create(
        model="llama3",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is this?"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"},
                ],
            }
        ],
    )
    assert response.status == "completed"
    assert last_native(fake_ollama)["messages"] == [{"role": "user", "content": "What is this?", "images": [PNG]}]


# --- tools, structured output, reasoning --------------------------------------------------------------


def test_function_tool_round_trip_with_previous_response_id(client, gateway, fake_ollama):
    fake_ollama.reply = Reply(content="", tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    first = client.responses.create(model="llama3", input="Weather in Paris?", tools=[WEATHER])

    [call] = first.output
    assert call.type == "function_call" and call.name == "get_weather" and call.status == "completed"
    assert json.loads(call.arguments) == {"city": "Paris"} and call.call_id
    assert last_native(fake_ollama)["tools"] == [weather_function(WEATHER["parameters"])]

    fake_ollama.reply = Reply(content="It is sunny in Paris.")
    second = answer_call(client, first, call, '{"sky": "sunny"}', [WEATHER])
    assert second.output_text == "It is sunny in Paris." and second.previous_response_id == first.id
    assert last_native(fake_ollama)["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": call.call_id, "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}}}
            ],
        },
        {"role": "tool", "content": '{"sky": "sunny"}', "tool_call_id": call.call_id, "tool_name": "get_weather"},
    ]


def test_streamed_function_call(client, fake_ollama):
    fake_ollama.reply = Reply(content="Checking.", tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}])
    with client.responses.stream(model="llama3", input="Oslo?", tools=[WEATHER]) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [event.type for event in events]
    assert "response.function_call_arguments.delta" in kinds and "response.function_call_arguments.done" in kinds
    done = next(event for event in events if event.type == "response.function_call_arguments.done")
    assert done.name == "get_weather" and json.loads(done.arguments) == {"city": "Oslo"}
    assert [item.type for item in final.output] == ["message", "function_call"]
    assert final.output[1].parsed_arguments == {"city": "Oslo"}  # a strict tool: the SDK parses it


def test_tool_choice_none_sends_no_tools(client, fake_ollama):
    client.responses.create(model="llama3", input="hi", tools=[WEATHER], tool_choice="none")
    assert "tools" not in last_native(fake_ollama)


class Person(pydantic.BaseModel):
    name: str
    age: int


def test_structured_output(client, fake_ollama):
    fake_ollama.reply = Reply(content='{"name": "Ada", "age": 36}')
    response = client.responses.parse(model="llama3", input="Who?", text_format=Person)
    assert response.output_parsed == Person(name="Ada", age=36)
    schema = last_native(fake_ollama)["format"]
    assert schema["type"] == "object" and set(schema["properties"]) == {"name", "age"}
    assert response.text.format.type == "json_schema" and response.text.format.name == "Person"


def test_json_object_mode(client, fake_ollama):
    client.responses.create(model="llama3", input="json please", text={"format": {"type": "json_object"}})
    assert last_native(fake_ollama)["format"] == "json"


def test_reasoning_effort_and_thinking(client, fake_ollama):
    fake_ollama.add_model("qwen3", capabilities=["completion", "tools", "thinking"])
    fake_ollama.reply = Reply(content="4", thinking="Two plus two is four.")
    response = client.responses.create(model="qwen3", input="2+2?", reasoning={"effort": "high"})
    assert last_native(fake_ollama)["think"] == "high"
    reasoning, message = response.output
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "Two plus two is four."
    assert response.output_text == "4"

    with client.responses.stream(model="qwen3", input="2+2?", reasoning={"effort": "low"}) as stream:
        events = list(stream)
    deltas = [event.delta for event in events if event.type == "response.reasoning_summary_text.delta"]
    assert "".join(deltas) == "Two plus two is four."

    # The reasoning goes back to the model as the assistant's thinking on the next turn.
    fake_ollama.reply = Reply(content="8")
    client.responses.create(model="qwen3", input="Double it.", previous_response_id=response.id)
    assert last_native(fake_ollama)["messages"][1] == {
        "role": "assistant",
        "content": "4",
        "thinking": "Two plus two is four.",
    }


def test_reasoning_effort_none_turns_thinking_off(client, fake_ollama):
    client.responses.create(model="llama3", input="hi", reasoning={"effort": "none"})
    assert last_native(fake_ollama)["think"] is False


# --- stored conversations -------------------------------------------------------------------------


def test_previous_response_id_chain(client, fake_ollama):
    fake_ollama.reply = Reply(content="Hi Ada!")
    first = client.responses.create(model="llama3", input="My name is Ada.", instructions="Be terse.")
    fake_ollama.reply = Reply(content="Noted.")
    second = client.responses.create(model="llama3", input="I like tea.", previous_response_id=first.id)
    fake_ollama.reply = Reply(content="Ada, tea.")
    third = client.responses.create(
        model="llama3", input="Who am I?", previous_response_id=second.id, instructions="Answer in two words."
    )
    assert third.output_text == "Ada, tea."
    assert last_native(fake_ollama)["messages"] == [
        {"role": "system", "content": "Answer in two words."},  # instructions are not inherited
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hi Ada!"},
        {"role": "user", "content": "I like tea."},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "Who am I?"},
    ]


def test_streamed_chain(client, fake_ollama):
    with client.responses.stream(model="llama3", input="My name is Ada.") as stream:
        first = stream.get_final_response()
    with client.responses.stream(model="llama3", input="Who am I?", previous_response_id=first.id) as stream:
        stream.get_final_response()
    assert [m["role"] for m in last_native(fake_ollama)["messages"]] == ["user", "assistant", "user"]


def test_unknown_previous_response_is_400(client, fake_ollama):
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="llama3", input="hi", previous_response_id="resp_doesnotexist")
    assert caught.value.body["code"] == "previous_response_not_found"
    assert caught.value.body["param"] == "previous_response_id"
    assert caught.value.body["message"] == "Previous response with id 'resp_doesnotexist' not found."
    assert not chat_requests(fake_ollama)


def test_store_false_keeps_nothing(client, fake_ollama):
    response = client.responses.create(model="llama3", input="hi", store=False)
    assert response.store is False
    assert not StoredResponse.objects.exists()
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="llama3", input="again", previous_response_id=response.id)


def test_retrieve(client, fake_ollama):
    created = client.responses.create(model="llama3", input="hi", metadata={"k": "v"})
    retrieved = client.responses.retrieve(created.id)
    assert retrieved.model_dump() == created.model_dump()


def test_retrieve_as_a_stream(client, fake_ollama):
    created = client.responses.create(model="llama3", input="hi")
    events = list(client.responses.retrieve(created.id, stream=True))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    assert events[-1].response.output_text == created.output_text
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Hello there, friend!"
    later = list(client.responses.retrieve(created.id, stream=True, starting_after=len(events) - 2))
    assert [e.type for e in later] == ["response.completed"]


def test_delete(client, fake_ollama):
    created = client.responses.create(model="llama3", input="hi")
    assert client.responses.delete(created.id) is None
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(created.id)
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="llama3", input="more", previous_response_id=created.id)


def test_delete_body(gateway, client, api_key, fake_ollama):
    created = client.responses.create(model="llama3", input="hi")
    reply = httpx.delete(f"{gateway.url}/v1/responses/{created.id}", headers={"Authorization": f"Bearer {api_key[1]}"})
    assert reply.status_code == 200
    assert reply.json() == {"id": created.id, "object": "response", "deleted": True}


def test_another_users_response_is_404(client, other_client, fake_ollama):
    created = client.responses.create(model="llama3", input="secret")
    for call in (
        lambda: other_client.responses.retrieve(created.id),
        lambda: other_client.responses.delete(created.id),
        lambda: other_client.responses.input_items.list(created.id),
    ):
        with pytest.raises(openai.NotFoundError) as caught:
            call()
        assert created.id in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError) as caught:
        other_client.responses.create(model="llama3", input="hi", previous_response_id=created.id)
    assert caught.value.body["code"] == "previous_response_not_found"
    assert client.responses.retrieve(created.id).id == created.id  # still there for its owner


def test_input_items(client, fake_ollama):
    created = client.responses.create(
        model="llama3",
        input=[
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "two"},
            {"role": "user", "content": [{"type": "input_text", "text": "three"}]},
        ],
    )
    page = client.responses.input_items.list(created.id)
    assert [item.content[0].text for item in page.data] == ["three", "two", "one"]  # newest first
    assert page.has_more is False and page.first_id == page.data[0].id and page.last_id == page.data[-1].id
    ascending = client.responses.input_items.list(created.id, order="asc", limit=2)
    assert [item.content[0].text for item in ascending.data] == ["one", "two"] and ascending.has_more
    everything = list(client.responses.input_items.list(created.id, order="asc", limit=1))  # auto-paging
    assert [item.content[0].text for item in everything] == ["one", "two", "three"]
    with pytest.raises(openai.BadRequestError):
        client.responses.input_items.list(created.id, limit=500)


def test_unknown_response_routes(client, gateway, api_key):
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_nope")
    reply = httpx.put(f"{gateway.url}/v1/responses/resp_x", headers={"Authorization": f"Bearer {api_key[1]}"})
    assert reply.status_code == 405 and "error" in reply.json()


# --- errors ---------------------------------------------------------------------------------------


def test_invalid_request_names_the_field(client, fake_ollama):
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="llama3", input=[{"role": "robot", "content": "x"}])
    assert caught.value.body["param"] == "input[0].role"
    assert not chat_requests(fake_ollama)


def test_unknown_model_is_404(client, fake_ollama):
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="nope", input="hi")


def test_bad_key_is_401(gateway, fake_ollama):
    bad = openai.OpenAI(base_url=gateway.url + "/v1/", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.responses.create(model="llama3", input="hi")
    with pytest.raises(openai.AuthenticationError):
        bad.responses.retrieve("resp_x")


def test_backend_failure_before_output_is_an_http_error(client, fake_ollama):
    fake_ollama.reply = Reply(status=500, error="model crashed")
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model="llama3", input="hi")
    with pytest.raises(openai.InternalServerError):
        with client.responses.stream(model="llama3", input="hi") as stream:
            list(stream)
    assert not StoredResponse.objects.exists()


def test_backend_failure_mid_stream_is_response_failed(client, gateway, fake_ollama):
    fake_ollama.reply = Reply(content="one two three four", error_after=2, error="GPU fell off")
    with client.responses.stream(model="llama3", input="hi") as stream:
        events = list(stream)
        with pytest.raises(RuntimeError):
            stream.get_final_response()
    assert events[-1].type == "response.failed"
    failed = events[-1].response
    assert failed.status == "failed" and failed.error.code == "server_error"
    assert failed.output[0].content[0].text == "one two"
    stored = StoredResponse.objects.get()
    assert stored.status == "failed" and stored.id == failed.id
    log = only_log(gateway)
    assert log.status >= 500 and "GPU fell off" in log.error


def test_codex_style_request(gateway, api_key, fake_ollama):
    """What Codex CLI sends: full transcript, store false, include, custom and hosted tools."""
    fake_ollama.reply = Reply(content="", tool_calls=[{"name": "shell", "arguments": {"command": ["ls"]}}])
    body = {
        "model": "llama3",
        "instructions": "You are Codex.",
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "<permissions>"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list files"}]},
        ],
        "tools": [
            {
                "type": "function",
                "name": "shell",
                "description": "Run",
                "strict": False,
                "parameters": {
                    "type": "object",
                    "properties": {"command": {"type": "array", "items": {"type": "string"}}},
                },
            },
            {
                "type": "custom",
                "name": "apply_patch",
                "description": "Patch",
                "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"},
            },
            {"type": "web_search"},
        ],  # fmt: skip
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "reasoning": None,
        "store": False,
        "stream": True,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "conv-123",
    }
    with httpx.stream(
        "POST",
        gateway.url + "/v1/responses",
        headers={"Authorization": f"Bearer {api_key[1]}", "Accept": "text/event-stream", "session_id": "conv-123"},
        json=body,
        timeout=20,
    ) as reply:
        assert reply.status_code == 200
        events = [orjson.loads(line[6:]) for line in reply.read().decode().split("\n") if line.startswith("data: ")]
    done_items = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert [item["type"] for item in done_items] == ["function_call"]
    assert done_items[0]["name"] == "shell" and json.loads(done_items[0]["arguments"]) == {"command": ["ls"]}
    assert events[-1]["type"] == "response.completed" and events[-1]["response"]["id"].startswith("resp_")
    native = last_native(fake_ollama)
    assert [t["function"]["name"] for t in native["tools"]] == ["shell", "apply_patch"]
    assert native["messages"][:2] == [
        {"role": "system", "content": "You are Codex."},
        {"role": "system", "content": "<permissions>"},
    ]
    assert not StoredResponse.objects.exists()


# --- the gateway around it: aliases, quotas, disconnects ---------------------------------------------


def test_alias_is_echoed_and_resolved(client, gateway, fake_ollama):
    set_alias("gpt-4o", "llama3", allow_pending=True)
    response = client.responses.create(model="gpt-4o", input="hi")
    assert response.model == "gpt-4o" and last_native(fake_ollama)["model"] == "llama3"
    log = only_log(gateway)
    assert (log.requested_model, log.resolved_model) == ("gpt-4o", "llama3")


def test_token_quota_applies(client, gateway, fake_ollama, user):
    policy = set_limits(user=user, tokens_per_day=50)
    fake_ollama.reply = Reply(content="x", prompt_eval_count=10, eval_count=30)
    client.responses.create(model="llama3", input="hi", max_output_tokens=30)
    assert last_native(fake_ollama)["options"]["num_predict"] == 30
    with pytest.raises(openai.RateLimitError) as caught:
        client.responses.create(model="llama3", input="hi", max_output_tokens=30)
    assert caught.value.body["code"] == "insufficient_quota"
    without_limit = client.with_options(max_retries=0)
    delete_policies([policy])
    without_limit.responses.create(model="llama3", input="hi")
    assert "num_predict" not in (last_native(fake_ollama).get("options") or {})


def test_stream_disconnect_stops_the_backend_stores_nothing_and_logs_499(gateway, api_key, fake_ollama):
    fake_ollama.reply = Reply(content=" ".join(f"w{i}" for i in range(100)), token_delay=0.05)
    seen = b""
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        body = {"model": "llama3", "input": "hi", "stream": True}
        with http.stream("POST", "/v1/responses", json=body, headers={"Authorization": f"Bearer {api_key[1]}"}) as r:
            for data in r.iter_bytes():
                seen += data
                if seen.count(b"response.output_text.delta\n") >= 2:
                    break
    fake_ollama.wait_for(lambda: (fake_ollama.cancelled, fake_ollama.active) == (1, 0), timeout=1.0)
    log = only_log(gateway)
    assert (log.status, log.error, log.endpoint) == (499, "client disconnected", "responses")
    assert log.response_id.startswith("resp_")
    assert not StoredResponse.objects.exists()


def test_retrieval_routes_are_logged(client, gateway, fake_ollama):
    created = client.responses.create(model="llama3", input="hi")
    client.responses.retrieve(created.id)
    client.responses.input_items.list(created.id)
    client.responses.delete(created.id)
    settle_logs(gateway)
    rows = list(RequestLog.objects.order_by("created_at").values_list("endpoint", "status", "response_id"))
    assert rows == [
        ("responses", 200, created.id),
        ("responses.retrieve", 200, created.id),
        ("responses.input_items", 200, created.id),
        ("responses.delete", 200, created.id),
    ]


def test_codex_apply_patch_custom_tool(client, fake_ollama):
    """A free-form tool is offered as a function taking `input`; the call comes back as custom_tool_call."""
    patch = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch"
    fake_ollama.reply = Reply(content="", tool_calls=[{"name": "apply_patch", "arguments": {"input": patch}}])
    tool = {"type": "custom", "name": "apply_patch", "description": "Apply a patch"}
    with client.responses.stream(model="llama3", input="add a.txt", tools=[tool]) as stream:
        events = list(stream)
        final = stream.get_final_response()
    [call] = final.output
    assert call.type == "custom_tool_call" and call.name == "apply_patch" and call.input == patch
    assert [e.type for e in events if "custom_tool_call_input" in e.type] == [
        "response.custom_tool_call_input.delta",
        "response.custom_tool_call_input.done",
    ]
    assert last_native(fake_ollama)["tools"][0]["function"]["parameters"]["required"] == ["input"]
    fake_ollama.reply = Reply(content="Added a.txt.")
    follow = answer_call(client, final, call, "Success", [tool])
    assert follow.output_text == "Added a.txt."
    messages = last_native(fake_ollama)["messages"]
    assert messages[1]["tool_calls"][0]["function"]["arguments"] == {"input": patch}
    assert messages[2] == {
        "role": "tool",
        "content": "Success",
        "tool_call_id": call.call_id,
        "tool_name": "apply_patch",
    }


def test_the_response_is_stored_before_the_client_has_it(client, fake_ollama, monkeypatch):
    """However slow the database, the response is committed before the client has it (so its next
    request, to any process, finds it): the answer waits for the write."""
    from ollamaweb.conversations import services

    store, committed = services.store, []

    async def slow(row):
        await asyncio.sleep(0.3)
        await store(row)
        committed.append(row.response["id"])

    monkeypatch.setattr(services, "store", slow)
    created = client.responses.create(model="llama3", input="hi")
    assert committed == [created.id]
    with client.responses.stream(model="llama3", input="hi", previous_response_id=created.id) as stream:
        streamed = stream.get_final_response()
    assert committed == [created.id, streamed.id]
    assert client.responses.retrieve(streamed.id).output_text == "Hello there, friend!"


def test_a_failed_store_still_answers(client, fake_ollama, monkeypatch, caplog):
    from ollamaweb.conversations import services

    monkeypatch.setattr(services, "UPSERT", services.UPSERT.replace(services.TABLE, "no_such_table", 1))  # it fails
    assert client.responses.create(model="llama3", input="hi").output_text == "Hello there, friend!"
    with client.responses.stream(model="llama3", input="hi") as stream:
        assert stream.get_final_response().output_text == "Hello there, friend!"
    assert caplog.text.count("could not store response resp_") == 2
    assert not StoredResponse.objects.exists()


def test_an_old_backend_without_responses_serves_them(gateway, client, start_fake):
    """Ollama 0.6.5 (the K80 fork's base) has no /v1/responses and no tool-call ids: the gateway
    still serves a stored tool round trip over its /api/chat."""
    old = start_fake(version="0.6.5")
    old.add_model("llama3", capabilities=["completion", "tools"])
    Backend.objects.create(name="old", url=old.url)
    registry.invalidate()
    gateway.call(check_all(registry))
    old.reply = Reply(content="", tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}])
    first = client.responses.create(model="llama3", input="Weather in Oslo?", tools=[WEATHER])
    [call] = first.output
    assert call.type == "function_call" and call.call_id.startswith("call_")  # made up: 0.6.5 sends none
    old.reply = Reply(content="Cold.")
    second = answer_call(client, first, call, "-5", [WEATHER])
    assert second.output_text == "Cold."
    native = [r.json for r in old.requests if r.path == "/api/chat"][-1]
    assert native["messages"][2] == {"role": "tool", "content": "-5"}  # adapted: matched by position
    assert not [r for r in old.requests if r.path.startswith("/v1/")]
