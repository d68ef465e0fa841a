"""The Douyin adapter against the local Douyin stand-in (a fake of the Douyin Open Platform, which cannot be
reached from here; ``hutong/distribute/standins/douyin.py`` names the documents it follows).

The creator service (installation A, in this process, with Huey's consumer threads) connects accounts
through the stand-in's OAuth, uploads certified clips in parts and obtains a ``share_id``; the test then acts
as the user in the Douyin app (``standin.confirm``), and the stand-in's signed webhook is handed to
``Distribution.platform_event``, as an HTTP route would."""

from __future__ import annotations

import json
import shutil
import time
from datetime import timedelta

import httpx
import pytest

from hutong.api.background import Background, free_port
from hutong.app import Hutong
from hutong.config import installation_settings
from hutong.distribute.adapters import AdapterError, DouyinAdapter, Outcome, PostResult
from hutong.distribute.adapters.douyin import DouyinError, split_token
from hutong.distribute.standins.douyin import DouyinStandin, sign
from hutong.rights import LicenceTerms
from tests.distribute.test_publish import wait_state

KEY, SECRET = "awk1x2y3z4", "dysecret-0123456789"
REDIRECT = "http://127.0.0.1:9/douyin-cb"
ATTRIBUTION = "© Blender Foundation, CC BY"


