"""Acceptance: two hutong instances on loopback interconnect for real.

A holds the works and issues licence certificates; B is another platform that trusts A's certificates and
A's users. A developer registered on B has an app on B; a user of B authorises it; the app uploads a clip
certified by A's issuer into B and it is accepted; tampered, uncertified, revoked, foreign-issuer and
other-platform clips are refused with the precise reason; users of A log in to B; webhooks reach the app,
signed; a share intent is confirmed by the user; the manifests show who opens what to whom.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hutong.app import Hutong
from hutong.config import get_settings
from hutong.platform.webhooks import NO_ANSWER, verify_webhook
from hutong.rights import LicenceTerms
from tests.api.conftest import UserAgent, api_user, bearer, code_grant, free_port, start_server
from tests.api.relying_party import Background

HOLDER = "Blender Foundation"


def hutong_cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUTONG_")} | {"HUTONG_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "hutong", *args], capture_output=True, text=True, env=env, timeout=120
    )


class Receiver:
    """The app's webhook endpoint: records what arrives."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict, bytes]] = []

        async def hook(request: Request):
            self.calls.append((dict(request.headers), await request.body()))
            return JSONResponse({"ok": True})

        self.app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])

    def wait_for(self, event: str, timeout: float = 15) -> tuple[dict, bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for headers, body in self.calls:
                if json.loads(body)["type"] == event:
                    return headers, body
            time.sleep(0.1)
        raise AssertionError(f"no {event} webhook; got {[json.loads(b)['type'] for _, b in self.calls]}")


def grant_licences(h: Hutong) -> None:
    """On A: two creators and their licences (works 1 and 2 registered): xiaoming, verified, may post to
    platform-b; xiaohong, not verified, is reached only by a licence naming her, for platform-c."""
    h.creators.add("xiaoming", verified=True)
    h.creators.add("xiaohong")
    base = {
        "works": [1, 2],
        "scope": {"kind": "verified"},
        "valid_from": "2026-01-01",
        "valid_until": "2030-01-01",
    }
    h.licences.grant(HOLDER, LicenceTerms.parse({**base, "platforms": ["platform-b"]}))
    only_c = {
        **base,
        "scope": {"kind": "creators", "creators": ["xiaohong"]},
        "platforms": ["platform-c"],
    }
    h.licences.grant(HOLDER, LicenceTerms.parse(only_c), allow_overlap=True)


def certificates(h: Hutong, clip: Path, report=None) -> dict[str, str]:
    """The certificates the tests present to B, issued by A (licences as :func:`grant_licences` makes them):
    good, revoked (revoked on A), share, other-platform (for platform-c)."""
    report = report or h.recognizer.match(clip)
    for_b = h.compliance.check(clip, "xiaoming", "platform-b", report=report)
    certs = {name: h.compliance.certify(for_b).token for name in ("good", "revoked", "share")}
    certs["other-platform"] = h.compliance.certify(
        h.compliance.check(clip, "xiaohong", "platform-c", report=report)
    ).token
    h.compliance.revoke(json.loads(_payload(certs["revoked"]))["jti"], "licence breach")
    return certs


def stranger_certificate(home: Path, clip: Path) -> str:
    """A certificate from an issuer nobody trusts: an installation of its own, whatever HUTONG_* this
    process's environment holds."""
    with pytest.MonkeyPatch.context() as mp:
        for k in [k for k in os.environ if k.startswith("HUTONG_")]:
            mp.delenv(k)
        stranger = Hutong.create(
            get_settings(home=home, issuer="http://127.0.0.1:9", platform_name="platform-c")
        )
        try:
            stranger.catalogue.add_one(clip, title="anything", holder=HOLDER, check_duplicates=False)
            stranger.creators.add("xiaoming", verified=True)
            stranger.licences.grant(HOLDER, LicenceTerms.parse({"works": [1], "scope": {"kind": "verified"}, "platforms": ["*"],
                                                                "valid_from": "2026-01-01", "valid_until": "2030-01-01"}))  # fmt: skip
            return stranger.compliance.certify(
                stranger.compliance.check(clip, "xiaoming", "platform-b")
            ).token
        finally:
            stranger.close()


@contextmanager
def platform_b(home_b: Path, a_url: str):
    """B: a `hutong serve` of its own that trusts A's certificates and keys (A is running), and the app's
    webhook endpoint. Yields world's "b", "receiver" and "hook"."""
    pb, hook_port = free_port(), free_port()
    b_url = f"http://127.0.0.1:{pb}"
    env_b = {"HUTONG_ISSUER": b_url, "HUTONG_PLATFORM_NAME": "platform-b", "HUTONG_UNCERTIFIED": "reject",
             "HUTONG_INGEST_PART_BYTES": str(64 * 1024), "HUTONG_WEBHOOK_BACKOFF": "0.2", "HUTONG_WEBHOOK_ATTEMPTS": "3",
             "HUTONG_OUTBOUND_ALLOW_NETWORKS": json.dumps(["127.0.0.0/8", "::1/128"])}  # the app's hook is on loopback  # fmt: skip
    b = start_server(home_b, port=pb, env=env_b)
    receiver = Receiver()
    try:
        with Background(receiver.app, hook_port):
            assert (
                hutong_cli(home_b, "interconnect", "trust", a_url, "--note", "test agreement").returncode == 0
            )
            yield {"b": b, "receiver": receiver, "hook": f"http://127.0.0.1:{hook_port}/hook"}
    finally:
        b.stop()


@pytest.fixture(scope="module")
def world(registered_home, two_work_clip, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("interconnect")
    home_a = tmp / "a"
    shutil.copytree(registered_home, home_a)
    pa = free_port()
    a_url = f"http://127.0.0.1:{pa}"
    # on A: creators, licences, and certificates for the clip, issued by A
    h = Hutong.create(get_settings(home=home_a, issuer=a_url, platform_name="platform-a"))
    try:
        grant_licences(h)
        certs = certificates(h, two_work_clip.path)
    finally:
        h.close()
    certs["stranger"] = stranger_certificate(tmp / "c", two_work_clip.path)
    a = start_server(home_a, port=pa, env={"HUTONG_ISSUER": a_url, "HUTONG_PLATFORM_NAME": "platform-a"})
    try:
        with platform_b(tmp / "b", a_url) as b_side:
            yield {"a": a, **b_side, "certs": certs, "clip": two_work_clip.path, "tmp": tmp}
    finally:
        a.stop()


def _payload(token: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(token.split(".")[1] + "==")


@pytest.fixture(scope="module")
def app_on_b(world):
    return authorised_app(world)


def authorised_app(world: dict) -> dict:
    """An app on B with a webhook endpoint, registered by a developer and authorised by a user of B."""
    b = world["b"].url
    dev = api_user(b, "csp-dev")
    httpx.post(
        b + "/api/developers",
        json={"kind": "individual", "display_name": "Creator Service Platform"},
        headers=bearer(dev),
    )
    r = httpx.post(b + "/api/apps", headers=bearer(dev), json={
        "name": "Clip Pusher", "client_type": "confidential", "redirect_uris": ["http://127.0.0.1:9/cb"],
        "scopes": ["openid", "video.create", "share.create"], "webhook_url": world["hook"]})  # fmt: skip
    assert r.status_code == 201, r.text
    app = r.json()
    # a user of B authorises the app
    api_user(b, "meimei")
    with UserAgent(b) as ua:
        ua.login("meimei")
        t = code_grant(ua, app, "openid video.create share.create")
    return {**app, "access_token": t["access_token"], "developer_token": dev}


def upload(b: str, token: str, data: bytes, *, reverse: bool = True) -> str:
    init = httpx.post(
        b + "/open/video/init_video_part_upload",
        headers=bearer(token),
        json={"size": len(data), "filename": "clip.mp4"},
    ).json()
    size, n = init["part_size"], init["part_count"]
    order = range(n, 0, -1) if reverse else range(1, n + 1)  # out of order on purpose
    for k in order:
        part = data[(k - 1) * size : k * size]
        r = httpx.post(b + "/open/video/upload_video_part", params={"upload_id": init["upload_id"], "part_number": k},
                       content=part, headers={**bearer(token), "X-Part-SHA256": hashlib.sha256(part).hexdigest()})  # fmt: skip
        assert r.status_code == 200, r.text
    r = httpx.post(
        b + "/open/video/complete_video_part_upload",
        params={"upload_id": init["upload_id"]},
        headers=bearer(token),
    )
    assert r.status_code == 200, r.text
    return r.json()["video_id"]


def create(
    b: str, token: str, video_id: str, certificate: str = "", key: str | None = None
) -> httpx.Response:
    headers = {**bearer(token), **({"Idempotency-Key": key} if key else {})}
    return httpx.post(
        b + "/open/video/create_video",
        headers=headers,
        json={"video_id": video_id, "text": "二创 clip", "certificate": certificate},
    )


def test_certified_clip_from_a_is_accepted_on_b(world, app_on_b):
    b, token = world["b"].url, app_on_b["access_token"]
    data = world["clip"].read_bytes()
    assert len(data) > 3 * 64 * 1024  # several parts
    video_id = upload(b, token, data)
    r = create(b, token, video_id, world["certs"]["good"], key="post-1")
    assert r.status_code == 200, r.text
    post = r.json()
    assert post["status"] == "published" and post["certificate_issuer"] == world["a"].url, post
    again = create(b, token, video_id, world["certs"]["good"], key="post-1").json()
    assert again["post_id"] == post["post_id"] and again["idempotent_replay"] is True  # one post, not two
    assert create(b, token, video_id, "", key="post-1").status_code == 422  # same key, different request
    headers, body = world["receiver"].wait_for("post.published")
    # Standard Webhooks: what an app developer writes with the library of their language
    assert Webhook(app_on_b["webhook_secret"]).verify(body, headers)["data"]["post_id"] == post["post_id"]
    assert verify_webhook(app_on_b["webhook_secret"], headers, body)
    assert not verify_webhook("whsec_" + "A" * 43, headers, body)
    assert json.loads(body)["data"]["post_id"] == post["post_id"]
    log = httpx.get(
        b + f"/api/apps/{app_on_b['client_id']}/webhooks", headers=bearer(app_on_b["developer_token"])
    ).json()
    assert any(d["status"] == "delivered" and d["event"] == "post.published" for d in log["deliveries"])


@pytest.mark.parametrize(
    ("which", "code"),
    [
        ("revoked", "revoked"),
        ("other-platform", "wrong-platform"),
        ("stranger", "unknown-issuer"),
        ("", "no-certificate"),
    ],
)
def test_refused_certificates_say_why(world, app_on_b, which, code):
    b, token = world["b"].url, app_on_b["access_token"]
    video_id = upload(b, token, world["clip"].read_bytes(), reverse=False)
    post = create(b, token, video_id, world["certs"][which] if which else "").json()
    assert post["status"] == "rejected" and post["reason"].startswith(code), post["reason"]


def test_tampered_clip_is_refused(world, app_on_b):
    b, token = world["b"].url, app_on_b["access_token"]
    data = bytearray(world["clip"].read_bytes())
    data[len(data) // 2] ^= 0x20  # one byte of picture changed after certification
    video_id = upload(b, token, bytes(data))
    post = create(b, token, video_id, world["certs"]["good"]).json()
    assert post["status"] == "rejected" and post["reason"].startswith("clip-mismatch"), post


def test_bad_chunks_lose_nothing(world, app_on_b):
    b, token = world["b"].url, app_on_b["access_token"]
    data = world["clip"].read_bytes()
    init = httpx.post(
        b + "/open/video/init_video_part_upload", headers=bearer(token), json={"size": len(data)}
    ).json()
    size, up = init["part_size"], init["upload_id"]

    def put(k: int, part: bytes, digest: str | None = None) -> httpx.Response:
        return httpx.post(b + "/open/video/upload_video_part", params={"upload_id": up, "part_number": k}, content=part,
                          headers={**bearer(token), "X-Part-SHA256": digest or hashlib.sha256(part).hexdigest()})  # fmt: skip

    first = data[:size]
    assert put(1, first).json()["duplicate"] is False
    assert put(1, first).json()["duplicate"] is True  # resent: harmless
    bad = put(2, data[size : 2 * size], digest="0" * 64)
    assert bad.status_code == 422 and "corrupted" in bad.json()["detail"]
    assert put(1, b"x" * size).status_code == 409  # same number, other bytes
    assert put(99, first).status_code == 422
    short = put(2, data[size : 2 * size - 10])
    assert short.status_code == 422 and "must be" in short.json()["detail"]
    r = httpx.post(
        b + "/open/video/complete_video_part_upload", params={"upload_id": up}, headers=bearer(token)
    )
    assert r.status_code == 409 and "missing" in r.json()["detail"]
    big = httpx.post(b + "/open/video/init_video_part_upload", headers=bearer(token), json={"size": 10**12})
    assert big.status_code == 413
    oversized_part = httpx.post(b + "/open/video/upload_video_part", params={"upload_id": up, "part_number": 2},
                                content=b"x" * (size + 10_000), headers={**bearer(token), "X-Part-SHA256": "0" * 64})  # fmt: skip
    assert oversized_part.status_code == 413
    # not a video at all
    junk = b"not a video " * 1000
    init2 = httpx.post(
        b + "/open/video/init_video_part_upload", headers=bearer(token), json={"size": len(junk)}
    ).json()
    put2 = httpx.post(b + "/open/video/upload_video_part", params={"upload_id": init2["upload_id"], "part_number": 1}, content=junk,
                      headers={**bearer(token), "X-Part-SHA256": hashlib.sha256(junk).hexdigest()})  # fmt: skip
    assert put2.status_code == 200
    r = httpx.post(
        b + "/open/video/complete_video_part_upload",
        params={"upload_id": init2["upload_id"]},
        headers=bearer(token),
    )
    assert r.status_code == 422 and "not a video" in r.json()["detail"]
    # without the video.create scope, or without a token
    assert httpx.post(b + "/open/video/init_video_part_upload", json={"size": 1}).status_code == 401


def test_share_intent_confirmed_by_the_user(world, app_on_b):
    b, token = world["b"].url, app_on_b["access_token"]
    video_id = upload(b, token, world["clip"].read_bytes())
    share = httpx.post(
        b + "/open/share/create",
        headers=bearer(token),
        json={"video_id": video_id, "text": "看这个", "certificate": world["certs"]["share"]},
    ).json()
    assert share["share_url"].startswith(b + "/share/")
    with UserAgent(b) as ua:
        ua.login("meimei")
        page = ua.get(share["share_url"])
        assert page.status_code == 200 and "Clip Pusher" in page.text and "licence certificate" in page.text
        done = ua.submit(page.text, f"/share/{share['share_id']}", button="confirm")
        assert done.status_code == 200 and "published" in done.text
        again = ua.submit(page.text, f"/share/{share['share_id']}", button="confirm")
        assert again.status_code == 409
    headers, body = world["receiver"].wait_for("share.completed")
    assert json.loads(body)["data"]["status"] == "published"
    with UserAgent(b) as stranger:  # another user cannot see someone else's share
        api_user(b, "nosy")
        stranger.login("nosy")
        assert stranger.get(share["share_url"]).status_code == 404


def test_webhook_endpoint_down_is_retried_then_given_up(world, app_on_b):
    b = world["b"].url
    dev = app_on_b["developer_token"]
    dead = f"http://127.0.0.1:{free_port()}/hook"
    app = httpx.post(b + "/api/apps", headers=bearer(dev), json={"name": "Down", "client_type": "confidential", "redirect_uris": ["http://127.0.0.1:9/cb"],
                                                                  "scopes": ["links.card"], "webhook_url": dead}).json()  # fmt: skip
    # a takedown of a post of this app triggers a webhook to the dead endpoint
    token = app_on_b["access_token"]
    video_id = upload(b, token, world["clip"].read_bytes())
    post = create(b, token, video_id, world["certs"]["good"]).json()
    import sqlite3

    with sqlite3.connect(
        world["b"].home / "hutong.db"
    ) as db:  # hand the post to the app whose endpoint is down
        db.execute("UPDATE posts SET client_id = ? WHERE id = ?", (app["client_id"], post["post_id"]))
    assert (
        hutong_cli(
            world["b"].home, "platform", "takedown", post["post_id"], "--reason", "court order"
        ).returncode
        == 0
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        log = httpx.get(b + f"/api/apps/{app['client_id']}/webhooks", headers=bearer(dev)).json()[
            "deliveries"
        ]
        if log and log[-1]["status"] == "failed":
            break
        time.sleep(0.2)
    d = log[-1]
    assert d["event"] == "post.taken_down" and d["status"] == "failed" and d["attempts"] == 3
    assert len(d["log"]) == 3 and "gave up after 3 attempts" in d["last_error"]
    assert {e["outcome"] for e in d["log"]} == {NO_ANSWER}  # not "connection refused": no port scanner


def test_the_default_policy_refuses_internal_webhook_urls(server):
    """Regression: any developer could make the platform POST to loopback or private addresses. The server
    fixture runs with the default policy; nothing is connected to."""
    dev = api_user(server.url, "hooker")
    httpx.post(
        server.url + "/api/developers",
        json={"kind": "individual", "display_name": "Dev"},
        headers=bearer(dev),
    )
    for url, needle in [(f"http://127.0.0.1:{free_port()}/hook", "is a loopback address"),
                        ("http://10.0.0.1/", "10.0.0.1 is a private address"),
                        ("http://localhost:8000/", "must resolve to public addresses only")]:  # fmt: skip
        r = httpx.post(server.url + "/api/apps", headers=bearer(dev), json={
            "name": "Inward", "client_type": "confidential", "redirect_uris": ["http://127.0.0.1:9/cb"],
            "scopes": ["links.card"], "webhook_url": url})  # fmt: skip
        assert (
            r.status_code == 422 and needle in r.json()["detail"] and "webhook_url" in r.json()["detail"]
        ), r.text
    assert httpx.get(server.url + "/api/apps", headers=bearer(dev)).json()["apps"] == []  # nothing stored


def test_users_of_a_log_in_to_b(world):
    a, b = world["a"].url, world["b"].url
    dev = api_user(a, "b-platform-team")
    httpx.post(
        a + "/api/developers", json={"kind": "individual", "display_name": "Platform B"}, headers=bearer(dev)
    )
    rp = httpx.post(a + "/api/apps", headers=bearer(dev), json={"name": "Platform B login", "client_type": "confidential",
                    "redirect_uris": [f"{b}/login/federated/callback"], "scopes": ["openid", "profile"]}).json()  # fmt: skip
    r = hutong_cli(
        world["b"].home,
        "interconnect",
        "idp",
        a,
        "--name",
        "Platform A",
        "--client-id",
        rp["client_id"],
        "--client-secret",
        rp["client_secret"],
    )
    assert r.returncode == 0, r.stderr
    api_user(a, "xiaoming")
    with UserAgent(b) as ua:
        login_page = ua.get("/login")
        assert "Log in with Platform A" in login_page.text
        r = ua.get("/login/federated/1?next=/account/grants")
        assert r.headers["location"].startswith(a + "/oauth/authorize")
        r = ua.http.get(r.headers["location"])  # A asks its user to log in
        assert r.status_code == 303 and "/login" in r.headers["location"]
        page = ua.http.get(a + r.headers["location"])
        r = ua.submit_to(
            a, page.text, "/login", {"username": "xiaoming", "password": "a long enough password"}
        )
        consent = ua.http.get(a + r.headers["location"])
        assert "Platform B login" in consent.text
        back = ua.submit_to(a, consent.text, "/oauth/authorize", button="allow")
        assert back.headers["location"].startswith(b + "/login/federated/callback")
        landed = ua.http.get(back.headers["location"])
        assert landed.status_code == 303 and landed.headers["location"] == "/account/grants"
        home = ua.get("/")
        assert "@xiaoming." in home.text  # a local account on B linked to A's user
        # a forged callback (state that B never issued) is refused
        assert ua.get("/login/federated/callback?state=forged&code=x&iss=" + a).status_code == 400


def test_manifests_and_reciprocity(world):
    a, b = world["a"].url, world["b"].url
    doc = httpx.get(b + "/.well-known/hutong-interconnect").json()
    assert doc["manifest"]["opens"]["ingest"]["accepts_certificates_from"] == sorted([a, b])
    r = hutong_cli(world["b"].home, "interconnect", "report", a, b, "--json")
    assert r.returncode == 0, r.stderr
    rows = {x["capability"]: x for x in json.loads(r.stdout)["capabilities"]}
    ingest = rows["ingest of the other's certified clips"]
    assert ingest["b_to_a"] is True and ingest["a_to_b"] is False and ingest["reciprocal"] is False
    assert rows["users of the other log in here"]["b_to_a"] in (True, False)
    r = hutong_cli(world["b"].home, "interconnect", "report", a, "http://127.0.0.1:9")
    assert r.returncode == 2 and "no interconnection manifest" in r.stderr


def test_link_cards_refuse_internal_addresses_and_say_why(world):
    a = world["a"].url  # A runs the default policy (B allows loopback, for the app's webhook endpoint)
    token = api_user(a, "linker")
    for url in [world["b"].url + "/", "http://localhost:9/", "http://[::ffff:127.0.0.1]:9/"]:
        r = httpx.post(a + "/links/card", headers=bearer(token), json={"url": url})
        card = r.json()
        assert (
            r.status_code == 200 and card["status"] == "restricted" and "a public address" in card["reason"]
        ), card
    seen = httpx.get(a + "/api/links/restrictions", headers=bearer(token)).json()["restrictions"]
    assert [r["rule"] for r in seen] == ["private-address"] * 3
    assert (
        httpx.post(a + "/links/card", headers=bearer(token), json={"url": "ftp://x.example/"}).status_code
        == 422
    )


def test_racing_completions_and_odd_input_get_clear_answers(world, app_on_b):
    b, token = world["b"].url, app_on_b["access_token"]
    data = world["clip"].read_bytes()
    nul = httpx.post(b + "/open/video/init_video_part_upload", headers=bearer(token),
                     json={"size": len(data), "filename": "clip\u0000.sh"})  # fmt: skip
    assert nul.status_code == 422 and "NUL" in nul.json()["detail"]
    init = httpx.post(
        b + "/open/video/init_video_part_upload",
        headers=bearer(token),
        json={"size": len(data), "filename": "x.sh"},
    ).json()
    up, size = init["upload_id"], init["part_size"]

    def put(k, part: bytes, digest: str) -> httpx.Response:
        return httpx.post(b + "/open/video/upload_video_part", params={"upload_id": up, "part_number": k},
                          content=part, headers={**bearer(token), "X-Part-SHA256": digest})  # fmt: skip

    assert put(99999999999999999999, data[:size], "0" * 64).status_code == 422
    assert put(1, data[:size], "not hex").status_code == 422
    assert put(1, b"", hashlib.sha256(b"").hexdigest()).status_code == 422
    with ThreadPoolExecutor(4) as pool:  # parts in parallel: none lost
        parts = [(k, data[(k - 1) * size : k * size]) for k in range(1, init["part_count"] + 1)]
        assert {
            r.status_code for r in pool.map(lambda kp: put(*kp, hashlib.sha256(kp[1]).hexdigest()), parts)
        } == {200}
    odd = httpx.post(
        b + "/open/video/complete_video_part_upload", params={"upload_id": "up_\u202e"}, headers=bearer(token)
    )
    assert odd.status_code == 404
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: httpx.post(b + "/open/video/complete_video_part_upload",
                                                     params={"upload_id": up}, headers=bearer(token)), range(4)))  # fmt: skip
    assert sorted(r.status_code for r in answers) == [200, 409, 409, 409], [r.text for r in answers]
    assert all("complete" in r.json()["detail"] for r in answers if r.status_code == 409)
