"""Crash test: `hutong worker` is killed with SIGKILL again and again while it publishes a batch, and is
restarted each time; at the end every target has exactly one post, and every job is published.

The counting peer is a real `hutong serve` (platform B) on loopback: its ``posts`` table holds every post
made, and its log a ``post.created`` line for each (a replay of ``create_video`` with the same Idempotency-Key
makes no post; A's job timeline says so). The batch is 12 distinct certified clips (the same 二创 clip, each copy with its own
trailing MP4 ``free`` box: distinct bytes, the same streams, each certified by A) to 2 accounts."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from hutong.api.background import Background, free_port
from hutong.app import Hutong
from hutong.config import installation_settings
from hutong.rights import LicenceTerms
from tests.api.conftest import UserAgent, api_user, bearer, start_server
from tests.conftest import interrupt
from tests.distribute.conftest import LOOPBACK_ENV

pytestmark = pytest.mark.slow
REDIRECT = "http://127.0.0.1:9/cb"
CLIPS, ACCOUNTS = 12, ("b-one", "b-two")
KILLS = 10


def variant(clip: Path, i: int, folder: Path) -> Path:
    """A copy of ``clip`` with a trailing ``free`` box naming ``i``: other bytes, the same video."""
    out = folder / f"clip{i:03d}.mp4"
    payload = f"hutong crash-test copy {i}".encode()
    shutil.copy(clip, out)
    with out.open("ab") as f:
        f.write(struct.pack(">I", 8 + len(payload)) + b"free" + payload)
    return out


def connect(h: Hutong, name: str, b_url: str, app: dict, user: str) -> None:
    started = h.distribution.accounts.start(name, b_url, client_id=app["client_id"],
                                            client_secret=app["client_secret"], redirect_uri=REDIRECT)  # fmt: skip
    with UserAgent(b_url) as ua:
        ua.login(user)
        back = ua.submit(ua.get(started["authorization_url"]).text, "/oauth/authorize", button="allow")
    assert h.distribution.accounts.finish(back.headers["location"]).status == "connected"


def job_states(home: Path) -> dict[int, str]:
    with sqlite3.connect(home / "hutong.db", timeout=10) as db:
        return dict(db.execute("SELECT id, state FROM publish_jobs").fetchall())


def start_worker(home: Path, log) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUTONG_")} | {"HUTONG_HOME": str(home)}
    env |= LOOPBACK_ENV
    # its own session, so teardown can end it and anything it started, whatever state the test left it in
    return subprocess.Popen([sys.executable, "-m", "hutong", "worker", "--workers", "2"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


def kill_session(proc: subprocess.Popen) -> None:
    """SIGKILL the worker's whole session."""
    if proc.returncode is None:  # not reaped yet, so its pid (the session's id) is still its own
        with contextlib.suppress(ProcessLookupError):  # already gone, with everything it started
            os.killpg(proc.pid, signal.SIGKILL)


def end_worker(proc: subprocess.Popen) -> None:
    """SIGKILL the worker's whole session and reap it (an unreaped Popen warns in a later test)."""
    kill_session(proc)
    proc.wait(30)


