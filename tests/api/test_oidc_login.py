"""Acceptance: a real OIDC client logs a user in against a running ``hutong serve``, in a real browser."""

import json
import shutil

import pytest

from tests.api.conftest import api_user, free_port, new_app
from tests.api.relying_party import Background, relying_party

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (./run test installs it as root)"
)
def test_log_in_with_the_platform_in_a_browser(server):
    from playwright.sync_api import sync_playwright

    port = free_port()
    rp_url = f"http://127.0.0.1:{port}"
    app = new_app(server.url, redirect_uris=(f"{rp_url}/cb",), scopes=("openid", "profile"))
    api_user(server.url, "liuyang", "liuyang's password")
    with (
        Background(relying_party(server.url, app["client_id"], app["client_secret"], rp_url), port),
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(f"{rp_url}/login")
            assert page.url.startswith(f"{server.url}/login")  # the platform's own login page
            page.fill("input[name=username]", "liuyang")
            page.fill("input[name=password]", "liuyang's password")
            page.click("button[type=submit]")
            page.wait_for_url(f"{server.url}/oauth/authorize*")
            assert "Test app" in page.inner_text("h1") and "See your display name" in page.inner_text(
                "ul.scopes"
            )
            page.click("#allow")
            page.wait_for_url(f"{rp_url}/cb*")
            assert page.inner_text("#who") == "Hello liuyang" and page.inner_text("#iss") == server.url
            page.goto(f"{rp_url}/refresh")
            refreshed = json.loads(page.inner_text("body"))
            assert refreshed["rotated"] is True and refreshed["sub"]
            # the user sees the app under Connected apps and disconnects it
            page.goto(f"{server.url}/account/grants")
            assert "Test app" in page.inner_text("table")
            page.click("text=Disconnect")
            assert "No app can use your account" in page.inner_text("main")
        finally:
            browser.close()
