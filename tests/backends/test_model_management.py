"""Managing models on the backends: pull (command and admin, with live progress), copy/alias,
delete, the `backends` command, and the Backend admin pages."""

import asyncio
import io
import json
import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from ollamaweb.backends import pulls
from ollamaweb.backends.config import BackendConfig
from ollamaweb.backends.models import Backend, BackendEvent, PullJob
from ollamaweb.backends.operations import TargetError, human_size, select_targets
from ollamaweb.backends.pulls import JobRecorder, TerminalProgress, fold_progress, initial_state
from ollamaweb.catalog.models import ModelAlias
from tests.fake_ollama import FakeOllama
from tests.portal.helpers import session_id, signed_in_http, submit

User = get_user_model()
ROOT = Path(__file__).resolve().parents[2]
SECRET = "Bearer s3cret-token-never-shown"
MISSING = "pull model manifest: file does not exist"

# What Ollama streams for a two-layer pull (reference 7.7); "completed" is omitted while 0.
PULL_LINES = [
    {"status": "pulling manifest"},
    {"status": "pulling 6a0746a1ec1a", "digest": "sha256:6a0746a1ec1a" + "0" * 52, "total": 2_000_000_000},
    {
        "status": "pulling 6a0746a1ec1a",
        "digest": "sha256:6a0746a1ec1a" + "0" * 52,
        "total": 2_000_000_000,
        "completed": 500_000_000,
    },
    {"status": "pulling 4fa551d4f938", "digest": "sha256:4fa551d4f938" + "1" * 52, "total": 12_000},
    {
        "status": "pulling 6a0746a1ec1a",
        "digest": "sha256:6a0746a1ec1a" + "0" * 52,
        "total": 2_000_000_000,
        "completed": 2_000_000_000,
    },
    {
        "status": "pulling 4fa551d4f938",
        "digest": "sha256:4fa551d4f938" + "1" * 52,
        "total": 12_000,
        "completed": 12_000,
    },
    {"status": "verifying sha256 digest"},
    {"status": "writing manifest"},
    {"status": "removing unused layers"},
    {"status": "success"},
]


def fold(lines, state=None):
    state = state or initial_state()
    for line in lines:
        state = fold_progress(state, line)
    return state


def run(*args, stdin=None) -> str:
    out = io.StringIO()
    kwargs = {"stdin": stdin} if stdin is not None else {}
    call_command(*args, stdout=out, stderr=io.StringIO(), **kwargs)
    return out.getvalue()


