"""The openai-agents SDK (which speaks the Responses API by default) against the gateway."""

import asyncio

import openai
import pytest

from ollamaweb.conversations.models import StoredResponse
from ollamaweb.usage.models import RequestLog
from tests.conftest import settle_logs
from tests.fake_ollama import Reply

agents = pytest.importorskip(
    "agents", reason="LOUD SKIP: openai-agents is not installed (pip install -r requirements-dev.txt)"
)


@pytest.fixture(autouse=True)
def no_tracing():
    agents.set_tracing_disabled(True)  # traces would be exported to api.openai.com


def agent_with_weather_tool(async_client):
    @agents.function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"Sunny and 21 degrees in {city}"

    model = agents.OpenAIResponsesModel(model="llama3", openai_client=async_client)
    return agents.Agent(name="Weather", instructions="Answer with the tool.", tools=[get_weather], model=model)


def tool_then_answer(path, body):
    """The model calls get_weather first, then answers from the tool's result."""
    if path != "/api/chat":
        return None
    results = [m for m in body["messages"] if m["role"] == "tool"]
    if not results:
        return Reply(content="", tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    return Reply(content=f"The tool says: {results[-1]['content']}")


def test_agent_runs_a_function_tool_through_the_gateway(async_client, gateway, fake_ollama):
    fake_ollama.responder = tool_then_answer
    agent = agent_with_weather_tool(async_client)

    result = asyncio.run(agents.Runner.run(agent, "What is the weather in Paris?"))

    assert result.final_output == "The tool says: Sunny and 21 degrees in Paris"
    calls = [r.json for r in fake_ollama.requests if r.path == "/api/chat"]
    assert len(calls) == 2
    assert calls[0]["messages"][0] == {"role": "system", "content": "Answer with the tool."}
    assert calls[0]["tools"][0]["function"]["name"] == "get_weather"
    tool_message = calls[1]["messages"][-1]
    assert tool_message["role"] == "tool" and tool_message["tool_name"] == "get_weather"
    settle_logs(gateway)
    assert RequestLog.objects.filter(endpoint="responses", status=200).count() == 2


def test_agent_streams(async_client, gateway, fake_ollama):
    fake_ollama.responder = tool_then_answer
    agent = agent_with_weather_tool(async_client)

    async def run():
        streamed = agents.Runner.run_streamed(agent, "Weather in Paris?")
        kinds = [event.type async for event in streamed.stream_events()]
        return streamed.final_output, kinds

    final, kinds = asyncio.run(run())
    assert final == "The tool says: Sunny and 21 degrees in Paris"
    assert "raw_response_event" in kinds and "run_item_stream_event" in kinds


def test_agent_continues_a_stored_conversation(async_client, fake_ollama):
    fake_ollama.reply = Reply(content="Nice to meet you, Ada.")
    model = agents.OpenAIResponsesModel(model="llama3", openai_client=async_client)
    agent = agents.Agent(name="Chat", instructions="Be brief.", model=model)

    async def run():
        first = await agents.Runner.run(agent, "My name is Ada.")
        fake_ollama.reply = Reply(content="You are Ada.")
        second = await agents.Runner.run(agent, "Who am I?", previous_response_id=first.last_response_id)
        return first, second

    first, second = asyncio.run(run())
    assert second.final_output == "You are Ada."
    assert StoredResponse.objects.filter(id=first.last_response_id).exists()
    last = [r.json for r in fake_ollama.requests if r.path == "/api/chat"][-1]
    assert [m["content"] for m in last["messages"]] == [
        "Be brief.",
        "My name is Ada.",
        "Nice to meet you, Ada.",
        "Who am I?",
    ]


def test_agent_sees_gateway_errors(async_client, fake_ollama):
    model = agents.OpenAIResponsesModel(model="no-such-model", openai_client=async_client)
    agent = agents.Agent(name="Chat", model=model)
    with pytest.raises(openai.NotFoundError):
        asyncio.run(agents.Runner.run(agent, "hi"))
