"""/v1/responses in front of the embedded engine: real inference, exact usage, a stored conversation."""

import pytest

from ollamaweb.usage.models import RequestLog
from tests.conftest import settle_logs
from tests.engine_process import running_engine

INSTALL_HINT = "engine dependencies not installed (bash engine/install.sh .venv/bin/python)"
llama_cpp = pytest.importorskip("llama_cpp", reason=INSTALL_HINT)
pytest.importorskip("onnxruntime", reason=INSTALL_HINT)

from engine.models import discover  # noqa: E402  (needs the packages checked above)

pytestmark = pytest.mark.realmodel
CHAT = "smollm2:135m"
SYSTEM = "You are a terse assistant."


@pytest.fixture(scope="module")
def engine_url(tmp_path_factory):
    with running_engine(tmp_path_factory.mktemp("engine")) as url:
        yield url


@pytest.fixture
def real(gateway, engine_url, settings):
    settings.OLLAMA_HOST = engine_url
    return gateway


def chatml(*turns):
    text = "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in turns)
    return text + "<|im_start|>assistant\n"


def test_response_chain_with_exact_usage(real, client):
    vocab = llama_cpp.Llama(model_path=str(discover(models_dir="")[CHAT].files[0]), vocab_only=True, verbose=False)

    def tokens(prompt):
        return len(vocab.tokenize(prompt.encode(), add_bos=True, special=True))

    first = client.responses.create(
        model=CHAT, instructions=SYSTEM, input="Name three colors.", max_output_tokens=16, temperature=0
    )
    answer = first.output_text
    assert answer.strip() and first.status in ("completed", "incomplete")
    assert first.usage.input_tokens == tokens(chatml(("system", SYSTEM), ("user", "Name three colors.")))

    with client.responses.stream(
        model=CHAT,
        instructions="Answer briefly.",
        input="One more.",
        previous_response_id=first.id,
        max_output_tokens=8,
        temperature=0,
    ) as stream:
        events = list(stream)
    assert events[-1].type in ("response.completed", "response.incomplete")  # incomplete at max_output_tokens
    second = events[-1].response
    # The gateway rebuilt the conversation (instructions are not inherited): the engine counted it all.
    assert second.usage.input_tokens == tokens(
        chatml(
            ("system", "Answer briefly."), ("user", "Name three colors."), ("assistant", answer), ("user", "One more.")
        )
    )
    assert second.output_text.strip() and 0 < second.usage.output_tokens <= 8
    settle_logs(real)
    logged = {log.response_id: (log.prompt_tokens, log.completion_tokens) for log in RequestLog.objects.all()}
    assert logged[first.id] == (first.usage.input_tokens, first.usage.output_tokens)
    assert logged[second.id] == (second.usage.input_tokens, second.usage.output_tokens)
