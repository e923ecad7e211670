"""A busy portal for the browser tests: several users, named keys, aliases, quotas, errors, streams."""

import openai
from django.contrib.auth import get_user_model

from ollamaweb.catalog.models import ModelAlias
from ollamaweb.keys.services import issue_key
from ollamaweb.quotas.models import QuotaPolicy
from tests.conftest import settle_logs
from tests.fake_ollama import Reply

HI = [{"role": "user", "content": "Say hello"}]


def openai_client(gateway, secret):
    return openai.OpenAI(base_url=gateway.url + "/v1/", api_key=secret, max_retries=0, timeout=20)


def seed(gateway, fake_ollama, alice):
    """Returns {"root": staff user, "keys": {name: (key, secret)}}."""
    User = get_user_model()
    root = User.objects.create_user("root", password="pw-root-123", is_staff=True, is_superuser=True)
    User.objects.create_user("bob-with-a-rather-long-username", password="pw-bob-123")
    fake_ollama.add_model("mistral", capabilities=["completion"])
    ModelAlias.objects.create(name="gpt-4o", target="llama3", description="house model")
    ModelAlias.objects.create(name="aaa-broken", target="no-such-model")  # sorts first
    keys = {
        "laptop": issue_key(alice, "laptop"),
        "ci-pipeline": issue_key(alice, "ci-pipeline", allowed_models=["gpt-4o"]),
    }
    QuotaPolicy.objects.create(tokens_per_day=100_000, requests_per_minute=600)
    QuotaPolicy.objects.create(user=alice, tokens_per_month=2_000_000)
    QuotaPolicy.objects.create(api_key=keys["ci-pipeline"][0], tokens_per_day=50_000)
    fake_ollama.reply = Reply(content="Hi there!", prompt_eval_count=12, eval_count=30)
    laptop = openai_client(gateway, keys["laptop"][1])
    ci = openai_client(gateway, keys["ci-pipeline"][1])
    for _ in range(16):  # with the rest, 23 requests today: an axis of 25 had ticks at 6.25 and 12.5
        laptop.chat.completions.create(model="llama3", messages=HI)
    laptop.chat.completions.create(model="mistral", messages=HI)
    laptop.chat.completions.create(model="mistral:latest", messages=HI)
    list(laptop.chat.completions.create(model="llama3", messages=HI, stream=True))
    ci.chat.completions.create(model="gpt-4o", messages=HI)
    laptop.embeddings.create(model="all-minilm", input="hello")
    try:
        laptop.chat.completions.create(model="no-such-model-at-all", messages=HI)
    except openai.NotFoundError:
        pass
    try:
        ci.chat.completions.create(model="llama3", messages=HI)
    except openai.PermissionDeniedError:
        pass
    try:
        openai_client(gateway, "sk-not-a-real-key-000000000000000000000000").models.list()
    except openai.AuthenticationError:
        pass
    settle_logs(gateway)
    return {"root": root, "keys": keys}
