"""compat.openai.completions: /v1/completions ⇄ /api/generate (pure, no DB)."""

import pytest

from compat.openai.completions import (
    CompletionLogprobs,
    CompletionRequest,
    CompletionStream,
    completion_choice,
    parse_completion_request,
)
from ollamaweb.core.errors import InvalidRequest

MAX = 8


def parse(**fields) -> CompletionRequest:
    return parse_completion_request({"model": "llama3", "prompt": "Say hi", **fields}, MAX)


def invalid(body, max_choices=MAX) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        parse_completion_request(body, max_choices)
    assert info.value.status == 400
    return info.value


def invalid_field(**fields) -> InvalidRequest:
    return invalid({"model": "llama3", "prompt": "Say hi", **fields})


def request(**fields) -> CompletionRequest:
    return CompletionRequest(model="llama3", prompts=["p"], native={"stream": False}, **fields)


# --- request --------------------------------------------------------------------------------


def test_minimal_request():
    completion = parse()
    assert completion == CompletionRequest(model="llama3", prompts=["Say hi"], native={"stream": False})
    assert (completion.n, completion.stream, completion.include_usage, completion.logprobs, completion.echo) == (
        1,
        False,
        False,
        None,
        False,
    )
    assert completion.client_user == ""


def test_prompt_list():
    assert parse(prompt=["a", "b", ""]).prompts == ["a", "b", ""]


def test_missing_prompt_is_refused():
    with pytest.raises(InvalidRequest) as error:
        parse_completion_request({"model": "m"}, MAX)
    assert (error.value.param, error.value.code) == ("prompt", "missing_required_parameter")


def test_zero_max_tokens_is_refused():
    """Ollama cannot score a prompt without generating, so max_tokens=0 (echo scoring) is a 400."""
    with pytest.raises(InvalidRequest) as error:
        parse_completion_request({"model": "m", "prompt": "p", "max_tokens": 0}, MAX)
    assert error.value.param == "max_tokens"


def test_full_request():
    sampling = {
        "temperature": 0.8,
        "top_p": 0.9,
        "frequency_penalty": 0.1,
        "presence_penalty": 0.2,
        "seed": 3,
        "stop": ["\n"],
    }
    completion = parse(
        prompt=["one", "two"],
        n=2,
        best_of=2,
        stream=True,
        stream_options={"include_usage": True},
        suffix="END",
        max_tokens=16,
        **sampling,
        logprobs=3,
        echo=True,
        user="u",
        logit_bias={},
    )
    assert completion.prompts == ["one", "two"]
    assert (completion.n, completion.stream, completion.include_usage) == (2, True, True)
    assert (completion.logprobs, completion.echo) == (3, True)
    assert completion.client_user == "u"
    assert completion.native == {
        "stream": True,
        "suffix": "END",
        "options": {**sampling, "num_predict": 16},  # the sampling fields pass unchanged
        "logprobs": True,
        "top_logprobs": 3,
    }


@pytest.mark.parametrize("prompt, prompts", [([1, 2, 3], [[1, 2, 3]]), ([[1, 2], [3]], [[1, 2], [3]])])
def test_token_prompts_are_kept_for_decoding(prompt, prompts):
    completion = parse_completion_request({"model": "m", "prompt": prompt}, MAX)
    assert (completion.prompts, completion.token_ids) == (prompts, True)


@pytest.mark.parametrize("prompt", [[[]], [1, "a"], [[1], 2]])
def test_mixed_or_empty_token_prompts_are_refused(prompt):
    assert invalid_field(prompt=prompt).param == "prompt"


@pytest.mark.parametrize("prompt", [5, ["a", 1], {"text": "x"}])
def test_bad_prompt_types(prompt):
    error = invalid_field(prompt=prompt)
    assert (error.param, error.code) == ("prompt", "invalid_type")


def test_empty_prompt_list_is_refused():
    error = invalid_field(prompt=[])
    assert (error.param, error.code) == ("prompt", "invalid_value")


def test_model_required():
    assert invalid({"prompt": "x"}).param == "model"
    assert invalid({"model": "", "prompt": "x"}).param == "model"
    assert invalid({"model": 1, "prompt": "x"}).param == "model"


@pytest.mark.parametrize("body", [[], "x", None])
def test_body_must_be_an_object(body):
    invalid(body)


def test_best_of():
    assert parse(best_of=1).n == 1
    assert parse(n=3, best_of=3).n == 3
    error = invalid_field(best_of=2)
    assert (error.param, error.code) == ("best_of", "unsupported_parameter")
    assert invalid_field(n=2, best_of=3).param == "best_of"
    assert invalid_field(best_of=0).param == "best_of"


