"""The default target for unknown claude-* names: its service, alias resolution and admin page."""

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.test import Client

from ollamaweb.catalog import services
from ollamaweb.catalog.aliases import alias_table
from ollamaweb.catalog.models import CatalogSettings, ModelAlias


def resolve(name: str) -> str:
    return async_to_sync(alias_table.resolve)(name)


@pytest.fixture
def fresh_aliases(transactional_db):
    alias_table.invalidate()
    yield
    alias_table.invalidate()


def test_without_a_default_claude_names_are_themselves(fresh_aliases):
    assert CatalogSettings.current().claude_default_target == ""
    assert resolve("claude-sonnet-4-6") == "claude-sonnet-4-6"


def test_default_serves_unknown_claude_names_only(fresh_aliases):
    services.set_claude_default_target(" qwen3-coder:30b ")
    ModelAlias.objects.create(name="claude-haiku-4-5", target="qwen3:4b")
    assert CatalogSettings.objects.get().claude_default_target == "qwen3-coder:30b"
    assert resolve("claude-sonnet-4-6") == "qwen3-coder:30b"
    assert resolve("claude-opus-4-7-20260101") == "qwen3-coder:30b"
    assert resolve("Claude-Sonnet-4-6") == "qwen3-coder:30b"
    assert resolve("claude-haiku-4-5") == "qwen3:4b"  # an alias wins
    assert resolve("llama3") == "llama3"
    assert resolve("claudette") == "claudette"


def test_changing_and_clearing_the_default_takes_effect_at_once(fresh_aliases):
    services.set_claude_default_target("a")
    assert resolve("claude-x") == "a"
    services.set_claude_default_target("b")
    assert resolve("claude-x") == "b"
    services.set_claude_default_target("")
    assert resolve("claude-x") == "claude-x"
    assert CatalogSettings.objects.count() == 1


def test_admin_edits_the_single_row(fresh_aliases):
    staff = get_user_model().objects.create_superuser("boss", email="boss@example.com")
    browser = Client()
    browser.force_login(staff)
    assert browser.get("/admin/catalog/catalogsettings/").status_code == 200
    response = browser.post(
        "/admin/catalog/catalogsettings/add/", {"claude_default_target": "qwen3-coder:30b", "pending": "on"}
    )
    assert response.status_code == 302
    assert resolve("claude-sonnet-4-6") == "qwen3-coder:30b"
    # Only one row: no second add, no delete.
    assert browser.get("/admin/catalog/catalogsettings/add/").status_code == 403
    assert browser.get("/admin/catalog/catalogsettings/1/delete/").status_code == 403
    page = browser.get("/admin/catalog/catalogsettings/1/change/").content.decode()
    assert "qwen3-coder:30b" in page and "Claude Code" in page
    response = browser.post(
        "/admin/catalog/catalogsettings/1/change/", {"claude_default_target": "llama3", "pending": "on"}
    )
    assert response.status_code == 302
    assert CatalogSettings.objects.get().claude_default_target == "llama3"
    assert resolve("claude-opus-4-7") == "llama3"


def test_alias_command_sets_lists_and_clears_the_default(fresh_aliases):
    from io import StringIO

    from django.core.management import call_command

    def run(*args) -> str:
        out = StringIO()
        call_command("alias", *args, stdout=out)
        return out.getvalue()

    assert run("--claude-default", "qwen3-coder:30b", "--pending").strip() == "claude-* → qwen3-coder:30b"
    run("gpt-4o", "llama3", "--pending")
    assert run("--list").splitlines() == [
        "gpt-4o\tllama3",
        "claude-*\tqwen3-coder:30b\t(default for claude-* names without an alias)",
    ]
    assert resolve("claude-sonnet-4-6") == "qwen3-coder:30b"
    assert run("--claude-default", "").strip() == "No default for claude-* names."
    assert run("--list").splitlines() == ["gpt-4o\tllama3"]


def test_the_default_must_be_a_backend_model(fresh_aliases):
    from django.core.exceptions import ValidationError

    ModelAlias.objects.create(name="coder", target="qwen3-coder:30b")
    with pytest.raises(ValidationError, match="is an alias"):
        services.set_claude_default_target("coder")
    with pytest.raises(ValidationError, match="not another claude"):
        services.set_claude_default_target("claude-sonnet-4-6")
    with pytest.raises(ValidationError, match="No backend has a model named qwen3:4b"):
        services.set_claude_default_target("qwen3:4b", known_models=["llama3:latest"])
    assert services.set_claude_default_target("qwen3:4b", known_models=["llama3"], allow_pending=True)
    assert services.set_claude_default_target("llama3", known_models=["llama3:latest"])
    assert resolve("claude-x") == "llama3"
