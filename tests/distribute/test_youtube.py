"""The YouTube adapter against the local stand-in of the YouTube Data API v3 (a fake of a third party that
cannot be reached from here, built from Google's public documentation: see ``youtube_standin.py``).

A creator service (hutong A, in this process) connects YouTube accounts through the stand-in's OAuth and
publishes a certified clip with its durable jobs, which the tests drive step by step (``drive``): no worker
threads, no sleeps."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.responses import Response

from hutong.api.background import Background, free_port
from hutong.app import Hutong
from hutong.compliance.certificate import peek
from hutong.config import installation_settings
from hutong.distribute.accounts import AccountError
from hutong.distribute.adapters import AdapterError, Outcome, UploadState, YouTubeAdapter
from hutong.distribute.adapters.youtube import DESCRIPTION_MAX, TAGS_MAX, tags_within, video_text
from hutong.distribute.jobs import FINAL
from hutong.rights import LicenceTerms
from hutong.store import PublishJob, utcnow
from tests.distribute.test_publish import cli
from tests.distribute.youtube_standin import UNIT, YouTubeStandIn, google_error

HOLDER = "Blender Foundation"
REDIRECT = "http://127.0.0.1:9/cb"
CREDIT = "© Blender Foundation, CC BY"


@pytest.fixture(scope="module")
def world(registered_home, two_work_clip, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("youtube")
    home = tmp / "a"
    shutil.copytree(registered_home, home)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    clip = tmp / "clip.mp4"
    shutil.copy(two_work_clip.path, clip)
    assert clip.stat().st_size > 3 * UNIT  # several chunks of 256 KiB

    h = Hutong.create(
        installation_settings(home=home, issuer="http://127.0.0.1:1", platform_name="creator-service")
    )
    h.creators.add("xiaoming", verified=True)
    h.licences.grant(HOLDER, LicenceTerms.parse({
        "works": [1, 2], "scope": {"kind": "verified"}, "valid_from": "2026-01-01", "valid_until": "2030-01-01",
        "attribution": CREDIT, "platforms": ["youtube"]}))  # fmt: skip
    cert = h.compliance.certify(h.compliance.check(clip, "xiaoming", "youtube")).token
    standin = YouTubeStandIn({"svc.apps.googleusercontent.com": ("GOCSPX-secret", [REDIRECT])})
    standin.base = url
    http = httpx.Client()
    # 256 KiB chunks (Google's unit) so that a small clip is several chunks
    h.distribution.accounts.adapters["youtube"] = YouTubeAdapter(http, chunk_size=UNIT)
    try:
        with Background(standin.app, port):
            yield {"h": h, "home": home, "url": url, "yt": standin, "clip": clip, "cert": cert, "http": http}
    finally:
        http.close()
        h.close()


def connect(world, name: str, *, decision: str = "allow") -> str:
    """The creator connects a YouTube account: authorization URL, Google's consent page, the redirect."""
    h = world["h"]
    started = h.distribution.accounts.start(name, world["url"], client_id="svc.apps.googleusercontent.com",
                                            client_secret="GOCSPX-secret", redirect_uri=REDIRECT,
                                            adapter="youtube")  # fmt: skip
    assert started["platform_name"] == "youtube"
    q = parse_qs(urlsplit(started["authorization_url"]).query)
    assert (
        q["access_type"] == ["offline"] and q["code_challenge_method"] == ["S256"] and q["code_challenge"][0]
    )
    page = httpx.get(started["authorization_url"])
    assert page.status_code == 200 and "Allow" in page.text
    fields = {k: v[0] for k, v in q.items()} | {"decision": decision}
    back = httpx.post(world["url"] + "/o/oauth2/v2/auth", data=fields)
    assert back.status_code == 302 and back.headers["location"].startswith(REDIRECT)
    return back.headers["location"]


def drive(h: Hutong, job_id: int, steps: int = 12) -> str:
    """Run the job as a worker would, not waiting for retry times (``not_before``)."""
    for _ in range(steps):
        with h.db.session() as s:
            s.get(PublishJob, job_id).not_before = None
        state = h.distribution.jobs.run(job_id)
        if state in FINAL:
            return state
    raise AssertionError(h.distribution.jobs.show(job_id).timeline)


