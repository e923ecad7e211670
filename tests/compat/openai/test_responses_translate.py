"""The Responses API translation (compat/openai/responses.py): requests, output items and streams.

Streams are checked with openai-python's own stream state machine (what `client.responses.stream()`
runs), so an event order the SDK rejects fails here.
"""

import orjson
import pytest
from openai import omit
from openai._models import construct_type
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent

from compat.openai import responses as r
from ollamaweb.core.errors import InvalidRequest
from ollamaweb.gateway.images import RemoteImage
from tests.compat.native import native_chat

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "strict": True,
}


PNG_URL = f"data:image/png;base64,{PNG}"


def text(value) -> dict:
    return {"type": "input_text", "text": value}


def image(url: str, **fields) -> dict:
    return {"type": "input_image", "image_url": url, **fields}


def parse(**body):
    return r.parse_request({"model": "llama3", "input": "Hi", **body})


def native(history=(), **body):
    return r.native_chat(parse(**body), list(history))


def invalid(param=None, code=None, **body):
    with pytest.raises(InvalidRequest) as caught:
        r.parse_request({"model": "llama3", **body})
    assert caught.value.status == 400
    if param is not None:
        assert caught.value.param == param
    if code is not None:
        assert caught.value.code == code
    return caught.value


# --- requests --------------------------------------------------------------------------------------


def test_string_input_is_one_user_message():
    request = parse()
    assert request.model == "llama3" and not request.stream and request.store
    assert r.native_chat(request) == {"messages": [{"role": "user", "content": "Hi"}], "stream": False}
    [item] = request.input_items
    assert item["type"] == "message" and item["role"] == "user" and item["status"] == "completed"
    assert item["content"] == [text("Hi")]
    assert item["id"].startswith("msg_") and len(item["id"]) > 20


def test_instructions_come_first_as_system():
    body = native(instructions="Be brief.", input=[{"role": "developer", "content": "Use French."}])
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Use French."},
    ]


def test_message_parts_text_and_images_stay_one_message():
    body = native(
        input=[
            {
                "type": "message",
                "role": "user",
                "content": [text("What is"), image(PNG_URL, detail="auto"), text("in this picture?")],
            }
        ]
    )
    assert body["messages"] == [{"role": "user", "content": "What is\nin this picture?", "images": [PNG]}]


def test_http_image_is_left_for_the_gateway_to_fetch():
    body = native(input=[{"role": "user", "content": [image("https://x.test/a.png")]}])
    [remote] = body["messages"][0]["images"]
    assert remote == RemoteImage("https://x.test/a.png", "input[0].content[0].image_url")


@pytest.mark.parametrize(
    ("part", "param", "code"),
    [
        (image("data:image/png;base64,@@@"), "input[0].content[0].image_url", "invalid_image"),
        (image("data:text/plain;base64,aGk="), "input[0].content[0].image_url", "invalid_image"),
        ({"type": "input_image", "file_id": "file-1"}, "input[0].content[0].file_id", "unsupported_parameter"),
        ({"type": "input_file", "file_id": "file-1"}, "input[0].content[0]", "unsupported_parameter"),
        ({"type": "input_audio"}, "input[0].content[0].type", "invalid_value"),
        (text(3), "input[0].content[0].text", "invalid_type"),
    ],
)
def test_bad_content_parts(part, param, code):
    invalid(param, code, input=[{"role": "user", "content": [part]}])


def test_function_call_round_trip_in_input():
    body = native(
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
            {"type": "function_call_output", "call_id": "call_1", "output": '{"temp": 21}'},
        ],
        tools=[WEATHER],
    )
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "call_1", "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}}}
            ],
        },
        {"role": "tool", "content": '{"temp": 21}', "tool_call_id": "call_1", "tool_name": "get_weather"},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather in a city",
                "parameters": WEATHER["parameters"],
            },
        }
    ]


