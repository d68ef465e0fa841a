"""Link cards from real pages served on loopback (loopback allowed for this server only)."""

import asyncio
import json
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.api.conftest import api_user, bearer, free_port, start_server
from tests.api.relying_party import Background

OG = """<html><head><title>Fallback title</title>
<meta property="og:title" content="《哪吒》二创合集">
<meta property="og:description" content="Licensed clips, with certificates.">
<meta property="og:image" content="/cover.jpg"><meta property="og:site_name" content="Platform A">
</head><body>hi</body></html>"""


async def slow(request):
    await asyncio.sleep(5)
    return HTMLResponse("<title>late</title>")


DRIBBLING = {"now": 0}


async def dribble(request):
    """A byte every 0.1 s for a minute: each read is quick, the page never ends in time."""

    async def body():
        DRIBBLING["now"] += 1
        try:
            yield b"<html><head><title>"
            for _ in range(600):
                await asyncio.sleep(0.1)
                yield b"x"
        finally:
            DRIBBLING["now"] -= 1

    return StreamingResponse(body(), media_type="text/html")


def gzip_bomb(size: int) -> bytes:
    pack, zero = zlib.compressobj(9, zlib.DEFLATED, 31), bytes(1 << 20)
    return b"".join(pack.compress(zero) for _ in range(size >> 20)) + pack.flush()


BOMB = gzip_bomb(96 << 20)  # 96 MB of zeros in ~94 kB, under the 100 kB cap on what comes over the wire


async def bomb(request):
    async def body():  # chunked: no Content-Length to refuse it by
        yield BOMB

    return StreamingResponse(body(), media_type="text/html", headers={"Content-Encoding": "gzip"})


def charset_page(declared: str, meta: str = ""):
    page = f"<html><head>{meta}<title>Charset {declared or meta}</title></head></html>".encode()
    ctype = "text/html" + (f"; charset={declared}" if declared else "")
    return lambda r: Response(page, headers={"content-type": ctype})


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
        Route("/dribble", dribble),
        Route("/bomb", bomb),
        Route("/small-gzip", lambda r: Response(zlib.compress(OG.encode(), wbits=31),
                                                headers={"content-type": "text/html", "content-encoding": "gzip"})),
        Route("/base64", charset_page("base64")), Route("/rot13", charset_page("rot13")),
        Route("/idna", charset_page("idna")), Route("/meta-base64", charset_page("", "<meta charset=base64>")),
        Route("/gbk", lambda r: Response("<title>哪吒</title>".encode("gbk"), headers={"content-type": "text/html; charset=GBK"})),
    ])  # fmt: skip


@pytest.fixture(scope="module")
def linky(tmp_path_factory):
    port = free_port()
    env = {"HUTONG_OUTBOUND_ALLOW_NETWORKS": json.dumps(["127.0.0.0/8", "::1/128"]),
           "HUTONG_LINK_BLOCKLIST": json.dumps(["evil.example.test"]), "HUTONG_LINK_MAX_BYTES": "100000",
           "HUTONG_LINK_TIMEOUT": "2", "HUTONG_LINK_MAX_FETCHES": "3", "HUTONG_LINK_MAX_FETCHES_PER_ACCOUNT": "2"}  # fmt: skip
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
     ("/missing", 422, "HTTP 404"), ("/slow", 504, "did not answer within 2 s")],
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


def wait_for_dribbles(n: int) -> None:
    deadline = time.monotonic() + 10
    while DRIBBLING["now"] < n:
        assert time.monotonic() < deadline, f"{DRIBBLING['now']} of {n} fetches reached the site"
        time.sleep(0.02)


