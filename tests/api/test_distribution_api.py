"""The distribution API against a real `hutong serve` (installation A): a signed-in creator connects an
account through the real OAuth flow, sends a clip, publishes it (scheduled, cancelled, retried) and reads the
job, while another user sees none of it. The target platform is A's own open platform (a hutong platform
trusts its own certificates), so one server serves both sides; the publishing worker runs in this process on
A's home, as `hutong worker` would."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

import httpx
import pytest

from hutong.api.background import free_port
from hutong.app import Hutong
from hutong.config import installation_settings
from hutong.rights import LicenceTerms
from tests.api.conftest import UserAgent, api_user, bearer, start_server

REDIRECT = "http://127.0.0.1:9/cb"
API = "/api/distribution"


@pytest.fixture(scope="module")
def site(registered_home, two_work_clip, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dist-api")
    home = tmp / "a"
    shutil.copytree(registered_home, home)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = installation_settings(home=home, issuer=url, platform_name="creator-service",
                                     outbound_allow_networks=["127.0.0.0/8", "::1/128"])  # fmt: skip
    h = Hutong.create(settings)
    h.creators.add("xiaoming", verified=True)
    h.licences.grant("Blender Foundation", LicenceTerms.parse({
        "works": [1, 2], "scope": {"kind": "verified"}, "valid_from": "2026-01-01", "valid_until": "2030-01-01",
        "attribution": "© Blender Foundation, CC BY", "platforms": ["creator-service"]}))  # fmt: skip
    cert = h.compliance.certify(h.compliance.check(two_work_clip.path, "xiaoming", "creator-service")).token
    h.close()
    env = {"HUTONG_ISSUER": url, "HUTONG_PLATFORM_NAME": "creator-service", "HUTONG_UNCERTIFIED": "reject",
           "HUTONG_OUTBOUND_ALLOW_NETWORKS": json.dumps(["127.0.0.0/8", "::1/128"])}  # fmt: skip
    server = start_server(home, port=port, env=env)
    try:
        dev = api_user(url, "carrier-dev")
        httpx.post(url + "/api/developers", json={"kind": "individual", "display_name": "Carrier"},
                   headers=bearer(dev))  # fmt: skip
        r = httpx.post(url + "/api/apps", headers=bearer(dev), json={
            "name": "Clip Carrier", "client_type": "confidential", "redirect_uris": [REDIRECT],
            "scopes": ["openid", "video.create"]})  # fmt: skip
        assert r.status_code == 201, r.text
        meimei = api_user(url, "meimei")
        linked = subprocess.run([sys.executable, "-m", "hutong", "creators", "link", "xiaoming", "meimei"],
                                env={**os.environ, "HUTONG_HOME": str(home)}, capture_output=True, text=True)  # fmt: skip
        assert linked.returncode == 0 and "signs in as meimei" in linked.stdout, linked.stderr
        yield {"url": url, "server": server, "settings": settings, "app": r.json(), "cert": cert,
               "clip": two_work_clip.path, "meimei": meimei, "other": api_user(url, "lili")}  # fmt: skip
    finally:
        server.stop()


def call(site, who: str, method: str, path: str, **kw) -> httpx.Response:
    return httpx.request(method, site["url"] + API + path, headers=bearer(site[who]), timeout=60, **kw)


def consent(site, authorization_url: str) -> str:
    with UserAgent(site["url"]) as ua:
        ua.login("meimei")
        page = ua.get(authorization_url)
        assert page.status_code == 200, page.text[:300]
        back = ua.submit(page.text, "/oauth/authorize", button="allow")
    assert back.status_code in (302, 303), back.text[:300]
    return back.headers["location"]


def connect_body(site, name: str, **over) -> dict:
    app = site["app"]
    return {"name": name, "platform_url": site["url"], "client_id": app["client_id"],
            "client_secret": app["client_secret"], "redirect_uri": REDIRECT, **over}  # fmt: skip


def test_accounts_are_connected_through_oauth_and_are_the_creators_own(site):
    assert call(site, "meimei", "GET", "/accounts").json() == {"accounts": []}
    assert httpx.get(site["url"] + API + "/accounts").status_code == 401
    r = call(site, "meimei", "POST", "/accounts", json=connect_body(site, "mine"))
    assert r.status_code == 201, r.text
    started = r.json()
    assert started["platform_name"] == "creator-service" and "code_challenge=" in started["authorization_url"]
    back = consent(site, started["authorization_url"])
    # another user cannot finish it, reconnect it, remove it, nor take the name
    r = call(site, "other", "POST", "/accounts/finish", json={"redirected_url": back})
    assert (
        r.status_code == 422 and "does not answer a pending connection" in r.json()["detail"]
    )  # as if unknown
    r = call(site, "meimei", "POST", "/accounts/finish", json={"redirected_url": back})
    assert r.status_code == 200 and r.json()["status"] == "connected", r.text
    assert "client_secret" not in r.text and "token" not in json.dumps(list(r.json()))
    assert [a["name"] for a in call(site, "meimei", "GET", "/accounts").json()["accounts"]] == ["mine"]
    assert call(site, "other", "GET", "/accounts").json() == {"accounts": []}
    assert call(site, "other", "POST", "/accounts/mine/reconnect").status_code == 404
    assert call(site, "other", "DELETE", "/accounts/mine").status_code == 404
    r = call(site, "other", "POST", "/accounts", json=connect_body(site, "mine"))
    assert r.status_code == 422 and "is taken" in r.json()["detail"]
    # reconnecting keeps the history
    r = call(site, "meimei", "POST", "/accounts/mine/reconnect")
    assert r.status_code == 200, r.text
    back = consent(site, r.json()["authorization_url"])
    r = call(site, "meimei", "POST", "/accounts/finish", json={"redirected_url": back})
    assert [e["event"] for e in r.json()["history"]] == ["connected", "reconnected"]
    # removing: a second account, never used
    r = call(site, "meimei", "POST", "/accounts", json=connect_body(site, "spare"))
    assert r.status_code == 201
    assert call(site, "meimei", "DELETE", "/accounts/spare").json() == {"removed": "spare"}
    assert call(site, "meimei", "DELETE", "/accounts/spare").status_code == 404


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"platform_url": "ftp://x"}, "platform_url"),
        ({"name": ""}, "name"),
        ({"redirect_uri": "nope"}, "redirect_uri"),
        ({"surprise": 1}, "surprise"),
        ({"platform_url": "http://10.1.2.3"}, "only public addresses are called"),  # the outbound policy
        ({"adapter": "myspace"}, "no platform adapter 'myspace'"),
    ],
)
def test_connecting_refuses_bad_input_with_a_reason(site, body, words):
    r = call(site, "meimei", "POST", "/accounts", json={**connect_body(site, "bad"), **body})
    assert r.status_code == 422 and words in r.json()["detail"], r.text


def test_finishing_refuses_a_redirect_that_answers_nothing(site):
    r = call(
        site, "meimei", "POST", "/accounts/finish", json={"redirected_url": REDIRECT + "?error=access_denied"}
    )
    assert r.status_code == 422 and "did not grant access: access_denied" in r.json()["detail"]
    r = call(
        site, "meimei", "POST", "/accounts/finish", json={"redirected_url": REDIRECT + "?code=x&state=y"}
    )
    assert r.status_code == 422 and "does not answer a pending connection" in r.json()["detail"]


def test_send_schedule_cancel_retry_publish(site):
    data = site["clip"].read_bytes()
    assert call(site, "meimei", "POST", "/clips", content=b"").status_code == 422
    r = httpx.post(site["url"] + API + "/clips", content=data,
                   headers={**bearer(site["meimei"]), "content-type": "application/octet-stream"}, timeout=60)  # fmt: skip
    assert r.status_code == 201, r.text
    clip_id = r.json()["clip_id"]
    assert clip_id == hashlib.sha256(data).hexdigest() and r.json()["size"] == len(data)
    body = {"clip_id": clip_id, "certificate": site["cert"], "to": ["mine"], "caption": "我的二创"}

    # bad inputs, each with its reason
    for bad, status, words in [
        ({"at": "2099-12-01T20:00"}, 422, "has no time zone"),
        ({"at": "2020-12-01T20:00+08:00"}, 422, "is in the past"),
        ({"certificate": "not.a.certificate"}, 422, "is not a certificate"),
        ({"clip_id": "0" * 64}, 404, "no clip"),
        ({"clip_id": "../etc/passwd"}, 422, "clip_id"),
        ({"to": []}, 422, "to"),
    ]:
        r = call(site, "meimei", "POST", "/publish", json={**body, **bad})
        assert r.status_code == status and words in r.json()["detail"], (bad, r.text)
    # another user cannot publish xiaoming's certified clip (nor reach meimei's account)
    r = call(site, "other", "POST", "/publish", json=body)
    assert r.status_code == 403 and "issued to @xiaoming, whom you do not publish for" in r.json()["detail"]
    assert call(site, "other", "GET", "/jobs").json() == {"jobs": []}

    # a dry run at a time: when it would run, nothing made
    r = call(
        site, "meimei", "POST", "/publish", json={**body, "at": "2099-12-01T20:00+08:00", "dry_run": True}
    )
    plan = r.json()
    assert r.status_code == 200 and plan["at"] == "2099-12-01T12:00:00+00:00" and plan["targets"][0]["ok"], (
        r.text
    )
    assert plan["targets"][0]["caption"] == "我的二创\n© Blender Foundation, CC BY"
    assert call(site, "meimei", "GET", "/jobs").json() == {"jobs": []}

    # scheduled, then cancelled before its time
    r = call(site, "meimei", "POST", "/publish", json={**body, "at": "2099-12-01T20:00+08:00"})
    target = r.json()["targets"][0]
    assert target["ok"] and target["not_before"] == "2099-12-01T12:00:00+00:00", r.text
    job_id = target["job_id"]
    assert call(site, "other", "GET", f"/jobs/{job_id}").status_code == 404
    assert call(site, "other", "POST", f"/jobs/{job_id}/cancel").status_code == 404
    assert call(site, "other", "GET", "/jobs").json() == {"jobs": []}
    r = call(site, "meimei", "POST", f"/jobs/{job_id}/cancel")
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    r = call(site, "meimei", "POST", f"/jobs/{job_id}/cancel")
    assert r.status_code == 409 and "only a queued job can be cancelled" in r.json()["detail"]

    # retried: published by the worker
    assert call(site, "other", "POST", f"/jobs/{job_id}/retry").status_code == 404
    assert call(site, "meimei", "POST", f"/jobs/{job_id}/retry").json()["state"] == "queued"
    # `hutong serve` runs the job itself (the embedded queue inside the server): no worker is started here
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        view = call(site, "meimei", "GET", f"/jobs/{job_id}").json()
        if view["state"] not in ("queued", "uploading", "processing"):
            break
        time.sleep(0.2)
    assert view["state"] == "published", view["timeline"]
    states = [e["state"] for e in view["timeline"]]
    assert states[:2] == ["queued", "cancelled"] and states[-1] == "published"
    assert "scheduled for 2099-12-01T12:00+00:00" in view["timeline"][0]["message"]
    r = call(site, "meimei", "POST", f"/jobs/{job_id}/retry")
    assert (
        r.status_code == 409
        and "only failed, cancelled or unconfirmed jobs are retried" in r.json()["detail"]
    )
    # filters
    assert [
        j["id"] for j in call(site, "meimei", "GET", "/jobs", params={"state": "published"}).json()["jobs"]
    ] == [job_id]
    assert call(site, "meimei", "GET", "/jobs", params={"account": "spare"}).json() == {"jobs": []}
    assert call(site, "meimei", "GET", "/jobs", params={"state": "bogus"}).status_code == 422
    assert call(site, "meimei", "GET", "/jobs/0").status_code == 422
    assert call(site, "meimei", "GET", "/jobs/999999").status_code == 404
    r = call(site, "meimei", "POST", "/publish", json=body)
    assert r.json()["targets"][0]["duplicate"] is True  # the same clip to the same account: one job
    assert "Traceback" not in site["server"].log.read_text()


def test_platform_webhooks_are_verified_before_anything_changes(site):
    """The address platforms report shares to: an unsigned or forged event changes nothing (403), an
    adapter that sends no webhooks is 404."""
    url = site["url"] + "/api/distribution/webhooks/"
    event = {"event": "create_video", "client_key": "ck_nobody", "from_user_id": "u1",
             "content": {"share_id": "s1", "item_id": "i1"}}  # fmt: skip
    r = httpx.post(url + "douyin", json=event, headers={"X-Douyin-Signature": "0" * 40})
    assert r.status_code == 403 and "refused" in r.text, r.text
    r = httpx.post(url + "hutong", json=event)
    assert r.status_code == 404 and "no webhooks" in r.text, r.text
    r = httpx.post(url + "nosuch", json=event)
    assert r.status_code == 404, r.text