def test_parallel_function_calls_join_the_assistant_message_before_them():
    messages = native(
        input=[
            {"role": "user", "content": "Both cities"},
            {"role": "assistant", "content": "Checking both."},
            {"type": "function_call", "call_id": "a", "name": "get_weather", "arguments": '{"city": "Oslo"}'},
            {"type": "function_call", "call_id": "b", "name": "get_weather", "arguments": '{"city": "Rome"}'},
            {"type": "function_call_output", "call_id": "b", "output": "30"},
            {"type": "function_call_output", "call_id": "a", "output": "5"},
        ]
    )["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
    assert messages[1]["content"] == "Checking both."
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["a", "b"]
    assert [c["function"]["index"] for c in messages[1]["tool_calls"]] == [0, 1]
    assert messages[2]["tool_call_id"] == "b" and messages[3]["tool_call_id"] == "a"


def test_function_call_output_as_parts():
    messages = native(
        input=[
            {
                "type": "function_call_output",
                "call_id": "c",
                "output": [text("chart:"), image(PNG_URL)],
            }
        ]
    )["messages"]
    assert messages == [{"role": "tool", "content": "chart:", "tool_call_id": "c", "images": [PNG]}]


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]", '"text"'])
def test_function_call_arguments_must_be_a_json_object(arguments):
    invalid(
        "input[0].arguments",
        "invalid_value",
        input=[{"type": "function_call", "call_id": "c", "name": "f", "arguments": arguments}],
    )


def test_function_call_needs_a_name_and_call_id():
    invalid(
        "input[0].name",
        "missing_required_parameter",
        input=[{"type": "function_call", "call_id": "c", "arguments": "{}"}],
    )
    invalid("input[0].call_id", input=[{"type": "function_call_output", "output": "x"}])


def test_reasoning_becomes_thinking_of_the_next_assistant_message():
    messages = native(
        input=[
            {"role": "user", "content": "2+2?"},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Add them."}]},
            {"role": "assistant", "content": [{"type": "output_text", "text": "4", "annotations": []}]},
            {"role": "user", "content": "And 3+3?"},
        ]
    )["messages"]
    assert messages[1] == {"role": "assistant", "content": "4", "thinking": "Add them."}
    assert "thinking" not in messages[2]


def test_reasoning_prefers_raw_content_and_ignores_encrypted_content():
    item = {
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "short"}],
        "content": [{"type": "reasoning_text", "text": "the long raw thought"}],
        "encrypted_content": "gAAAA-opaque",
    }
    assert r.reasoning_text(item) == "the long raw thought"
    assert r.reasoning_text({"type": "reasoning", "summary": [], "encrypted_content": "gAAAA"}) == ""


def test_reasoning_before_a_function_call_starts_an_assistant_message():
    messages = native(
        input=[
            {"role": "user", "content": "go"},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "call it"}]},
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
        ]
    )["messages"]
    assert messages[1]["thinking"] == "call it" and messages[1]["tool_calls"][0]["function"]["name"] == "f"


def test_assistant_history_with_string_content_is_normalised_as_output_text():
    request = parse(input=[{"role": "assistant", "content": "Earlier answer"}])
    assert request.input_items[0]["content"] == [{"type": "output_text", "text": "Earlier answer", "annotations": []}]
    assert r.native_chat(request)["messages"] == [{"role": "assistant", "content": "Earlier answer"}]


def test_client_item_ids_are_kept_and_missing_ones_made():
    request = parse(
        input=[
            {"type": "message", "id": "msg_client", "role": "user", "content": "a"},
            {"type": "function_call_output", "call_id": "c", "output": "x"},
        ]
    )
    assert request.input_items[0]["id"] == "msg_client"
    assert request.input_items[1]["id"].startswith("fco_") and request.input_items[1]["status"] == "completed"


def test_platform_items_are_skipped_and_unknown_types_refused():
    messages = native(
        input=[{"role": "user", "content": "a"}, {"type": "web_search_call", "id": "ws_1", "status": "completed"}]
    )["messages"]
    assert messages == [{"role": "user", "content": "a"}]
    invalid("input[1].type", "invalid_value", input=[{"role": "user", "content": "a"}, {"type": "teleport"}])
    invalid("input[0]", "unsupported_parameter", input=[{"type": "item_reference", "id": "msg_1"}])