@pytest.fixture(scope="module")
def world(registered_home, two_work_clip, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("douyin")
    home = tmp / "a"
    shutil.copytree(registered_home, home)
    clip = tmp / "clip.mp4"
    shutil.copy(two_work_clip.path, clip)
    h = Hutong.create(
        installation_settings(home=home, issuer="http://127.0.0.1:9", platform_name="creator-service")
    )
    h.creators.add("xiaoming", verified=True)
    h.licences.grant("Blender Foundation", LicenceTerms.parse({
        "works": [1, 2], "scope": {"kind": "verified"}, "valid_from": "2026-01-01", "valid_until": "2030-01-01",
        "attribution": ATTRIBUTION, "platforms": ["douyin"]}))  # fmt: skip
    report = h.recognizer.match(clip)
    cert = h.compliance.certify(h.compliance.check(clip, "xiaoming", "douyin", report=report)).token
    standin = DouyinStandin(clients={KEY: (SECRET, REDIRECT)}, part_bytes=64 * 1024)
    standin.deliver = lambda headers, body: h.distribution.platform_event("douyin", headers, body)
    port = free_port()
    worker = None
    try:
        with Background(standin.app(), port):
            worker = h.distribution.worker(2).start()
            yield {"h": h, "standin": standin, "url": f"http://127.0.0.1:{port}", "clip": clip, "cert": cert}
    finally:
        if worker:
            worker.stop()
        h.close()


def connect(world, name: str, open_id: str) -> None:
    """The creator connects a Douyin account: the authorization URL, the user allows, the redirect."""
    h = world["h"]
    started = h.distribution.accounts.start(name, world["url"], client_id=KEY, client_secret=SECRET,
                                            redirect_uri=REDIRECT, adapter="douyin")  # fmt: skip
    url = started["authorization_url"]
    assert "client_key=" + KEY in url and "code_challenge" not in url and started["platform_name"] == "douyin"
    with httpx.Client() as ua:
        page = ua.get(url)
        assert page.status_code == 200 and "授权" in page.text
        form = dict(httpx.URL(url).params) | {"open_id": open_id, "decision": "allow"}
        back = ua.post(url.split("?")[0], data=form)
    assert back.status_code == 302 and back.headers["location"].startswith(REDIRECT)
    view = h.distribution.accounts.finish(back.headers["location"])
    assert view.status == "connected" and view.expires_at is not None


def publish(world, account: str) -> int:
    target = world["h"].distribution.jobs.submit(world["clip"], world["cert"], [account], caption="我的二创")[
        0
    ]
    assert target.ok and target.job_id, target.message
    return target.job_id


def share_of(world, job_id: int) -> str:
    view = wait_state(
        world["h"], job_id, ("needs_confirmation", "published", "rejected", "failed"), timeout=40
    )
    assert view.state == "needs_confirmation", view.timeline
    assert view.remote_post_id in world["standin"].shares
    return view.remote_post_id


def test_share_confirmed_by_the_user_is_published_by_webhook(world):
    h, standin = world["h"], world["standin"]
    connect(world, "dy-main", "open-meimei")
    with h.db.session() as s:  # open_id travels with the token, both ciphertext at rest
        from hutong.store import DistributionAccount

        row = s.query(DistributionAccount).filter_by(name="dy-main").one()
        assert b"open-meimei" not in row.access_token_enc
    job = publish(world, "dy-main")
    share = share_of(world, job)
    waiting = h.distribution.jobs.show(job)
    assert "confirm share" in waiting.reason and standin.posts == []  # nothing on Douyin before the user
    standin.confirm(share, "publish")
    view = h.distribution.jobs.show(job)
    assert view.state == "published" and view.reason == "", view.timeline
    states = [e["state"] for e in view.timeline]
    assert states[0] == "queued" and "uploading" in states and "processing" in states
    assert states[-2:] == ["needs_confirmation", "published"]
    post = standin.posts[0]
    assert len(standin.posts) == 1 and post["open_id"] == "open-meimei" and post["share_id"] == share
    assert post["text"] == f"我的二创\n{ATTRIBUTION}"  # the licence's attribution in the caption
    assert post["item_id"] in view.timeline[-1]["message"]
    parts = standin.calls.count("/video/part/upload/")
    assert parts >= 3 and standin.calls.count("/video/part/init/") == 1  # the clip went in parts


def test_duplicate_out_of_order_and_forged_webhooks(world):
    h, standin = world["h"], world["standin"]
    job = h.distribution.jobs.list()[0]
    headers, body = standin.sent[-1]
    before = h.distribution.jobs.show(job.id).timeline
    again = h.distribution.platform_event("douyin", headers, body)  # Douyin retries: the same event twice
    assert again.status == 200 and again.outcome == "duplicate" and again.job_id == job.id
    late = standin.send(
        "share_cancel", KEY, "open-meimei", {"share_id": job.remote_post_id, "reason": "late"}, SECRET
    )  # out of order: a cancel after the publish changes nothing
    assert (
        h.distribution.jobs.show(job.id).timeline == before
        and h.distribution.jobs.show(job.id).state == "published"
    )
    forged_body = body.replace(b"create_video", b"share_cancel")
    forged = h.distribution.platform_event("douyin", headers, forged_body)  # body changed, signature kept
    assert forged.status == 403 and forged.outcome == "refused" and "X-Douyin-Signature" in forged.message
    wrong = h.distribution.platform_event(
        "douyin", {**headers, "X-Douyin-Signature": sign("guess", body)}, body
    )
    unsigned = h.distribution.platform_event("douyin", {"Content-Type": "application/json"}, body)
    other_app = json.dumps({"event": "create_video", "client_key": "someone-else", "content": {}}).encode()
    stranger = h.distribution.platform_event(
        "douyin", {"X-Douyin-Signature": sign(SECRET, other_app)}, other_app
    )
    garbage = h.distribution.platform_event("douyin", {"X-Douyin-Signature": sign(SECRET, b"{")}, b"{")
    assert [r.status for r in (wrong, unsigned, stranger, garbage)] == [403, 403, 403, 403]
    assert "someone-else" in stranger.message
    assert h.distribution.platform_event("hutong", headers, body).status == 404  # sends no webhooks
    assert h.distribution.jobs.show(job.id).timeline == before and len(standin.posts) == 1
    # an event for a share nobody here has (yet): 404, so that Douyin retries; a verify event is answered
    unknown = standin.send(
        "create_video", KEY, "open-meimei", {"share_id": "share.nope", "item_id": "@x"}, SECRET
    )
    assert h.distribution.platform_event("douyin", *unknown).status == 404
    verify = standin.send("verify_webhook", KEY, "", {"challenge": 12345}, SECRET)
    answer = h.distribution.platform_event("douyin", *verify)
    assert answer.status == 200 and answer.body == {"challenge": 12345}
    assert late  # (sent, and changed nothing)
    # the webhook came before the worker recorded the share's answer: the worker leaves the result alone
    share_answer = PostResult(job.remote_post_id, "needs_confirmation", reason="waiting")
    assert h.distribution.jobs._result(job.id, share_answer) == "published"
    assert h.distribution.jobs.show(job.id).state == "published"


def test_the_user_cancels_the_share_and_the_job_is_rejected_with_the_reason(world):
    h, standin = world["h"], world["standin"]
    connect(world, "dy-cancel", "open-xiaohong")
    job = publish(world, "dy-cancel")
    share = share_of(world, job)
    standin.confirm(share, "cancel", reason="用户取消了分享")
    view = h.distribution.jobs.show(job)
    assert view.state == "rejected" and "用户取消了分享" in view.reason and share in view.reason
    assert len(standin.posts) == 1  # nothing more on Douyin
    # the same cancel again, then a (forged-order) publish event for it: no change
    assert h.distribution.platform_event("douyin", *standin.sent[-1]).outcome == "duplicate"


def test_a_share_never_confirmed_expires_and_a_late_confirmation_still_publishes(world):
    h, standin = world["h"], world["standin"]
    connect(world, "dy-late", "open-laowang")
    job = publish(world, "dy-late")
    share = share_of(world, job)
    assert h.distribution.events.expire(older_than=timedelta(days=3)) == []  # not old yet
    assert job in h.distribution.events.expire(older_than=timedelta(0))
    view = h.distribution.jobs.show(job)
    assert view.state == "rejected" and view.reason.startswith("expired: ") and share in view.reason
    # signed by the app but sent for another user than the account's: not applied to this job
    other_user = standin.send(
        "create_video", KEY, "open-meimei", {"share_id": share, "item_id": "@x"}, SECRET
    )
    assert h.distribution.platform_event("douyin", *other_user).status == 404
    assert h.distribution.jobs.show(job).state == "rejected"
    standin.confirm(share, "publish")  # the user confirms after all: the post exists, the job says so
    assert h.distribution.jobs.show(job).state == "published"


def test_token_expired_mid_upload_is_refreshed_and_the_upload_resumes(world):
    h, standin = world["h"], world["standin"]
    connect(world, "dy-token", "open-token")
    standin.expire_token_after_parts = 2  # every access token expires after the second part
    job = publish(world, "dy-token")
    share_of(world, job)
    view = h.distribution.jobs.show(job)
    messages = " | ".join(e["message"] for e in view.timeline)
    assert "refused the access token" in messages and "2190008" in messages
    assert "resuming after part 2" in messages, messages
    assert h.distribution.accounts.get("dy-token").history[-1]["event"] == "refreshed"


def test_429_and_5xx_on_upload_are_retried(world):
    h, standin = world["h"], world["standin"]
    connect(world, "dy-faults", "open-faults")
    standin.fail("/video/part/upload/", 429, times=1, retry_after="1")
    job = publish(world, "dy-faults")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "429" not in h.distribution.jobs.show(job).reason:
        time.sleep(0.05)
    standin.fail("/video/part/upload/", 503, times=1)
    standin.fail(
        "/share-id/", 504, times=1, retry_after="1"
    )  # a share_id posts nothing: asked again, not left unknown
    share_of(world, job)
    messages = [e["message"] for e in h.distribution.jobs.show(job).timeline]
    assert any("rate limited (429)" in m and "trying again in 1 s" in m for m in messages), messages
    assert any("Douyin failed (503)" in m for m in messages), messages
    assert any("Douyin failed (504)" in m for m in messages), messages
    assert len([s for s in standin.shares.values() if s.open_id == "open-faults"]) == 1  # the 504 made none
    assert h.distribution.jobs.show(job).attempts >= 3


def test_a_clip_too_long_for_douyin_is_refused_before_upload(world):
    h, standin = world["h"], world["standin"]
    adapters = h.distribution.accounts.adapters
    normal = adapters["douyin"]
    adapters["douyin"] = DouyinAdapter(h.http, max_seconds=10)  # as if Douyin took 10 s at most
    calls, jobs = len(standin.calls), len(h.distribution.jobs.list())
    try:
        connect(world, "dy-short", "open-short")
        for dry in (True, False):
            got = h.distribution.jobs.submit(world["clip"], world["cert"], ["dy-short"], dry_run=dry)[0]
            assert not got.ok and "s is longer than douyin takes (10 s)" in got.message, got.message
    finally:
        adapters["douyin"] = normal
    assert len(h.distribution.jobs.list()) == jobs
    assert not any(c.startswith("/video/") for c in standin.calls[calls:])  # nothing was uploaded


def test_refresh_with_a_spent_refresh_token_needs_reconnect_but_an_outage_does_not(world):
    h, standin = world["h"], world["standin"]
    accounts = h.distribution.accounts
    acc = accounts.get("dy-short")
    standin.fail("/oauth/refresh_token/", 502, times=1)
    with pytest.raises(AdapterError) as down:
        accounts.refresh(acc.id)
    assert down.value.outcome is Outcome.RETRY_LATER and accounts.get("dy-short").status == "connected"
    conn = accounts.refresh(acc.id)
    assert split_token(conn.access_token)[0] == "open-short"
    with h.db.session() as s:
        from hutong.store import DistributionAccount

        row = s.get(DistributionAccount, acc.id)
        row.refresh_token_enc = accounts.vault.encrypt("rft.spent", context=f"dist-account:{row.id}:refresh")
    with pytest.raises(AdapterError) as spent:
        accounts.refresh(acc.id)
    assert spent.value.outcome is Outcome.AUTH and "10010" in str(spent.value)
    assert accounts.get("dy-short").status == "needs_reconnect"


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (DouyinError(2190008, "access_token过期"), Outcome.AUTH),
        (DouyinError(10010, "refresh_token过期", token_endpoint=True), Outcome.AUTH),
        (DouyinError(2100004, "系统繁忙"), Outcome.RETRY_LATER),
        (DouyinError(2100005, "Parameter error"), Outcome.FAILED),
    ],
)
def test_douyin_error_codes_are_classified(error, outcome):
    with httpx.Client() as http:
        got = DouyinAdapter(http).classify(error)
    assert got.outcome is outcome and error.description in str(got)


def test_capabilities_say_share_only():
    with httpx.Client() as http:
        caps = DouyinAdapter(http).capabilities("https://open.douyin.com")
    assert caps.direct_post is False and caps.idempotent_create is False and caps.max_seconds == 900