def test_a_dribbling_site_is_cut_off_at_one_deadline_and_fetches_at_once_are_bounded(linky):
    """Regression: the timeout was per read, so a byte every 0.1 s held a card (and a server thread) for
    minutes, and nothing bounded how many such cards one account could hold open."""
    server, site_url = linky
    one, two = api_user(server.url, "dribbler1"), api_user(server.url, "dribbler2")
    started = time.monotonic()
    r = card(server, one, site_url + "/dribble")
    assert r.status_code == 504 and "within 2 s" in r.json()["detail"], r.text
    assert time.monotonic() - started < 6  # the 2 s deadline, with room for a slow machine
    with ThreadPoolExecutor(4) as pool:
        held = [pool.submit(card, server, one, site_url + "/dribble") for _ in range(2)]
        wait_for_dribbles(2)
        refused = card(
            server, one, site_url + "/dribble"
        )  # a third for the same account: refused, not queued
        assert (
            refused.status_code == 429 and "already have 2 link cards in progress" in refused.json()["detail"]
        )
        held.append(pool.submit(card, server, two, site_url + "/dribble"))
        wait_for_dribbles(3)
        busy = card(server, two, site_url + "/page")  # 3 in all: the server refuses a fourth
        assert busy.status_code == 429 and "busy with 3 link cards" in busy.json()["detail"], busy.text
        # the server's other work goes on meanwhile
        assert httpx.get(server.url + "/.well-known/openid-configuration", timeout=3).status_code == 200
        assert [f.result().status_code for f in held] == [504, 504, 504]
    assert card(server, two, site_url + "/page").json()["status"] == "card"  # slots are given back


def peak_memory(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) * 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak memory from /proc")
def test_a_gzip_bomb_is_capped_as_it_inflates(linky):
    """Regression: the size cap was checked after each chunk was inflated, so 94 kB on the wire grew to
    tens of MB in the server before it was refused."""
    server, site_url = linky
    token = api_user(server.url, "bomber")
    assert card(server, token, site_url + "/small-gzip").json()["title"] == "《哪吒》二创合集"  # gzip is read
    before = peak_memory(server.proc.pid)
    r = card(server, token, site_url + "/bomb")
    assert r.status_code == 422 and "over the 100000 bytes a card reads" in r.json()["detail"], r.text
    assert peak_memory(server.proc.pid) - before < 24 << 20


@pytest.mark.parametrize("path", ["/base64", "/rot13", "/idna", "/meta-base64"])
def test_pages_in_no_text_encoding_are_read_as_utf8(linky, path):
    server, site_url = linky
    r = card(server, api_user(server.url, "charsets"), site_url + path)
    assert r.status_code == 200 and r.json()["title"].startswith("Charset"), r.text


def test_a_declared_real_charset_is_used(linky):
    server, site_url = linky
    assert card(server, api_user(server.url, "charsets"), site_url + "/gbk").json()["title"] == "哪吒"


@pytest.mark.parametrize(
    ("url", "needle"),
    [("http://a:99999/", "Port out of range"), ("http://[::1", "Invalid IPv6 URL"), ("http://a..b/", "labels of 1-63"),
     ("http://" + "a" * 300 + ".test/", "labels of 1-63"), ("http://例" + "子" * 300 + ".test/", "too long"),
     ("ftp://example.org/", "http(s)"), ("http://:80/", "not a valid URL")],
)  # fmt: skip
def test_malformed_urls_get_422_that_says_why(linky, url, needle):
    server, _ = linky
    r = card(server, api_user(server.url, "typist"), url)
    assert r.status_code == 422 and needle in r.json()["detail"], r.text


def test_the_blocklist_sees_the_host_after_normalisation(linky):
    """Regression: a fullwidth ｅvil.example.test (or a trailing dot, or upper case) passed the blocklist."""
    server, _ = linky
    token = api_user(server.url, "fullwidth")
    for url in [
        "https://ｅvil.example.test/x",
        "https://CDN.Evil.Example.Test./x",
        "https://evil。example.test/",
    ]:
        c = card(server, token, url).json()
        assert c["status"] == "restricted" and "safety blocklist (evil.example.test)" in c["reason"], (url, c)