def run_both(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
    finally:
        run_both.last = (out.getvalue(), err.getvalue())
    return run_both.last


# --- Progress folding (pure) -------------------------------------------------------------------


def test_fold_progress_tracks_layers_bytes_and_success():
    state = fold(PULL_LINES[:3])
    assert state["status"] == "pulling 6a0746a1ec1a"
    assert state["layers"] == [
        {"digest": "sha256:6a0746a1ec1a" + "0" * 52, "total": 2_000_000_000, "completed": 500_000_000}
    ]
    assert state["percent"] == 25.0 and not state["done"] and state["error"] is None

    state = fold(PULL_LINES[3:6], state)
    assert [layer["completed"] for layer in state["layers"]] == [2_000_000_000, 12_000]  # in first-seen order
    assert state["completed"] == state["total"] == 2_000_012_000
    assert state["percent"] == 100.0 and not state["done"]

    state = fold(PULL_LINES[6:], state)
    assert state["status"] == "success" and state["done"] and state["percent"] == 100.0


def test_fold_progress_is_pure_and_ignores_noise():
    before = fold(PULL_LINES[:3])
    snapshot = json.loads(json.dumps(before))
    after = fold_progress(before, PULL_LINES[4])
    assert before == snapshot  # the old state is untouched
    assert after["layers"][0]["completed"] == 2_000_000_000
    assert fold_progress(before, "not a dict") == before
    assert fold_progress(before, {}) == before


def test_fold_progress_records_errors_and_clamps_counts():
    state = fold([PULL_LINES[0], {"error": MISSING}])
    assert state["error"] == MISSING and state["status"] == "pulling manifest" and not state["done"]
    assert state["percent"] is None  # no layer seen yet

    odd = fold(
        [
            {"status": "pulling model", "total": 100, "completed": 250},  # tensor models: no digest
            {"status": "pulling x", "digest": "sha256:x", "total": 100, "completed": -5},
        ]
    )
    assert [(layer["digest"], layer["completed"]) for layer in odd["layers"]] == [
        ("pulling model", 100),
        ("sha256:x", 0),
    ]
    assert odd["percent"] == 50.0


def test_terminal_progress_on_a_pipe_prints_steps_of_ten_percent():
    out = []
    display = TerminalProgress(out.append, tty=False)
    state = initial_state()
    for line in PULL_LINES:
        state = fold_progress(state, line)
        display(state)
    text = "".join(out)
    assert text.splitlines() == [
        "pulling manifest",
        "pulling 6a0746a1ec1a   0% [.........................] 0 B/2.0 GB",
        "pulling 6a0746a1ec1a  25% [######...................] 500.0 MB/2.0 GB",
        "pulling 4fa551d4f938   0% [.........................] 0 B/12.0 KB",
        "pulling 6a0746a1ec1a 100% [#########################] 2.0 GB/2.0 GB",
        "pulling 4fa551d4f938 100% [#########################] 12.0 KB/12.0 KB",
        "verifying sha256 digest",
        "writing manifest",
        "removing unused layers",
        "success",
    ]


def test_terminal_progress_on_a_tty_redraws_the_bars_in_place():
    out, now = [], [0.0]
    display = TerminalProgress(out.append, tty=True, clock=lambda: now[0])
    state = initial_state()
    for line in PULL_LINES:
        now[0] += 1
        state = fold_progress(state, line)
        display(state)
    display.finish(state)
    text = "".join(out)
    assert "\x1b[1A" in text and "\x1b[2A" in text  # went back up over the bars to redraw them
    final = text.split("verifying sha256 digest")[0].rsplit("\x1b[2A", 1)[1]
    assert "6a0746a1ec1a 100%" in final and "4fa551d4f938 100%" in final
    assert text.endswith("removing unused layers\nsuccess\n")


def test_human_sizes_are_decimal_like_ollama():
    assert [human_size(n) for n in (0, 999, 7_020, 4_661_224_676, None)] == ["0 B", "999 B", "7.0 KB", "4.7 GB", "–"]


def test_choosing_backends():
    one, two, off = (
        BackendConfig("one", "http://a:1"),
        BackendConfig("two", "http://b:1"),
        BackendConfig("off", "http://c:1", enabled=False),
    )
    assert select_targets([one, off]) == [one]  # the only enabled one
    assert select_targets([one, two], all=True) == [one, two]
    assert select_targets([one, two, off], backend="off") == [off]  # named explicitly: even disabled
    with pytest.raises(TargetError, match="--backend NAME, or --all"):
        select_targets([one, two])
    with pytest.raises(TargetError, match="No backend named 'three'"):
        select_targets([one, two], backend="three")


def test_job_progress_is_written_at_most_every_half_second(monkeypatch):
    writes, now = [], [100.0]

    async def update(job_id, **fields):
        writes.append((now[0], fields["percent"]))

    monkeypatch.setattr(pulls, "_update", update)
    recorder = JobRecorder(7, interval=0.5, clock=lambda: now[0])

    async def feed():
        state = initial_state()
        for line in PULL_LINES:
            state = fold_progress(state, line)
            await recorder(state)
            now[0] += 0.2

    asyncio.run(feed())
    assert [at for at, _ in writes] == pytest.approx([100.0, 100.6, 101.2, 101.8])
    assert recorder.state["done"]  # the last state is kept for the final write


# --- The pull command ---------------------------------------------------------------------------


@pytest.fixture
def second_fake():
    with FakeOllama() as fake:
        yield fake


@pytest.fixture
def env_backend(settings, fake_ollama):
    """No Backend rows: the gateway (and the commands) use OLLAMA_HOST, here the fake."""
    settings.OLLAMA_HOST = fake_ollama.url
    return fake_ollama


@pytest.fixture
def two_backends(db, fake_ollama, second_fake):
    Backend.objects.create(name="gpu1", url=fake_ollama.url)
    Backend.objects.create(name="gpu2", url=second_fake.url.removeprefix("http://"))  # host:port works too
    return fake_ollama, second_fake


def test_pull_on_the_only_backend_shows_progress(db, env_backend):
    output = run("pull", "qwen3:8b")

    lines = output.splitlines()
    assert lines[0] == f"Pulling qwen3:8b on {env_backend.url.removeprefix('http://')} ({env_backend.url})"
    assert lines[1] == "pulling manifest"
    layers = [line for line in lines if re.match(r"pulling [0-9a-f]{12} ", line)]
    assert re.fullmatch(r"pulling [0-9a-f]{12} +0% \[\.{25}\] 0 B/2\.0 GB", layers[0])
    assert re.fullmatch(r"pulling [0-9a-f]{12}  33% \[#{8}\.{17}\] 673\.1 MB/2\.0 GB", layers[1])
    assert re.fullmatch(r"pulling [0-9a-f]{12} 100% \[#{25}\] 7\.0 KB/7\.0 KB", layers[-1])
    assert lines[-4:] == ["verifying sha256 digest", "writing manifest", "removing unused layers", "success"]
    assert "qwen3:8b" in env_backend.models
    assert [r.json for r in env_backend.requests if r.path == "/api/pull"] == [{"model": "qwen3:8b", "stream": True}]


def test_pull_all_pulls_on_every_backend_and_records_their_models(two_backends):
    gpu1, gpu2 = two_backends
    output = run("pull", "qwen3:8b", "--all")

    assert f"Pulling qwen3:8b on gpu1 ({gpu1.url})" in output
    assert f"Pulling qwen3:8b on gpu2 ({gpu2.url})" in output
    assert output.count("\nsuccess\n") == 2 and "Pulled qwen3:8b on 2 backends." in output
    assert "qwen3:8b" in gpu1.models and "qwen3:8b" in gpu2.models
    for backend in Backend.objects.all():  # the admin sees the new model at once
        assert "qwen3:8b" in [m["name"] for m in backend.present_models]


def test_pull_needs_a_choice_between_several_backends(two_backends):
    with pytest.raises(CommandError, match=r"There are 2 backends \(gpu1, gpu2\).*--backend NAME, or --all"):
        run("pull", "qwen3:8b")
    run("pull", "qwen3:8b", "--backend", "gpu2")
    assert "qwen3:8b" not in two_backends[0].models and "qwen3:8b" in two_backends[1].models
    with pytest.raises(CommandError, match="No backend named 'gpu9'"):
        run("pull", "qwen3:8b", "--backend", "gpu9")


def test_pull_error_from_ollama_fails_with_its_message(db, env_backend):
    env_backend.pull_error = MISSING
    with pytest.raises(CommandError, match=f"Pulling nope:1b on .* failed: Ollama backend error: {MISSING}"):
        run_both("pull", "nope:1b")
    out, err = run_both.last
    assert "pulling manifest" in out and MISSING in err
    assert "nope:1b" not in env_backend.models


def test_pull_all_reports_an_unreachable_backend_and_fails(two_backends):
    Backend.objects.filter(name="gpu2").update(url="http://127.0.0.1:9")
    with pytest.raises(CommandError, match="failed on 1 of 2 backends: gpu2"):
        run_both("pull", "qwen3:8b", "--all")
    out, err = run_both.last
    assert "\nsuccess\n" in out and "Error on gpu2: The model backend is unreachable" in err
    assert "qwen3:8b" in two_backends[0].models


def test_pull_command_exits_non_zero_with_the_message(transactional_db, fake_ollama):
    fake_ollama.pull_error = MISSING
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
        "OLLAMA_HOST": fake_ollama.url,
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "pull", "nope:1b"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "pulling manifest" in result.stdout
    assert f"Ollama backend error: {MISSING}" in result.stderr


# --- copymodel, deletemodel, backends -----------------------------------------------------------


def test_copymodel_copies_on_the_backend(db, env_backend):
    assert run("copymodel", "llama3", "my-llama").strip().endswith("copied llama3 to my-llama.")
    assert env_backend.models["my-llama:latest"].family == "llama"

    with pytest.raises(CommandError, match='could not copy nope: model "nope" not found'):
        run("copymodel", "nope", "other")


def test_copymodel_all(two_backends):
    gpu1, gpu2 = two_backends
    gpu2.add_model("llama3")
    output = run("copymodel", "llama3", "team-llama", "--all")
    assert "gpu1: copied llama3 to team-llama." in output and "gpu2: copied llama3 to team-llama." in output
    assert "team-llama:latest" in gpu1.models and "team-llama:latest" in gpu2.models


def test_deletemodel_with_yes(db, env_backend):
    output = run("deletemodel", "llama3", "--yes")
    assert "has llama3 (4.7 GB)" in output and "deleted llama3." in output
    assert "llama3:latest" not in env_backend.models

    with pytest.raises(CommandError, match="model 'llama3' not found on .*nothing deleted"):
        run("deletemodel", "llama3", "--yes")


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_deletemodel_asks_on_a_terminal(db, env_backend):
    with pytest.raises(CommandError, match="Not a terminal: add --yes"):
        run("deletemodel", "llama3", stdin=io.StringIO("y\n"))
    with pytest.raises(CommandError, match="Cancelled"):
        run("deletemodel", "llama3", stdin=Terminal("n\n"))
    assert "llama3:latest" in env_backend.models

    output = run("deletemodel", "llama3", stdin=Terminal("y\n"))
    assert "Delete llama3 from " in output and "deleted llama3." in output
    assert "llama3:latest" not in env_backend.models


def test_deletemodel_all_deletes_where_present(two_backends):
    gpu1, gpu2 = two_backends
    output = run("deletemodel", "all-minilm", "--all", "--yes")
    assert "gpu1: has all-minilm" in output and "gpu2: does not have all-minilm" in output
    assert "gpu1: deleted all-minilm." in output
    assert "all-minilm:latest" not in gpu1.models
    assert [r.path for r in gpu2.requests if r.method == "DELETE"] == []


def test_backends_command_add_list_remove(db, settings):
    settings.OLLAMA_HOST = "gpu0:11434,http://gpu9:8080"
    output = run("backends", "--list")
    assert "No backends configured: the gateway uses OLLAMA_HOST (gpu0:11434,http://gpu9:8080)" in output
    assert "  http://gpu0:11434\n  http://gpu9:8080\n" in output

    run("backends", "--add", "gpu1", "http://gpu1:11434", "--weight", "3", "--max-concurrent", "4")
    run("backends", "--add", "gpu2", "gpu2", "--header", f"Authorization: {SECRET}")
    Backend.objects.filter(name="gpu1").update(
        is_up=True, version="0.33.0", present_models=[{"name": "a"}, {"name": "b"}]
    )
    Backend.objects.filter(name="gpu2").update(is_up=False)
    assert Backend.objects.get(name="gpu2").headers == {"Authorization": SECRET}

    lines = run("backends").splitlines()  # --list is the default
    assert re.split(r"\s{2,}", lines[0]) == [
        "NAME",
        "URL",
        "ENABLED",
        "WEIGHT",
        "MAX CONCURRENT",
        "STATUS",
        "VERSION",
        "MODELS",
    ]
    assert lines[1].split() == ["gpu1", "http://gpu1:11434", "yes", "3", "4", "up", "0.33.0", "2"]
    assert lines[2].split() == ["gpu2", "gpu2", "yes", "1", "-", "down", "-", "0"]
    assert "s3cret" not in "\n".join(lines)

    assert run("backends", "--remove", "gpu1").strip() == "Removed backend gpu1."
    assert list(Backend.objects.values_list("name", flat=True)) == ["gpu2"]
    with pytest.raises(CommandError, match="No backend named gpu1"):
        run("backends", "--remove", "gpu1")
    with pytest.raises(CommandError, match="go with --add"):
        run("backends", "--weight", "2")


# --- The Backend admin ----------------------------------------------------------------------------


@pytest.fixture
def gpu(db):
    now = timezone.now()
    backend = Backend.objects.create(
        name="gpu1",
        url="http://gpu1:11434",
        headers={"Authorization": SECRET, "X-Team": "research-secret"},
        is_up=True,
        version="0.33.0",
        latency_ms=12.4,
        checked_at=now,
        last_error="previous failure: connection refused",
        present_models=[
            {
                "name": "llama3:latest",
                "model": "llama3:latest",
                "size": 4_661_224_676,
                "digest": "365c0bd3c000a25d28ddbf732fe1c6add414de7275464c4e4d1c3b5fcb5d8ad1",
                "modified_at": "2024-05-01T10:00:00.123456789Z",
                "details": {
                    "format": "gguf",
                    "family": "llama",
                    "families": ["llama", "clip"],
                    "parameter_size": "8.0B",
                    "quantization_level": "Q4_K_M",
                },
            },
            {"name": "all-minilm:latest", "size": 45_960_996, "details": {"family": "bert"}},
        ],
        loaded_models=[
            {
                "name": "llama3:latest",
                "size": 6_000_000_000,
                "size_vram": 4_500_000_000,
                "expires_at": (now + timedelta(minutes=4)).isoformat(),
                "context_length": 8192,
            }
        ],
    )
    for minute in range(55):
        event = BackendEvent.objects.create(backend=backend, up=minute % 2 == 0, message=f"event number {minute}")
        BackendEvent.objects.filter(pk=event.pk).update(at=now - timedelta(minutes=60 - minute))
    return backend


def page(admin_browser, url, status=200):
    response = admin_browser.get(url)
    assert response.status_code == status, (url, response.status_code)
    return response.content.decode()


def test_backend_list_shows_health_at_a_glance(admin_browser, gpu):
    Backend.objects.create(name="gpu2", url="gpu2", enabled=False)  # never checked
    html = page(admin_browser, "/admin/backends/backend/")
    row = html.split(f'class="field-name"><a href="/admin/backends/backend/{gpu.pk}/change/">gpu1')[1]
    row = row.split("</tr>")[0]
    assert 'ow-badge ow-up">up<' in row and "0.33.0" in row and "12 ms" in row and " s ago<" in row
    assert '<td class="field-models_count">2</td>' in row and '<td class="field-loaded_count">1</td>' in row
    assert 'ow-badge ow-unknown">unknown</span> <span class="ow-badge ow-disabled">disabled<' in html
    for link in (
        "/admin/backends/backend/pull/",
        "/admin/backends/backend/copy/",
        "/admin/backends/backend/delete-model/",
    ):
        assert f'href="{link}"' in html
    assert "s3cret" not in html and "research-secret" not in html

    assert "gpu2" not in page(admin_browser, "/admin/backends/backend/?status=up")
    assert "gpu2" in page(admin_browser, "/admin/backends/backend/?status=unknown")
    assert "gpu2" in page(admin_browser, "/admin/backends/backend/?q=gpu2")


def test_backend_page_shows_models_loaded_models_errors_and_history(admin_browser, gpu):
    html = page(admin_browser, f"/admin/backends/backend/{gpu.pk}/change/")

    present = html.split("Models present (2)")[1].split("</table>")[0]
    assert "llama3:latest" in present and "4.7 GB" in present and "46.0 MB" in present
    assert "llama, clip" in present and "Q4_K_M" in present and "8.0B" in present and "2024-05-01" in present
    loaded = html.split("Loaded models (1)")[1].split("</table>")[0]
    assert "4.5 GB (75% GPU)" in loaded and "6.0 GB" in loaded and "8192" in loaded and "in 3\xa0minutes" in loaded
    assert "previous failure: connection refused" in html

    history = html.split("Status history (newest first, last 50)")[1]
    numbers = [int(n) for n in re.findall(r"event number (\d+)", history)]
    assert numbers == list(range(54, 4, -1))  # the newest 50, newest first
    assert 'name="events-TOTAL_FORMS"' in html and "Add another" not in history

    assert "s3cret" not in html and "research-secret" not in html
    assert "********" in html


def test_masked_headers_are_kept_and_can_be_replaced(admin_browser, gpu):
    form = {
        "name": "gpu1",
        "url": "http://gpu1:11434",
        "enabled": "on",
        "weight": "2",
        "max_concurrent": "",
        "headers": json.dumps({"Authorization": "********", "X-New": "v1"}),
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
        "events-MIN_NUM_FORMS": "0",
        "events-MAX_NUM_FORMS": "0",
    }
    response = admin_browser.post(f"/admin/backends/backend/{gpu.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    gpu.refresh_from_db()
    assert gpu.headers == {"Authorization": SECRET, "X-New": "v1"} and gpu.weight == 2  # X-Team removed

    response = admin_browser.post(
        f"/admin/backends/backend/{gpu.pk}/change/", {**form, "headers": json.dumps({"Unknown": "********"})}
    )
    assert response.status_code == 200 and "Give a value for the header" in response.content.decode()


def test_non_staff_are_sent_to_the_login_page(db, gpu):
    user = User.objects.create_user("alice", password="pw-alice-123")
    browser = Client()
    for url in ("/admin/backends/backend/", "/admin/backends/backend/pull/", "/admin/backends/backend/copy/"):
        assert browser.get(url)["Location"].startswith("/admin/login/?next=")
    browser.force_login(user)
    for url in (
        "/admin/backends/backend/pull/",
        "/admin/backends/backend/delete-model/",
        f"/admin/backends/backend/{gpu.pk}/change/",
    ):
        response = browser.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/?next="), url
    assert browser.post("/admin/backends/backend/pull/", {"model": "x", "backend": "gpu1"}).status_code == 302
    assert not PullJob.objects.exists()


# --- The admin's model management pages against the running server --------------------------------


def read_events(http: httpx.Client, url: str, timeout: float = 20) -> list[tuple[str, dict]]:
    """The server-sent events of a pull until `done`."""
    events, deadline = [], time.monotonic() + timeout
    with http.stream("GET", url) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in response.iter_lines():
            assert time.monotonic() < deadline, "the event stream did not finish"
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
                if name == "done":
                    return events
    raise AssertionError(f"the stream ended without done: {events}")


@pytest.fixture
def staff_http(gateway, transactional_db):
    staff = User.objects.create_superuser("boss", email="boss@example.com", password="pw-boss-123")
    with signed_in_http(staff, gateway) as http:
        yield http


def test_admin_pull_runs_on_the_server_with_live_progress(gateway, staff_http, fake_ollama):
    page_html = staff_http.get("/admin/backends/backend/pull/").text
    backend_name = fake_ollama.url.removeprefix("http://")
    assert f'<option value="{backend_name}" selected>' in page_html  # the only backend (OLLAMA_HOST)

    response = submit(staff_http, "/admin/backends/backend/pull/", {"model": "qwen3:8b", "backend": backend_name})
    assert response.status_code == 302, response.text[:3000]
    job_url = response.headers["location"]
    assert re.fullmatch(r"/admin/backends/backend/pull/[0-9a-f-]{36}/", job_url)

    events = read_events(staff_http, job_url + "events/")
    assert events[-1][0] == "done"
    [final] = events[-2][1]["jobs"]
    assert final["status"] == "success" and final["percent"] == 100.0 and final["finished"]
    assert final["backend"] == backend_name and final["model"] == "qwen3:8b" and final["error"] == ""
    assert [layer["percent"] for layer in final["layers"]] == [100.0, 100.0]
    assert final["layers"][0]["sizes"] == "2.0 GB / 2.0 GB"
    assert "qwen3:8b" in fake_ollama.models

    job = PullJob.objects.get()
    assert (job.status, job.message, job.backend, job.created_by.username) == ("success", "success", None, "boss")
    assert job.started_at <= job.finished_at <= job.updated_at

    html = staff_http.get(job_url).text  # a reload shows the state kept on the server
    assert "qwen3:8b" in html and 'ow-badge ow-success">success<' in html and "100.0%" in html
    assert "backends/pull_job.js" in html
    status = staff_http.get(job_url + "status/").json()
    assert status["jobs"][0]["status"] == "success"
    assert staff_http.get("/admin/backends/backend/pull/").text.count(job_url) == 1  # in "recent pulls"


def test_admin_pull_on_all_backends_continues_without_a_browser(gateway, staff_http, fake_ollama, second_fake):
    Backend.objects.create(name="gpu1", url=fake_ollama.url)
    Backend.objects.create(name="gpu2", url=second_fake.url, headers={"Authorization": SECRET})
    response = submit(staff_http, "/admin/backends/backend/pull/", {"model": "mistral", "backend": "__all__"})
    assert response.status_code == 302

    # Nobody watches: the jobs still run to the end on the server.
    deadline = time.monotonic() + 20
    while PullJob.objects.exclude(status="success").exists():
        assert time.monotonic() < deadline, list(PullJob.objects.values("backend_name", "status", "error"))
        time.sleep(0.1)
    assert sorted(PullJob.objects.values_list("backend_name", flat=True)) == ["gpu1", "gpu2"]
    assert "mistral:latest" in fake_ollama.models and "mistral:latest" in second_fake.models
    [pull] = [r for r in second_fake.requests if r.path == "/api/pull"]
    assert pull.headers["authorization"] == SECRET  # the backend's headers are used
    deadline = time.monotonic() + 10
    while not all("mistral:latest" in [m["name"] for m in b.present_models] for b in Backend.objects.all()):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_admin_pull_error_is_shown(gateway, staff_http, fake_ollama):
    fake_ollama.pull_error = MISSING
    response = submit(staff_http, "/admin/backends/backend/pull/", {"model": "nope:1b", "backend": "gpu9"})
    # not a backend: the form says so and nothing starts
    assert response.status_code == 200 and "Select a valid choice" in response.text
    backend_name = fake_ollama.url.removeprefix("http://")
    response = submit(staff_http, "/admin/backends/backend/pull/", {"model": "nope:1b", "backend": backend_name})
    job_url = response.headers["location"]

    [final] = read_events(staff_http, job_url + "events/")[-2][1]["jobs"]
    assert final["status"] == "error" and final["error"] == f"Ollama backend error: {MISSING}"
    html = staff_http.get(job_url).text
    assert 'ow-badge ow-error">error<' in html and MISSING in html
    assert "nope:1b" not in fake_ollama.models

    response = submit(staff_http, "/admin/backends/backend/pull/", {"model": "bad name!", "backend": backend_name})
    assert response.status_code == 200 and "Not a model name" in response.text
    response = staff_http.post("/admin/backends/backend/pull/", data={"model": "llama3", "backend": backend_name})
    assert response.status_code == 403 and "CSRF" in response.text  # no token: refused
    assert PullJob.objects.count() == 1


def test_a_running_job_nobody_updates_is_stalled(gateway, staff_http):
    job = PullJob.objects.create(
        batch="7b0e4f7e-7a55-4b43-9d3f-4d1c9e6c1a11", model="llama3", backend_name="gpu1", backend_url="http://gpu1"
    )
    PullJob.objects.filter(pk=job.pk).update(status="running", percent=40.0, updated_at=timezone.now())
    url = f"/admin/backends/backend/pull/{job.batch}/"
    assert staff_http.get(url + "status/").json()["jobs"][0]["status"] == "running"

    PullJob.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(minutes=3))
    [final] = read_events(staff_http, url + "events/")[-2][1]["jobs"]  # a stalled job ends the stream
    assert final["status"] == "stalled" and "has probably stopped" in final["error"]
    assert 'ow-badge ow-stalled">stalled<' in staff_http.get(url).text
    assert staff_http.get("/admin/backends/backend/pull/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_admin_copy_as_alias_or_real_copy(gateway, staff_http, fake_ollama):
    url = "/admin/backends/backend/copy/"
    html = staff_http.get(url).text
    assert re.search(r'value="alias"[^>]*checked', html) and not re.search(r'value="copy"[^>]*checked', html)

    response = submit(staff_http, url, {"source": "llama3", "destination": "gpt-4o", "mode": "alias"})
    assert response.status_code == 302
    assert ModelAlias.objects.get(name="gpt-4o").target == "llama3"
    assert "gpt-4o:latest" not in fake_ollama.models  # an alias copies nothing
    assert "Created the alias gpt-4o → llama3" in staff_http.get(url).text

    backend_name = fake_ollama.url.removeprefix("http://")
    response = submit(
        staff_http, url, {"source": "llama3", "destination": "my-llama", "mode": "copy", "backend": backend_name}
    )
    assert response.status_code == 302
    assert "my-llama:latest" in fake_ollama.models
    assert f"Copied llama3 to my-llama on {backend_name}." in staff_http.get(url).text

    submit(staff_http, url, {"source": "nope", "destination": "x", "mode": "copy", "backend": backend_name})
    assert f"Could not copy nope on {backend_name}: model &quot;nope&quot; not found" in staff_http.get(url).text


def test_admin_delete_asks_for_confirmation_first(gateway, staff_http, fake_ollama, second_fake):
    Backend.objects.create(name="gpu1", url=fake_ollama.url)
    Backend.objects.create(name="gpu2", url=second_fake.url)
    url = "/admin/backends/backend/delete-model/"

    response = submit(staff_http, url, {"model": "llama3", "backend": "__all__"})
    assert response.status_code == 200
    confirm = response.text.split('class="ow-checks"')[1].split("</table>")[0]
    assert re.search(r'name="targets" value="gpu1" checked', confirm) and "4.7 GB" in confirm
    assert 'value="gpu2"' not in confirm and "gpu2" in confirm  # listed, without the model
    assert "llama3:latest" in fake_ollama.models  # nothing deleted yet

    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.text).group(1)
    response = staff_http.post(
        url,
        data={
            "csrfmiddlewaretoken": token,
            "model": "llama3",
            "backend": "__all__",
            "confirm": "yes",
            "targets": "gpu1",
        },
    )
    assert response.status_code == 302 and response.headers["location"] == "/admin/backends/backend/"
    assert "llama3:latest" not in fake_ollama.models
    assert "Deleted llama3 from gpu1." in staff_http.get("/admin/backends/backend/").text

    response = submit(staff_http, url, {"model": "llama3", "backend": "__all__"})
    assert "None of the selected backends has llama3." in response.text


def test_disabled_backends_are_only_used_by_name(db, settings, fake_ollama):
    settings.OLLAMA_HOST = fake_ollama.url
    run("backends", "--add", "spare", "http://127.0.0.1:9", "--disabled")
    output = run("backends", "--list")
    assert output.splitlines()[1].split()[:3] == ["spare", "http://127.0.0.1:9", "no"]
    assert f"Every backend is disabled: the gateway uses OLLAMA_HOST ({fake_ollama.url})." in output

    run("pull", "qwen3:8b")  # like the gateway: OLLAMA_HOST while no row is enabled
    assert "qwen3:8b" in fake_ollama.models
    with pytest.raises(CommandError, match="unreachable"):
        run("pull", "qwen3:8b", "--backend", "spare")


def test_pull_jobs_are_listed_read_only(admin_browser):
    job = PullJob.objects.create(
        batch="7b0e4f7e-7a55-4b43-9d3f-4d1c9e6c1a11",
        model="llama3",
        backend_name="gpu1",
        backend_url="http://gpu1",
        status="error",
        error="boom",
        percent=12.0,
    )
    html = page(admin_browser, "/admin/backends/pulljob/")
    assert "llama3" in html and 'ow-badge ow-error">error<' in html and "12%" in html
    assert 'href="/admin/backends/backend/pull/"' in html and "/admin/backends/pulljob/add/" not in html
    detail = page(admin_browser, f"/admin/backends/pulljob/{job.pk}/change/")
    assert "boom" in detail and f'href="/admin/backends/backend/pull/{job.batch}/"' in detail
    assert 'name="_save"' not in detail
    assert 'href="/admin/backends/pulljob/"' in page(admin_browser, "/admin/")


# --- The job page in a browser ---------------------------------------------------------------------

CHROMIUM = os.environ.get("OLLAMAWEB_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture
def chromium_page(gateway, monkeypatch):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"!!! no Chromium at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are fine.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        context = browser.new_context(base_url=gateway.url)
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        yield context, page
        browser.close()


def test_job_page_updates_live_in_the_browser(gateway, fake_ollama, chromium_page):
    context, page = chromium_page
    staff = User.objects.create_superuser("boss", email="boss@example.com", password="pw-boss-123")
    context.add_cookies([{"name": "sessionid", "value": session_id(staff), "url": gateway.url}])

    # A pull in progress (run by some server process) is shown, then followed to its end.
    job = PullJob.objects.create(
        batch="5e3c1d7a-0b52-4c8e-9a7f-2d6b8e1f0c44", model="llama3", backend_name="gpu1", backend_url="http://gpu1"
    )
    layer = {"digest": "sha256:" + "ab" * 32, "total": 2_000, "completed": 600}
    PullJob.objects.filter(pk=job.pk).update(
        status="running", message="pulling abababababab", layers=[layer], percent=30.0
    )
    page.goto(f"/admin/backends/backend/pull/{job.batch}/")
    box = page.locator(f'[data-job="{job.pk}"]')
    assert box.locator(".ow-badge").inner_text() == "running"
    assert box.locator(".ow-percent").inner_text() == "30.0%"

    PullJob.objects.filter(pk=job.pk).update(
        status="success",
        message="success",
        layers=[{**layer, "completed": 2_000}],
        percent=100.0,
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )
    page.wait_for_function("document.getElementById('ow-live').textContent.startsWith('Finished')")
    assert box.locator(".ow-badge").inner_text() == "success"
    assert box.locator(".ow-percent").inner_text() == "100.0%"
    assert box.locator(".ow-layers tbody").inner_text().split() == [
        "abababababab",
        "100%",
        "2.0",
        "KB",
        "/",
        "2.0",
        "KB",
    ]
    assert page.locator("#ow-live").inner_text() == "Finished: the model is ready."

    # The form starts a pull on the server and lands on its page.
    page.goto("/admin/backends/backend/pull/")
    page.get_by_label("Model").fill("phi4")
    page.get_by_role("button", name="Pull").click()
    page.wait_for_url("**/admin/backends/backend/pull/*-*/")
    page.wait_for_function("document.getElementById('ow-live').textContent.startsWith('Finished')")
    assert page.locator(".ow-job .ow-badge").inner_text() == "success"
    assert "phi4:latest" in fake_ollama.models
    assert page.errors == []
