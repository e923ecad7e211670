"""Two gateway processes behind the same PostgreSQL and Redis: limits hold across them."""

import asyncio
import os
import subprocess
import sys
import time

import httpx
import psycopg
import pytest

from tests.fake_ollama import Reply
from tests.processes import ROOT, UVICORN, free_port, manage, wait_until_serving
from tests.quotas.helpers import wait_for_minute_headroom
from tests.services import postgres_url_or_skip, redis_url_or_skip

pytestmark = [pytest.mark.slow, pytest.mark.stores]

DATABASE = "ollamaweb_multiprocess"
HI = [{"role": "user", "content": "hi"}]
COST = 30  # reservation of one request: estimate("hi") 10 + max_tokens 20 (what the fake reports it used)


@pytest.fixture(scope="module")
def shared_stores():
    """A fresh PostgreSQL database and an empty Redis database for the two processes."""
    postgres = postgres_url_or_skip()
    redis_url = redis_url_or_skip()
    admin = postgres.replace("postgres://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE}")
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    yield postgres.rsplit("/", 1)[0] + "/" + DATABASE, redis_url
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


@pytest.fixture(scope="module")
def environment(shared_stores, fake_ollama_server):
    database_url, redis_url = shared_stores
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "OLLAMA_HOST": fake_ollama_server.url,
        "DJANGO_SECRET_KEY": "multiprocess-test-secret",
        "OLLAMAWEB_KEY_CACHE_TTL": "0.2",
        "OLLAMAWEB_CONFIG_CACHE_TTL": "0.2",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    return env


@pytest.fixture(scope="module")
def two_gateways(environment):
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(
            [
                *UVICORN,
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=environment,
        )
        for port in ports
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    wait_until_serving(urls)
    yield urls
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=30)


def new_user_with_key(env, name, **limits):
    secret = manage(env, "createapikey", name)
    args = [f"--{field.replace('_', '-')}={value}" for field, value in limits.items()]
    manage(env, "setquota", name, *args)
    return secret


async def fire_across(urls, secret, count, body=None):
    body = body or {"model": "llama3", "messages": HI, "max_tokens": 20}
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=count)) as http:

        async def one(i):
            response = await http.post(
                urls[i % len(urls)] + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {secret}"}
            )
            return response.status_code

        return await asyncio.gather(*(one(i) for i in range(count)))


@pytest.fixture
def fake(fake_ollama_server):
    fake_ollama_server.reset()
    fake_ollama_server.add_model("llama3")
    return fake_ollama_server


def test_token_quota_holds_across_two_processes(two_gateways, environment, fake):
    fake.reply = Reply(content="x", prompt_eval_count=10, eval_count=20, first_token_delay=0.05)
    secret = new_user_with_key(environment, "bob", tokens_per_day=30 * COST)
    statuses = asyncio.run(fire_across(two_gateways, secret, 300))
    assert statuses.count(200) == 30
    assert statuses.count(429) == 270


def test_rate_limit_holds_across_two_processes(two_gateways, environment, fake):
    wait_for_minute_headroom(10)
    secret = new_user_with_key(environment, "carol", requests_per_minute=40)
    statuses = asyncio.run(fire_across(two_gateways, secret, 300))
    assert statuses.count(200) == 40


def test_concurrency_limit_holds_across_two_processes(two_gateways, environment, fake):
    fake.reply = Reply(content="slow", first_token_delay=1.0)
    secret = new_user_with_key(environment, "dave", max_concurrent=4)
    statuses = asyncio.run(fire_across(two_gateways, secret, 60))
    assert fake.max_active == 4
    assert 4 <= statuses.count(200) <= 8
    assert statuses.count(200) + statuses.count(429) == 60


def test_revocation_reaches_both_processes_within_a_second(two_gateways, environment, fake):
    secret = new_user_with_key(environment, "erin")
    assert asyncio.run(fire_across(two_gateways, secret, 2)) == [200, 200]
    manage(environment, "revokeapikey", secret[:12])
    time.sleep(1.0)
    assert asyncio.run(fire_across(two_gateways, secret, 2)) == [401, 401]


DEACTIVATE_IN_THE_ADMIN = """
from django.contrib.auth import get_user_model
from django.test import Client
users = get_user_model().objects
admin = users.create_superuser("root-{name}", password="x")
client = Client(HTTP_HOST="127.0.0.1")
client.force_login(admin)
response = client.post(
    "/admin/auth/user/",
    {{"action": "deactivate_users", "_selected_action": [users.get(username="{name}").pk]}},
)
assert response.status_code == 302, response.status_code
print("deactivated")
"""


def test_deactivating_users_in_the_admin_reaches_both_processes_within_a_second(two_gateways, environment, fake):
    """The admin's bulk action goes through the services, which forget the keys in Redis too."""
    secret = new_user_with_key(environment, "fiona")
    assert asyncio.run(fire_across(two_gateways, secret, 4)) == [200] * 4  # cached in both processes and Redis
    assert manage(environment, "shell", "-c", DEACTIVATE_IN_THE_ADMIN.format(name="fiona")) == "deactivated"
    time.sleep(1.0)
    assert asyncio.run(fire_across(two_gateways, secret, 4)) == [401] * 4
