"""The console on a real ``hutong serve``: people with each role (made with the platform's own services
before the server starts), a signed-in HTTP client that behaves like a browser, and real Chromium with
axe-core (vendored from npm: tests/web/vendor/axe-core) for accessibility checks and screenshots."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from hutong.app import Hutong
from hutong.config import Settings
from tests.api.conftest import Server, start_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
PASSWORD = "console password 1"
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (./run test installs it as root)"
)


def local_hutong(home: Path) -> Hutong:
    """The installation a server in ``home`` will run, for setting up people and data before it starts."""
    home.mkdir(parents=True, exist_ok=True)
    return Hutong.create(Settings(home=home))


def add_person(h: Hutong, username: str, *, holder: str = "", creator: str = "", staff: bool = False) -> None:
    h.platform.accounts.register(username, PASSWORD, display_name=username.title())
    if holder:
        h.platform.roles.grant(username, "holder", holder)
    if creator:
        if not any(c.handle == creator for c in h.creators.list()):
            h.creators.add(creator, name=creator.title())
        h.platform.roles.grant(username, "creator", creator)
    if staff:
        h.platform.roles.set_staff(username, True)


def start_console(home: Path, env: dict | None = None) -> Server:
    return start_server(home, env=env)


_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


_OPEN: list[Person] = []


@pytest.fixture(autouse=True)
def _close_people():
    yield
    while _OPEN:
        _OPEN.pop().close()


class Person:
    """A signed-in person's browser session, over HTTP (cookies kept, CSRF token taken from the page)."""

    def __init__(self, url: str, username: str | None = None, password: str = PASSWORD, **headers) -> None:
        _OPEN.append(self)
        self.url = url
        self.http = httpx.Client(base_url=url, follow_redirects=False, headers=headers, timeout=30)
        self.csrf = ""
        if username:
            self.sign_in(username, password)

    def page(self, path: str, **kw) -> httpx.Response:
        r = self.http.get(path, **kw)
        m = _META.search(r.text)
        if m:
            self.csrf = m.group(1)
        return r

    def sign_in(self, username: str, password: str = PASSWORD) -> httpx.Response:
        self.page("/console")
        r = self.post("/console/login", {"username": username, "password": password})
        if r.status_code == 303:
            self.page("/console")  # a new session has a new CSRF token
        return r

    def post(self, path: str, data: dict | None = None, **kw) -> httpx.Response:
        return self.http.post(path, data={"csrf": self.csrf, **(data or {})}, **kw)

    def close(self) -> None:
        self.http.close()


def text_of(html: str) -> str:
    """What a person reads: tags dropped, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module."""
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (./run test installs it as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@contextmanager
def console_tab(
    browser, server_url: str, *, locale: str = "en-GB", timezone: str = "Asia/Shanghai"
) -> Iterator:
    """A fresh browser context (its own cookies) with one page; fails the test if the page loads anything
    from another origin or logs a Content-Security-Policy violation."""
    ctx = browser.new_context(locale=locale, timezone_id=timezone, viewport={"width": 1280, "height": 860})
    page = ctx.new_page()
    foreign: list[str] = []
    violations: list[str] = []
    page.on(
        "request", lambda r: foreign.append(r.url) if not r.url.startswith((server_url, "data:")) else None
    )
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    try:
        yield page
        assert not foreign, f"requests to other origins: {foreign}"
        assert not violations, f"CSP violations: {violations}"
    finally:
        ctx.close()


def sign_in(page, server_url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(server_url + "/console")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("main button[type=submit]")
    page.wait_for_load_state()


def axe_violations(page) -> list[dict]:
    """axe-core's serious and critical violations on the page as shown (WCAG 2.1 A and AA rules)."""
    page.evaluate(AXE.read_text(encoding="utf-8"))  # through DevTools: the page's CSP still holds for itself
    result = page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def screenshot(page, name: str) -> Path:
    """Every run takes the picture; with ``HUTONG_UPDATE_SCREENSHOTS=1`` it replaces docs/console/<name>.png
    (the pictures docs/console.md shows), otherwise it goes to a temporary folder so a test run leaves the
    checkout clean."""
    folder = SCREENSHOTS if os.environ.get("HUTONG_UPDATE_SCREENSHOTS") == "1" else _scratch()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000  # a real picture of a page, not an empty one
    return path


def _scratch() -> Path:
    import tempfile

    return Path(tempfile.gettempdir()) / "hutong-console-screenshots"


def clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("HUTONG_")}