def test_codex_custom_and_local_shell_items_become_tool_calls():
    messages = native(
        input=[
            {"type": "custom_tool_call", "call_id": "p", "name": "apply_patch", "input": "*** Begin Patch"},
            {"type": "custom_tool_call_output", "call_id": "p", "output": "Done"},
            {
                "type": "local_shell_call",
                "call_id": "s",
                "status": "completed",
                "action": {"type": "exec", "command": ["ls"], "env": {}},
            },
            {"type": "local_shell_call_output", "id": "s", "output": "a.txt"},
        ]
    )["messages"]
    assert messages[0]["tool_calls"][0]["function"] == {
        "index": 0,
        "name": "apply_patch",
        "arguments": {"input": "*** Begin Patch"},
    }
    assert messages[1] == {"role": "tool", "content": "Done", "tool_call_id": "p", "tool_name": "apply_patch"}
    assert messages[2]["tool_calls"][0]["function"]["arguments"] == {"command": ["ls"], "env": {}}
    assert messages[3]["tool_name"] == "local_shell"


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({}, "input", "missing_required_parameter"),
        ({"input": 5}, "input", "invalid_type"),
        ({"input": [3]}, "input[0]", "invalid_type"),
        ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role", "invalid_value"),
        ({"input": [{"role": "user"}]}, "input[0].content", "missing_required_parameter"),
        ({"input": "x", "model": ""}, "model", "invalid_value"),
        ({"input": "x", "model": None}, "model", "missing_required_parameter"),
        ({"input": "x", "temperature": 3}, "temperature", "invalid_value"),
        ({"input": "x", "top_p": "high"}, "top_p", "invalid_type"),
        ({"input": "x", "max_output_tokens": 0}, "max_output_tokens", "invalid_value"),
        ({"input": "x", "max_output_tokens": 2.5}, "max_output_tokens", "invalid_type"),
        ({"input": "x", "stream": "yes"}, "stream", "invalid_type"),
        ({"input": "x", "store": 1}, "store", "invalid_type"),
        ({"input": "x", "reasoning": {"effort": "extreme"}}, "reasoning.effort", "invalid_value"),
        ({"input": "x", "text": {"format": {"type": "xml"}}}, "text.format.type", "invalid_value"),
        ({"input": "x", "text": {"format": {"type": "json_schema", "name": "a"}}}, "text.format.schema", None),
        ({"input": "x", "text": {"format": {"type": "json_schema", "schema": {}}}}, "text.format.name", None),
        ({"input": "x", "metadata": {"k": 1}}, "metadata.k", "invalid_type"),
        ({"input": "x", "metadata": {f"k{i}": "v" for i in range(17)}}, "metadata", "invalid_value"),
        ({"input": "x", "metadata": {"k": "v" * 513}}, "metadata.k", "invalid_value"),
        ({"input": "x", "previous_response_id": 7}, "previous_response_id", "invalid_type"),
        ({"input": "x", "background": True}, "background", "unsupported_parameter"),
        ({"input": "x", "conversation": "conv_1"}, "conversation", "unsupported_parameter"),
        ({"input": "x", "tools": {"type": "function"}}, "tools", "invalid_type"),
        ({"input": "x", "tools": [{"type": "function"}]}, "tools[0].name", "missing_required_parameter"),
        ({"input": "x", "tools": [{"type": "function", "name": "f", "parameters": []}]}, "tools[0].parameters", None),
        (
            {"input": "x", "tools": [WEATHER], "tool_choice": {"type": "function", "name": "nope"}},
            "tool_choice",
            "invalid_value",
        ),
        ({"input": "x", "tool_choice": "sometimes"}, "tool_choice", "invalid_value"),
        ({"input": "x", "truncation": "middle"}, "truncation", "invalid_value"),
        ({"input": "x", "include": "reasoning"}, "include", "invalid_type"),
    ],
)
def test_invalid_requests_name_the_field(body, param, code):
    invalid(param, code, **body)


