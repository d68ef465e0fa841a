"""Acceptance: one creator's certified clip published to two real hutong instances and to the stand-ins of
the two third-party shapes, every state of the job state machine observed on the jobs' timelines.

- A, the creator service: hutong's own app (``create_app``) served on loopback in this process, which runs
  the publishing jobs itself (the embedded queue inside the server: no separate worker) and receives the
  platforms' webhooks on ``/api/distribution/webhooks/{adapter}``; it serves its certificate keys too.
- B: a real ``hutong serve`` that publishes a post whose certificate it can verify.
- C: a real ``hutong serve`` that holds every post, certified or not, for its own check
  (``HUTONG_HOLD_CERTIFIED``) until its staff release (``hutong platform release``) or reject it.
- the Douyin stand-in (share intent the user confirms in the app, result by signed webhook, sent over HTTP
  to A) and the YouTube stand-in (resumable upload, then processing): fakes of third parties that cannot be
  reached from here, built from their public documentation.

Then, in the same module: rejected with the platform's reason (C's staff), failed with the platform's own
text (YouTube), 429 with and without Retry-After and the per-account limit (re-queued, not failed), the
ownership of certificates on the command line, clips sent over HTTP cleaned up once no job needs them, and
the take-down of every post after the certificate is revoked."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from hutong.api.app import create_app
from hutong.api.background import Background, free_port
from hutong.app import Hutong
from hutong.compliance.certificate import peek
from hutong.config import installation_settings
from hutong.distribute.standins.douyin import DouyinStandin
from hutong.errors import HutongError
from hutong.rights import LicenceTerms
from hutong.store import PublishJob, utcnow
from tests.api.conftest import UserAgent, api_user, bearer, start_server
from tests.distribute.conftest import LOOPBACK_ENV
from tests.distribute.youtube_standin import YouTubeStandIn, google_error

CREDIT = "© Blender Foundation, CC BY"
REDIRECT = "http://127.0.0.1:9/cb"
DY_KEY, DY_SECRET = "awk-e2e-0001", "dysecret-e2e-0123456789"
YT_CLIENT, YT_SECRET = "svc.apps.googleusercontent.com", "GOCSPX-secret"
SETTLED = ("published", "needs_confirmation", "rejected", "failed", "cancelled", "taken_down", "flagged")


def hutong_cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUTONG_")} | {"HUTONG_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "hutong", *args], capture_output=True, text=True,
                          env=env | LOOPBACK_ENV, timeout=120)  # fmt: skip


def wait_for(h: Hutong, job_id: int, check, timeout: float = 40):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = h.distribution.jobs.show(job_id)
        if check(view):
            return view
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} is {view.state}: {view.timeline}")


def settled(h: Hutong, job_id: int, timeout: float = 40):
    return wait_for(h, job_id, lambda v: v.state in SETTLED, timeout)


def copy_of(clip: Path, folder: Path, n: int) -> Path:
    """The same streams with a trailing MP4 ``free`` box: distinct bytes (another clip version)."""
    out = folder / f"clip{n}.mp4"
    payload = f"end-to-end copy {n}".encode()
    out.write_bytes(clip.read_bytes() + struct.pack(">I", 8 + len(payload)) + b"free" + payload)
    return out


def hutong_app(url: str) -> dict:
    """A developer registers the creator service's app on a hutong platform; a user to connect exists."""
    dev = api_user(url, "csp-dev")
    httpx.post(url + "/api/developers", json={"kind": "individual", "display_name": "Creator service"},
               headers=bearer(dev))  # fmt: skip
    r = httpx.post(url + "/api/apps", headers=bearer(dev), json={
        "name": "Clip Carrier", "client_type": "confidential", "redirect_uris": [REDIRECT],
        "scopes": ["openid", "video.create"]})  # fmt: skip
    assert r.status_code == 201, r.text
    api_user(url, "meimei")
    return r.json()


