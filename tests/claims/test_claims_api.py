"""Claims over HTTP on a real `hutong serve` (loopback): an app reports revenue for its post with its OAuth
token (idempotent, bad reports refused), the creator sees the claim with every step, disputes it and reads
the statement (JSON and CSV); another user sees nothing of it; holder accuracy is for staff only."""

import shutil

import httpx
import pytest

from hutong.app import Hutong
from hutong.claims import ClipUse, PolicyRules
from hutong.config import get_settings
from hutong.media.synth import Piece
from hutong.store import Account, Post, Video
from tests.api.conftest import api_user, bearer, new_app, start_server
from tests.claims.conftest import HOLDER, seg, sha
from tests.conftest import CARS, SINTEL
from tests.platform.conftest import make_policy


@pytest.fixture(scope="module")
def served(registered_home, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("claims-serve")
    home = tmp / "home"
    shutil.copytree(registered_home, home)
    (home / "attesters").mkdir()
    (home / "attesters" / "kyc.jwks.json").write_text('{"keys": []}')
    s = start_server(home, env={"HUTONG_REVIEW_POLICY": str(make_policy(tmp))})
    yield s
    s.stop()


def app_token(url: str, app: dict) -> str:
    r = httpx.post(url + "/oauth/token", data={"grant_type": "client_credentials", "scope": "links.card"},
                   auth=(app["client_id"], app["client_secret"]))  # fmt: skip
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def test_revenue_claims_disputes_and_statements_over_http(served):
    url = served.url
    alice, bob = api_user(url, "alice"), api_user(url, "bob")
    app, other = new_app(url), new_app(url)
    token, other_token = app_token(url, app), app_token(url, other)
    h = Hutong.create(get_settings(home=served.home))
    try:
        h.creators.add("alice", name="Alice", verified=True)
        h.policies.set(HOLDER, PolicyRules.parse({"default": "monetise"}))
        (claim,) = h.claims.record(ClipUse(sha("api-clip"), 60.0, "alice", "douyin", [seg(1, 0, 20)], "CN"))
        with h.db.session() as s:
            alice_id = s.query(Account).filter_by(username="alice").one().id
            s.add(Video(id="v_api", client_id=app["client_id"], account_id=alice_id, path="/dev/null",
                        sha256=sha("api-clip"), size=1, duration=60.0))  # fmt: skip
            s.flush()
            s.add(Post(id="p_api", video_id="v_api", account_id=alice_id, client_id=app["client_id"],
                       status="published"))  # fmt: skip
    finally:
        h.close()
    code = claim["code"]

    report = {"report_id": "2026-12-01/p_api", "post_id": "p_api", "amount_minor": 1999, "currency": "CNY"}
    r = httpx.post(url + "/api/claims/revenue", json=report, headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json()["legs"] == [{"account": f"platform:{app['client_id']}", "amount_minor": -1999},
                                {"account": f"holder:{HOLDER}", "amount_minor": 1999}]  # fmt: skip
    again = httpx.post(url + "/api/claims/revenue", json=report, headers=bearer(token)).json()
    assert again["replay"] is True
    for body, headers, status, needle in [
        ({**report, "amount_minor": 5}, bearer(token), 409, "already recorded with other figures"),
        ({**report, "report_id": "x1", "amount_minor": -5}, bearer(token), 422, "cannot be negative"),
        ({**report, "report_id": "x2", "currency": "QQQ"}, bearer(token), 422, "ISO 4217"),
        (
            {**report, "report_id": "x3", "post_id": "p_nope"},
            bearer(token),
            404,
            "no post 'p_nope' made by this app",
        ),
        ({**report, "report_id": "x4"}, bearer(other_token), 404, "made by this app"),
        ({**report, "report_id": "x5"}, bearer(alice), 401, "Bearer"),
        ({**report, "report_id": "x6", "amount_minor": 1.5}, bearer(token), 422, "amount_minor"),
    ]:
        r = httpx.post(url + "/api/claims/revenue", json=body, headers=headers)
        assert r.status_code == status and needle in r.json()["detail"], (body, r.text)

    mine = httpx.get(url + "/api/claims", headers=bearer(alice)).json()["claims"]
    assert [c["code"] for c in mine] == [code]
    assert httpx.get(url + f"/api/claims/{code}", headers=bearer(bob)).status_code == 404
    assert httpx.get(url + "/api/claims", headers=bearer(bob)).json() == {"claims": []}
    r = httpx.post(url + f"/api/claims/{code}/dispute", json={"reason": "fair-use", "text": "review"},
                   headers=bearer(bob))  # fmt: skip
    assert r.status_code == 404
    r = httpx.post(url + f"/api/claims/{code}/dispute", json={"reason": "fair-use", "text": "a review"},
                   headers=bearer(alice))  # fmt: skip
    assert (
        r.status_code == 200 and r.json()["status"] == "disputed" and r.json()["dispute"]["state"] == "open"
    )
    r = httpx.post(url + f"/api/claims/{code}/dispute", json={"reason": "fair-use"}, headers=bearer(alice))
    assert r.status_code == 409 and "already disputed" in r.json()["detail"]
    r = httpx.post(url + f"/api/claims/{code}/appeal", json={"text": "please"}, headers=bearer(alice))
    assert r.status_code == 409
    r = httpx.post(url + f"/api/claims/{code}/dispute", json={"reason": "because"}, headers=bearer(alice))
    assert r.status_code == 422

    httpx.post(url + "/api/claims/revenue", json={**report, "report_id": "r2", "amount_minor": 1000},
               headers=bearer(token))  # fmt: skip
    shown = httpx.get(url + f"/api/claims/{code}", headers=bearer(alice)).json()
    assert [e["action"] for e in shown["events"]] == ["created", "disputed"]
    st = httpx.get(url + "/api/claims/statement", params={"month": ""}, headers=bearer(alice)).json()
    assert st["held"] == {"CNY": 1000} and st["lines"] == []
    csv = httpx.get(url + "/api/claims/statement.csv", headers=bearer(alice))
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.startswith("at,kind,")
    assert (
        httpx.get(
            url + "/api/claims/statement", params={"month": "12/2026"}, headers=bearer(alice)
        ).status_code
        == 422
    )
    r = httpx.get(url + "/api/claims/accuracy", headers=bearer(alice))
    assert r.status_code == 403 and "staff" in r.json()["detail"]
    assert "Traceback" not in served.log.read_text()


def test_a_claim_is_rechecked_with_the_check_of_the_fixed_clip(served, clip_factory, two_work_clip):
    url = served.url
    carol, dave = api_user(url, "carol"), api_user(url, "dave")
    fixed = clip_factory("claims_api_fixed", [Piece(SINTEL, 14.0, 8.0, ("mirror",), seed=11),
                                              Piece(CARS, 2.0, 3.0, from_work=False, seed=12)])  # fmt: skip
    h = Hutong.create(get_settings(home=served.home))
    try:
        for handle in ("carol", "dave"):
            h.creators.add(handle, name=handle.title(), verified=True)
        h.policies.set(HOLDER, PolicyRules.parse({"default": "block"}))
        (claim,) = h.claims.record(ClipUse(sha("carol-clip"), 60.0, "carol", "douyin", [seg(1, 8, 15)], "CN"))
        (other,) = h.claims.record(ClipUse(sha("dave-clip"), 60.0, "dave", "douyin", [seg(1, 8, 15)], "CN"))
        with h.db.session() as s:
            carol_id = s.query(Account).filter_by(username="carol").one().id
        # the checks a creator makes in the console: recorded, then recognised by a worker of the queue
        still, good = (
            h.checks.start(
                clip.path,
                name=f"{n}.mp4",
                creator="carol",
                platform="douyin",
                monetised=False,
                account_id=carol_id,
            )  # fmt: skip
            for n, clip in (("first-fix", two_work_clip), ("fixed", fixed))
        )
        code = claim["code"]

        def recheck(check_id: str, token: str = carol, claim_code: str = code) -> httpx.Response:
            return httpx.post(url + f"/api/claims/{claim_code}/recheck", json={"check_id": check_id},
                              headers=bearer(token))  # fmt: skip

        r = recheck(good.id)
        assert r.status_code == 409 and "still running" in r.json()["detail"]
        h.checks.run(still.id)
        h.checks.run(good.id)
    finally:
        h.close()

    for check_id, token, claim_code, status, needle in [
        ("0" * 32, carol, code, 404, "no check"),
        (good.id, dave, other["code"], 404, "no check"),  # carol's check is not dave's
        (good.id, dave, code, 404, ""),  # nor is carol's claim
        ("", carol, code, 422, "check_id"),
        (good.id, carol, "NOPE", 404, ""),
    ]:
        r = recheck(check_id, token, claim_code)
        assert r.status_code == status and needle in r.text, (check_id, r.text)

    r = recheck(still.id)  # the first fix still uses Big Buck Bunny: the claim stays
    assert r.status_code == 200, r.text
    assert not r.json()["fixed"] and r.json()["status"] == "active"
    assert r.json()["events"][-1]["action"] == "recheck-failed"
    r = recheck(good.id)
    assert r.status_code == 200 and r.json()["fixed"] and r.json()["status"] == "released", r.text
    assert r.json()["release_reason"].endswith("the claimed segments are gone")
    r = recheck(good.id)
    assert r.status_code == 409 and "nothing to fix" in r.json()["detail"]
    assert httpx.get(url + f"/api/claims/{other['code']}", headers=bearer(dave)).json()["status"] == "active"