def test_body_must_be_an_object():
    with pytest.raises(InvalidRequest):
        r.parse_request([{"model": "x"}])


def test_sampling_and_limits_reach_options_only_when_sent():
    assert "options" not in native()
    body = native(temperature=0.2, top_p=0.9, max_output_tokens=64, top_k=40, num_ctx=8192, seed=7)
    assert body["options"] == {
        "temperature": 0.2,
        "top_p": 0.9,
        "num_predict": 64,
        "top_k": 40,
        "num_ctx": 8192,
        "seed": 7,
    }


@pytest.mark.parametrize(
    ("effort", "think"),
    [("none", False), ("minimal", "low"), ("low", "low"), ("medium", "medium"), ("high", "high"), ("xhigh", "max")],
)
def test_reasoning_effort_maps_to_think(effort, think):
    assert native(reasoning={"effort": effort, "summary": "auto"})["think"] == think


def test_no_reasoning_sends_no_think():
    assert "think" not in native() and "think" not in native(reasoning={"summary": "auto"})


def test_text_formats():
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    assert (
        native(text={"format": {"type": "json_schema", "name": "person", "schema": schema, "strict": True}})["format"]
        == schema
    )
    assert native(text={"format": {"type": "json_object"}})["format"] == "json"
    assert "format" not in native(text={"format": {"type": "text"}})
    assert "format" not in native(text={"verbosity": "low"})


def test_tool_choice():
    other = {**WEATHER, "name": "get_time"}
    assert [t["function"]["name"] for t in native(tools=[WEATHER, other])["tools"]] == ["get_weather", "get_time"]
    assert "tools" not in native(tools=[WEATHER, other], tool_choice="none")
    assert len(native(tools=[WEATHER, other], tool_choice="required")["tools"]) == 2
    named = native(tools=[WEATHER, other], tool_choice={"type": "function", "name": "get_time"})
    assert [t["function"]["name"] for t in named["tools"]] == ["get_time"]
    allowed = native(
        tools=[WEATHER, other],
        tool_choice={"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "get_weather"}]},
    )
    assert [t["function"]["name"] for t in allowed["tools"]] == ["get_weather"]


def test_hosted_tools_are_not_offered_custom_and_namespaced_are():
    request = parse(
        tools=[
            {"type": "web_search"},
            {"type": "local_shell"},
            {"type": "custom", "name": "apply_patch", "description": "Patch files"},
            {
                "type": "namespace",
                "name": "crm",
                "description": "CRM",
                "tools": [{"type": "function", "name": "lookup"}],
            },
        ]
    )
    body = r.native_chat(request)
    assert [t["function"]["name"] for t in body["tools"]] == ["apply_patch", "crm.lookup"]
    assert body["tools"][0]["function"]["parameters"]["required"] == ["input"]
    assert request.namespaces == {"crm.lookup": ("crm", "lookup")}
    assert [t["type"] for t in request.settings["tools"]] == ["custom", "namespace"]


def test_settings_echoed_in_the_response():
    request = parse(
        instructions="Be kind",
        metadata={"ticket": "42"},
        user="u-1",
        temperature=0.5,
        max_output_tokens=10,
        parallel_tool_calls=False,
        store=False,
        previous_response_id="resp_prev",
        reasoning={"effort": "low"},
    )
    assert request.client_user == "u-1" and not request.store and request.previous_response_id == "resp_prev"
    s = request.settings
    assert s["instructions"] == "Be kind" and s["metadata"] == {"ticket": "42"} and s["user"] == "u-1"
    assert s["temperature"] == 0.5 and s["top_p"] is None and s["max_output_tokens"] == 10
    assert s["parallel_tool_calls"] is False and s["store"] is False and s["previous_response_id"] == "resp_prev"
    assert s["tool_choice"] == "auto" and s["tools"] == [] and s["text"] == {"format": {"type": "text"}}
    assert s["reasoning"] == {"effort": "low", "summary": None}


def test_safety_identifier_is_the_client_user_when_user_is_absent():
    assert parse(safety_identifier="hashed-1").client_user == "hashed-1"


def test_history_comes_between_instructions_and_new_input():
    first = parse(input="My name is Ada.")
    history = [*first.input_items, r.message_item("Hello Ada!")]
    second = parse(input="What is my name?", instructions="Answer briefly.")
    assert r.native_chat(second, history)["messages"] == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello Ada!"},
        {"role": "user", "content": "What is my name?"},
    ]


