"""No input produces a 5xx: a few thousand generated and mutated requests to every route.

Valid bodies of each route are mutated (fields replaced by arbitrary JSON, huge or fractional
numbers, NUL and control characters, deep nesting, missing or extra fields) or replaced by
arbitrary JSON; every response must be < 500, every request must be logged, and the server must
answer normally afterwards.
"""

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ollamaweb.keys.services import set_manage_models
from ollamaweb.usage.models import RequestLog
from tests.conftest import settle_logs
from tests.fake_ollama import Reply

pytestmark = pytest.mark.slow
MESSAGES = [{"role": "user", "content": "hi"}]
ROUTES = {
    "/v1/chat/completions": {"model": "llama3", "messages": MESSAGES, "max_tokens": 5},
    "/v1/completions": {"model": "llama3", "prompt": "hi", "max_tokens": 5},
    "/v1/embeddings": {"model": "all-minilm", "input": ["hi"]},
    "/v1/responses": {"model": "llama3", "input": "hi", "max_output_tokens": 16},
    "/v1/messages": {"model": "llama3", "max_tokens": 5, "messages": MESSAGES},
    "/v1/messages/count_tokens": {"model": "llama3", "messages": MESSAGES},
    "/api/chat": {"model": "llama3", "messages": MESSAGES, "stream": False},
    "/api/generate": {"model": "llama3", "prompt": "hi", "stream": False},
    "/api/embed": {"model": "all-minilm", "input": "hi"},
    "/api/embeddings": {"model": "all-minilm", "prompt": "hi"},
    "/api/show": {"model": "llama3"},
    "/api/copy": {"source": "llama3", "destination": "fuzzed"},
    "/api/delete": {"model": "nothing-here"},
}

leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0, -1, 1, 2**31, 2**63 - 1, 2**63, 2**64, 1e308, -1e308, 0.5])
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=30)
    | st.sampled_from(["", "\x00", "a\x00b", "\ud7ff", "llama3", "user", "assistant", "tool", "json_schema"])
)
json_values = st.recursive(
    leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=25,
)


def deep(depth: int):
    value = "x"
    for _ in range(depth):
        value = {"type": "object", "properties": {"p": value}}
    return value


@st.composite
def mutated(draw, base: dict):
    body = dict(base)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        action = draw(st.sampled_from(["replace", "delete", "add", "nest", "extreme", "extreme"]))
        keys = sorted(body) or ["model"]
        key = draw(st.sampled_from(keys))
        if action == "replace":
            body[key] = draw(json_values)
        elif action == "delete":
            body.pop(key, None)
        elif action == "add":
            name = draw(st.sampled_from(["options", "tools", "format", "n", "stream", "seed", "top_k", "num_ctx",
                                         "dimensions", "images", "think", "temperature", "response_format",
                                         "tool_choice", "system", "stop", "logprobs", "keep_alive", "user"]))  # fmt: skip
            body[name] = draw(json_values)
        elif action == "extreme":
            name = draw(st.sampled_from(NUMERIC_FIELDS))
            value = draw(st.sampled_from(EXTREMES))
            if name.startswith("options."):
                body["options"] = {name.removeprefix("options."): value}
            else:
                body[name] = value
        else:
            body[key] = deep(draw(st.integers(min_value=60, max_value=300)))
    return body


NUMERIC_FIELDS = [
    "max_tokens", "max_completion_tokens", "max_output_tokens", "n", "seed", "top_k", "num_ctx", "dimensions",
    "temperature", "top_p", "logprobs", "top_logprobs", "options.num_predict", "options.num_ctx", "options.seed",
    "options.top_k", "keep_alive",
]  # fmt: skip
EXTREMES = [2**63, 2**64, 2**70, -(2**64), 1e308, -1e308, 2**63 - 1, 1e19, 0.5, -1]


requests = st.one_of(
    st.sampled_from(sorted(ROUTES)).flatmap(lambda route: st.tuples(st.just(route), mutated(ROUTES[route]))),
    st.tuples(st.sampled_from(sorted(ROUTES)), json_values),
)


@pytest.fixture
def http(gateway, fake_ollama, api_key, django_user_model):
    staff = django_user_model.objects.create_user("staff", is_staff=True)
    set_manage_models(api_key[0], True, granted_by=staff)
    fake_ollama.reply = Reply(content="fine")
    with httpx.Client(base_url=gateway.url, timeout=30, headers={"Authorization": f"Bearer {api_key[1]}"}) as client:
        yield client


def test_thousands_of_bad_requests_get_no_5xx(http, gateway, fake_ollama):
    sent = []

    @settings(
        max_examples=2500,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(requests)
    def fuzz(request):
        route, body = request
        response = http.post(route, json=body) if body is not None else http.post(route, content=b"{")
        sent.append(route)
        assert response.status_code < 500, (route, body, response.status_code, response.text[:500])

    fuzz()

    assert len(sent) >= 2000
    answer = http.post("/v1/chat/completions", json=ROUTES["/v1/chat/completions"])
    assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"] == "fine"
    assert settle_logs(gateway, timeout=60) == len(sent) + 1  # every request, answered or refused, is logged
    assert not RequestLog.objects.filter(status__gte=500).exists()
