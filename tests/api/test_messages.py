"""POST /v1/messages and /v1/messages/count_tokens end to end: the anthropic client → real ASGI server → fake Ollama."""

import base64

import anthropic
import httpx
import pytest

from ollamaweb.catalog import services as catalog
from ollamaweb.keys.services import issue_key
from ollamaweb.quotas import services as quotas
from ollamaweb.usage.models import RequestLog
from tests.api.weather import CITY, weather_function
from tests.conftest import assert_logged, only_log, settle_logs
from tests.fake_ollama import Reply

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake-image-bytes").decode()
HI = [{"role": "user", "content": "Say this is a test"}]
WEATHER = {
    "name": "get_weather",
    "description": "Weather in a city",
    "input_schema": CITY,
}


@pytest.fixture(autouse=True)
def no_anthropic_environment(monkeypatch):
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def make_client(gateway, **kwargs) -> anthropic.Anthropic:
    kwargs.setdefault("base_url", gateway.url)
    return anthropic.Anthropic(max_retries=0, timeout=20, **kwargs)


@pytest.fixture
def claude(gateway, api_key):
    """The real Anthropic client as Claude Code configures it: base URL without /v1, ANTHROPIC_AUTH_TOKEN."""
    return make_client(gateway, auth_token=api_key[1])


def natives(fake, path="/api/chat"):
    return [r.json for r in fake.requests if r.path == path]


# --- create ---------------------------------------------------------------------------------


def test_create_returns_text_and_exact_usage_and_logs_it(claude, gateway, fake_ollama):
    fake_ollama.reply = Reply(content="This is a test.", prompt_eval_count=31, eval_count=6)

    message = claude.messages.create(
        model="llama3",
        max_tokens=300,
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        messages=HI,
        metadata={"user_id": "user_42_account__session_abc"},
        extra_body={"temperature": 0.2, "top_k": 40},
    )

    assert isinstance(message, anthropic.types.Message)
    assert message.content[0].type == "text" and message.content[0].text == "This is a test."
    assert message.role == "assistant" and message.model == "llama3"
    assert message.id.startswith("msg_")
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert (message.usage.input_tokens, message.usage.output_tokens) == (31, 6)
    [native] = natives(fake_ollama)
    assert native["model"] == "llama3"  # (the pipeline reads every generation from the backend as a stream)
    assert native["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say this is a test"},
    ]
    assert native["options"] == {"temperature": 0.2, "top_k": 40, "num_predict": 300}
    log = assert_logged(
        gateway, endpoint="messages", requested_model="llama3", resolved_model="llama3", status=200, stream=False
    )
    assert message._request_id == log.request_id
    assert (log.prompt_tokens, log.completion_tokens, log.usage_source) == (31, 6, "measured")
    assert log.client_user == "user_42_account__session_abc"


def test_max_tokens_and_stop_sequences(claude, fake_ollama):
    fake_ollama.reply = Reply(content="one two three four five six")
    message = claude.messages.create(model="llama3", max_tokens=2, messages=HI, stop_sequences=["END"])
    assert message.stop_reason == "max_tokens"
    assert message.content[0].text == "one two"
    assert natives(fake_ollama)[-1]["options"] == {"stop": ["END"], "num_predict": 2}


def test_alias_and_claude_default_resolve_and_echo_the_requested_name(claude, gateway, fake_ollama):
    catalog.set_alias("claude-haiku-4-5", "llama3")
    catalog.set_claude_default_target("llama3")
    claude.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=HI)
    message = claude.messages.create(model="claude-sonnet-4-6", max_tokens=50, messages=HI)
    assert message.model == "claude-sonnet-4-6"
    assert [n["model"] for n in natives(fake_ollama)] == ["llama3", "llama3"]
    settle_logs(gateway)
    assert sorted(RequestLog.objects.values_list("requested_model", "resolved_model")) == [
        ("claude-haiku-4-5", "llama3"),
        ("claude-sonnet-4-6", "llama3"),
    ]


def test_unknown_claude_name_without_a_default_is_not_found(claude, fake_ollama):
    with pytest.raises(anthropic.NotFoundError) as info:
        claude.messages.create(model="claude-opus-4-7", max_tokens=50, messages=HI)
    assert info.value.body["type"] == "error"
    assert info.value.body["error"]["type"] == "not_found_error"
    assert "claude-opus-4-7" in info.value.body["error"]["message"]


# --- streaming ------------------------------------------------------------------------------