def test_function_call_output_finds_its_name_in_history():
    history = [
        *parse(input="Weather?").input_items,
        r.function_call_item({"id": "call_9", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}, {}),
    ]
    request = parse(input=[{"type": "function_call_output", "call_id": "call_9", "output": "cold"}])
    messages = r.native_chat(request, history)["messages"]
    assert messages[1]["tool_calls"][0]["function"]["arguments"] == {"city": "Oslo"}
    assert messages[2] == {"role": "tool", "content": "cold", "tool_call_id": "call_9", "tool_name": "get_weather"}


def test_errors_in_new_input_are_numbered_from_the_new_input():
    request = parse(input=[{"role": "user", "content": "ok"}])
    request.input_items.append({"type": "bogus", "id": "x"})
    with pytest.raises(InvalidRequest) as caught:
        r.native_chat(request, [r.message_item("old")])
    assert caught.value.param == "input[1].type"


# --- non-streaming output ---------------------------------------------------------------------------


def native_result(content="Hello!", thinking="", tool_calls=None, done_reason="stop", prompt=12, completion=5):
    return native_chat(content, thinking, tool_calls, done_reason=done_reason, prompt=prompt, completion=completion)


def render(result, **body):
    request = parse(**body)
    return r.response_from_native("resp_abc", 1700000000, "gpt-4o", request, result, 1700000003)


def test_text_response():
    response = render(native_result())
    assert response["id"] == "resp_abc" and response["object"] == "response" and response["status"] == "completed"
    assert (
        response["model"] == "gpt-4o"
        and response["created_at"] == 1700000000
        and response["completed_at"] == 1700000003
    )
    [item] = response["output"]
    assert item["type"] == "message" and item["role"] == "assistant" and item["status"] == "completed"
    assert item["content"] == [{"type": "output_text", "text": "Hello!", "annotations": [], "logprobs": []}]
    assert response["usage"] == {
        "input_tokens": 12,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 17,
    }
    assert response["error"] is None and response["incomplete_details"] is None
    parsed = Response.model_validate(response)  # the SDK's own type, strictly validated
    assert parsed.output_text == "Hello!"


def test_thinking_text_and_tool_calls_are_all_kept():
    calls = [
        {"id": "call_1", "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Oslo"}}},
        {"function": {"index": 1, "name": "get_weather", "arguments": {"city": "Rome"}}},
    ]
    response = render(native_result("Let me check.", thinking="Two cities.", tool_calls=calls), tools=[WEATHER])
    kinds = [item["type"] for item in response["output"]]
    assert kinds == ["reasoning", "message", "function_call", "function_call"]
    assert response["output"][0]["summary"] == [{"type": "summary_text", "text": "Two cities."}]
    first, second = response["output"][2:]
    assert first["call_id"] == "call_1" and first["name"] == "get_weather" and first["status"] == "completed"
    assert orjson.loads(first["arguments"]) == {"city": "Oslo"}
    assert second["call_id"].startswith("call_") and second["id"].startswith("fc_") and first["id"] != second["id"]
    Response.model_validate(response)


def test_tool_calls_alone_have_no_empty_message():
    response = render(native_result("", tool_calls=[{"function": {"name": "f", "arguments": {}}}]))
    assert [item["type"] for item in response["output"]] == ["function_call"]
    assert response["output"][0]["arguments"] == "{}"


def test_parallel_tool_calls_false_keeps_the_first_call():
    calls = [{"function": {"name": "a", "arguments": {}}}, {"function": {"name": "b", "arguments": {}}}]
    response = render(native_result("", tool_calls=calls), parallel_tool_calls=False)
    assert [item["name"] for item in response["output"]] == ["a"]


