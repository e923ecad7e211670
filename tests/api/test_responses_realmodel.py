"""/v1/responses in front of the embedded engine: real inference, exact usage, a stored conversation."""

import pytest

from ollamaweb.usage.models import RequestLog
from tests.conftest import settle_logs
from tests.engine_process import chatml, prompt_tokens, require_engine_packages

require_engine_packages()

pytestmark = pytest.mark.realmodel
CHAT = "smollm2:135m"
SYSTEM = "You are a terse assistant."


def test_response_chain_with_exact_usage(real, client):
    first = client.responses.create(
        model=CHAT, instructions=SYSTEM, input="Name three colors.", max_output_tokens=16, temperature=0
    )
    answer = first.output_text
    assert answer.strip() and first.status in ("completed", "incomplete")
    assert first.usage.input_tokens == prompt_tokens(CHAT, chatml(("system", SYSTEM), ("user", "Name three colors.")))

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
    assert second.usage.input_tokens == prompt_tokens(
        CHAT,
        chatml(
            ("system", "Answer briefly."), ("user", "Name three colors."), ("assistant", answer), ("user", "One more.")
        ),
    )
    assert second.output_text.strip() and 0 < second.usage.output_tokens <= 8
    settle_logs(real)
    logged = {log.response_id: (log.prompt_tokens, log.completion_tokens) for log in RequestLog.objects.all()}
    assert logged[first.id] == (first.usage.input_tokens, first.usage.output_tokens)
    assert logged[second.id] == (second.usage.input_tokens, second.usage.output_tokens)