def publish(world, account: str, caption: str = "我的二创") -> int:
    target = world["h"].distribution.jobs.submit(world["clip"], world["cert"], [account], caption=caption)[0]
    assert target.ok and target.job_id, target.message
    return target.job_id


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_connect_publish_processing_then_published_and_take_down(world):
    h, yt = world["h"], world["yt"]
    view = h.distribution.accounts.finish(connect(world, "yt-main"))
    assert view.status == "connected" and view.adapter == "youtube" and view.expires_at is not None
    before = yt.inserts
    job_id = publish(world, "yt-main", "我的二创 #二创 #Sintel")
    assert h.distribution.jobs.run(job_id) == "queued"  # uploaded; YouTube is still processing it
    view = h.distribution.jobs.show(job_id)
    assert "processing on the platform" in view.timeline[-1]["message"] and view.remote_post_id
    assert drive(h, job_id) == "published"
    view = h.distribution.jobs.show(job_id)
    states = [e["state"] for e in view.timeline]
    assert (
        states[0] == "queued"
        and "uploading" in states
        and "processing" in states
        and states[-1] == "published"
    )
    assert yt.inserts == before + 1
    video = yt.videos[view.remote_post_id]
    assert video["sha256"] == sha(world["clip"]) and video["status"]["privacyStatus"] == "public"
    jti, iss = (peek(world["cert"])[1][k] for k in ("jti", "iss"))
    assert video["snippet"]["title"] == "我的二创 #二创 #Sintel"
    assert video["snippet"]["description"] == (f"我的二创 #二创 #Sintel\n{CREDIT}\n"
                                               f"hutong certificate {jti} · verify: {iss}/certificates/{jti}/status")  # fmt: skip
    assert video["snippet"]["tags"] == ["二创", "Sintel"]

    adapter = h.distribution.accounts.adapter("youtube")
    conn = h.distribution.accounts.connection(_account_id(h, "yt-main"))
    assert adapter.take_down(conn, view.remote_post_id, "licence revoked").status == "taken_down"
    assert view.remote_post_id not in yt.videos
    assert adapter.post_status(conn, view.remote_post_id).status == "taken_down"
    with pytest.raises(AdapterError) as gone:  # deleting twice: YouTube's own words
        adapter.take_down(conn, view.remote_post_id, "again")
    assert gone.value.outcome is Outcome.FAILED and "videoNotFound" in str(gone.value)


def _account_id(h: Hutong, name: str) -> int:
    return h.distribution.accounts.get(name).id