def test_namespaced_calls_are_split_back():
    tools = [{"type": "namespace", "name": "crm", "description": "", "tools": [{"type": "function", "name": "lookup"}]}]
    response = render(
        native_result("", tool_calls=[{"function": {"name": "crm.lookup", "arguments": {"id": 1}}}]), tools=tools
    )
    assert response["output"][0]["name"] == "lookup" and response["output"][0]["namespace"] == "crm"


def test_length_makes_an_incomplete_response():
    response = render(native_result("Once upon", done_reason="length"), max_output_tokens=2)
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": "max_output_tokens"}
    assert response["output"][0]["status"] == "incomplete"
    Response.model_validate(response)


def test_empty_answer_is_an_empty_message():
    response = render(native_result(""))
    assert response["output"][0]["content"][0]["text"] == ""


def test_ids_are_unique_and_long():
    ids = {r.new_response_id() for _ in range(200)}
    assert len(ids) == 200 and all(i.startswith("resp_") and len(i) == 45 for i in ids)


def test_list_and_delete_shapes():
    assert r.deleted_object("resp_1") == {"id": "resp_1", "object": "response", "deleted": True}
    items = [{"id": "a"}, {"id": "b"}]
    assert r.item_list(items, True) == {
        "object": "list",
        "data": items,
        "first_id": "a",
        "last_id": "b",
        "has_more": True,
    }
    assert r.item_list([], False)["first_id"] is None


# --- streaming ----------------------------------------------------------------------------------------


def sse_payloads(data: bytes) -> list[dict]:
    events = []
    for block in data.decode().split("\n\n"):
        if not block:
            continue
        event_line, data_line = block.split("\n")
        payload = orjson.loads(data_line.removeprefix("data: "))
        assert event_line == "event: " + payload["type"]
        events.append(payload)
    return events


def run_stream(chunks, prompt=10, completion=None, tools=(), **body):
    request = parse(tools=list(tools), **body) if tools else parse(**body)
    stream = r.ResponsesStream("resp_s", 1700000000, "gpt-4o", request)
    data = b"".join(stream.feed(0, chunk) for chunk in chunks)
    data += stream.end(prompt, completion if completion is not None else len(chunks))
    events = sse_payloads(data)
    # What client.responses.stream() does with them: it raises on any order it does not accept.
    state = ResponseStreamState(input_tools=list(tools) if tools else omit, text_format=omit)
    for payload in events:
        state.handle_event(construct_type(type_=ResponseStreamEvent, value=payload))
    return events, state, stream


def chunk(content="", thinking="", tool_calls=None, done=False, done_reason=None):
    if not done:
        return native_chat(content, thinking, tool_calls)
    return native_chat(content, thinking, tool_calls, done_reason=done_reason or "stop", prompt=10, completion=3)


def test_text_stream_event_order():
    events, state, stream = run_stream([chunk("Hel"), chunk("lo"), chunk(done=True)], completion=2)
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["response"]["status"] == "in_progress" and events[0]["response"]["output"] == []
    assert events[6]["text"] == "Hello" and events[7]["part"]["text"] == "Hello"
    item_id = events[2]["item"]["id"]
    assert all(e["item_id"] == item_id for e in events[3:8])
    final = events[-1]["response"]
    assert final["id"] == "resp_s" and final["status"] == "completed" and final["output"][0]["id"] == item_id
    assert (
        final["usage"]["input_tokens"] == 10
        and final["usage"]["output_tokens"] == 2
        and final["usage"]["total_tokens"] == 12
    )
    assert state._completed_response.output_text == "Hello"
    assert stream.response == final
    Response.model_validate(final)


