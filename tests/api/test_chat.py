"""POST /v1/chat/completions end to end: the openai client → real ASGI server → fake Ollama."""

import base64
import json

import openai
import pytest

from ollamaweb.catalog.models import ModelAlias
from tests.api.weather import weather_function
from tests.conftest import only_log
from tests.fake_ollama import Reply

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake-image-bytes").decode()


def last_native(fake, path="/api/chat"):
    return [r for r in fake.requests if r.path == path][-1].json


def test_chat_completion_returns_backend_text_and_exact_usage(client, gateway, fake_ollama):
    fake_ollama.reply = Reply(content="Hello there, friend!", prompt_eval_count=26, eval_count=7)

    completion = client.chat.completions.create(
        model="llama3", messages=[{"role": "user", "content": "Say this is a test"}]
    )

    assert completion.choices[0].message.content == "Hello there, friend!"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.object == "chat.completion"
    assert completion.model == "llama3"
    assert completion.id.startswith("chatcmpl-") and len(completion.id) >= len("chatcmpl-") + 24
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens, completion.usage.total_tokens) == (
        26,
        7,
        33,
    )
    native = last_native(fake_ollama)
    assert native["model"] == "llama3"
    assert native["stream"] is True  # read as a stream, so an abandoned request is still charged
    assert native["messages"] == [{"role": "user", "content": "Say this is a test"}]
    log = only_log(gateway)
    assert (log.endpoint, log.requested_model, log.status, log.stream) == ("chat.completions", "llama3", 200, False)
    assert (log.prompt_tokens, log.completion_tokens, log.usage_source) == (26, 7, "measured")


def test_ids_are_unique(client, fake_ollama):
    ids = {
        client.chat.completions.create(model="llama3", messages=[{"role": "user", "content": "hi"}]).id
        for _ in range(20)
    }
    assert len(ids) == 20


def test_sampling_fields_map_to_native_options(client, fake_ollama):
    client.chat.completions.create(
        model="llama3",
        messages=[{"role": "user", "content": "hi"}],
        temperature=0.3,
        top_p=0.8,
        seed=42,
        stop=["END", "STOP"],
        frequency_penalty=0.5,
        presence_penalty=-0.5,
        max_tokens=50,
        response_format={"type": "json_object"},
        user="end-user-7",
    )
    native = last_native(fake_ollama)
    assert native["options"] == {
        "temperature": 0.3, "top_p": 0.8, "seed": 42, "stop": ["END", "STOP"],
        "frequency_penalty": 0.5, "presence_penalty": -0.5, "num_predict": 50,
    }  # fmt: skip
    assert native["format"] == "json"


def test_unset_sampling_fields_are_not_forced(client, fake_ollama):
    """Ollama's own /v1 forces temperature=1 and top_p=1, overriding the Modelfile; we don't."""
    client.chat.completions.create(model="llama3", messages=[{"role": "user", "content": "hi"}])
    assert "options" not in last_native(fake_ollama)


def test_max_completion_tokens_limits_generation(client, fake_ollama):
    fake_ollama.reply = Reply(content="one two three four five six")
    completion = client.chat.completions.create(
        model="llama3", messages=[{"role": "user", "content": "count"}], max_completion_tokens=2
    )
    assert last_native(fake_ollama)["options"]["num_predict"] == 2
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 2


def test_json_schema_response_format_sends_the_schema(client, fake_ollama):
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    fake_ollama.reply = Reply(content='{"city": "Paris"}')
    completion = client.chat.completions.create(
        model="llama3",
        messages=[{"role": "user", "content": "capital of France as JSON"}],
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
    )
    assert last_native(fake_ollama)["format"] == schema
    assert json.loads(completion.choices[0].message.content) == {"city": "Paris"}


def test_n_returns_n_choices_from_concurrent_backend_calls(client, fake_ollama):
    fake_ollama.reply = Reply(content="same", first_token_delay=0.3, prompt_eval_count=3, eval_count=1)
    completion = client.chat.completions.create(model="llama3", messages=[{"role": "user", "content": "hi"}], n=3)
    assert [choice.index for choice in completion.choices] == [0, 1, 2]
    assert all(choice.message.content == "same" for choice in completion.choices)
    assert fake_ollama.counts_for("/api/chat") == 3
    assert fake_ollama.max_active == 3
    assert completion.usage.completion_tokens == 3


def test_alias_resolves_and_response_echoes_the_alias(client, fake_ollama):
    ModelAlias.objects.create(name="gpt-3.5-turbo", target="llama3")
    completion = client.chat.completions.create(model="gpt-3.5-turbo", messages=[{"role": "user", "content": "Hello!"}])
    assert completion.model == "gpt-3.5-turbo"
    assert last_native(fake_ollama)["model"] == "llama3"


def test_vision_data_url_becomes_raw_base64_images(client, fake_ollama):
    client.chat.completions.create(
        model="llama3",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this image?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            }
        ],
    )
    message = last_native(fake_ollama)["messages"][0]
    assert message == {"role": "user", "content": "What is in this image?", "images": [PNG]}


def test_tool_calls_round_trip(client, fake_ollama):
    tools = [weather_function()]
    fake_ollama.reply = Reply(content="", tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    completion = client.chat.completions.create(
        model="llama3", messages=[{"role": "user", "content": "Weather in Paris?"}], tools=tools
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert last_native(fake_ollama)["tools"][0]["function"]["name"] == "get_weather"

    fake_ollama.reply = Reply(content="It is sunny in Paris.")
    follow_up = client.chat.completions.create(
        model="llama3",
        tools=tools,
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21°C"},
        ],
    )
    assert follow_up.choices[0].message.content == "It is sunny in Paris."
    assistant, tool = last_native(fake_ollama)["messages"][1:]
    assert assistant["tool_calls"][0]["function"]["arguments"] == {"city": "Paris"}
    assert tool == {"role": "tool", "content": "sunny, 21°C", "tool_name": "get_weather", "tool_call_id": call.id}


def test_tool_choice_none_sends_no_tools(client, fake_ollama):
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    client.chat.completions.create(
        model="llama3", messages=[{"role": "user", "content": "hi"}], tools=tools, tool_choice="none"
    )
    assert "tools" not in last_native(fake_ollama)


def test_logprobs_are_returned_in_openai_shape(client, fake_ollama):
    completion = client.chat.completions.create(
        model="llama3", messages=[{"role": "user", "content": "hi"}], logprobs=True, top_logprobs=2
    )
    native = last_native(fake_ollama)
    assert native["logprobs"] is True and native["top_logprobs"] == 2
    content = completion.choices[0].logprobs.content
    assert "".join(item.token for item in content) == completion.choices[0].message.content
    assert all(item.logprob <= 0 and len(item.top_logprobs) == 2 for item in content)
    assert content[0].bytes == list(content[0].token.encode())


def test_empty_logit_bias_is_accepted_and_nonempty_is_refused(client, fake_ollama):
    client.chat.completions.create(model="llama3", messages=[{"role": "user", "content": "hi"}], logit_bias={})
    with pytest.raises(openai.BadRequestError) as error:
        client.chat.completions.create(
            model="llama3", messages=[{"role": "user", "content": "hi"}], logit_bias={"50256": -100}
        )
    assert error.value.body["param"] == "logit_bias"


def test_user_field_is_recorded(client, gateway, fake_ollama):
    client.chat.completions.create(model="llama3", messages=[{"role": "user", "content": "hi"}], user="customer-42")
    assert only_log(gateway).client_user == "customer-42"