def test_interrupted_upload_resumes_from_youtubes_range(world):
    h, yt = world["h"], world["yt"]
    h.distribution.accounts.finish(connect(world, "yt-drop"))
    before, chunks = yt.inserts, yt.chunks
    yt.drop_chunks = {chunks + 2}  # the second chunk is kept, its answer never arrives
    job_id = publish(world, "yt-drop")
    assert drive(h, job_id) == "published"
    assert yt.dropped == 1 and yt.inserts == before + 1  # the answer was lost; exactly one video
    n = -(-world["clip"].stat().st_size // UNIT)
    assert yt.chunks - chunks == n  # nothing sent twice: the upload went on from the server's Range
    assert yt.videos[h.distribution.jobs.show(job_id).remote_post_id]["sha256"] == sha(world["clip"])


def test_a_worker_that_died_mid_upload_resumes_from_the_session(world):
    """The checkpoint keeps the session URI; the next worker asks it (bytes */total) and sends the rest."""
    h, yt = world["h"], world["yt"]
    adapter = h.distribution.accounts.adapter("youtube")
    conn = h.distribution.accounts.connection(_account_id(h, "yt-drop"))
    saved: list[UploadState] = []

    class Died(Exception):
        pass

    def dies_after_two(st: UploadState) -> None:
        saved.append(st)
        if st.parts_done == 2:
            raise Died

    before, chunks = yt.inserts, yt.chunks
    with pytest.raises(Died):
        adapter.upload(conn, world["clip"], checkpoint=dies_after_two)
    assert yt.inserts == before and saved[-1].parts_done == 2 and saved[-1].upload_id
    done = adapter.upload(conn, world["clip"], resume=saved[-1])
    n = -(-world["clip"].stat().st_size // UNIT)
    assert done.video_id and yt.inserts == before + 1 and yt.chunks - chunks == n
    assert yt.videos[done.video_id]["sha256"] == sha(world["clip"])
    # and the same session asked again (a worker that died after the last chunk): the same video, not a new one
    again = adapter.upload(conn, world["clip"], resume=UploadState(saved[-1].upload_id, "", UNIT, n - 1))
    assert again.video_id == done.video_id and yt.inserts == before + 1


def test_a_session_that_keeps_nothing_is_retried_later_then_resumed(world):
    h, yt = world["h"], world["yt"]
    adapter = h.distribution.accounts.adapter("youtube")
    conn = h.distribution.accounts.connection(_account_id(h, "yt-drop"))
    saved: list[UploadState] = []
    before = yt.inserts
    yt.chunk_answers = [Response(status_code=308) for _ in range(4)]  # "I have nothing", four times over
    with pytest.raises(AdapterError) as stalled:
        adapter.upload(conn, world["clip"], checkpoint=saved.append)
    assert stalled.value.outcome is Outcome.RETRY_LATER and "resumes later" in str(stalled.value)
    assert yt.inserts == before and saved and not yt.chunk_answers
    done = adapter.upload(conn, world["clip"], resume=saved[-1])
    assert yt.inserts == before + 1 and yt.videos[done.video_id]["sha256"] == sha(world["clip"])


def test_final_answer_lost_is_resolved_by_the_session_not_a_second_insert(world):
    h, yt = world["h"], world["yt"]
    h.distribution.accounts.finish(connect(world, "yt-lost"))
    n = -(-world["clip"].stat().st_size // UNIT)
    before, chunks = yt.inserts, yt.chunks
    yt.drop_chunks = {chunks + n}  # the last chunk: the video is made, the 201 never arrives
    job_id = publish(world, "yt-lost")
    assert drive(h, job_id) == "published"
    assert yt.inserts == before + 1 and yt.chunks - chunks == n and yt.dropped == 2


def test_a_session_youtube_lost_after_the_last_chunk_is_unknown_not_reinserted(world):
    h, yt = world["h"], world["yt"]
    adapter = h.distribution.accounts.adapter("youtube")
    conn = h.distribution.accounts.connection(_account_id(h, "yt-lost"))
    n = -(-world["clip"].stat().st_size // UNIT)
    before = yt.inserts
    gone = f"{world['url']}/upload/session/expired"
    with pytest.raises(AdapterError) as unknown:
        adapter.upload(conn, world["clip"], resume=UploadState(gone, "", UNIT, n - 1))
    assert unknown.value.outcome is Outcome.UNKNOWN and "may exist" in str(unknown.value)
    assert yt.inserts == before
    # a session lost early on (nothing near the end was sent) simply starts over
    fresh = adapter.upload(conn, world["clip"], resume=UploadState(gone, "", UNIT, 0))
    assert fresh.video_id and yt.inserts == before + 1


def test_rate_limits_and_quota_requeue(world):
    h, yt = world["h"], world["yt"]
    h.distribution.accounts.finish(connect(world, "yt-quota"))
    before = yt.inserts
    yt.answers = [google_error(429, "rateLimitExceeded", "Too many requests", {"Retry-After": "7"})]
    job_id = publish(world, "yt-quota")
    assert h.distribution.jobs.run(job_id) == "queued"
    view = h.distribution.jobs.show(job_id)
    assert "rateLimitExceeded" in view.reason and "trying again in 7 s" in view.reason
    with h.db.session() as s:
        nb = s.get(PublishJob, job_id).not_before
        s.get(PublishJob, job_id).not_before = None
        assert (
            utcnow() + timedelta(seconds=3)
            < nb.replace(tzinfo=utcnow().tzinfo)
            <= utcnow() + timedelta(seconds=8)
        )
    yt.answers = [
        google_error(
            403, "quotaExceeded", "The request cannot be completed because you have exceeded your quota."
        )
    ]
    assert h.distribution.jobs.run(job_id) == "queued"
    view = h.distribution.jobs.show(job_id)
    assert view.state == "queued" and "quotaExceeded" in view.reason
    with h.db.session() as s:  # the daily quota comes back at midnight Pacific time: minutes or hours away
        nb = s.get(PublishJob, job_id).not_before
        assert nb.replace(tzinfo=utcnow().tzinfo) > utcnow() + timedelta(minutes=4)
    assert h.distribution.accounts.get("yt-quota").status == "connected"  # a quota is not an auth error
    yt.chunk_answers = [
        google_error(503, "backendError", "Backend Error")
    ]  # a 5xx on a chunk: asked, resumed
    assert drive(h, job_id) == "published" and yt.inserts == before + 1 and not yt.chunk_answers
    view = h.distribution.jobs.show(job_id)  # 429, quota, upload + update, the read that found it processed
    assert view.attempts == 4 and not any("backendError" in e["message"] for e in view.timeline)


def test_youtube_rejects_the_video_with_its_reason(world):
    h, yt = world["h"], world["yt"]
    h.distribution.accounts.finish(connect(world, "yt-rejected"))
    yt.reject = "duplicate"
    job_id = publish(world, "yt-rejected")
    assert drive(h, job_id) == "rejected"
    view = h.distribution.jobs.show(job_id)
    assert "rejected the video: duplicate" in view.reason and "duplicate of a video" in view.reason


def test_too_long_caption_and_tags_are_trimmed_with_the_attribution_kept(world):
    h, yt = world["h"], world["yt"]
    h.distribution.accounts.finish(connect(world, "yt-long"))
    tags = " ".join(f"#标签{i:03d}" for i in range(120))  # 120 tags: far more than 500 characters
    caption = "很长的<说明>" * 900 + " " + tags  # > 5000 bytes in UTF-8, with characters YouTube refuses
    job_id = publish(world, "yt-long", caption)
    assert drive(h, job_id) == "published"  # the stand-in refuses anything over YouTube's limits
    snippet = yt.videos[h.distribution.jobs.show(job_id).remote_post_id]["snippet"]
    description = snippet["description"]
    assert len(description.encode()) <= DESCRIPTION_MAX and "<" not in description
    lines = description.split("\n")
    assert lines[-2] == CREDIT and lines[-1].startswith("hutong certificate ") and lines[0].endswith("…")
    assert len(snippet["title"]) <= 100 and "<" not in snippet["title"]
    assert sum(len(t) for t in snippet["tags"]) + len(snippet["tags"]) - 1 <= TAGS_MAX


def test_the_snippet_rules():
    text = video_text("a title line\nmore words #one #two words\n" + CREDIT, "not a certificate")
    assert text["title"] == "a title line" and text["tags"] == ["one", "two"]
    assert text["description"].endswith(CREDIT)
    assert tags_within(["a b", "c"], limit=6) == ["a b"]  # "a b" counts its quotes: 5, then ",c" would be 7
    assert tags_within(["x" * 501]) == []
    with pytest.raises(AdapterError) as too_long:
        video_text("body\n" + "©" * 5000, "")
    assert too_long.value.outcome is Outcome.REJECTED and "description limit" in str(too_long.value)


def test_consent_denied_or_code_reused_is_refused_with_a_reason(world):
    h = world["h"]
    with pytest.raises(AccountError, match="access_denied"):
        h.distribution.accounts.finish(connect(world, "yt-denied", decision="deny"))
    location = connect(world, "yt-twice")
    h.distribution.accounts.finish(location)
    with pytest.raises(AccountError, match="state differs"):
        h.distribution.accounts.finish(location)
    bad = httpx.get(
        world["url"] + "/o/oauth2/v2/auth", params={"client_id": "nobody", "redirect_uri": REDIRECT}
    )
    assert bad.status_code == 401 and "invalid_client" in bad.text


def test_bad_inputs_to_the_adapter(world, tmp_path):
    with pytest.raises(ValueError, match="256"):
        YouTubeAdapter(world["http"], chunk_size=1000)
    h = world["h"]
    adapter = h.distribution.accounts.adapter("youtube")
    conn = h.distribution.accounts.connection(_account_id(h, "yt-main"))
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(AdapterError) as nothing:
        adapter.upload(conn, empty)
    assert nothing.value.outcome is Outcome.REJECTED and "empty" in str(nothing.value)
    caps = adapter.capabilities(world["url"])
    assert caps.direct_post and caps.certificate_field == "description" and caps.tags_max == TAGS_MAX
    assert caps.max_bytes and caps.max_seconds and caps.caption_max_chars < DESCRIPTION_MAX


def google(status: int, reason: str, **kw) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "https://www.googleapis.com/youtube/v3/videos")
    body = {"error": {"code": status, "message": f"says {reason}", "errors": [{"reason": reason}]}}
    return httpx.HTTPStatusError("answer", request=request,
                                 response=httpx.Response(status, request=request, json=body, **kw))  # fmt: skip


@pytest.mark.parametrize(
    ("error", "token", "outcome"),
    [
        (google(403, "quotaExceeded"), False, Outcome.RETRY_LATER),
        (google(403, "userRateLimitExceeded", headers={"Retry-After": "30"}), False, Outcome.RETRY_LATER),
        (google(403, "forbidden"), False, Outcome.AUTH),
        (google(401, "authError"), False, Outcome.AUTH),
        (google(400, "invalidTitle"), False, Outcome.REJECTED),
        (google(404, "videoNotFound"), False, Outcome.FAILED),
        (google(500, "backendError"), False, Outcome.RETRY_LATER),
        (google(503, "backendError"), True, Outcome.RETRY_LATER),
    ],
)
def test_google_errors_are_classified(error, token, outcome):
    got = YouTubeAdapter(httpx.Client()).classify(error, token_endpoint=token)
    assert got.outcome is outcome and error.response.json()["error"]["errors"][0]["reason"] in str(got)


def test_token_endpoint_answers_are_classified():
    ad = YouTubeAdapter(httpx.Client())
    request = httpx.Request("POST", "https://oauth2.googleapis.com/token")

    def answer(status: int, body: dict) -> httpx.HTTPStatusError:
        return httpx.HTTPStatusError("a", request=request,
                                     response=httpx.Response(status, request=request, content=json.dumps(body)))  # fmt: skip

    revoked = ad.classify(answer(400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
                          token_endpoint=True)  # fmt: skip
    down = ad.classify(answer(503, {"error": "backend"}), token_endpoint=True)
    assert revoked.outcome is Outcome.AUTH and "expired or revoked" in str(revoked)
    assert down.outcome is Outcome.RETRY_LATER  # never "needs reconnect" on a 5xx


def test_connecting_from_the_command_line(world):
    url, client = world["url"], "svc.apps.googleusercontent.com"
    r = cli(world["home"], "accounts", "connect", "yt-cli", url, "--adapter", "youtube", "--client-id", client,
            "--client-secret", "GOCSPX-secret", "--redirect-uri", REDIRECT, "--start", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    started = json.loads(r.stdout)
    assert started["platform_name"] == "youtube" and "access_type=offline" in started["authorization_url"]
    q = {k: v[0] for k, v in parse_qs(urlsplit(started["authorization_url"]).query).items()}
    back = httpx.post(url + "/o/oauth2/v2/auth", data=q | {"decision": "allow"}).headers["location"]
    r = cli(world["home"], "accounts", "connect", "yt-cli", "--finish", back, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["status"] == "connected", r.stderr
    wrong = cli(world["home"], "accounts", "connect", "yt-bad", url, "--adapter", "tiktok", "--client-id", client,
                "--client-secret", "x", "--redirect-uri", REDIRECT, "--start")  # fmt: skip
    assert (
        wrong.returncode != 0 and "no platform adapter 'tiktok'" in wrong.stderr and "youtube" in wrong.stderr
    )


def test_revoked_consent_needs_reconnect_and_reconnecting_continues(world):
    """Last in this module: revoking consent on the stand-in ends every token it gave."""
    h, yt = world["h"], world["yt"]
    h.distribution.accounts.finish(connect(world, "yt-revoked"))
    yt.revoke_consent()
    before = yt.inserts
    job_id = publish(world, "yt-revoked")
    assert drive(h, job_id) == "failed"
    view = h.distribution.jobs.show(job_id)
    assert "needs reconnecting" in view.reason and "invalid_grant" in view.reason
    acc = h.distribution.accounts.get("yt-revoked")
    assert acc.status == "needs_reconnect" and "invalid_grant" in acc.status_reason
    assert yt.inserts == before
    started = h.distribution.accounts.reconnect("yt-revoked")
    q = {k: v[0] for k, v in parse_qs(urlsplit(started["authorization_url"]).query).items()}
    back = httpx.post(world["url"] + "/o/oauth2/v2/auth", data=q | {"decision": "allow"})
    assert h.distribution.accounts.finish(back.headers["location"]).status == "connected"
    h.distribution.jobs.retry(job_id)
    assert drive(h, job_id) == "published" and yt.inserts == before + 1