def test_thinking_streams_as_reasoning_summary_then_text():
    events, state, _ = run_stream([chunk(thinking="Hmm"), chunk(thinking=", yes"), chunk("Yes"), chunk(done=True)])
    kinds = [e["type"] for e in events]
    assert kinds[2:10] == [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
    ]
    assert events[6]["text"] == "Hmm, yes" and events[2]["output_index"] == 0 and events[9]["output_index"] == 1
    final = events[-1]["response"]
    assert [i["type"] for i in final["output"]] == ["reasoning", "message"]
    assert final["output"][0]["summary"] == [{"type": "summary_text", "text": "Hmm, yes"}]
    assert state._completed_response.output_text == "Yes"


def test_tool_call_stream():
    call = {"id": "call_7", "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Oslo"}}}
    events, state, _ = run_stream([chunk("Checking"), chunk(tool_calls=[call]), chunk(done=True)], tools=[WEATHER])
    kinds = [e["type"] for e in events]
    i = kinds.index("response.function_call_arguments.delta")
    assert kinds[i - 1 : i + 3] == [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ]
    added, delta, done, item_done = events[i - 1 : i + 3]
    assert added["item"]["arguments"] == "" and added["item"]["status"] == "in_progress" and added["output_index"] == 1
    assert orjson.loads(delta["delta"]) == {"city": "Oslo"} and done["name"] == "get_weather"
    assert item_done["item"]["call_id"] == "call_7" and item_done["item"]["status"] == "completed"
    assert kinds.index("response.output_item.done") < i  # the message closed before the call opened
    final = state._completed_response
    assert [o.type for o in final.output] == ["message", "function_call"]
    assert final.output[1].parsed_arguments == {"city": "Oslo"}  # strict tool: the SDK parses the arguments


def test_text_after_a_tool_call_opens_a_new_message():
    events, _, _ = run_stream(
        [chunk(tool_calls=[{"function": {"name": "f", "arguments": {}}}]), chunk("after"), chunk(done=True)]
    )
    assert [i["type"] for i in events[-1]["response"]["output"]] == ["function_call", "message"]


def test_parallel_tool_calls_false_streams_one_call():
    calls = [{"function": {"name": "a", "arguments": {}}}, {"function": {"name": "b", "arguments": {}}}]
    events, _, _ = run_stream([chunk(tool_calls=calls), chunk(done=True)], parallel_tool_calls=False)
    assert [i["name"] for i in events[-1]["response"]["output"]] == ["a"]


def test_empty_stream_still_has_one_message():
    events, state, _ = run_stream([chunk(done=True)], completion=0)
    assert [i["type"] for i in events[-1]["response"]["output"]] == ["message"]
    assert state._completed_response.output_text == ""


def test_length_ends_with_response_incomplete():
    events, _, stream = run_stream([chunk("Once"), chunk(done=True, done_reason="length")], max_output_tokens=1)
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert events[-1]["response"]["output"][0]["status"] == "incomplete"
    assert stream.response["status"] == "incomplete"


def test_start_is_sent_once_before_any_output():
    stream = r.ResponsesStream("resp_s", 1, "m", parse())
    first = sse_payloads(stream.start())
    assert [e["type"] for e in first] == ["response.created", "response.in_progress"]
    assert stream.start() == b""
    rest = sse_payloads(stream.feed(0, chunk("x")))
    assert rest[0]["type"] == "response.output_item.added" and rest[0]["sequence_number"] == 2


def test_failure_mid_stream_is_response_failed_with_the_partial_output():
    stream = r.ResponsesStream("resp_f", 1, "m", parse())
    data = stream.feed(0, chunk("Partial")) + stream.fail("The model backend failed.", "server_error")
    events = sse_payloads(data)
    assert events[-1]["type"] == "response.failed"
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["error"] == {
        "code": "server_error",
        "message": "The model backend failed.",
    }
    assert failed["output"][0]["content"][0]["text"] == "Partial" and failed["output"][0]["status"] == "incomplete"
    state = ResponseStreamState(input_tools=omit, text_format=omit)
    for payload in events:
        state.handle_event(construct_type(type_=ResponseStreamEvent, value=payload))
    assert stream.response["status"] == "failed"


