"""The developer portal on a real server: joining, apps with redirect URIs and the review of each scope,
secret rotation (shown once; the old secret stops working at the token endpoint), the webhook delivery log
with test events and redelivery to a real receiver on loopback, the interconnection manifest; each page
refused to the other roles, another developer's apps 404, every form refusing a missing or forged CSRF
token, bad input answered readably; and the developer's flow in Chromium."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hutong.api.background import Background, free_port
from hutong.app import Hutong
from hutong.config import Settings
from hutong.platform.webhooks import verify_webhook
from tests.web.conftest import (
    Person,
    add_person,
    axe_violations,
    console_tab,
    screenshot,
    sign_in,
    start_console,
    text_of,
)


class Receiver:
    """An app's webhook endpoint: keeps what it is sent."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict, bytes]] = []

        async def hook(request: Request):
            self.calls.append((dict(request.headers), await request.body()))
            return JSONResponse({"ok": True})

        self.app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])

    def wait_for(self, n: int, seconds: float = 20) -> None:
        deadline = time.monotonic() + seconds
        while len(self.calls) < n and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(self.calls) >= n, f"{len(self.calls)} deliveries arrived, {n} expected"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    receiver, port = Receiver(), free_port()
    hook = f"http://127.0.0.1:{port}/hook"
    home = tmp_path_factory.mktemp("developer") / "home"
    allow = {"HUTONG_OUTBOUND_ALLOW_NETWORKS": json.dumps(["127.0.0.0/8"])}
    home.mkdir(parents=True)
    h = Hutong.create(Settings(home=home, outbound_allow_networks=["127.0.0.0/8"]))
    apps = {}
    for name in ("alice", "bob"):
        add_person(h, name)
        acc = h.platform.roles.of_username(name).account_id
        h.platform.developers.register_individual(acc, name.title() + " Labs")
        view, secret = h.platform.apps.register(
            h.platform.developers.verified_developer_id(acc), name=f"{name.title()}'s app", client_type="confidential",
            redirect_uris=[f"https://{name}.example/cb"], scopes=["openid", "video.data"], webhook_url=hook,
        )  # fmt: skip
        apps[name] = (view["client_id"], secret, view["webhook_secret"])
    add_person(h, "qingshan", holder="Studio Qingshan")
    add_person(h, "reviewer", staff=True)
    add_person(h, "newbie")
    add_person(h, "walker")
    h.close()
    with Background(receiver.app, port):
        srv = start_console(home, env=allow)
        yield srv, apps, receiver, hook
        srv.stop()


@pytest.fixture(scope="module")
def server(setup):
    return setup[0]


def _pages(cid: str) -> list[str]:
    return ["/console/developer", "/console/developer/apps", "/console/developer/apps/new", f"/console/developer/apps/{cid}",
            f"/console/developer/apps/{cid}/webhooks", "/console/developer/manifest"]  # fmt: skip


def _forms(cid: str) -> list[str]:
    return ["/console/developer/apps", f"/console/developer/apps/{cid}/redirects", f"/console/developer/apps/{cid}/secret",
            f"/console/developer/apps/{cid}/webhooks/test", f"/console/developer/apps/{cid}/webhooks/1/redeliver"]  # fmt: skip


@pytest.mark.parametrize("username", ["qingshan", "reviewer", "newbie"])
def test_every_developer_page_and_form_is_refused_to_other_roles(setup, username):
    server, apps, _, _ = setup
    cid = apps["alice"][0]
    p = Person(server.url, username)
    for path in _pages(cid):
        r = p.page(path)
        assert r.status_code == 403 and "for registered developers" in text_of(r.text), path
    for path in _forms(cid):
        r = p.post(path, {"name": "x", "redirect_uris": "https://x.example/cb", "scopes": "openid"})
        assert r.status_code == 403 and "for registered developers" in text_of(r.text), path


