"""Two gateway processes on one database, SQLite or PostgreSQL: a response stored by one is found
by the other the moment its creator has it (retrieval, input items, previous_response_id, deletion)."""

import subprocess
import sys

import openai
import psycopg
import pytest

from tests.processes import ROOT, UVICORN, free_port, local_env, manage, wait_until_serving
from tests.services import postgres_url_or_skip

pytestmark = pytest.mark.slow

DATABASE = "ollamaweb_responses_processes"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('responses') / 'db.sqlite3'}"
        return
    admin = postgres_url_or_skip().replace("postgres://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE}")
    yield admin.rsplit("/", 1)[0] + "/" + DATABASE
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


@pytest.fixture(scope="module")
def clients(database_url, fake_ollama_server, tmp_path_factory):
    env = local_env(
        DATABASE_URL=database_url,
        OLLAMA_HOST=fake_ollama_server.url,
        DJANGO_SECRET_KEY="responses-processes-test-secret",
        OLLAMAWEB_LOG_SPOOL_DIR=str(tmp_path_factory.mktemp("spool")),
    )
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    secret = manage(env, "createapikey", "ada")
    ports = [free_port(), free_port()]
    server = [*UVICORN, "--log-level", "warning"]
    processes = [subprocess.Popen([*server, "--port", str(port)], cwd=ROOT, env=env) for port in ports]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    wait_until_serving(urls)
    yield [openai.OpenAI(base_url=url + "/v1/", api_key=secret, max_retries=0, timeout=20) for url in urls]
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=30)


@pytest.fixture
def fake(fake_ollama_server):
    fake_ollama_server.reset()
    fake_ollama_server.add_model("llama3")
    return fake_ollama_server


def test_each_turn_is_found_by_the_other_process_at_once(clients, fake):
    previous = None
    for turn in range(8):
        creator, other = clients[turn % 2], clients[1 - turn % 2]
        if turn % 2:
            with creator.responses.stream(model="llama3", input=f"turn {turn}", previous_response_id=previous) as s:
                created = s.get_final_response()
        else:
            created = creator.responses.create(model="llama3", input=f"turn {turn}", previous_response_id=previous)
        assert other.responses.retrieve(created.id).output_text == created.output_text == "Hello there, friend!"
        assert [item.content[0].text for item in other.responses.input_items.list(created.id)] == [f"turn {turn}"]
        previous = created.id
    clients[0].responses.create(model="llama3", input="last", previous_response_id=previous)
    messages = [r.json for r in fake.requests if r.path == "/api/chat"][-1]["messages"]
    assert [m["content"] for m in messages if m["role"] == "user"] == [f"turn {turn}" for turn in range(8)] + ["last"]
    clients[1].responses.delete(previous)
    with pytest.raises(openai.NotFoundError):
        clients[0].responses.retrieve(previous)
    with pytest.raises(openai.BadRequestError):
        clients[0].responses.create(model="llama3", input="more", previous_response_id=previous)