def test_failure_before_any_output_still_starts_the_response():
    stream = r.ResponsesStream("resp_f", 1, "m", parse())
    kinds = [e["type"] for e in sse_payloads(stream.fail("boom"))]
    assert kinds == ["response.created", "response.in_progress", "response.failed"]


def test_stream_settings_echo_and_unique_item_ids():
    events, _, _ = run_stream(
        [chunk(thinking="t"), chunk("a"), chunk(done=True)], metadata={"k": "v"}, instructions="I"
    )
    final = events[-1]["response"]
    assert final["metadata"] == {"k": "v"} and final["instructions"] == "I"
    ids = [item["id"] for item in final["output"]]
    assert len(set(ids)) == 2 and ids[0].startswith("rs_") and ids[1].startswith("msg_")


def test_replay_of_a_stored_response_is_what_the_sdk_accepts():
    calls = [{"id": "call_1", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}]
    stored = render(native_result("Checking.", thinking="Hmm.", tool_calls=calls), tools=[WEATHER])
    events = sse_payloads(r.replay(stored))
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "response.created" and events[0]["response"]["output"] == []
    assert events[-1] == {"type": "response.completed", "sequence_number": len(events) - 1, "response": stored}
    state = ResponseStreamState(input_tools=[WEATHER], text_format=omit)
    for payload in events:
        state.handle_event(construct_type(type_=ResponseStreamEvent, value=payload))
    final = state._completed_response
    assert final.output_text == "Checking." and [o.id for o in final.output] == [o["id"] for o in stored["output"]]
    later = sse_payloads(r.replay(stored, starting_after=len(events) - 3))
    assert [e["sequence_number"] for e in later] == [len(events) - 2, len(events) - 1]


def test_replay_ends_as_the_response_ended():
    assert sse_payloads(r.replay(render(native_result("a", done_reason="length"))))[-1]["type"] == "response.incomplete"
    failed = {**render(native_result("a")), "status": "failed", "error": {"code": "server_error", "message": "x"}}
    assert sse_payloads(r.replay(failed))[-1]["type"] == "response.failed"


PATCH_TOOL = {"type": "custom", "name": "apply_patch", "description": "Patch files"}


def test_a_custom_tool_call_is_a_custom_tool_call_item():
    calls = [{"id": "call_p", "function": {"name": "apply_patch", "arguments": {"input": "*** Begin Patch"}}}]
    response = render(native_result("", tool_calls=calls), tools=[PATCH_TOOL, WEATHER])
    [item] = response["output"]
    assert item["type"] == "custom_tool_call" and item["id"].startswith("ctc_")
    assert (item["call_id"], item["name"], item["input"]) == ("call_p", "apply_patch", "*** Begin Patch")
    Response.model_validate(response)
    # ... and goes back to the model as the same tool call on the next turn.
    request = parse(input=[item, {"type": "custom_tool_call_output", "call_id": "call_p", "output": "Done!"}])
    messages = r.native_chat(request)["messages"]
    assert messages[0]["tool_calls"][0]["function"] == {
        "index": 0,
        "name": "apply_patch",
        "arguments": {"input": "*** Begin Patch"},
    }
    assert messages[1] == {"role": "tool", "content": "Done!", "tool_call_id": "call_p", "tool_name": "apply_patch"}


def test_custom_tool_call_stream_and_replay():
    call = {"id": "call_p", "function": {"name": "apply_patch", "arguments": {"input": "*** Begin Patch"}}}
    events, state, stream = run_stream([chunk(tool_calls=[call]), chunk(done=True)], tools=[PATCH_TOOL])
    kinds = [e["type"] for e in events]
    assert kinds[2:6] == [
        "response.output_item.added",
        "response.custom_tool_call_input.delta",
        "response.custom_tool_call_input.done",
        "response.output_item.done",
    ]
    assert events[2]["item"]["input"] == "" and events[4]["input"] == "*** Begin Patch"
    assert state._completed_response.output[0].type == "custom_tool_call"
    replayed = sse_payloads(r.replay(stream.response))
    assert [e["type"] for e in replayed] == kinds
