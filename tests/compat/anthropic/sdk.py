"""The real anthropic client reading canned bytes (no server): checks that the SDK accepts our shapes."""

import anthropic
import httpx2
import orjson


def client_answering(status: int, body: bytes, content_type: str, headers=None) -> anthropic.Anthropic:
    """An Anthropic client (strict response validation, no retries) whose every call gets this answer."""
    seen = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(status, content=body, headers={"content-type": content_type, **(headers or {})})

    client = anthropic.Anthropic(
        api_key="sk-test",
        base_url="http://gateway.test",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
        _strict_response_validation=True,
    )
    client.seen = seen
    return client


def json_client(payload: dict, status: int = 200, headers=None) -> anthropic.Anthropic:
    return client_answering(status, orjson.dumps(payload), "application/json", headers)


def sse_client(body: bytes) -> anthropic.Anthropic:
    return client_answering(200, body, "text/event-stream")


ARGS = {"model": "claude-sonnet-4-6", "max_tokens": 100, "messages": [{"role": "user", "content": "Hi"}]}
