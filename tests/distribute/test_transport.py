"""Adapters talk through the outbound address policy on every connection of every exchange: a platform URL,
a token endpoint or an upload session that is (or resolves to) an address the policy refuses is never
connected to. Refusals are decided on the address before any connection is made, so these tests send
nothing anywhere but to the one loopback server they start (which counts what reaches it)."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hutong.api.background import Background, free_port
from hutong.distribute import AddressRefusedError, policy_client
from hutong.distribute.adapters import DouyinAdapter, HutongAdapter, Outcome, YouTubeAdapter
from hutong.distribute.adapters.base import Connection
from hutong.platform.outbound import Outbound, Policy
from tests.distribute.conftest import LOOPBACK

FORBIDDEN = [
    "http://10.1.2.3:8080",  # private
    "http://169.254.169.254",  # link-local: cloud metadata
    "http://100.64.0.1",  # shared address space (carrier-grade NAT)
    "http://[::ffff:192.168.0.1]:8000",  # IPv4-mapped private
    "http://[fd00::1]",  # unique local
    "http://0.0.0.0:9",  # unspecified
]


@pytest.fixture(scope="module")
def site():
    """A loopback server that hands out an upload session on a private address, and counts requests."""
    seen: list[str] = []

    async def start(request: Request) -> Response:
        seen.append(request.url.path)
        return Response(status_code=200, headers={"Location": "http://10.255.255.1:9/upload?upload_id=x"})

    async def anything(request: Request) -> Response:
        seen.append(request.url.path)
        return JSONResponse({"error": "not here"}, status_code=404)

    app = Starlette(routes=[Route("/upload/youtube/v3/videos", start, methods=["POST"]),
                            Route("/{path:path}", anything, methods=["GET", "POST", "PUT"])])  # fmt: skip
    port = free_port()
    with Background(app, port):
        yield {"url": f"http://127.0.0.1:{port}", "localhost": f"http://localhost:{port}", "seen": seen}


def client(allow: list[str]):
    return policy_client(Outbound(Policy(allow)), timeout=5)


def conn(url: str) -> Connection:
    return Connection(url, "client", "secret", "http://127.0.0.1:9/cb", access_token="token")


@pytest.mark.parametrize("url", FORBIDDEN)
@pytest.mark.parametrize("adapter", [HutongAdapter, DouyinAdapter, YouTubeAdapter])
def test_every_adapter_refuses_a_forbidden_address_before_connecting(adapter, url, tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\0" * 1000)
    with client(LOOPBACK) as http:  # loopback allowed, these addresses still not
        a = adapter(http)
        with pytest.raises(AddressRefusedError) as refused:
            if adapter is HutongAdapter:
                a.discover(url)
            else:
                a.upload(conn(url), clip)
    assert refused.value.outcome is Outcome.FAILED  # retrying would not change the policy
    assert "not called" in str(refused.value) and "outbound address policy" in str(refused.value)


def test_loopback_only_where_the_settings_allow_it(site):
    before = len(site["seen"])
    with client([]) as http:  # the default policy: public addresses only
        for url in (site["url"], site["localhost"]):  # a literal, and a name that resolves to loopback
            with pytest.raises(AddressRefusedError, match="loopback"):
                HutongAdapter(http).discover(url)
    assert len(site["seen"]) == before  # nothing reached the server
    with client(LOOPBACK) as http:
        with pytest.raises(Exception) as reached:  # allowed: it is asked, and answers 404 (no manifest)
            HutongAdapter(http).discover(site["url"])
        assert not isinstance(reached.value, AddressRefusedError)
    assert site["seen"][before] == "/.well-known/hutong-interconnect"


def test_an_address_the_platform_names_later_is_checked_too(site, tmp_path):
    """Not only the account's URL: a YouTube upload session handed out by the platform (its Location) that
    points at a private address is refused before a byte of the clip is sent there."""
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\1" * 4096)
    before = len(site["seen"])
    with client(LOOPBACK) as http, pytest.raises(AddressRefusedError, match=r"10\.255\.255\.1"):
        YouTubeAdapter(http).upload(conn(site["url"]), clip)
    assert site["seen"][before:] == ["/upload/youtube/v3/videos"]  # the session was asked for; nothing else
