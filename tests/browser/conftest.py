"""Playwright driving Debian's Chromium (`apt-get install -y chromium`) against the real gateway.

Playwright's own browser download cannot work here (no internet), so the system Chromium is
launched by path. Without it the browser tests are skipped with a loud reason.
"""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("OLLAMAWEB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
DOCS = ROOT / "docs" / "screenshots"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module")
def chromium():
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(
            f"!!! BROWSER TESTS SKIPPED: no Chromium at {CHROMIUM}. Install it with "
            "`apt-get update && apt-get install -y chromium` (and `pip install -r requirements-dev.txt`)."
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(
            "!!! BROWSER TESTS SKIPPED: the playwright package is missing (pip install -r requirements-dev.txt)"
        )
    # Playwright's sync API keeps an event loop in this thread while it runs, which Django takes for
    # async code; let the tests' (and fixtures') own ORM calls run while this module's browser lives.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def new_page(chromium, gateway):
    """Open a page in a fresh browser context (own cookies and sessionStorage) on the gateway."""
    contexts = []

    def open_page(width=1280, height=900):
        context = chromium.new_context(
            base_url=gateway.url, viewport={"width": width, "height": height}, color_scheme="light"
        )
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=gateway.url)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.on("console", lambda msg: msg.type == "error" and page.errors.append(msg.text))
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot():
    """screenshot(page, name, docs=False): into test-artifacts/screenshots/ (gitignored).

    The main ones (docs=True) are also copied to docs/screenshots/ for the README when missing
    there, or always with OLLAMAWEB_UPDATE_SCREENSHOTS=1 (so a test run does not rewrite
    committed images with new ports and times).
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    update = os.environ.get("OLLAMAWEB_UPDATE_SCREENSHOTS") == "1"

    def take(page, name, docs=False):
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if docs and (update or not (DOCS / f"{name}.png").exists()):
            DOCS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOCS / f"{name}.png")
        return path

    return take


def sign_in(page, username, password):
    page.goto("/accounts/login/")
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
