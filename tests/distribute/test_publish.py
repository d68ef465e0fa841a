"""Acceptance for distribution's foundation: a creator service (installation A, which certifies clips) connects
a creator's account on platform B (a real `hutong serve` on loopback that trusts A's certificates) through the
real OAuth flow, and publishes a certified clip there through the durable job queue.

A's keys are served on loopback by a small site (all B needs of A: its JWKS); A itself runs in this process,
with Huey's consumer threads as its worker."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from hutong.api.background import Background, free_port
from hutong.app import Hutong
from hutong.config import installation_settings
from hutong.distribute import PublishError
from hutong.distribute.adapters import AdapterError, Outcome, Tokens, UploadState
from hutong.distribute.jobs import caption_with_attribution
from hutong.errors import HutongError
from hutong.rights import LicenceTerms
from hutong.store import DistributionAccount, PublishJob
from tests.api.conftest import UserAgent, api_user, bearer, start_server
from tests.conftest import interrupt
from tests.distribute.conftest import LOOPBACK_ENV

HOLDER = "Blender Foundation"
REDIRECT = "http://127.0.0.1:9/cb"


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUTONG_")} | {"HUTONG_HOME": str(home)}
    env |= LOOPBACK_ENV
    return subprocess.run(
        [sys.executable, "-m", "hutong", *args], capture_output=True, text=True, env=env, timeout=120
    )


def b_posts(world) -> list[tuple]:
    with sqlite3.connect(world["b"].home / "hutong.db") as db:
        return db.execute("SELECT id, status, text FROM posts ORDER BY created_at").fetchall()


def wait_state(h: Hutong, job_id: int, states: tuple[str, ...], timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = h.distribution.jobs.show(job_id)
        if view.state in states:
            return view
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} stayed {view.state}: {view.timeline}")


def creator_service_on(b_url: str) -> dict:
    """Platform B as the tests need it: a developer's confidential app (the creator service that publishes
    there) and the creator's account; the app as B answered."""
    dev = api_user(b_url, "csp-dev")
    httpx.post(b_url + "/api/developers", json={"kind": "individual", "display_name": "Creator service"},
               headers=bearer(dev))  # fmt: skip
    r = httpx.post(b_url + "/api/apps", headers=bearer(dev), json={
        "name": "Clip Carrier", "client_type": "confidential", "redirect_uris": [REDIRECT],
        "scopes": ["openid", "video.create"]})  # fmt: skip
    assert r.status_code == 201, r.text
    api_user(b_url, "meimei")
    return r.json()