def test_anonymous_visitors_are_sent_to_sign_in(setup):
    server, apps, _, _ = setup
    p = Person(server.url)
    for path in [*_pages(apps["alice"][0]), "/console/developer/join"]:
        r = p.page(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/console?next="), path
    for path in [*_forms(apps["alice"][0]), "/console/developer/join"]:
        assert p.http.post(path, data={"display_name": "x"}).status_code in (303, 403), path


def test_another_developers_app_is_not_found(setup):
    server, apps, _, _ = setup
    cid = apps["alice"][0]
    bob = Person(server.url, "bob")
    assert "Alice" not in bob.page("/console/developer/apps").text
    for path in (f"/console/developer/apps/{cid}", f"/console/developer/apps/{cid}/webhooks"):
        r = bob.page(path)
        assert r.status_code == 404 and "of yours" in r.text and "alice.example" not in r.text, path
    for path in _forms(cid)[1:]:
        r = bob.post(path, {"redirect_uris": "https://bob.example/stolen"})
        assert r.status_code == 404, path
    assert (
        "https://alice.example/cb" in Person(server.url, "alice").page(f"/console/developer/apps/{cid}").text
    )


def test_forms_refuse_a_missing_or_forged_csrf_token(setup):
    server, apps, _, _ = setup
    cid = apps["alice"][0]
    alice = Person(server.url, "alice")
    alice.page("/console/developer/apps")
    for token in ("", "forged"):
        for path in _forms(cid):
            data = {"name": "x", "redirect_uris": "https://x.example/cb", "scopes": "openid", "csrf": token}
            r = alice.http.post(path, data=data)
            assert r.status_code == 403 and "CSRF" in r.text, path
    walker = Person(server.url, "walker")
    walker.page("/console/developer/join")
    assert (
        walker.http.post("/console/developer/join", data={"display_name": "W", "csrf": "forged"}).status_code
        == 403
    )
    assert walker.page("/console/developer/join").status_code == 200  # still not a developer
    assert (
        alice.page("/console/developer/apps").text.count('href="/console/developer/apps/app_') == 1
    )  # none made


@pytest.mark.parametrize(
    ("form", "needle"),
    [
        ({"redirect_uris": "http://alice.example/cb", "scopes": "openid"}, "must be https, or http on a loopback"),
        ({"redirect_uris": "https://alice.example/*", "scopes": "openid"}, "wildcards are not allowed"),
        ({"redirect_uris": "https://alice.example/cb", "scopes": ["openid", "everything.admin"]}, "unknown scope(s) everything.admin"),
        ({"redirect_uris": "https://alice.example/cb"}, "ask for at least one"),
        ({"redirect_uris": "https://alice.example/cb", "scopes": "openid", "name": "  "}, "name: 1-200"),
        ({"redirect_uris": "https://alice.example/cb", "scopes": "openid", "webhook_url": "http://10.0.0.9/h"}, "only public addresses"),
        ({"redirect_uris": "https://alice.example/cb", "scopes": "openid", "client_type": "secret"}, "client_type"),
    ],
)  # fmt: skip
def test_bad_app_registrations_are_explained_and_make_nothing(setup, form, needle):
    server, _, _, _ = setup
    alice = Person(server.url, "alice")
    alice.page("/console/developer/apps/new")
    r = alice.post("/console/developer/apps", {"name": "Broken", **form})
    assert r.status_code == 422 and needle in r.text and "<html" in r.text
    if "client_type" not in form:
        assert (
            'value="https://alice.example/cb"' not in r.text or "alice.example" in r.text
        )  # the form kept it
    assert "Broken" not in alice.page("/console/developer/apps").text


def test_joining_creating_an_app_and_rotating_its_secret(setup):
    server, _, _, _ = setup
    p = Person(server.url, "walker")
    assert 'action="/console/developer/join"' in p.page("/console/developer/join").text
    r = p.post("/console/developer/join", {"display_name": "\u202eoidutS"})
    assert r.status_code == 422 and "bidirectional" in r.text
    r = p.post("/console/developer/join", {"display_name": "Walker Works"})
    assert r.status_code == 303 and r.headers["location"] == "/console/developer/apps"
    apps = text_of(p.page("/console/developer/apps").text)
    assert "you are a verified developer" in apps and "No apps yet" in apps
    assert p.page("/console/developer/join").headers["location"] == "/console/developer/apps"
    r = p.post("/console/developer/apps", {"name": "Walker TV", "client_type": "confidential", "scopes": ["openid", "video.data"],
                                          "redirect_uris": "https://walker.example/cb\r\nhttp://127.0.0.1:8400/cb"})  # fmt: skip
    assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
    secret = re.search(r'id="client-secret">([^<]+)<', r.text).group(1)
    cid = re.search(r'id="client-id">([^<]+)<', r.text).group(1)
    page = text_of(r.text)
    assert "shown only once" in page and re.search(
        r"openid Sign you in [^.]*? granted requirements met", page.replace("openid: ", "")
    )
    assert "video.data" in page and "not granted video.data: requires a privacy policy URL" in page
    again = p.page(f"/console/developer/apps/{cid}").text
    assert secret not in again and "http://127.0.0.1:8400/cb" in again
    token = {"grant_type": "client_credentials"}
    assert httpx.post(server.url + "/oauth/token", data=token, auth=(cid, secret)).status_code == 200
    r = p.post(f"/console/developer/apps/{cid}/secret")
    new = re.search(r'id="client-secret">([^<]+)<', r.text).group(1)
    assert r.status_code == 200 and new != secret and r.headers["cache-control"] == "no-store"
    assert httpx.post(server.url + "/oauth/token", data=token, auth=(cid, secret)).status_code == 401
    assert httpx.post(server.url + "/oauth/token", data=token, auth=(cid, new)).status_code == 200
    # redirect URIs: a bad list is explained and changes nothing; a good one replaces them
    r = p.post(f"/console/developer/apps/{cid}/redirects", {"redirect_uris": "https://walker.example/cb#top"})
    assert r.status_code == 422 and "fragments are not allowed" in r.text
    assert "http://127.0.0.1:8400/cb" in p.page(f"/console/developer/apps/{cid}").text
    r = p.post(f"/console/developer/apps/{cid}/redirects", {"redirect_uris": "https://walker.example/v2"})
    assert r.status_code == 303
    after = p.page(f"/console/developer/apps/{cid}").text
    assert "Redirect URIs saved." in after and "https://walker.example/v2" in after and "8400" not in after
    # a public client has no secret to rotate
    r = p.post("/console/developer/apps", {"name": "Walker Mobile", "client_type": "public", "scopes": "openid",
                                          "redirect_uris": "http://127.0.0.1:8401/cb"})  # fmt: skip
    public = re.search(r'id="client-id">([^<]+)<', r.text).group(1)
    assert r.status_code == 201 and 'id="client-secret"' not in r.text and "Rotate" not in r.text
    r = p.post(f"/console/developer/apps/{public}/secret")
    assert r.status_code == 409 and "no client secret" in r.text


def test_test_events_arrive_signed_and_can_be_redelivered(setup):
    server, apps, receiver, _ = setup
    cid, _, webhook_secret = apps["alice"]
    alice = Person(server.url, "alice")
    assert "No deliveries yet" in alice.page(f"/console/developer/apps/{cid}/webhooks").text
    before = len(receiver.calls)
    r = alice.post(f"/console/developer/apps/{cid}/webhooks/test")
    assert r.status_code == 303
    receiver.wait_for(before + 1)
    headers, body = receiver.calls[-1]
    assert verify_webhook(webhook_secret, headers, body) and json.loads(body)["type"] == "webhook.test"
    deadline = time.monotonic() + 10
    while "delivered" not in (log := text_of(alice.page(f"/console/developer/apps/{cid}/webhooks").text)):
        assert time.monotonic() < deadline, log
        time.sleep(0.2)
    first = int(
        re.search(r'id="delivery-(\d+)"', alice.page(f"/console/developer/apps/{cid}/webhooks").text).group(1)
    )
    assert "HTTP 200" in log
    r = alice.post(f"/console/developer/apps/{cid}/webhooks/{first}/redeliver")
    assert r.status_code == 303
    receiver.wait_for(before + 2)
    assert json.loads(receiver.calls[-1][1])["data"] == json.loads(body)["data"]
    log = text_of(alice.page(f"/console/developer/apps/{cid}/webhooks").text)
    assert f"Delivery {first} is sent again as delivery {first + 1}." in log
    assert (
        "No delivery matches"
        in alice.page(f"/console/developer/apps/{cid}/webhooks?q=nothing.like.this").text
    )
    for bad, status in ((999999, 404), ("abc", 422)):
        assert alice.post(f"/console/developer/apps/{cid}/webhooks/{bad}/redeliver").status_code == status


def test_the_manifest_is_shown_readably(server):
    page = text_of(Person(server.url, "alice").page("/console/developer/manifest").text)
    assert f"Issuer {server.url}" in page and "video.create" in page and "share.create" in page
    assert "Accepts licence certificates from" in page and f"{server.url}/open/video/create_video" in page


def test_in_chromium_join_create_rotate_and_redeliver(setup, browser):
    from playwright.sync_api import expect

    server, _, receiver, hook = setup
    with console_tab(browser, server.url) as page:
        page.on("dialog", lambda d: d.accept())
        sign_in(page, server.url, "newbie")
        page.click("text=Developer portal")
        page.wait_for_url("**/console/developer/join")
        assert not axe_violations(page)
        page.fill("input[name=display_name]", "Newbie Studio")
        page.click("main form button[type=submit]")
        page.wait_for_url("**/console/developer/apps")
        expect(page.locator(".notice")).to_contain_text("verified developer")
        page.click("#listing a:has-text('Register your first app')")
        page.fill("input[name=name]", "Newbie Clips")
        page.fill("textarea[name=redirect_uris]", "https://newbie.example/callback")
        page.check("input[value='video.create']")
        page.fill("input[name=webhook_url]", hook)
        assert not axe_violations(page)
        page.click("main form button[type=submit]")
        secret = page.inner_text("#client-secret")
        expect(page.locator("h1")).to_have_text("Newbie Clips")
        expect(page.locator("table")).to_contain_text("video.create")
        assert not axe_violations(page)
        screenshot(page, "developer-app")
        page.click("text=Rotate the client secret")
        expect(page.locator(".notice")).to_contain_text("the old one no longer works")
        assert page.inner_text("#client-secret") not in ("", secret)

        page.click("text=Delivery log")
        expect(page.locator("#listing")).to_contain_text("No deliveries yet")
        before = len(receiver.calls)
        page.click("text=Send a test event")
        receiver.wait_for(before + 1)
        for _ in range(50):
            page.reload()
            if "delivered" in page.inner_text("#listing"):
                break
            time.sleep(0.2)
        expect(page.locator("#listing")).to_contain_text("HTTP 200")
        assert not axe_violations(page)
        page.click("#listing button:has-text('Redeliver')")
        expect(page.locator(".notice")).to_contain_text("is sent again as delivery")
        receiver.wait_for(before + 2)

        page.click("nav.subnav >> text=Apps")
        expect(page.locator("#listing")).to_contain_text("Newbie Clips")
        assert not axe_violations(page)
        screenshot(page, "developer-apps")
        page.click("nav.subnav >> text=Interconnection manifest")
        expect(page.locator("h1")).to_contain_text("opens to other platforms")
        assert not axe_violations(page)


def test_every_developer_page_reads_in_chinese(setup):
    server, apps, _, _ = setup
    p = Person(server.url, "alice", **{"Accept-Language": "zh-CN"})
    for path in _pages(apps["alice"][0]):
        r = p.page(path, follow_redirects=True)
        assert r.status_code == 200 and '<html lang="zh-CN">' in r.text and "%(" not in r.text, path
    assert "权限及其审核" in p.page(f"/console/developer/apps/{apps['alice'][0]}").text
    assert "已向 100% 的账户开放" in p.page("/console/developer/manifest").text
    join = Person(server.url, "reviewer", **{"Accept-Language": "zh-CN"}).page("/console/developer/join")
    assert join.status_code == 200 and "成为开发者" in join.text, join.headers.get("location")