def test_stream_helper_text_and_exact_usage(claude, gateway, fake_ollama):
    fake_ollama.reply = Reply(content="Hello there, friend!", prompt_eval_count=17, eval_count=5)

    with claude.messages.stream(model="llama3", max_tokens=100, messages=HI) as stream:
        text = "".join(stream.text_stream)
        message = stream.get_final_message()

    assert text == "Hello there, friend!"
    assert message.content[0].text == "Hello there, friend!"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (17, 5)
    assert natives(fake_ollama)[-1]["stream"] is True
    log = assert_logged(gateway, endpoint="messages", status=200, stream=True, prompt_tokens=17, completion_tokens=5)
    assert log.usage_source == "measured"


def test_raw_stream_event_sequence(gateway, api_key, fake_ollama):
    fake_ollama.reply = Reply(content="Hi you", tokens=["Hi", " you"])
    response = httpx.post(
        gateway.url + "/v1/messages?beta=true",
        json={"model": "llama3", "max_tokens": 20, "messages": HI, "stream": True},
        headers={"Authorization": f"Bearer {api_key[1]}", "anthropic-version": "2023-06-01", "anthropic-beta": "x"},
        timeout=20,
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    names = [line[len("event: ") :] for line in response.text.splitlines() if line.startswith("event: ")]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


def test_stream_failure_after_output_raises_in_the_sdk_and_is_logged(claude, gateway, fake_ollama):
    fake_ollama.reply = Reply(content="one two three four", error_after=2, error="model runner crashed")
    received = []
    with pytest.raises(anthropic.APIStatusError) as info:
        with claude.messages.stream(model="llama3", max_tokens=100, messages=HI) as stream:
            for text in stream.text_stream:
                received.append(text)
    assert "".join(received) == "one two"
    assert info.value.body["type"] == "error" and info.value.body["error"]["type"] == "api_error"
    assert "model runner crashed" in info.value.body["error"]["message"]
    log = only_log(gateway)
    assert log.status == 502 and log.stream is True
    assert "model runner crashed" in log.error


# --- tools ------------------------------------------------------------------------------------


def test_tool_use_round_trip(claude, gateway, fake_ollama):
    fake_ollama.reply = Reply(content="", tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    question = {"role": "user", "content": "Weather in Paris?"}
    first = claude.messages.create(model="llama3", max_tokens=200, messages=[question], tools=[WEATHER])

    assert first.stop_reason == "tool_use"
    [tool_use] = first.content
    assert tool_use.type == "tool_use" and tool_use.name == "get_weather" and tool_use.input == {"city": "Paris"}
    assert tool_use.id.startswith("toolu_")
    assert natives(fake_ollama)[-1]["tools"] == [weather_function(WEATHER["input_schema"])]

    fake_ollama.reply = Reply(content="It is 18°C in Paris.")
    second = claude.messages.create(
        model="llama3",
        max_tokens=200,
        tools=[WEATHER],
        messages=[
            question,
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "18°C"}]},
        ],
    )
    assert second.content[0].text == "It is 18°C in Paris." and second.stop_reason == "end_turn"
    history = natives(fake_ollama)[-1]["messages"]
    assert history[1]["role"] == "assistant"
    assert history[1]["tool_calls"][0]["function"] == {
        "index": 0,
        "name": "get_weather",
        "arguments": {"city": "Paris"},
    }
    assert history[1]["tool_calls"][0]["id"] == tool_use.id
    assert history[2] == {"role": "tool", "content": "18°C", "tool_call_id": tool_use.id, "tool_name": "get_weather"}


def test_streamed_tool_use(claude, fake_ollama):
    fake_ollama.reply = Reply(
        content="Let me look.", tool_calls=[{"name": "get_weather", "arguments": {"city": "Rome"}}]
    )
    with claude.messages.stream(model="llama3", max_tokens=200, messages=HI, tools=[WEATHER]) as stream:
        message = stream.get_final_message()
    text, tool_use = message.content
    assert text.text == "Let me look."
    assert tool_use.type == "tool_use" and tool_use.input == {"city": "Rome"} and tool_use.id.startswith("toolu_")
    assert message.stop_reason == "tool_use"


def test_tool_choice_none_and_web_search_server_tool(claude, fake_ollama):
    web_search = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
    claude.messages.create(model="llama3", max_tokens=20, messages=HI, tools=[WEATHER, web_search])
    assert [t["function"]["name"] for t in natives(fake_ollama)[-1]["tools"]] == ["get_weather"]
    claude.messages.create(model="llama3", max_tokens=20, messages=HI, tools=[WEATHER], tool_choice={"type": "none"})
    assert "tools" not in natives(fake_ollama)[-1]