@pytest.fixture(scope="module")
def world(registered_home, two_work_clip, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    home_a, home_b, home_c = tmp / "a", tmp / "b", tmp / "c"
    shutil.copytree(registered_home, home_a)
    pa, pb, pc, pd, py = (free_port() for _ in range(5))
    a_url, b_url, c_url = (f"http://127.0.0.1:{p}" for p in (pa, pb, pc))
    clip = tmp / "clip.mp4"
    shutil.copy(two_work_clip.path, clip)
    clip2 = copy_of(clip, tmp, 2)

    h = Hutong.create(installation_settings(home=home_a, issuer=a_url, platform_name="creator-service",
                                            distribution_poll_seconds=1.0))  # fmt: skip
    h.creators.add("mcn", kind="organisation", verified=True)
    h.creators.add("xiaoming", organisation="mcn", verified=True)
    h.creators.add("xiaohong", verified=True)
    h.licences.grant("Blender Foundation", LicenceTerms.parse({
        "works": [1, 2], "scope": {"kind": "verified"}, "valid_from": "2026-01-01", "valid_until": "2030-01-01",
        "attribution": CREDIT, "platforms": ["platform-b", "platform-c", "douyin", "youtube"]}))  # fmt: skip
    report = h.recognizer.match(clip)
    certs = [h.compliance.certify(h.compliance.check(c, "xiaoming", "platform-b", report=report)).token
             for c in (clip, clip2)]  # fmt: skip

    servers = []
    for home, url, name, extra in ((home_b, b_url, "platform-b", {}),
                                   (home_c, c_url, "platform-c", {"HUTONG_HOLD_CERTIFIED": "true"})):  # fmt: skip
        hx = Hutong.create(installation_settings(home=home, issuer=url, platform_name=name))
        hx.platform.directory.trust(a_url, note="end-to-end test")
        hx.close()
        env = {"HUTONG_ISSUER": url, "HUTONG_PLATFORM_NAME": name, "HUTONG_UNCERTIFIED": "reject",
               "HUTONG_INGEST_PART_BYTES": str(64 * 1024), **extra}  # fmt: skip
        servers.append(start_server(home, port=int(url.rsplit(":", 1)[1]), env=env))
    douyin = DouyinStandin(clients={DY_KEY: (DY_SECRET, REDIRECT)}, part_bytes=64 * 1024)
    # the user's confirmation reaches A as Douyin sends it: a signed POST to A's webhook route
    douyin.deliver = lambda headers, body: httpx.post(
        a_url + "/api/distribution/webhooks/douyin", content=body, headers=headers, timeout=30
    )
    youtube = YouTubeStandIn({YT_CLIENT: (YT_SECRET, [REDIRECT])})
    youtube.base = f"http://127.0.0.1:{py}"
    try:
        with Background(douyin.app(), pd), Background(youtube.app, py), Background(create_app(h), pa):
            yield {"h": h, "home_a": home_a, "a_url": a_url, "b_url": b_url, "c_url": c_url, "home_c": home_c,
                   "apps": {b_url: hutong_app(b_url), c_url: hutong_app(c_url)}, "dy_url": f"http://127.0.0.1:{pd}",
                   "yt_url": youtube.base, "douyin": douyin, "youtube": youtube, "clips": [clip, clip2],
                   "certs": certs, "tmp": tmp, "servers": servers}  # fmt: skip
    finally:
        h.close()
        for server in servers:
            server.stop()


# -- connecting the creator's accounts, through each platform's own consent ---------------------------


def connect_hutong(world, name: str, url: str, creator: str = "xiaoming") -> None:
    h, app = world["h"], world["apps"][url]
    started = h.distribution.accounts.start(name, url, client_id=app["client_id"], client_secret=app["client_secret"],
                                            redirect_uri=REDIRECT, creator=creator)  # fmt: skip
    with UserAgent(url) as ua:
        ua.login("meimei")
        back = ua.submit(ua.get(started["authorization_url"]).text, "/oauth/authorize", button="allow")
    assert h.distribution.accounts.finish(back.headers["location"]).status == "connected"


def connect_douyin(world, name: str) -> None:
    h = world["h"]
    started = h.distribution.accounts.start(name, world["dy_url"], client_id=DY_KEY, client_secret=DY_SECRET,
                                            redirect_uri=REDIRECT, adapter="douyin", creator="xiaoming")  # fmt: skip
    url = started["authorization_url"]
    form = dict(httpx.URL(url).params) | {"open_id": "open-xiaoming", "decision": "allow"}
    back = httpx.post(url.split("?")[0], data=form)
    assert h.distribution.accounts.finish(back.headers["location"]).status == "connected"


def connect_youtube(world, name: str) -> None:
    h = world["h"]
    started = h.distribution.accounts.start(name, world["yt_url"], client_id=YT_CLIENT, client_secret=YT_SECRET,
                                            redirect_uri=REDIRECT, adapter="youtube", creator="xiaoming")  # fmt: skip
    fields = dict(httpx.URL(started["authorization_url"]).params) | {"decision": "allow"}
    back = httpx.post(world["yt_url"] + "/o/oauth2/v2/auth", data=fields)
    assert h.distribution.accounts.finish(back.headers["location"]).status == "connected"


def test_one_clip_to_two_hutong_instances_and_two_third_party_shapes(world):
    h, douyin, youtube = world["h"], world["douyin"], world["youtube"]
    connect_hutong(world, "b", world["b_url"])
    connect_hutong(world, "c", world["c_url"])
    connect_douyin(world, "dy")
    connect_youtube(world, "yt")
    targets = h.distribution.jobs.submit(world["clips"][0], world["certs"][0], ["b", "c", "dy", "yt"],
                                         caption="我的二创 #Sintel")  # fmt: skip
    assert all(t.ok for t in targets), [t.message for t in targets]
    job = {t.account: t.job_id for t in targets}

    # B verifies the certificate and publishes at once
    b = settled(h, job["b"])
    assert b.state == "published" and b.remote_post_id, b.timeline
    # C holds the post for its own check: the job keeps reading it (processing) until C decides
    held = wait_for(
        h, job["c"], lambda v: any("held for this platform's own check" in e["message"] for e in v.timeline)
    )
    assert held.state in ("queued", "processing") and held.remote_post_id
    time.sleep(1.5)  # read again at least once (HUTONG_DISTRIBUTION_POLL_SECONDS=1): still not published
    assert h.distribution.jobs.show(job["c"]).state in ("queued", "processing")
    released = hutong_cli(world["home_c"], "platform", "release", held.remote_post_id, "--json")
    assert released.returncode == 0 and json.loads(released.stdout)["status"] == "published", released.stderr
    c = settled(h, job["c"])
    assert c.state == "published" and c.remote_post_id == held.remote_post_id, c.timeline
    # Douyin: a share waits for the user, who confirms in the app; the result comes by webhook over HTTP
    share = wait_for(h, job["dy"], lambda v: v.state == "needs_confirmation")
    assert "confirm share" in share.reason and douyin.posts == []
    douyin.confirm(share.remote_post_id, "publish")
    dy = settled(h, job["dy"])
    assert dy.state == "published" and douyin.posts[0]["text"] == f"我的二创 #Sintel\n{CREDIT}", dy.timeline
    # YouTube: a resumable upload, then processing, then published
    yt = settled(h, job["yt"])
    assert yt.state == "published" and youtube.inserts == 1, yt.timeline
    assert youtube.videos[yt.remote_post_id]["snippet"]["description"].startswith(
        f"我的二创 #Sintel\n{CREDIT}\n"
    )

    seen = {name: [e["state"] for e in h.distribution.jobs.show(i).timeline] for name, i in job.items()}
    for name, states in seen.items():  # every job: queued → uploading → processing → … → published
        assert states[0] == "queued" and "uploading" in states and "processing" in states, (name, states)
        assert states[-1] == "published" and states.index("uploading") < states.index("processing"), (
            name,
            states,
        )
    assert seen["dy"][-2:] == ["needs_confirmation", "published"]
    assert any(
        "processing on the platform" in e["message"] for e in c.timeline
    )  # C's hold, as the creator reads it
    assert any("processing on the platform" in e["message"] for e in yt.timeline)  # YouTube's processing
    assert {"queued", "uploading", "processing", "needs_confirmation", "published"} <= {
        s for v in seen.values() for s in v
    }
    # nothing twice: one post on each platform
    assert len(douyin.posts) == 1 and youtube.inserts == 1
    for url in (world["b_url"], world["c_url"]):
        r = httpx.get(f"{url}/open/video/{h.distribution.jobs.show(job['b' if url == world['b_url'] else 'c']).remote_post_id}",
                      headers=bearer(h.distribution.accounts.connection(
                          h.distribution.accounts.get("b" if url == world["b_url"] else "c").id).access_token))  # fmt: skip
        assert r.status_code == 200 and r.json()["status"] == "published", r.text


def test_rejected_with_the_platforms_reason(world):
    """C's staff reject a held post: the job ends rejected, with C's own words."""
    h = world["h"]
    connect_hutong(world, "c-2", world["c_url"])
    target = h.distribution.jobs.submit(world["clips"][0], world["certs"][0], ["c-2"])[0]
    held = wait_for(h, target.job_id, lambda v: any("held for" in e["message"] for e in v.timeline))
    r = hutong_cli(world["home_c"], "platform", "reject", held.remote_post_id)
    assert r.returncode == 2 and "say why" in r.stderr  # a rejection says why
    r = hutong_cli(world["home_c"], "platform", "reject", held.remote_post_id, "--reason",
                   "the clip's audio is louder than our rules allow", "--json")  # fmt: skip
    assert r.returncode == 0 and json.loads(r.stdout)["status"] == "rejected", r.stderr
    view = settled(h, target.job_id)
    assert view.state == "rejected" and "louder than our rules allow" in view.reason, view.timeline
    r = hutong_cli(world["home_c"], "platform", "release", held.remote_post_id)
    assert r.returncode == 2 and "not held" in r.stderr  # decided once
    r = hutong_cli(world["home_c"], "platform", "release", "p_nosuchpost")
    assert r.returncode == 2 and "no post p_nosuchpost" in r.stderr


def test_failed_with_the_platforms_own_text_and_429s_requeue(world):
    h, youtube = world["h"], world["youtube"]
    connect_youtube(world, "yt-fail")
    youtube.answers = [
        google_error(404, "channelNotFound", "The channel associated with the request cannot be found.")
    ]
    target = h.distribution.jobs.submit(world["clips"][0], world["certs"][0], ["yt-fail"])[0]
    view = settled(h, target.job_id)
    assert view.state == "failed" and "channelNotFound" in view.reason and "cannot be found" in view.reason

    # 429 without Retry-After (backoff), then with it: re-queued, not failed, not counted as failed attempts
    connect_youtube(world, "yt-busy")
    youtube.answers = [google_error(429, "rateLimitExceeded", "Too many requests"),
                       google_error(429, "rateLimitExceeded", "Too many requests", {"Retry-After": "1"})]  # fmt: skip
    target = h.distribution.jobs.submit(world["clips"][0], world["certs"][0], ["yt-busy"])[0]
    view = settled(h, target.job_id)
    assert view.state == "published", view.timeline
    waits = [e["message"] for e in view.timeline if "rateLimitExceeded" in e["message"]]
    assert len(waits) == 2 and "trying again in 2 s" in waits[0] and "trying again in 1 s" in waits[1], waits
    with h.db.session() as s:
        assert s.get(PublishJob, target.job_id).rate_waits == 2


def test_the_per_account_limit_requeues(world):
    h = world["h"]
    jobs = h.distribution.jobs
    jobs.per_minute = 1  # one post started per account per minute (HUTONG_DISTRIBUTION_ACCOUNT_PER_MINUTE)
    try:
        target = jobs.submit(world["clips"][1], world["certs"][1], ["b"], at=None)[0]
        view = wait_for(h, target.job_id, lambda v: "in the last minute" in v.reason)
    finally:
        jobs.per_minute = 0
    assert view.state == "queued" and "b started 1 posts in the last minute" in view.reason
    with h.db.session() as s:
        row = s.get(PublishJob, target.job_id)
        assert row.rate_waits == 1 and row.not_before is not None
        row.not_before = None  # its time has come
    jobs.enqueue(target.job_id, None)
    assert settled(h, target.job_id).state == "published"


def test_a_creator_publishes_only_their_own_certified_clips(world):
    home = world["home_a"]
    connect_hutong(world, "b-hong", world["b_url"], creator="xiaohong")
    connect_hutong(world, "b-mcn", world["b_url"], creator="mcn")  # the organisation xiaoming belongs to
    cert = world["tmp"] / "clip.cert.jws"
    cert.write_text(world["certs"][0])
    r = hutong_cli(home, "publish", str(world["clips"][0]), "--certificate", str(cert), "--to", "b-hong",
                   "--to", "b-mcn", "--dry-run", "--json")  # fmt: skip
    assert r.returncode == 1, r.stderr
    out = json.loads(r.stdout)  # exactly one JSON object
    by = {t["account"]: t for t in out["targets"]}
    assert (
        not by["b-hong"]["ok"]
        and "issued to @xiaoming, but 'b-hong' is xiaohong's account" in by["b-hong"]["message"]
    )
    assert by["b-mcn"]["ok"], by["b-mcn"]["message"]  # an organisation publishes for its members
    with pytest.raises(HutongError, match="no platform account 'nobody'"):
        world["h"].creators.link("xiaoming", "nobody")
    with pytest.raises(HutongError, match="no creator @ghost"):
        world["h"].creators.link("ghost", "meimei")
    r = hutong_cli(home, "creators", "link", "xiaoming")
    assert r.returncode == 2 and "name the platform account" in r.stderr


def test_publish_waits_with_progress_and_prints_one_json_object(world):
    """`hutong publish --wait --json`: stays until the job settles (progress bars go to a terminal's stderr,
    never to stdout), then prints exactly one JSON object with the settled jobs."""
    cert = world["tmp"] / "clip2.cert.jws"
    cert.write_text(world["certs"][1])
    r = hutong_cli(world["home_a"], "publish", str(world["clips"][1]), "--certificate", str(cert), "--to", "yt",
                   "--wait", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)  # the whole of stdout is one JSON object
    assert body["targets"][0]["ok"] and [j["state"] for j in body["jobs"]] == ["published"]
    assert body["jobs"][0]["uploaded"] and body["jobs"][0]["remote_post_id"]


def test_the_workers_live_table_shows_uploads_in_flight(world):
    """What `hutong worker` draws on a terminal: the jobs uploading now, with how much the platform has."""
    from rich.console import Console

    from hutong.cli.distribute import _in_flight

    h = world["h"]
    job_id = next(j.id for j in h.distribution.jobs.list("failed") if j.account == "yt-fail")
    size = world["clips"][0].stat().st_size
    with h.db.session() as s:  # as if it were uploading now, half the clip accepted
        row = s.get(PublishJob, job_id)
        row.state, row.remote_part_size, row.remote_parts_done = "uploading", size // 4, 2
    try:
        console = Console(record=True, width=150)
        console.print(_in_flight(h))
        text = console.export_text()
    finally:
        with h.db.session() as s:
            s.get(PublishJob, job_id).state = "failed"
    line = next(x for x in text.splitlines() if "yt-fail" in x)
    assert "uploading" in line and " 50%" in line and "clip.mp4" in line, text


def test_clips_sent_over_http_are_deleted_once_no_job_needs_them(world):
    h = world["h"]
    clips = h.distribution.clips
    sent = []
    for n in (3, 4, 5):
        w = clips.writer()
        w.write(copy_of(world["clips"][0], world["tmp"], n).read_bytes())
        sent.append(w.finish()[0])
    done, waiting, unused = (clips.path(c) for c in sent)
    cert = h.compliance.certify(h.compliance.check(done, "xiaoming", "platform-b")).token
    finished = h.distribution.jobs.submit(done, cert, ["b"])[0]
    assert settled(h, finished.job_id).state == "published"
    cert2 = h.compliance.certify(h.compliance.check(waiting, "xiaoming", "platform-b")).token
    later = h.distribution.jobs.submit(waiting, cert2, ["b"], at=utcnow() + timedelta(days=30))[
        0
    ]  # scheduled: still needed
    assert h.distribution.cleanup_clips() == [sent[0]]
    assert (
        not done.exists() and waiting.exists() and unused.exists()
    )  # a clip no job names yet is kept a while
    os.utime(unused, (time.time() - 2 * 86400,) * 2)
    assert h.distribution.cleanup_clips() == [sent[2]] and waiting.exists()
    h.distribution.jobs.cancel(later.job_id)  # cancelled may be retried: the clip stays
    assert h.distribution.cleanup_clips() == [] and waiting.exists()


def test_revoking_the_certificate_takes_every_post_down(world):
    h, home = world["h"], world["home_a"]
    jti = peek(world["certs"][0])[1]["jti"]
    published = {j.account: j.id for j in h.distribution.jobs.list("published") if j.certificate_id == jti}
    assert {"b", "c", "dy", "yt", "yt-busy"} <= set(published)
    r = hutong_cli(home, "certificate", "revoke", jti, "--reason", "the holder withdrew the licence")
    assert r.returncode == 0 and "to take down" in r.stdout, r.stderr
    views = {
        name: wait_for(h, i, lambda v: v.state in ("taken_down", "flagged", "failed"))
        for name, i in published.items()
    }
    for name in ("b", "c", "yt", "yt-busy"):
        assert views[name].state == "taken_down", views[name].timeline
        assert "the holder withdrew the licence" in views[name].reason
    # a Douyin share is the user's own post: the creator is told what to do
    assert views["dy"].state == "failed" and "general apps cannot delete it" in views["dy"].reason
    assert world["youtube"].videos.get(views["yt"].remote_post_id) is None