def test_n_and_choices_limit():
    assert parse(n=MAX).n == MAX
    assert invalid_field(n=MAX + 1).param == "n"
    assert parse(prompt=["a", "b"], n=4).n == 4
    error = invalid_field(prompt=["a", "b", "c"], n=3)
    assert (error.param, error.code) == ("prompt", "invalid_value")
    assert error.message == "Too many choices: 3 prompts × n=3 exceeds this server's limit of 8."
    assert invalid_field(prompt=["p"] * (MAX + 1)).param == "prompt"
    assert parse(prompt=["p"] * MAX).prompts == ["p"] * MAX


def test_suffix():
    assert parse(suffix="}").native["suffix"] == "}"
    assert "suffix" not in parse(suffix="").native
    assert "suffix" not in parse(suffix=None).native
    assert invalid_field(suffix=1).param == "suffix"


def test_max_tokens():
    assert parse(max_tokens=5).native["options"] == {"num_predict": 5}
    assert "options" not in parse(max_tokens=None).native
    assert invalid_field(max_tokens=-1).param == "max_tokens"
    assert invalid_field(max_tokens="5").param == "max_tokens"


def test_sampling_only_when_sent():
    assert "options" not in parse().native
    assert parse(temperature=0).native["options"] == {"temperature": 0}
    assert invalid_field(temperature=3).param == "temperature"
    assert invalid_field(stop=[1, 2]).param == "stop"


def test_logprobs_int():
    completion = parse(logprobs=5)
    assert completion.logprobs == 5
    assert (completion.native["logprobs"], completion.native["top_logprobs"]) == (True, 5)
    zero = parse(logprobs=0)
    assert zero.logprobs == 0
    assert zero.native["logprobs"] is True and "top_logprobs" not in zero.native
    assert "logprobs" not in parse(logprobs=None).native
    assert invalid_field(logprobs=21).param == "logprobs"
    assert invalid_field(logprobs=-1).param == "logprobs"
    assert invalid_field(logprobs=True).param == "logprobs"


def test_echo_stream_user_types():
    assert parse(echo=True).echo is True
    assert invalid_field(echo="yes").param == "echo"
    assert invalid_field(stream="yes").param == "stream"
    assert invalid_field(user=5).param == "user"


def test_stream_options():
    assert parse(stream=True, stream_options={"include_usage": True}).include_usage is True
    assert invalid_field(stream_options={"include_usage": True}).param == "stream_options"


def test_logit_bias():
    assert invalid_field(logit_bias={"1": 1}).param == "logit_bias"


def test_choice_index_numbers_prompt_by_prompt():
    completion = parse(prompt=["a", "b", "c"], n=2)
    indexes = [completion.choice_index(i, j) for i in range(3) for j in range(2)]
    assert indexes == [0, 1, 2, 3, 4, 5]
    assert completion.choice_index(2, 1) == 5
    assert parse(prompt=["a", "b"]).choice_index(1, 0) == 1


# --- legacy logprobs ------------------------------------------------------------------------


def test_completion_logprobs_convert():
    entries = [
        {
            "token": "Hel",
            "logprob": -0.1,
            "top_logprobs": [{"token": "Hel", "logprob": -0.1}, {"token": "He", "logprob": -2.5}],
        },
        {"token": "lo", "logprob": -0.2, "top_logprobs": [{"token": "lo", "logprob": -0.2}]},
        {"token": "!"},
    ]
    assert CompletionLogprobs().convert(entries) == {
        "tokens": ["Hel", "lo", "!"],
        "token_logprobs": [-0.1, -0.2, 0.0],
        "top_logprobs": [{"Hel": -0.1, "He": -2.5}, {"lo": -0.2}, {}],
        "text_offset": [0, 3, 5],
    }


def test_completion_logprobs_offsets_continue_across_calls():
    converter = CompletionLogprobs(offset=10)
    assert converter.convert([{"token": "ab", "logprob": -1.0}])["text_offset"] == [10]
    assert converter.convert([{"token": "c", "logprob": -1.0}, {"token": "de", "logprob": -1.0}])["text_offset"] == [
        12,
        13,
    ]
    assert converter.offset == 15
    assert converter.convert([]) == {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}


# --- non-streaming choice -------------------------------------------------------------------


def test_completion_choice_plain():
    native = {"response": "Hello", "done": True, "done_reason": "stop", "logprobs": [{"token": "Hello"}]}
    assert completion_choice(native, 3, request(), "p") == {
        "text": "Hello",
        "index": 3,
        "logprobs": None,
        "finish_reason": "stop",
    }


def test_completion_choice_length_and_missing_response():
    assert completion_choice({"done_reason": "length"}, 0, request(), "p") == {
        "text": "",
        "index": 0,
        "logprobs": None,
        "finish_reason": "length",
    }


def test_completion_choice_echo():
    assert completion_choice({"response": " world"}, 0, request(echo=True), "Hello")["text"] == "Hello world"