def kill_at_a_random_point(home: Path, proc: subprocess.Popen, rng: random.Random, aim: str) -> str:
    """Wait until the worker has a job in ``aim`` (uploading / processing), then SIGKILL it a random moment
    later; returns the in-flight states seen just before the kill."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        states = job_states(home).values()
        if aim in states:
            break
        if all(s == "published" for s in states):
            return "done"
        time.sleep(0.005)
    time.sleep(rng.uniform(0.0, 0.05) if aim == "processing" else rng.uniform(0.05, 0.8))
    seen = ",".join(sorted({s for s in job_states(home).values() if s in ("uploading", "processing")}))
    end_worker(proc)
    return seen or "idle"


@pytest.fixture(scope="module")
def world(registered_home, two_work_clip, clip_report, tmp_path_factory):
    """A (in this process, no worker) with two accounts on B (a real `hutong serve`), and CLIPS + 1
    distinct clips certified for B; nothing submitted yet."""
    tmp_path = tmp_path_factory.mktemp("crash")
    home_a, home_b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(registered_home, home_a)
    pa, pb = free_port(), free_port()
    a_url, b_url = f"http://127.0.0.1:{pa}", f"http://127.0.0.1:{pb}"
    h = Hutong.create(installation_settings(home=home_a, issuer=a_url, platform_name="creator-service"))
    h.creators.add("xiaoming", verified=True)
    h.licences.grant("Blender Foundation", LicenceTerms.parse({"works": [1, 2], "scope": {"kind": "verified"},
                     "platforms": ["platform-b"], "valid_from": "2026-01-01", "valid_until": "2030-01-01",
                     "attribution": "© Blender Foundation, CC BY"}))  # fmt: skip
    clips = []
    for i in range(CLIPS + 1):
        clip = variant(two_work_clip.path, i, tmp_path)
        result = h.compliance.check(clip, "xiaoming", "platform-b", report=clip_report)  # the same streams
        clips.append((clip, h.compliance.certify(result).token))
    assert len({c.read_bytes() for c, _ in clips}) == CLIPS + 1
    jwks = h.compliance.jwks()
    keys_site = Starlette(routes=[Route("/.well-known/jwks.json", lambda _r: JSONResponse(jwks))])
    hb = Hutong.create(installation_settings(home=home_b, issuer=b_url, platform_name="platform-b"))
    hb.platform.directory.trust(a_url, note="crash test")
    hb.close()
    b = start_server(home_b, port=pb, env={"HUTONG_ISSUER": b_url, "HUTONG_PLATFORM_NAME": "platform-b",
                                           "HUTONG_UNCERTIFIED": "reject",
                                           "HUTONG_INGEST_PART_BYTES": str(256 * 1024)})  # fmt: skip
    try:
        with Background(keys_site, pa):
            dev = api_user(b_url, "csp-dev")
            httpx.post(b_url + "/api/developers", json={"kind": "individual", "display_name": "Creator service"},
                       headers=bearer(dev))  # fmt: skip
            app = httpx.post(b_url + "/api/apps", headers=bearer(dev), json={
                "name": "Clip Carrier", "client_type": "confidential", "redirect_uris": [REDIRECT],
                "scopes": ["openid", "video.create"]}).json()  # fmt: skip
            for account, user in zip(ACCOUNTS, ("meimei", "lili"), strict=True):
                api_user(b_url, user)
                connect(h, account, b_url, app, user)
            yield {"h": h, "b": b, "home_a": home_a, "home_b": home_b, "clips": clips, "tmp": tmp_path}
    finally:
        h.close()
        b.stop()


def b_texts(world) -> list[str]:
    with sqlite3.connect(world["home_b"] / "hutong.db") as db:
        return [t for (t,) in db.execute("SELECT text FROM posts")]


def test_sigkill_during_a_batch_leaves_exactly_one_post_per_target(world):
    h, b, home_a, tmp_path = world["h"], world["b"], world["home_a"], world["tmp"]
    worker_log = (tmp_path / "worker.log").open("w")
    proc = None
    try:
        expected = set()
        for i, (clip, cert) in enumerate(world["clips"][:CLIPS]):
            for account in ACCOUNTS:
                caption = f"crash clip {i} for {account}"
                [target] = h.distribution.jobs.submit(clip, cert, [account], caption=caption)
                assert target.ok and target.job_id, target.message
                expected.add(f"{caption}\n© Blender Foundation, CC BY")
        # the batch is queued (nobody runs it yet); now a worker that is killed again and again
        rng = random.Random(10)
        kills: list[str] = []
        deadline = time.monotonic() + 240  # generous: CI machines are slow and shared
        while time.monotonic() < deadline:
            proc = start_worker(home_a, worker_log)
            if len(kills) >= KILLS:
                break
            seen = kill_at_a_random_point(home_a, proc, rng, ("uploading", "processing")[len(kills) % 2])
            if seen == "done":
                break
            kills.append(seen)
        while time.monotonic() < deadline and set(job_states(home_a).values()) != {"published"}:
            time.sleep(0.2)
        states = job_states(home_a)
        # Ctrl-C lets running jobs finish; with every job published there are none, so it ends at once
        [(stopped, _)] = interrupt(proc, kill=kill_session)
        if not stopped:
            pytest.fail(f"the worker did not stop within 60 s of SIGINT; job states then: {states}")
        jobs = h.distribution.jobs.list()
        timelines = [h.distribution.jobs.show(j.id).timeline for j in jobs]
        posts = b_texts(world)
        created = b.log.read_text().count("post.created")  # B logs every post it makes
    finally:
        if proc is not None:
            end_worker(proc)
        worker_log.close()
    log = (tmp_path / "worker.log").read_text()[-3000:]
    assert len(jobs) == CLIPS * len(ACCOUNTS)
    assert {j.state for j in jobs} == {"published"}, ([(j.id, j.state, j.reason) for j in jobs], kills, log)
    counts = Counter(posts)
    assert set(counts) == expected, "a target without its post, or a post nobody asked for"
    assert max(counts.values()) == 1, [t for t, n in counts.items() if n > 1]  # no post made twice
    assert len(posts) == len(expected) == len({j.remote_post_id for j in jobs})
    assert created == len(posts)  # B made no post it then lost either
    replays = sum("no second post" in e["message"] for timeline in timelines for e in timeline)
    # the kills landed where they matter: jobs were recovered from the middle of an upload and of a create
    assert len(kills) >= KILLS // 2, kills  # up to KILLS, unless the batch was done before
    recovered = Counter(
        e["message"].rsplit(" ", 1)[-1]
        for timeline in timelines
        for e in timeline
        if e["message"].startswith("recovered")
    )
    assert recovered["uploading"] >= 1 and recovered["processing"] >= 1, (recovered, kills, replays)


def test_a_running_worker_takes_over_a_job_whose_worker_died(world):
    """Regression: on Redis a worker recovered only at its own start, so a job whose worker was killed
    waited for some worker to start again (forever, if none did). Running workers now look again: a lapsed
    lease is taken over; a job another worker holds, or one waiting for its retry time, is left alone."""
    from datetime import timedelta

    from hutong.store import PublishJob, utcnow

    h = world["h"]
    clip, cert = world["clips"][CLIPS]
    [target] = h.distribution.jobs.submit(clip, cert, ["b-one"], caption="left by a dead worker")
    h.distribution.queue.huey.flush()  # its queue message went with the worker that took it
    with h.db.session() as s:
        j = s.get(PublishJob, target.job_id)
        j.state, j.lease_until = "uploading", utcnow() + timedelta(minutes=5)  # a live lease: hands off
    assert target.job_id not in h.distribution.jobs.recover(stale_only=True)
    with h.db.session() as s:  # the dead worker's lease runs out
        s.get(PublishJob, target.job_id).lease_until = utcnow() - timedelta(seconds=1)
    consumer = h.distribution.queue.consumer(
        1, housekeeping=lambda: h.distribution.jobs.recover(stale_only=True), every=0.2
    )
    with consumer:  # started without recover(): only the periodic pass can find the job
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and h.distribution.jobs.show(target.job_id).state != "published":
            time.sleep(0.1)
    view = h.distribution.jobs.show(target.job_id)
    assert view.state == "published", view.timeline
    assert any(e["message"].startswith("recovered") for e in view.timeline)
    assert b_texts(world).count("left by a dead worker\n© Blender Foundation, CC BY") == 1
    with h.db.session() as s:  # waiting for its retry time (a 429's Retry-After): not a lost job
        j = s.get(PublishJob, target.job_id)
        j.state, j.lease_until, j.not_before = "queued", None, utcnow() + timedelta(minutes=10)
        j.updated_at = utcnow() - timedelta(hours=1)
    assert target.job_id not in h.distribution.jobs.recover(stale_only=True)
    with (
        h.db.session() as s
    ):  # queued, overdue for longer than a lease, no worker holds it: its message was lost
        s.get(PublishJob, target.job_id).not_before = utcnow() - timedelta(hours=1)
    assert target.job_id in h.distribution.jobs.recover(stale_only=True)
    with h.db.session() as s:
        s.get(PublishJob, target.job_id).state = "published"