# --- thinking ---------------------------------------------------------------------------------


def test_thinking_model_create_and_stream(claude, fake_ollama):
    fake_ollama.add_model("qwen3", capabilities=["completion", "tools", "thinking"])
    fake_ollama.reply = Reply(content="42.", thinking="Six times seven.")
    thinking = {"type": "enabled", "budget_tokens": 2048}

    message = claude.messages.create(model="qwen3", max_tokens=4096, messages=HI, thinking=thinking)
    assert natives(fake_ollama)[-1]["think"] is True
    block, text = message.content
    assert block.type == "thinking" and block.thinking == "Six times seven." and block.signature == ""
    assert text.text == "42."

    with claude.messages.stream(model="qwen3", max_tokens=4096, messages=HI, thinking=thinking) as stream:
        kinds = {event.type for event in stream}
        streamed = stream.get_final_message()
    assert "thinking" in kinds
    assert [b.type for b in streamed.content] == ["thinking", "text"]
    assert streamed.content[0].thinking == "Six times seven." and streamed.content[1].text == "42."

    claude.messages.create(model="qwen3", max_tokens=100, messages=HI, thinking={"type": "disabled"})
    assert natives(fake_ollama)[-1]["think"] is False


def test_thinking_on_a_model_that_cannot_think_is_relaxed(claude, gateway, fake_ollama):
    # llama3 has no thinking capability: Ollama refuses think=true; the gateway asks again without it.
    fake_ollama.reply = Reply(content="Plain answer.")
    thinking = {"type": "enabled", "budget_tokens": 2048}
    message = claude.messages.create(model="llama3", max_tokens=4096, messages=HI, thinking=thinking)
    assert message.content[0].text == "Plain answer."
    with claude.messages.stream(model="llama3", max_tokens=4096, messages=HI, thinking=thinking) as stream:
        assert "".join(stream.text_stream) == "Plain answer."
    sent = natives(fake_ollama)
    assert [n.get("think") for n in sent] == [True, None, True, None]
    settle_logs(gateway)
    assert list(RequestLog.objects.values_list("status", flat=True)) == [200, 200]


# --- images -----------------------------------------------------------------------------------


def test_base64_image(claude, fake_ollama):
    fake_ollama.reply = Reply(content="A tiny PNG.")
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    message = claude.messages.create(
        model="llama3",
        max_tokens=50,
        messages=[{"role": "user", "content": [image, {"type": "text", "text": "What is this?"}]}],
    )
    assert message.content[0].text == "A tiny PNG."
    assert natives(fake_ollama)[-1]["messages"] == [{"role": "user", "content": "What is this?", "images": [PNG]}]


def test_url_image_is_fetched_and_inlined(claude, fake_ollama, settings_image_server):
    url, data = settings_image_server
    image = {"type": "image", "source": {"type": "url", "url": url}}
    claude.messages.create(model="llama3", max_tokens=50, messages=[{"role": "user", "content": [image]}])
    assert natives(fake_ollama)[-1]["messages"][0]["images"] == [base64.b64encode(data).decode()]