@pytest.fixture(scope="module")
def world(registered_home, two_work_clip, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("distribute")
    home_a, home_b = tmp / "a", tmp / "b"
    shutil.copytree(registered_home, home_a)
    pa, pb = free_port(), free_port()
    a_url, b_url = f"http://127.0.0.1:{pa}", f"http://127.0.0.1:{pb}"
    clip = tmp / "clip.mp4"
    shutil.copy(two_work_clip.path, clip)

    h = Hutong.create(installation_settings(home=home_a, issuer=a_url, platform_name="creator-service"))
    h.creators.add("xiaoming", verified=True)
    base = {"works": [1, 2], "scope": {"kind": "verified"}, "valid_from": "2026-01-01", "valid_until": "2030-01-01",
            "attribution": "© Blender Foundation, CC BY"}  # fmt: skip
    h.licences.grant(HOLDER, LicenceTerms.parse({**base, "platforms": ["platform-b"]}))
    h.creators.add("xiaohong")  # only a licence naming her reaches her, and it covers platform-c only
    only_c = {**base, "scope": {"kind": "creators", "creators": ["xiaohong"]}, "platforms": ["platform-c"]}
    h.licences.grant(HOLDER, LicenceTerms.parse(only_c), allow_overlap=True)
    report = h.recognizer.match(clip)
    certs = {p: h.compliance.certify(h.compliance.check(clip, who, p, report=report)).token
             for who, p in (("xiaoming", "platform-b"), ("xiaohong", "platform-c"))}  # fmt: skip
    jwks = h.compliance.jwks()
    keys_site = Starlette(routes=[Route("/.well-known/jwks.json", lambda _r: JSONResponse(jwks))])

    hb = Hutong.create(installation_settings(home=home_b, issuer=b_url, platform_name="platform-b"))
    hb.platform.directory.trust(a_url, note="distribution test")
    hb.close()
    env_b = {"HUTONG_ISSUER": b_url, "HUTONG_PLATFORM_NAME": "platform-b", "HUTONG_UNCERTIFIED": "reject",
             "HUTONG_INGEST_PART_BYTES": str(64 * 1024)}  # fmt: skip
    b = start_server(home_b, port=pb, env=env_b)
    worker = None
    try:
        with Background(keys_site, pa):
            # the creator service's app on B, and the creator's account on B
            app = creator_service_on(b_url)
            worker = h.distribution.worker(2).start()
            yield {"h": h, "worker": worker, "a_url": a_url, "b": b, "b_url": b_url, "app": app, "certs": certs, "clip": clip,
                   "home_a": home_a, "tmp": tmp,
                   "report": report}  # fmt: skip
    finally:
        if worker:
            worker.stop()
        h.close()
        b.stop()


def connect(world, name: str) -> None:
    """The creator connects an account on B: the authorization URL, B's login and consent, the redirect."""
    h, app = world["h"], world["app"]
    started = h.distribution.accounts.start(name, world["b_url"], client_id=app["client_id"],
                                            client_secret=app["client_secret"], redirect_uri=REDIRECT)  # fmt: skip
    assert started["platform_name"] == "platform-b"
    with UserAgent(world["b_url"]) as ua:
        ua.login("meimei")
        page = ua.get(started["authorization_url"])
        assert page.status_code == 200, page.text[:300]
        back = ua.submit(page.text, "/oauth/authorize", button="allow")
    assert back.status_code in (302, 303) and back.headers["location"].startswith(REDIRECT)
    view = h.distribution.accounts.finish(back.headers["location"])
    assert view.status == "connected" and view.expires_at is not None


def test_connect_publish_and_never_twice(world):
    h = world["h"]
    connect(world, "b-main")
    acc = h.distribution.accounts.get("b-main")
    assert acc.history[-1]["event"] == "connected"
    with h.db.session() as s:  # tokens are ciphertext at rest
        row = s.query(DistributionAccount).filter_by(name="b-main").one()
        assert row.access_token_enc and b"hta" not in row.access_token_enc

    cert = world["certs"]["platform-b"]
    plan = h.distribution.jobs.submit(world["clip"], cert, ["b-main"], caption="我的二创", dry_run=True)
    assert plan[0].ok and "would publish" in plan[0].message and plan[0].job_id is None
    assert h.distribution.jobs.list() == [] and b_posts(world) == []  # a dry run publishes nothing

    first = h.distribution.jobs.submit(world["clip"], cert, ["b-main"], caption="我的二创")
    assert first[0].ok and first[0].job_id and not first[0].duplicate
    again = h.distribution.jobs.submit(world["clip"], cert, ["b-main"], caption="我的二创")
    assert again[0].duplicate and again[0].job_id == first[0].job_id
    view = wait_state(h, first[0].job_id, ("published", "failed", "rejected"))
    assert view.state == "published", view.timeline
    states = [e["state"] for e in view.timeline]
    assert (
        states[:1] == ["queued"]
        and "uploading" in states
        and "processing" in states
        and states[-1] == "published"
    )
    posts = b_posts(world)
    assert len(posts) == 1 and posts[0][0] == view.remote_post_id and posts[0][1] == "published"
    assert posts[0][2] == "我的二创\n© Blender Foundation, CC BY"  # the licence's attribution in the caption
    # submitted a third time after it was published: still one job, one post
    assert h.distribution.jobs.submit(world["clip"], cert, ["b-main"])[0].duplicate
    time.sleep(0.5)
    assert len(b_posts(world)) == 1 and len(h.distribution.jobs.list()) == 1


def test_replaying_create_after_an_unknown_outcome_makes_no_second_post(world):
    """The worker died after create_video was sent: the job is recovered, and the replay with the same
    Idempotency-Key returns the post that exists."""
    h = world["h"]
    job = h.distribution.jobs.list()[0]
    with h.db.session() as s:  # as if the worker had died after sending create_video
        j = s.get(PublishJob, job.id)
        j.state, j.remote_post_id, j.lease_until = "processing", "", None
    assert job.id in h.distribution.jobs.recover(all_in_flight=True)
    view = wait_state(h, job.id, ("published", "failed", "rejected"))
    assert view.state == "published" and view.remote_post_id == job.remote_post_id
    assert any("no second post" in e["message"] for e in view.timeline)
    assert any("recovered" in e["message"] for e in view.timeline)
    assert len(b_posts(world)) == 1


def test_a_job_is_claimed_by_one_worker_at_a_time(world):
    h = world["h"]
    job = h.distribution.jobs.list()[0]
    with h.db.session() as s:  # queued again (as if a retry were due), with no queue message sent
        s.get(PublishJob, job.id).state = "queued"
    first, second = h.distribution.jobs._claim(job.id), h.distribution.jobs._claim(job.id)
    assert first is not None and second is None
    assert (
        h.distribution.jobs._run(first) == "published"
    )  # it has a post: its status is read, nothing re-posted
    assert len(b_posts(world)) == 1


def test_bad_inputs_are_refused_with_a_reason(world):
    h, cert = world["h"], world["certs"]["platform-b"]
    unknown = h.distribution.jobs.submit(world["clip"], cert, ["nowhere"])
    assert not unknown[0].ok and "no connected account 'nowhere'" in unknown[0].message
    other = h.distribution.jobs.submit(world["clip"], world["certs"]["platform-c"], ["b-main"])
    assert not other[0].ok and "covers platform-c, not platform-b" in other[0].message
    edited = world["tmp"] / "edited.mp4"
    data = bytearray(world["clip"].read_bytes())
    data[len(data) // 2] ^= 0x20  # one byte changed after certification
    edited.write_bytes(bytes(data))
    with pytest.raises(PublishError, match="clip-mismatch"):
        h.distribution.jobs.submit(edited, cert, ["b-main"])
    with pytest.raises(PublishError, match="not a certificate"):
        h.distribution.jobs.submit(world["clip"], "garbage", ["b-main"])
    assert len(h.distribution.jobs.list()) == 1 and len(b_posts(world)) == 1  # nothing queued, nothing posted


def test_platform_down_retries_and_loses_nothing(world):
    h = world["h"]
    connect(world, "b-second")
    dead = f"http://127.0.0.1:{free_port()}"
    with h.db.session() as s:  # the platform goes away (its address answers nothing)
        s.query(DistributionAccount).filter_by(name="b-second").update({"platform_url": dead})
    target = h.distribution.jobs.submit(world["clip"], world["certs"]["platform-b"], ["b-second"])[0]
    assert target.ok, target.message
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        view = h.distribution.jobs.show(target.job_id)
        if view.attempts >= 1 and view.state == "queued" and view.not_before:
            break
        time.sleep(0.05)
    assert view.state == "queued" and "cannot be reached" in view.reason, view.as_dict()
    assert any("trying again" in e["message"] for e in view.timeline)
    with h.db.session() as s:  # the platform is back
        s.query(DistributionAccount).filter_by(name="b-second").update({"platform_url": world["b_url"]})
    view = wait_state(h, target.job_id, ("published", "failed", "rejected"), timeout=30)
    assert view.state == "published", view.timeline
    assert len(b_posts(world)) == 2  # one post per account, none lost


def test_tokens_refresh_and_auth_errors(world):
    h = world["h"]
    accounts = h.distribution.accounts
    acc = accounts.get("b-main")
    with h.db.session() as s:  # the access token is about to expire
        row = s.get(DistributionAccount, acc.id)
        row.expires_at = row.expires_at.replace(year=2020)
        old_refresh = row.refresh_token_enc
    conn = accounts.connection(acc.id)  # refreshed against B's token endpoint first
    assert conn.access_token and accounts.get("b-main").history[-1]["event"] == "refreshed"
    with h.db.session() as s:
        row = s.get(DistributionAccount, acc.id)
        assert row.refresh_token_enc != old_refresh and row.expires_at.year > 2020
    # a refresh answered without a refresh token keeps the one we have
    probe = DistributionAccount(id=acc.id, refresh_token_enc=b"kept", scope="")
    accounts._store(probe, Tokens(access_token="new", refresh_token=""))
    assert probe.refresh_token_enc == b"kept" and probe.access_token_enc
    # the platform down: a refresh fails, the account stays connected
    with h.db.session() as s:
        row = s.get(DistributionAccount, acc.id)
        row.expires_at, url = row.expires_at.replace(year=2020), row.platform_url
        row.platform_url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(AdapterError) as down:
        accounts.connection(acc.id)
    assert down.value.outcome is Outcome.RETRY_LATER and accounts.get("b-main").status == "connected"
    # a refresh token the platform no longer knows: invalid_grant, the account needs reconnecting
    with h.db.session() as s:
        row = s.get(DistributionAccount, acc.id)
        row.platform_url = url
        row.refresh_token_enc = accounts.vault.encrypt("htr_spent", context=f"dist-account:{row.id}:refresh")
    with pytest.raises(AdapterError) as auth:
        accounts.connection(acc.id)
    assert auth.value.outcome is Outcome.AUTH
    after = accounts.get("b-main")
    assert after.status == "needs_reconnect" and "invalid_grant" in after.status_reason
    refused = h.distribution.jobs.submit(world["clip"], world["certs"]["platform-b"], ["b-main"])
    assert not refused[0].ok and "needs reconnecting (invalid_grant" in refused[0].message
    # a job that runs meanwhile fails with what to do, and is not lost
    job = next(j for j in h.distribution.jobs.list() if j.account == "b-main")
    with h.db.session() as s:  # (as if its create had not been answered yet; no queue message is sent)
        j = s.get(PublishJob, job.id)
        j.state, j.remote_post_id = "queued", ""
    assert h.distribution.jobs.run(job.id) == "failed"
    failed = h.distribution.jobs.show(job.id)
    assert "needs reconnecting (invalid_grant" in failed.reason and f"jobs retry {job.id}" in failed.reason
    connect(world, "b-main")  # reconnecting keeps the row, its jobs and its history
    back = accounts.get("b-main")
    assert back.id == acc.id and back.status == "connected"
    assert [e["event"] for e in back.history][-3:] == ["refreshed", "needs_reconnect", "reconnected"]
    h.distribution.jobs.retry(job.id)
    done = wait_state(h, job.id, ("published", "failed", "rejected"))
    assert (
        done.state == "published" and done.remote_post_id == job.remote_post_id
    )  # the replay: the same post
    assert len(b_posts(world)) == 2


def test_cli_dry_run_and_jobs(world):
    home = world["home_a"]
    cert = world["tmp"] / "clip.cert.jws"
    cert.write_text(world["certs"]["platform-b"])
    r = cli(home, "publish", str(world["clip"]), "--certificate", str(cert), "--to", "b-main", "--to", "nowhere",
            "--dry-run", "--json")  # fmt: skip
    assert r.returncode == 1, r.stderr
    out = json.loads(r.stdout)
    assert out["dry_run"] is True and [t["ok"] for t in out["targets"]] == [True, False]
    jobs = json.loads(cli(home, "jobs", "list", "--json").stdout)["jobs"]
    assert {j["state"] for j in jobs} == {"published"} and len(jobs) == 2
    shown = json.loads(cli(home, "jobs", "show", str(jobs[0]["id"]), "--json").stdout)
    assert shown["timeline"][-1]["state"] == "published"
    r = cli(home, "jobs", "cancel", str(jobs[0]["id"]))
    assert r.returncode == 2 and "only a queued job can be cancelled" in r.stderr
    # connecting from the command line, in two steps (what a script does; a person pastes at the prompt)
    app = world["app"]
    r = cli(home, "accounts", "connect", "b-cli", world["b_url"], "--client-id", app["client_id"],
            "--client-secret", app["client_secret"], "--redirect-uri", REDIRECT, "--start", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    with UserAgent(world["b_url"]) as ua:
        ua.login("meimei")
        page = ua.get(json.loads(r.stdout)["authorization_url"])
        back = ua.submit(page.text, "/oauth/authorize", button="allow").headers["location"]
    wrong = cli(home, "accounts", "connect", "b-cli", "--finish", back.replace("state=", "state=x"))
    assert wrong.returncode == 2 and "does not answer a pending connection" in wrong.stderr
    r = cli(home, "accounts", "connect", "b-cli", "--finish", back, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["status"] == "connected", r.stderr
    # reconnecting with the app it was connected with (started by `reconnect`, finished like a connection)
    r = cli(home, "accounts", "reconnect", "b-cli", "--start", "--json")
    assert r.returncode == 0, r.stderr
    with UserAgent(world["b_url"]) as ua:
        ua.login("meimei")
        page = ua.get(json.loads(r.stdout)["authorization_url"])
        back = ua.submit(page.text, "/oauth/authorize", button="allow").headers["location"]
    r = cli(home, "accounts", "connect", "b-cli", "--finish", back, "--json")
    assert [e["event"] for e in json.loads(r.stdout)["history"]] == ["connected", "reconnected"], r.stderr
    accounts = json.loads(cli(home, "accounts", "list", "--json").stdout)["accounts"]
    assert {a["name"] for a in accounts} == {"b-main", "b-second", "b-cli"}
    assert not any("token" in k and "enc" in k for a in accounts for k in a)


def test_caption_keeps_the_attribution_within_the_limit():
    assert caption_with_attribution("x" * 50, ["© Studio"], 20) == "x" * 10 + "…\n© Studio"
    assert caption_with_attribution("", ["© A", "© A", "© B"], 100) == "© A · © B"
    with pytest.raises(PublishError, match="exceeds"):
        caption_with_attribution("hi", ["© a very long attribution"], 10)


def test_a_certificate_revoked_while_the_job_waits_is_not_published(world):
    h = world["h"]
    connect(world, "b-fourth")
    cert = h.compliance.certify(
        h.compliance.check(world["clip"], "xiaoming", "platform-b", report=world["report"])
    )
    with h.db.session() as s:  # B is unreachable for now
        s.query(DistributionAccount).filter_by(name="b-fourth").update(
            {"platform_url": f"http://127.0.0.1:{free_port()}"}
        )
    target = h.distribution.jobs.submit(world["clip"], cert.token, ["b-fourth"])[0]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and h.distribution.jobs.show(target.job_id).attempts < 1:
        time.sleep(0.05)
    h.compliance.revoke(cert.claims["jti"], "licence breach")  # revoked while the job waits for its retry
    with h.db.session() as s:
        s.query(DistributionAccount).filter_by(name="b-fourth").update({"platform_url": world["b_url"]})
    view = wait_state(h, target.job_id, ("published", "failed", "rejected"))
    assert view.state == "rejected" and "revoked" in view.reason and "licence breach" in view.reason, (
        view.reason
    )
    assert len(b_posts(world)) == 2  # nothing more on B
    with pytest.raises(HutongError, match="only failed, cancelled or unconfirmed jobs are retried"):
        h.distribution.jobs.retry(target.job_id)


class Killed(Exception):
    """The worker dies here."""


def test_upload_resumes_after_the_last_accepted_part(world):
    h = world["h"]
    accounts = h.distribution.accounts
    conn, adapter = accounts.connection(accounts.get("b-second").id), accounts.adapter("hutong")
    seen: list[UploadState] = []

    def die_after_two(st: UploadState) -> None:
        seen.append(st)
        if st.parts_done == 2:
            raise Killed

    with pytest.raises(Killed):
        adapter.upload(conn, world["clip"], checkpoint=die_after_two)
    sent: list[int] = []
    up = adapter.upload(conn, world["clip"], resume=seen[-1], progress=lambda k, n: sent.append(k))
    assert up.video_id and up.upload_id == seen[-1].upload_id and sent[0] == 3 and sent[-1] == up.parts_done
    # an upload the platform no longer has (expired) starts over rather than failing the job
    sent.clear()
    gone = UploadState("u_expired000000000000000", part_size=seen[-1].part_size, parts_done=2)
    again = adapter.upload(conn, world["clip"], resume=gone, progress=lambda k, n: sent.append(k))
    assert again.video_id and again.upload_id != gone.upload_id and sent[0] == 1


def test_hutong_worker_recovers_a_job_left_in_flight(world):
    """`hutong worker` at start queues again what a killed worker left half done, and publishes it once."""
    h, home = world["h"], world["home_a"]
    world["worker"].stop()  # from here on only the `hutong worker` process runs jobs
    connect(world, "b-third")
    cert = world["tmp"] / "clip.cert.jws"
    cert.write_text(world["certs"]["platform-b"])
    r = cli(home, "publish", str(world["clip"]), "--certificate", str(cert), "--to", "b-third", "--json")
    assert r.returncode == 0, r.stderr
    job_id = json.loads(r.stdout)["targets"][0]["job_id"]
    with h.db.session() as s:  # a worker took it and was killed mid-upload (its lease has not even run out)
        j = s.get(PublishJob, job_id)
        j.state, j.lease_until = "uploading", j.created_at.replace(year=2099)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUTONG_")} | {"HUTONG_HOME": str(home)}
    env |= LOOPBACK_ENV
    proc = subprocess.Popen([sys.executable, "-m", "hutong", "worker", "--workers", "1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        view = wait_state(h, job_id, ("published", "failed", "rejected"), timeout=60)
    finally:
        [(stopped, output)] = interrupt(proc)
        if not stopped:
            output += "\n(killed: no stop within 60 s of SIGINT)"
    assert view.state == "published", (view.timeline, output[-2000:])
    assert any("recovered" in e["message"] for e in view.timeline)
    assert proc.returncode == 0, output[-2000:]
    assert len(b_posts(world)) == 3  # b-main, b-second, b-third: one post each


@pytest.mark.parametrize(
    ("answer", "outcome", "words"),
    [
        (httpx.Response(504, text="gateway timeout"), Outcome.UNKNOWN, "gateway timeout"),  # on create_video
        (httpx.Response(422, json={"detail": "not a video"}), Outcome.REJECTED, "not a video"),
        (httpx.Response(401, json={"detail": "token expired"}), Outcome.AUTH, "token expired"),
        (httpx.Response(404, json={"detail": "no such video"}), Outcome.FAILED, "no such video"),
    ],
)
def test_hutong_answers_are_classified(answer, outcome, words):
    from hutong.distribute.adapters import HutongAdapter

    request = httpx.Request("POST", "http://platform.example/open/video/create_video")
    answer.request = request
    with httpx.Client() as http:
        got = HutongAdapter(http).classify(
            httpx.HTTPStatusError("answer", request=request, response=answer), irreversible=True
        )
    assert got.outcome is outcome and words in str(got)  # the platform's own words


def test_invalid_grant_at_the_token_endpoint_is_an_auth_error_but_a_5xx_is_not():
    from hutong.distribute.adapters import HutongAdapter

    request = httpx.Request("POST", "http://platform.example/oauth/token")
    bad = httpx.Response(
        400, json={"error": "invalid_grant", "error_description": "refresh token revoked"}, request=request
    )
    down = httpx.Response(502, text="bad gateway", request=request)
    with httpx.Client() as http:
        adapter = HutongAdapter(http)
        auth = adapter.classify(
            httpx.HTTPStatusError("x", request=request, response=bad), token_endpoint=True
        )
        later = adapter.classify(
            httpx.HTTPStatusError("x", request=request, response=down), token_endpoint=True
        )
    assert auth.outcome is Outcome.AUTH and "refresh token revoked" in str(auth)
    assert later.outcome is Outcome.RETRY_LATER


# -- scheduling ------------------------------------------------------------------------------------


def test_publish_time_needs_a_time_zone_and_the_future():
    from datetime import UTC, datetime

    from hutong.distribute.jobs import parse_when

    now = datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_when("2026-12-01T20:00+08:00", now=now) == datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert parse_when("2026-12-01T12:00Z", now=now) == datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    with pytest.raises(PublishError, match=r"has no time zone: say which, e.g. 2026-12-01T20:00\+08:00"):
        parse_when("2026-12-01T20:00", now=now)
    with pytest.raises(PublishError, match="is in the past"):
        parse_when("2026-10-01T20:00+08:00", now=now)
    with pytest.raises(PublishError, match="is not a time"):
        parse_when("next tuesday", now=now)


def test_scheduled_publish_waits_and_can_be_cancelled(world):
    h, home = world["h"], world["home_a"]
    connect(world, "b-later")
    cert = world["tmp"] / "clip.cert.jws"
    cert.write_text(world["certs"]["platform-b"])
    base = ["publish", str(world["clip"]), "--certificate", str(cert), "--to", "b-later", "--json"]
    naive = cli(home, *base, "--at", "2099-12-01T20:00")
    assert naive.returncode == 2 and "has no time zone" in naive.stderr, naive.stderr
    past = cli(home, *base, "--at", "2020-12-01T20:00+08:00")
    assert past.returncode == 2 and "is in the past" in past.stderr, past.stderr
    dry = cli(home, *base, "--at", "2099-12-01T20:00+08:00", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert plan["at"] == "2099-12-01T12:00:00+00:00"
    assert plan["targets"][0]["not_before"] == "2099-12-01T12:00:00+00:00"
    assert "at 2099-12-01T12:00+00:00" in plan["targets"][0]["message"]
    assert [j for j in h.distribution.jobs.list() if j.account == "b-later"] == []  # the dry run made nothing
    r = cli(home, *base, "--at", "2099-12-01T20:00+08:00")
    assert r.returncode == 0, r.stderr
    job_id = json.loads(r.stdout)["targets"][0]["job_id"]
    view = h.distribution.jobs.show(job_id)
    assert view.state == "queued" and view.not_before.startswith("2099-12-01T12:00")
    assert "scheduled for 2099-12-01T12:00+00:00" in view.timeline[0]["message"]
    assert h.distribution.jobs.run(job_id) is None  # a worker that gets its message early leaves it alone
    assert h.distribution.jobs.show(job_id).state == "queued"
    r = cli(home, "jobs", "cancel", str(job_id), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["state"] == "cancelled", r.stderr
    assert h.distribution.jobs.run(job_id) is None  # the scheduled message finds it cancelled


# -- take-down propagation -------------------------------------------------------------------------


def test_an_app_takes_down_its_own_post_on_a_hutong_platform(world):
    """``POST /open/video/{post_id}/delete``: only the app that made the post, for that user, with a reason."""
    h = world["h"]
    main = h.distribution.accounts.get("b-main")
    token = h.distribution.accounts.connection(main.id).access_token
    post_id = next(j.remote_post_id for j in h.distribution.jobs.list() if j.account == "b-main")
    url = f"{world['b_url']}/open/video/{post_id}/delete"
    assert httpx.post(url, json={"reason": ""}, headers=bearer(token)).status_code == 422
    assert httpx.post(url, json={"reason": "x", "extra": 1}, headers=bearer(token)).status_code == 422
    assert httpx.post(url, json={"reason": "licence revoked"}).status_code == 401
    other_app = httpx.post(  # another app of another developer, acting for the same user: not its post
        world["b_url"] + "/api/apps",
        headers=bearer(api_user(world["b_url"], "csp-dev")),
        json={"name": "Other", "client_type": "confidential", "redirect_uris": [REDIRECT], "scopes": ["video.create"]},
    ).json()  # fmt: skip
    from tests.api.conftest import code_grant

    with UserAgent(world["b_url"]) as ua:
        ua.login("meimei")
        other = code_grant(ua, other_app, "video.create", REDIRECT)["access_token"]
    r = httpx.post(url, json={"reason": "licence revoked"}, headers=bearer(other))
    assert r.status_code == 404 and "made by this app for this user" in r.json()["detail"]
    r = httpx.post(f"{world['b_url']}/open/video/p_nope/delete", json={"reason": "x"}, headers=bearer(token))
    assert r.status_code == 404
    assert dict((p[0], p[1]) for p in b_posts(world))[post_id] == "published"  # nothing changed so far


def test_revoking_the_licence_takes_down_every_post_made_under_it(world):
    """Publish, revoke the licence (`hutong licences revoke`), run the worker: every post made under the
    licence's certificates is taken down on B, and each job's timeline says why."""
    h, home = world["h"], world["home_a"]
    worker = h.distribution.worker(1).start()  # the embedded worker (the module's was stopped above)
    try:
        connect(world, "b-down")
        target = h.distribution.jobs.submit(world["clip"], world["certs"]["platform-b"], ["b-down"])[0]
        assert wait_state(h, target.job_id, ("published", "failed", "rejected")).state == "published"
    finally:
        worker.stop()
    published = {j.id: j.remote_post_id for j in h.distribution.jobs.list("published")}
    assert target.job_id in published and len(published) >= 4
    code = next(lic.code for lic in h.licences.list() if "platform-b" in lic.terms.platforms)
    r = cli(home, "licences", "revoke", code)
    assert r.returncode == 2 and "say why" in r.stderr  # a revocation without a reason is refused
    r = cli(home, "licences", "revoke", code, "--reason", "the holder withdrew the licence", "--json")
    assert r.returncode == 0, r.stderr
    assert sorted(json.loads(r.stdout)["take_down_jobs"]) == sorted(published)
    assert h.distribution.jobs.show(target.job_id).state == "take_down"  # durable: waits for a worker
    assert h.distribution.jobs.take_down_revoked() == []  # marked once
    with h.distribution.worker(1):  # the worker's start-up sweep finds nothing new; the queued ones run
        for job_id in published:
            view = wait_state(h, job_id, ("taken_down", "flagged", "failed"))
            assert view.state == "taken_down", view.timeline
    view = h.distribution.jobs.show(target.job_id)
    assert (
        "the holder withdrew the licence" in view.reason
        and view.remote_post_id in view.timeline[-1]["message"]
    )
    assert [e["state"] for e in view.timeline][-2:] == ["take_down", "taken_down"]
    posts = {p[0]: p[1] for p in b_posts(world)}
    assert all(posts[post] == "taken_down" for post in published.values())
    with sqlite3.connect(world["b"].home / "hutong.db") as db:
        reason = db.execute("SELECT reason FROM posts WHERE id = ?", (published[target.job_id],)).fetchone()[
            0
        ]
    assert "the holder withdrew the licence" in reason  # B's post carries the reason too
