"""The HTTP layer itself, on a real server: security headers, /docs from this origin only, the error shape of
the framework's own refusals, bounded integers in paths."""

import re
import shutil
from urllib.parse import urlsplit

import httpx
import pytest

from tests.api.conftest import api_user, bearer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.parametrize("path", ["/login", "/register", "/oauth/authorize?client_id=x", "/api/me", "/docs"])
def test_no_page_can_be_framed(server, path):
    """Regression: the login and consent pages could be framed (clickjacking)."""
    r = httpx.get(server.url + path)
    assert r.headers["x-frame-options"] == "DENY"
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_docs_load_from_this_origin_only(server):
    """Regression: /docs loaded Swagger UI from a CDN, blank without internet."""
    html = httpx.get(server.url + "/docs").text
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/") and not a.startswith("//") for a in assets), assets
    for asset in assets:
        r = httpx.get(server.url + asset)
        assert r.status_code == 200 and len(r.content) > 100, asset
    assert "<script>" not in html  # no inline script: the CSP allows none


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (./run test installs it as root)"
)
def test_docs_render_in_a_browser_without_other_origins(server):
    from playwright.sync_api import sync_playwright

    origins: set[str] = set()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("request", lambda req: origins.add(urlsplit(req.url).netloc))
            blocked: list[str] = []
            page.on(
                "console",
                lambda msg: blocked.append(msg.text) if "Content Security Policy" in msg.text else None,
            )
            page.goto(server.url + "/docs")
            page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
            title = page.inner_text(".swagger-ui .info .title")
            operations = page.locator(".opblock").count()
        finally:
            browser.close()
    assert "open platform" in title
    assert operations > 20  # every documented route is listed
    assert origins == {urlsplit(server.url).netloc}, origins
    assert blocked == [], blocked


def test_framework_refusals_have_the_documented_shape(server):
    token = api_user(server.url, "shape")
    r = httpx.post(
        server.url + "/api/accounts", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code in (400, 422) and set(r.json()) == {"error", "detail"}
    r = httpx.get(server.url + "/no/such/path")
    assert r.status_code == 404 and set(r.json()) == {"error", "detail"}
    r = httpx.request("PUT", server.url + "/api/apps", headers=bearer(token))
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    assert set(r.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}  # both routes of the path


@pytest.mark.parametrize(
    "method,path",
    [
        ("POST", "/api/developers/me/decisions/99999999999999999999/appeal"),
        ("POST", "/api/developers/me/decisions/0/appeal"),
        ("GET", "/login/federated/99999999999999999999"),
    ],
)
def test_integers_beyond_the_database_range_are_bad_input(server, method, path):
    """Regression: integers above 2^63-1 in paths reached the database and gave 500."""
    token = api_user(server.url, "bigint")
    r = httpx.request(method, server.url + path, headers=bearer(token), json={"text": "x" * 20})
    assert r.status_code == 422, r.text
    assert "Traceback" not in server.log.read_text()


def test_a_dependency_that_is_down_answers_503_with_retry_after(tmp_path):
    """Milvus or Redis unreachable: a retryable 503 in the documented error shape, never a 400 or 500."""
    from fastapi.testclient import TestClient

    from hutong.api.app import create_app
    from hutong.app import Hutong
    from hutong.config import Settings
    from hutong.errors import Unavailable

    (tmp_path / "home").mkdir()
    h = Hutong.create(Settings(home=tmp_path / "home", distribution_in_serve=False))
    app = create_app(h)

    why = "cannot reach Milvus at http://127.0.0.1:1: start it or unset HUTONG_MILVUS_URI"

    def down():
        raise Unavailable(why)

    app.add_api_route("/test/down", down)
    try:
        with TestClient(app) as client:
            r = client.get("/test/down")
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        assert r.json() == {"error": "unavailable", "detail": why}
    finally:
        h.close()
