"""POST /v1/completions (legacy text completions), non-streaming, end to end with the openai client."""

import openai
import pytest

from tests.conftest import assert_logged
from tests.fake_ollama import Reply


def generate_requests(fake):
    return [request.json for request in fake.requests if request.path == "/api/generate"]


def test_prompt_string_returns_backend_text_and_usage(client, gateway, fake_ollama):
    fake_ollama.reply = Reply(content="Paris is the capital.", prompt_eval_count=9, eval_count=5)

    completion = client.completions.create(model="llama3", prompt="The capital of France is")

    assert completion.object == "text_completion"
    assert completion.model == "llama3"
    assert completion.id.startswith("cmpl-")
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert (choice.index, choice.text, choice.finish_reason, choice.logprobs) == (
        0,
        "Paris is the capital.",
        "stop",
        None,
    )
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens, completion.usage.total_tokens) == (
        9,
        5,
        14,
    )
    native = generate_requests(fake_ollama)[-1]
    assert native["model"] == "llama3"
    assert native["prompt"] == "The capital of France is"
    assert native["stream"] is True  # read as a stream, so an abandoned request is still charged
    assert "suffix" not in native and "options" not in native
    assert_logged(
        gateway, endpoint="completions", requested_model="llama3", status=200, prompt_tokens=9, completion_tokens=5
    )


def test_prompt_list_numbers_choices_per_prompt_and_n(client, fake_ollama):
    fake_ollama.responder = lambda path, body: Reply(content=f"answer to {body['prompt']}", eval_count=3)

    completion = client.completions.create(model="llama3", prompt=["one", "two"], n=2)

    # OpenAI orders choices prompt by prompt: index = prompt_index * n + sample.
    assert [(choice.index, choice.text) for choice in completion.choices] == [
        (0, "answer to one"),
        (1, "answer to one"),
        (2, "answer to two"),
        (3, "answer to two"),
    ]
    assert sorted(native["prompt"] for native in generate_requests(fake_ollama)) == ["one", "one", "two", "two"]
    assert completion.usage.completion_tokens == 12


def test_suffix_is_forwarded(client, fake_ollama):
    fake_ollama.reply = Reply(content="    return a + b\n")
    completion = client.completions.create(model="llama3", prompt="def add(a, b):\n", suffix="\nprint(add(1, 2))")
    assert generate_requests(fake_ollama)[-1]["suffix"] == "\nprint(add(1, 2))"
    assert completion.choices[0].text == "    return a + b\n"


def test_max_tokens_limits_generation(client, fake_ollama):
    fake_ollama.reply = Reply(content="one two three four five six")
    completion = client.completions.create(model="llama3", prompt="count", max_tokens=3, temperature=0.2, stop=["\n"])
    assert generate_requests(fake_ollama)[-1]["options"] == {"num_predict": 3, "temperature": 0.2, "stop": ["\n"]}
    assert completion.choices[0].finish_reason == "length"
    assert completion.choices[0].text == "one two three"
    assert completion.usage.completion_tokens == 3


def test_logprobs_use_the_legacy_object(client, fake_ollama):
    fake_ollama.reply = Reply(content="Hello big world")

    completion = client.completions.create(model="llama3", prompt="hi", logprobs=2)

    native = generate_requests(fake_ollama)[-1]
    assert native["logprobs"] is True and native["top_logprobs"] == 2
    logprobs = completion.choices[0].logprobs
    assert logprobs.tokens == ["Hello", " big", " world"]
    assert "".join(logprobs.tokens) == completion.choices[0].text
    assert logprobs.text_offset == [0, 5, 9]
    assert len(logprobs.token_logprobs) == 3 and all(value <= 0 for value in logprobs.token_logprobs)
    # top_logprobs: one {token: logprob} map per position, the chosen token among them.
    assert len(logprobs.top_logprobs) == 3
    for token, value, top in zip(logprobs.tokens, logprobs.token_logprobs, logprobs.top_logprobs):
        assert len(top) == 2 and top[token] == value


def test_echo_prepends_the_prompt(client, fake_ollama):
    fake_ollama.reply = Reply(content=" world")
    completion = client.completions.create(model="llama3", prompt="Hello", echo=True, logprobs=0)
    choice = completion.choices[0]
    assert choice.text == "Hello world"
    # Offsets count from the start of the returned text, which begins with the echoed prompt.
    assert choice.logprobs.tokens == [" world"] and choice.logprobs.text_offset == [5]


def test_token_id_prompts_are_read_back_into_text(client, fake_ollama):
    completion = client.completions.create(model="llama3", prompt=[[15339, 1917], [35734, 374, 279, 13180, 6437, 30]])
    assert [request["prompt"] for request in generate_requests(fake_ollama)] == ["hello world", "why is the sky blue?"]
    assert [choice.index for choice in completion.choices] == [0, 1]


def test_unknown_model_is_not_found(client, fake_ollama):
    with pytest.raises(openai.NotFoundError) as error:
        client.completions.create(model="nope", prompt="hi")
    assert "nope" in error.value.body["message"]
    assert error.value.body["param"] == "model"
