"""LangChain's ChatOllama and OllamaEmbeddings (langchain-ollama) against the native /api routes."""

import pytest
from langchain_core.messages import HumanMessage
from langchain_core.tools import tool
from langchain_ollama import ChatOllama, OllamaEmbeddings

from ollamaweb.usage.models import RequestLog
from tests.conftest import settle_logs
from tests.fake_ollama import Reply


@pytest.fixture
def headers(api_key):
    return {"headers": {"Authorization": f"Bearer {api_key[1]}"}}


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return "sunny"


def test_chat_invoke_and_stream(gateway, fake_ollama, headers):
    fake_ollama.reply = Reply(content="Hello there, friend!", prompt_eval_count=12, eval_count=4)
    chat = ChatOllama(model="llama3", base_url=gateway.url, client_kwargs=headers, validate_model_on_init=True)

    answer = chat.invoke([HumanMessage("Say hello")])
    assert answer.content == "Hello there, friend!"
    assert answer.usage_metadata == {"input_tokens": 12, "output_tokens": 4, "total_tokens": 16}
    assert answer.response_metadata["model"] == "llama3" and answer.response_metadata["done_reason"] == "stop"

    chunks = list(chat.stream("Say hello"))
    assert "".join(chunk.content for chunk in chunks) == "Hello there, friend!" and len(chunks) > 2

    settle_logs(gateway)
    rows = list(
        RequestLog.objects.order_by("created_at").values_list(
            "endpoint", "stream", "prompt_tokens", "completion_tokens"
        )
    )
    assert rows == [("ollama.tags", False, 0, 0), ("ollama.chat", True, 12, 4), ("ollama.chat", True, 12, 4)]


def test_chat_tool_calling(gateway, fake_ollama, headers):
    fake_ollama.reply = Reply(content="", tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
    chat = ChatOllama(model="llama3", base_url=gateway.url, client_kwargs=headers).bind_tools([get_weather])

    answer = chat.invoke("What is the weather in Paris?")

    assert [(call["name"], call["args"]) for call in answer.tool_calls] == [("get_weather", {"city": "Paris"})]
    sent = [r.json for r in fake_ollama.requests if r.path == "/api/chat"][-1]
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert sent["tools"][0]["function"]["parameters"]["properties"] == {"city": {"type": "string"}}


def test_embeddings(gateway, fake_ollama, headers):
    embeddings = OllamaEmbeddings(model="all-minilm", base_url=gateway.url, client_kwargs=headers)
    documents = embeddings.embed_documents(["why is the sky blue?", "why is the grass green?"])
    query = embeddings.embed_query("why is the sky blue?")
    assert len(documents) == 2 and len(documents[0]) == 384
    assert query == pytest.approx(documents[0])
    settle_logs(gateway)
    rows = list(RequestLog.objects.values_list("endpoint", "status", "prompt_tokens"))
    assert len(rows) == 2 and all(
        endpoint == "ollama.embed" and status == 200 and tokens > 0 for endpoint, status, tokens in rows
    )


def test_a_missing_key_is_an_error_not_a_silent_answer(gateway, fake_ollama):
    chat = ChatOllama(model="llama3", base_url=gateway.url)
    with pytest.raises(Exception, match="401|API key") as caught:
        chat.invoke("hi")
    assert getattr(caught.value, "status_code", 401) == 401