def test_completion_choice_logprobs_with_echo_offsets():
    native = {
        "response": " world!",
        "done_reason": "stop",
        "logprobs": [
            {"token": " world", "logprob": -0.5, "top_logprobs": [{"token": " world", "logprob": -0.5}]},
            {"token": "!", "logprob": -0.1, "top_logprobs": []},
        ],
    }
    choice = completion_choice(native, 0, request(logprobs=1, echo=True), "Hello")
    assert choice == {
        "text": "Hello world!",
        "index": 0,
        "logprobs": {
            "tokens": [" world", "!"],
            "token_logprobs": [-0.5, -0.1],
            "top_logprobs": [{" world": -0.5}, {}],
            "text_offset": [5, 11],
        },
        "finish_reason": "stop",
    }
    plain = completion_choice(native, 0, request(logprobs=1), "Hello")
    assert plain["text"] == " world!"
    assert plain["logprobs"]["text_offset"] == [0, 6]


def test_completion_choice_logprobs_requested_but_none_returned():
    assert completion_choice({"response": "x"}, 0, request(logprobs=0), "p")["logprobs"] == {
        "tokens": [],
        "token_logprobs": [],
        "top_logprobs": [],
        "text_offset": [],
    }


# --- CompletionStream -----------------------------------------------------------------------


def piece(text, **extra) -> dict:
    return {"model": "llama3", "created_at": "2024-05-01T12:34:56Z", "response": text, "done": False, **extra}


def done(reason="stop", prompt=4, completion=2, **extra) -> dict:
    return {
        "model": "llama3",
        "response": "",
        "done": True,
        "done_reason": reason,
        "prompt_eval_count": prompt,
        "eval_count": completion,
        **extra,
    }


def test_stream_text_pieces_and_finish():
    stream = CompletionStream(3, request(), "p")
    assert stream.feed(piece("Hel")) == {"text": "Hel", "index": 3, "logprobs": None, "finish_reason": None}
    assert stream.feed(piece("lo")) == {"text": "lo", "index": 3, "logprobs": None, "finish_reason": None}
    assert stream.feed(piece("")) is None
    assert stream.done is False
    assert stream.feed(done("length", 4, 2)) is None
    assert stream.done
    assert stream.finish() == {"text": "", "index": 3, "logprobs": None, "finish_reason": "length"}


def test_stream_done_with_text_and_no_counts():
    stream = CompletionStream(0, request(), "p")
    assert stream.feed({"response": "end", "done": True})["text"] == "end"
    assert stream.finish()["finish_reason"] == "stop"


def test_stream_echo_comes_once_before_the_first_piece():
    stream = CompletionStream(0, request(echo=True), "Hello")
    assert stream.feed(piece(" world"))["text"] == "Hello world"
    assert stream.feed(piece("!"))["text"] == "!"


def test_stream_echo_even_when_nothing_is_generated():
    stream = CompletionStream(0, request(echo=True), "Hello")
    assert stream.feed(done()) == {"text": "Hello", "index": 0, "logprobs": None, "finish_reason": None}


def test_stream_logprobs_with_echo_offsets():
    stream = CompletionStream(0, request(logprobs=1, echo=True), "Hi")
    first = stream.feed(
        piece(
            " there",
            logprobs=[{"token": " there", "logprob": -0.3, "top_logprobs": [{"token": " there", "logprob": -0.3}]}],
        )
    )
    assert first == {
        "text": "Hi there",
        "index": 0,
        "logprobs": {
            "tokens": [" there"],
            "token_logprobs": [-0.3],
            "top_logprobs": [{" there": -0.3}],
            "text_offset": [2],
        },
        "finish_reason": None,
    }
    second = stream.feed(piece("!", logprobs=[{"token": "!", "logprob": -0.1}]))
    assert second["logprobs"] == {"tokens": ["!"], "token_logprobs": [-0.1], "top_logprobs": [{}], "text_offset": [8]}
    # Logprobs on the done chunk are delivered even without text.
    last = stream.feed(done(logprobs=[{"token": "", "logprob": -0.01}]))
    assert last == {
        "text": "",
        "index": 0,
        "logprobs": {"tokens": [""], "token_logprobs": [-0.01], "top_logprobs": [{}], "text_offset": [9]},
        "finish_reason": None,
    }
    assert stream.finish() == {"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}


def test_stream_logprobs_requested_but_piece_has_none():
    stream = CompletionStream(0, request(logprobs=0), "p")
    assert stream.feed(piece("a"))["logprobs"] == {
        "tokens": [],
        "token_logprobs": [],
        "top_logprobs": [],
        "text_offset": [],
    }


def test_stream_logprobs_not_requested_are_dropped():
    stream = CompletionStream(0, request(), "p")
    assert stream.feed(piece("a", logprobs=[{"token": "a", "logprob": -1.0}]))["logprobs"] is None
    assert stream.feed(done(logprobs=[{"token": "", "logprob": -1.0}])) is None
