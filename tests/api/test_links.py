"""Link cards from real pages served on loopback (private addresses allowed for this server only)."""

import asyncio
import json

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.api.conftest import api_user, bearer, free_port, start_server
from tests.api.relying_party import Background

OG = """<html><head><title>Fallback title</title>
<meta property="og:title" content="《哪吒》二创合集">
<meta property="og:description" content="Licensed clips, with certificates.">
<meta property="og:image" content="/cover.jpg"><meta property="og:site_name" content="Platform A">
</head><body>hi</body></html>"""


async def slow(request):
    await asyncio.sleep(3)
    return HTMLResponse("<title>late</title>")


def site() -> Starlette:
    return Starlette(routes=[
        Route("/page", lambda r: HTMLResponse(OG)),
        Route("/plain", lambda r: HTMLResponse("<html><head><title> Just a title </title></head></html>")),
        Route("/hop", lambda r: RedirectResponse("/page", status_code=302)),
        Route("/loop", lambda r: RedirectResponse("/loop", status_code=302)),
        Route("/to-bad", lambda r: RedirectResponse("http://evil.example.test/x", status_code=302)),
        Route("/image", lambda r: Response(b"\x89PNG" + b"0" * 100, media_type="image/png")),
        Route("/huge", lambda r: HTMLResponse("<html>" + "x" * 300_000 + "</html>")),
        Route("/missing", lambda r: HTMLResponse("gone", status_code=404)),
        Route("/slow", slow),
    ])  # fmt: skip


@pytest.fixture(scope="module")
def linky(tmp_path_factory):
    port = free_port()
    env = {"HUTONG_LINK_ALLOW_PRIVATE": "true", "HUTONG_LINK_BLOCKLIST": json.dumps(["evil.example.test"]),
           "HUTONG_LINK_MAX_BYTES": "100000", "HUTONG_LINK_TIMEOUT": "1"}  # fmt: skip
    server = start_server(tmp_path_factory.mktemp("links") / "home", env=env)
    with Background(site(), port):
        yield server, f"http://127.0.0.1:{port}"
    server.stop()


def card(server, token, url) -> httpx.Response:
    return httpx.post(server.url + "/links/card", headers=bearer(token), json={"url": url}, timeout=10)


def test_cards_from_opengraph_and_title(linky):
    server, site_url = linky
    token = api_user(server.url, "poster")
    c = card(server, token, site_url + "/page").json()
    assert c["status"] == "card" and c["title"] == "《哪吒》二创合集" and c["site_name"] == "Platform A"
    assert c["image"] == site_url + "/cover.jpg" and c["description"].startswith("Licensed")
    assert card(server, token, site_url + "/plain").json()["title"] == "Just a title"
    hop = card(server, token, site_url + "/hop").json()
    assert hop["title"] == "《哪吒》二创合集" and hop["redirects"] == [site_url + "/hop"]


@pytest.mark.parametrize(
    ("path", "status", "needle"),
    [("/loop", 422, "redirects more than 3"), ("/image", 422, "not an HTML page"), ("/huge", 422, "a card reads"),
     ("/missing", 422, "HTTP 404"), ("/slow", 504, "did not answer within 1 s")],
)  # fmt: skip
def test_bad_pages_get_a_clear_error(linky, path, status, needle):
    server, site_url = linky
    token = api_user(server.url, "poster")
    r = card(server, token, site_url + path)
    assert r.status_code == status and needle in r.json()["detail"], r.text


def test_only_the_safety_blocklist_restricts_and_says_why(linky):
    server, site_url = linky
    token = api_user(server.url, "poster2")
    blocked = card(server, token, "https://cdn.evil.example.test/x").json()
    assert blocked["status"] == "restricted" and "safety blocklist" in blocked["reason"]
    via = card(server, token, site_url + "/to-bad").json()
    assert via["status"] == "restricted" and "redirects to evil.example.test" in via["reason"]
    # another platform's domain is just a link: no rule names platforms
    seen = httpx.get(server.url + "/api/links/restrictions", headers=bearer(token)).json()["restrictions"]
    assert [r["rule"] for r in seen] == ["blocklist", "blocklist"]
    assert httpx.post(server.url + "/links/card", json={"url": site_url + "/page"}).status_code == 401