@pytest.fixture
def settings_image_server(gateway):
    """An http server on 127.0.0.1 serving one PNG, with private image addresses allowed in the gateway."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from django.conf import settings

    data = b"\x89PNG\r\n\x1a\nserved-image"

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    allowed = settings.IMAGE_FETCH_ALLOW_PRIVATE
    settings.IMAGE_FETCH_ALLOW_PRIVATE = True
    yield f"http://127.0.0.1:{server.server_port}/cat.png", data
    settings.IMAGE_FETCH_ALLOW_PRIVATE = allowed
    server.shutdown()


# --- count_tokens -----------------------------------------------------------------------------


def test_count_tokens_is_the_backends_prompt_count_and_charges_nothing(claude, gateway, fake_ollama, user):
    quotas.set_limits(user=user, tokens_per_day=1)  # a request that generates would be refused
    fake_ollama.reply = Reply(content="x", prompt_eval_count=1234, eval_count=1)

    count = claude.messages.count_tokens(model="llama3", system="You are Claude Code.", messages=HI, tools=[WEATHER])

    assert isinstance(count, anthropic.types.MessageTokensCount)
    assert count.input_tokens == 1234
    [native] = natives(fake_ollama)
    assert native["options"] == {"num_predict": 1} and native["stream"] is False
    assert native["messages"][0] == {"role": "system", "content": "You are Claude Code."}
    assert native["tools"][0]["function"]["name"] == "get_weather"
    assert_logged(
        gateway,
        endpoint="messages.count_tokens",
        status=200,
        requested_model="llama3",
        prompt_tokens=0,
        completion_tokens=0,
    )


def test_count_tokens_falls_back_to_an_estimate_never_zero(claude, fake_ollama):
    fake_ollama.reply = Reply(content="x", prompt_eval_count=0, omit_zero_metrics=True)
    count = claude.messages.count_tokens(model="llama3", messages=[{"role": "user", "content": "word " * 200}])
    assert count.input_tokens == (1000 + 16 + 3) // 4


def test_count_tokens_unknown_model(claude, fake_ollama):
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.count_tokens(model="nope", messages=HI)


# --- base URL, authentication -----------------------------------------------------------------


def test_base_url_with_v1_and_both_auth_headers(gateway, api_key, fake_ollama):
    secret = api_key[1]
    with_v1 = make_client(gateway, base_url=gateway.url + "/v1", auth_token=secret)
    assert with_v1.messages.create(model="llama3", max_tokens=20, messages=HI).content[0].text
    assert with_v1.messages.count_tokens(model="llama3", messages=HI).input_tokens > 0
    x_api_key = make_client(gateway, default_headers={"x-api-key": secret})
    assert x_api_key.messages.create(model="llama3", max_tokens=20, messages=HI).content[0].text
    api_key_client = make_client(gateway, api_key=secret)
    assert api_key_client.messages.create(model="llama3", max_tokens=20, messages=HI).content[0].text
    both = make_client(gateway, auth_token=secret, default_headers={"x-api-key": secret})
    assert both.messages.create(model="llama3", max_tokens=20, messages=HI).content[0].text
    sent = [r.headers for r in fake_ollama.requests if r.path == "/api/chat"]
    assert all("x-api-key" not in headers and "authorization" not in headers for headers in sent)


def test_authentication_errors(gateway, api_key, user, fake_ollama):
    with pytest.raises(anthropic.AuthenticationError) as info:
        make_client(gateway, auth_token="sk-wrong-key-0123456789").messages.create(
            model="llama3", max_tokens=5, messages=HI
        )
    assert info.value.body["error"]["type"] == "authentication_error"
    request_id = info.value.response.headers["request-id"]
    assert request_id.startswith("req_") and info.value.body["request_id"] == request_id
    assert info.value.request_id == request_id
    response = httpx.post(gateway.url + "/v1/messages", json={"model": "llama3", "max_tokens": 5, "messages": HI})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    assert response.json()["error"]["message"] == (
        "You didn't provide an API key. Send your ollamaweb key in an x-api-key header or as "
        "Authorization: Bearer (Claude Code: ANTHROPIC_AUTH_TOKEN)."
    )
    other = issue_key(user, "second key")[1]
    with pytest.raises(anthropic.AuthenticationError) as info:
        make_client(gateway, auth_token=api_key[1], default_headers={"x-api-key": other}).messages.create(
            model="llama3", max_tokens=5, messages=HI
        )
    assert "different keys" in info.value.body["error"]["message"]
    assert other not in str(info.value.body)
    assert not natives(fake_ollama)


def test_key_not_allowed_the_model_is_permission_denied(gateway, user, fake_ollama):
    _, secret = issue_key(user, "only qwen", allowed_models=["qwen3"])
    with pytest.raises(anthropic.PermissionDeniedError) as info:
        make_client(gateway, auth_token=secret).messages.create(model="llama3", max_tokens=5, messages=HI)
    assert info.value.body["error"]["type"] == "permission_error"


# --- errors -----------------------------------------------------------------------------------


def test_invalid_request(claude, fake_ollama):
    with pytest.raises(anthropic.BadRequestError) as info:
        claude.messages.create(model="llama3", max_tokens=5, messages=[])
    assert info.value.body["error"] == {"type": "invalid_request_error", "message": info.value.body["error"]["message"]}
    assert "messages" in info.value.body["error"]["message"]
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.create(model="llama3", max_tokens=0, messages=HI)
    assert not natives(fake_ollama)


def test_quota_exhausted_is_a_rate_limit_error_with_retry_after(claude, gateway, fake_ollama, user):
    quotas.set_limits(user=user, tokens_per_day=10)
    with pytest.raises(anthropic.RateLimitError) as info:
        claude.messages.create(model="llama3", max_tokens=100, messages=HI)
    error = info.value
    assert error.status_code == 429
    assert error.body["error"]["type"] == "rate_limit_error"
    assert int(error.response.headers["retry-after"]) > 0
    assert error.response.headers["x-should-retry"] == "false"
    assert not natives(fake_ollama)
    log = only_log(gateway)
    assert log.status == 429 and log.request_id == error.body["request_id"] == error.request_id


def test_busy_backend_is_overloaded(claude, gateway, fake_ollama):
    fake_ollama.busy = True
    with pytest.raises(anthropic.OverloadedError) as info:
        claude.messages.create(model="llama3", max_tokens=5, messages=HI)
    assert info.value.status_code == 529
    assert info.value.body["error"]["type"] == "overloaded_error"
    assert "retry-after" in info.value.response.headers
    with pytest.raises(anthropic.OverloadedError):
        with claude.messages.stream(model="llama3", max_tokens=5, messages=HI) as stream:
            stream.get_final_message()
    settle_logs(gateway)
    assert sorted(RequestLog.objects.values_list("status", flat=True)) == [529, 529]


def test_backend_server_error_is_an_internal_server_error(claude, fake_ollama):
    fake_ollama.reply = Reply(status=500, error="CUDA out of memory")
    with pytest.raises(anthropic.InternalServerError) as info:
        claude.messages.create(model="llama3", max_tokens=5, messages=HI)
    assert info.value.status_code == 502
    assert info.value.body["error"]["type"] == "api_error"
    assert "CUDA out of memory" in info.value.body["error"]["message"]


def test_wrong_method_and_invalid_json(gateway, api_key):
    headers = {"x-api-key": api_key[1]}
    response = httpx.get(gateway.url + "/v1/messages", headers=headers)
    assert response.status_code == 405 and response.json()["type"] == "error"
    response = httpx.post(gateway.url + "/v1/messages", headers=headers, content=b"{not json")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


# --- an old backend (the Ollama 0.6.5 fork this project started for) -------------------------


def test_old_backend_serves_messages_with_tools_and_thinking(claude, gateway, fake_ollama, start_fake):
    from ollamaweb.backends import services as backends
    from ollamaweb.backends.health import check_all
    from ollamaweb.backends.registry import registry

    old = start_fake(version="0.6.5")
    old.add_model("llama3", capabilities=["completion", "tools"])
    backends.set_backend("k80", old.url)
    registry.invalidate()
    gateway.call(check_all(registry))
    old.reply = Reply(content="", tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}])
    thinking = {"type": "enabled", "budget_tokens": 2048}
    first = claude.messages.create(model="llama3", max_tokens=200, messages=HI, tools=[WEATHER], thinking=thinking)
    [tool_use] = first.content
    assert tool_use.input == {"city": "Oslo"} and tool_use.id.startswith("toolu_")

    old.reply = Reply(content="Cold.")
    with claude.messages.stream(
        model="llama3",
        max_tokens=200,
        tools=[WEATHER],
        thinking=thinking,
        messages=[
            *HI,
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "-5°C"}]},
        ],
    ) as stream:
        assert "".join(stream.text_stream) == "Cold."
    sent = [r.json for r in old.requests if r.path == "/api/chat"]
    assert len(sent) == 2 and all("think" not in body for body in sent)  # dropped, not a 400
    assert "id" not in sent[1]["messages"][1]["tool_calls"][0]
    assert sent[1]["messages"][2] == {"role": "tool", "content": "-5°C"}
    assert not natives(fake_ollama)


def test_beta_client_as_claude_code_uses_it(claude, fake_ollama):
    """Claude Code uses the beta client: `?beta=true`, an anthropic-beta list, role "system" messages."""
    fake_ollama.reply = Reply(content="Done.", prompt_eval_count=50)
    betas = ["claude-code-20250219", "interleaved-thinking-2025-05-14", "fine-grained-tool-streaming-2025-05-14"]
    messages = [{"role": "system", "content": "Reminder."}, *HI]
    count = claude.beta.messages.count_tokens(model="llama3", messages=HI, betas=betas)
    assert count.input_tokens == 50
    with claude.beta.messages.stream(
        model="llama3", max_tokens=32000, messages=messages, tools=[WEATHER], betas=betas
    ) as stream:
        assert stream.get_final_message().content[0].text == "Done."
    assert natives(fake_ollama)[-1]["messages"][0] == {"role": "system", "content": "Reminder."}
    assert all(r.path == "/api/chat" for r in fake_ollama.requests)
