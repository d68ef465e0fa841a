"""Cluster mode: `hutong cluster up`'s processes (PostgreSQL 15, Redis, the bundled Milvus, two `hutong serve`
behind the load balancer at the issuer's URL, two `hutong worker`) run the distribution end-to-end flow of
``test_publish`` (its test bodies, imported: the same assertions against the cluster's ``world``) and the
two-instance interconnect tests of ``test_interconnect`` (A being the cluster; ``TestInterconnect``), then faults:
a worker killed with SIGKILL in the middle of a publish, whose job the other worker finishes with one post;
Redis killed under use, where a submission fails with a retryable error and everything recovers by itself.

One cluster for the module. Skipped where PostgreSQL 15, redis-server or the bundled Milvus is missing."""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import httpx
import pytest

from hutong.api.background import free_port
from hutong.app import Hutong
from hutong.cluster import Part
from hutong.config import installation_settings
from hutong.errors import Unavailable
from hutong.rights import LicenceTerms
from tests.api import test_interconnect
from tests.api.conftest import UserAgent, api_user, bearer, code_grant, killed_mid_part, new_app, start_server
from tests.conftest import BBB, SINTEL
from tests.distribute import test_publish
from tests.distribute.conftest import LOOPBACK_ENV
from tests.distribute.test_publish import HOLDER, b_posts, connect, creator_service_on, wait_state

# test_publish's test bodies, run here against the cluster's world, in their order (this module's order)
test_connect_publish_and_never_twice = test_publish.test_connect_publish_and_never_twice
test_bad_inputs_are_refused_with_a_reason = test_publish.test_bad_inputs_are_refused_with_a_reason

pytestmark = pytest.mark.milvus  # its cluster starts the bundled Milvus

pytest.importorskip("psycopg", reason="psycopg is in the postgres extra")
pytest.importorskip("redis", reason="the redis client is in the test extra")
pytest.importorskip("pymilvus", reason="pymilvus is in the milvus extra")
pytest.importorskip("milvus", reason="the bundled Milvus server is in the test extra")

LEASE = 3  # seconds a worker holds a job without a sign of life: a dead worker's job is taken over after it
PART = 1024 * 1024  # upload part size of the cluster's API processes (small: the kill test sends three)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from hutong.cluster import Cluster, ClusterError
    from hutong.config import get_settings

    home = tmp_path_factory.mktemp("cluster") / "home"
    c = Cluster(
        get_settings(home=home),
        env={
            **LOOPBACK_ENV,
            "HUTONG_DISTRIBUTION_LEASE_SECONDS": str(LEASE),
            "HUTONG_INGEST_PART_BYTES": str(PART),
        },
    )
    try:
        c.start()
    except ClusterError as exc:
        if "needs" in str(exc):
            pytest.skip(str(exc))
        raise
    yield c
    c.stop()


@pytest.fixture(scope="module")
def instance_a(cluster, two_work_clip, tmp_path_factory):
    """Instance A is the cluster (its database, queue, index): the works, creators and licences, made through
    this process as one more process of the cluster; the clip's match report and certificates for it."""
    tmp = tmp_path_factory.mktemp("cluster-world")
    clip = tmp / "clip.mp4"
    clip.write_bytes(two_work_clip.path.read_bytes())
    # this process is one more process of the cluster, with the same settings (from the environment)
    mp = pytest.MonkeyPatch()
    for k, v in cluster.process_env().items():
        if k.startswith("HUTONG_"):
            mp.setenv(k, v)
    mp.setenv("HUTONG_PLATFORM_NAME", "creator-service")
    h = Hutong.create(installation_settings())
    assert h.settings.issuer == cluster.issuer and h.settings.db_url.startswith("postgresql")
    for f in (BBB, SINTEL):
        h.catalogue.add_one(f, title=f.stem, holder=HOLDER, check_duplicates=False)
    h.creators.add("xiaoming", verified=True)
    base = {"works": [1, 2], "scope": {"kind": "verified"}, "valid_from": "2026-01-01", "valid_until": "2030-01-01",
            "attribution": "© Blender Foundation, CC BY"}  # fmt: skip
    h.licences.grant(HOLDER, LicenceTerms.parse({**base, "platforms": ["platform-b"]}))
    h.creators.add("xiaohong")  # only a licence naming her reaches her, and it covers platform-c only
    only_c = {**base, "scope": {"kind": "creators", "creators": ["xiaohong"]}, "platforms": ["platform-c"]}
    h.licences.grant(HOLDER, LicenceTerms.parse(only_c), allow_overlap=True)
    report = h.recognizer.match(clip)  # through Milvus
    assert {s.work_id for s in report.segments} == {1, 2}, report.as_dict()
    certs = {p: h.compliance.certify(h.compliance.check(clip, who, p, report=report)).token
             for who, p in (("xiaoming", "platform-b"), ("xiaohong", "platform-c"))}  # fmt: skip
    try:
        yield {"h": h, "clip": clip, "tmp": tmp, "report": report, "certs": certs}
    finally:
        h.close()
        mp.undo()


@pytest.fixture(scope="module")
def world(cluster, instance_a):
    """``test_publish``'s world, with the creator service A being the cluster."""
    tmp = instance_a["tmp"]
    home_b, pb = tmp / "b", free_port()
    b_url = f"http://127.0.0.1:{pb}"
    # B is a one-process installation of its own: none of the cluster's settings in this process's environment
    hb = Hutong.create(installation_settings(home=home_b, issuer=b_url, platform_name="platform-b", database_url=None,
                                             redis_url=None, index_backend="faiss-flat"))  # fmt: skip
    hb.platform.directory.trust(cluster.issuer, note="cluster test")  # B fetches A's keys from the cluster
    hb.close()
    b = start_server(home_b, port=pb, env={"HUTONG_ISSUER": b_url, "HUTONG_PLATFORM_NAME": "platform-b",
                                           "HUTONG_UNCERTIFIED": "reject", "HUTONG_INGEST_PART_BYTES": str(64 * 1024)})  # fmt: skip
    try:
        app = creator_service_on(b_url)
        yield {"a_url": cluster.issuer, "b": b, "b_url": b_url, "app": app, **instance_a}
    finally:
        b.stop()


def test_the_api_processes_share_one_state(cluster):
    """A user made through one API process signs in through the other; the balancer spreads connections."""
    first, second = (p.url for p in cluster.parts if p.name.startswith("api-"))
    token = api_user(first, "shared-user")
    for url in (first, second, cluster.issuer):
        r = httpx.get(url + "/api/me", headers=bearer(token))
        assert r.status_code == 200 and r.json()["username"] == "shared-user", (url, r.text)
    keys = {httpx.get(u + "/.well-known/jwks.json").text for u in (first, second)}
    assert len(keys) == 1, "one set of keys: HUTONG_HOME is shared"


class TestInterconnect:
    """``test_interconnect``'s two-instance tests (its test bodies, imported), with instance A being the cluster:
    its certificates issued by this cluster process, its JWKS, status list, manifest and OAuth sign-in served by
    the two API processes behind the balancer; B a `hutong serve` of its own that trusts A. The world and the
    app on B are this class's (the module's ``world`` is ``test_publish``'s). Not here: the default-policy
    webhook test (it uses neither A nor B, only a one-process server)."""

    @pytest.fixture(scope="class")
    @classmethod
    def world(cls, cluster, instance_a):
        tmp = instance_a["tmp"] / "interconnect"
        h, clip = instance_a["h"], instance_a["clip"]
        # the creators and licences are instance_a's (as test_interconnect.grant_licences makes them)
        certs = test_interconnect.certificates(h, clip, instance_a["report"])
        certs["stranger"] = test_interconnect.stranger_certificate(tmp / "c", clip)
        with test_interconnect.platform_b(tmp / "b", cluster.issuer) as b_side:
            a = Part("balancer", cluster.issuer, Path())  # A answers at the issuer's URL
            yield {"a": a, **b_side, "certs": certs, "clip": clip, "tmp": tmp}

    @pytest.fixture(scope="class")
    @classmethod
    def app_on_b(cls, world):
        return test_interconnect.authorised_app(world)

    # static: pytest passes the fixtures by name to a plain function, with no instance as its first argument
    test_certified_clip_from_a_is_accepted_on_b = staticmethod(
        test_interconnect.test_certified_clip_from_a_is_accepted_on_b
    )
    test_refused_certificates_say_why = staticmethod(test_interconnect.test_refused_certificates_say_why)
    test_tampered_clip_is_refused = staticmethod(test_interconnect.test_tampered_clip_is_refused)
    test_bad_chunks_lose_nothing = staticmethod(test_interconnect.test_bad_chunks_lose_nothing)
    test_share_intent_confirmed_by_the_user = staticmethod(
        test_interconnect.test_share_intent_confirmed_by_the_user
    )
    test_webhook_endpoint_down_is_retried_then_given_up = staticmethod(
        test_interconnect.test_webhook_endpoint_down_is_retried_then_given_up
    )
    test_users_of_a_log_in_to_b = staticmethod(test_interconnect.test_users_of_a_log_in_to_b)
    test_manifests_and_reciprocity = staticmethod(test_interconnect.test_manifests_and_reciprocity)
    test_racing_completions_and_odd_input_get_clear_answers = staticmethod(
        test_interconnect.test_racing_completions_and_odd_input_get_clear_answers
    )

    def test_link_cards_refuse_internal_addresses_and_say_why(self):
        pytest.skip(
            "the cluster allows loopback outbound (LOOPBACK_ENV: it publishes to B on loopback), so A's link "
            "cards do not run the default address policy this test checks; test_interconnect checks it"
        )


def _worker(cluster, name):
    return next(p for p in cluster.parts if p.name == name)


def test_a_worker_killed_mid_publish_leaves_its_job_to_the_other(cluster, world):
    h = world["h"]
    connect(world, "b-kill")
    other = _worker(cluster, "worker-2")
    other.proc.send_signal(signal.SIGINT)  # for a moment only worker-1 runs: the job is surely its own
    other.proc.wait(30)
    before = len(b_posts(world))
    clip = world["tmp"] / "clip-kill.mp4"
    clip.write_bytes(world["clip"].read_bytes() + b"\x00\x00\x00\x0cfreekill")  # other bytes, same streams
    cert = h.compliance.certify(
        h.compliance.check(clip, "xiaoming", "platform-b", report=world["report"])
    ).token
    job = h.distribution.jobs.submit(clip, cert, ["b-kill"], caption="killed mid-publish")[0].job_id
    wait_state(h, job, ("uploading", "processing", "published"), timeout=60)
    cluster.start_worker("worker-2")
    victim = _worker(cluster, "worker-1")
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(10)
    view = wait_state(h, job, ("published", "failed", "rejected"), timeout=60)
    assert view.state == "published", view.timeline
    posts = b_posts(world)
    assert len(posts) == before + 1 and posts[-1][2].startswith("killed mid-publish"), posts
    cluster.start_worker("worker-1")


def test_an_api_process_killed_mid_upload_leaves_the_upload_resumable(cluster):
    """SIGKILL to the API process receiving a part: the parts already received are kept (the media store and
    the database are shared), the half part is not taken for a part, and the client goes on through the
    balancer, which sends it to the process still running; the killed one is then started again."""
    url = cluster.issuer
    app = new_app(url)
    api_user(url, "uploader")
    with UserAgent(url) as ua:
        assert ua.login("uploader").status_code in (302, 303)
        token = code_grant(ua, app, "video.create")["access_token"]
    size = 2 * 1024 * 1024 + 1000  # in parts of 1 MiB (this cluster's setting): three parts
    data = os.urandom(size)
    r = httpx.post(url + "/open/video/init_video_part_upload", headers=bearer(token),
                   json={"size": size, "filename": "x.mp4"})  # fmt: skip
    assert r.status_code == 200, r.text
    upload_id, part_size = r.json()["upload_id"], r.json()["part_size"]
    parts = [data[i : i + part_size] for i in range(0, size, part_size)]
    assert len(parts) == 3

    def send(at: str, k: int) -> httpx.Response:
        return httpx.post(at + "/open/video/upload_video_part", params={"upload_id": upload_id, "part_number": k},
                          content=parts[k - 1], headers={**bearer(token), "X-Part-SHA256": _sha(parts[k - 1])},
                          timeout=30)  # fmt: skip

    first, victim = (p for p in cluster.parts if p.name.startswith("api-"))
    assert send(first.url, 1).status_code == 200
    headers = {**bearer(token), "X-Part-SHA256": _sha(parts[1])}
    killed_mid_part(victim.url, victim.proc, {"upload_id": upload_id, "part_number": 2}, headers, parts[1])
    again = send(url, 1)  # the client asks again what was received: part 1 only
    assert again.status_code == 200 and again.json()["duplicate"] and again.json()["received"] == 1, (
        again.text
    )
    for k in (2, 3):
        r = send(url, k)
        assert r.status_code == 200, r.text
    done = httpx.post(url + "/open/video/complete_video_part_upload", params={"upload_id": upload_id},
                      headers=bearer(token), timeout=60)  # fmt: skip
    # random bytes are not a video: refused as such, which proves the three parts were assembled and probed
    assert done.status_code == 422 and "not a video" in done.json()["detail"], done.text
    assert cluster.start_api(victim.name).alive()  # answering on its port again, behind the balancer


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_redis_killed_under_use_is_a_retryable_error_and_recovers(cluster, world):
    h = world["h"]
    connect(world, "b-redis")
    before = len(b_posts(world))
    clip = world["tmp"] / "clip-redis.mp4"
    clip.write_bytes(world["clip"].read_bytes() + b"\x00\x00\x00\x0dfreeredis")
    cert = h.compliance.certify(
        h.compliance.check(clip, "xiaoming", "platform-b", report=world["report"])
    ).token
    cluster.stop_redis()
    with pytest.raises(Unavailable, match="cannot reach the job queue"):
        h.distribution.jobs.submit(clip, cert, ["b-redis"], caption="through a Redis restart")
    job = max(h.distribution.jobs.list(), key=lambda j: j.id)
    assert job.clip_sha256 == hashlib.sha256(clip.read_bytes()).hexdigest()
    assert job.state == "queued", "the job is saved before the queue is asked: nothing is lost"
    cluster.start_redis()
    again = h.distribution.jobs.submit(clip, cert, ["b-redis"], caption="through a Redis restart")
    assert again[0].duplicate and again[0].job_id == job.id  # the client's retry finds the same job
    # the workers reconnect by themselves; their recovery pass queues the job again (its message was lost)
    view = wait_state(h, job.id, ("published", "failed", "rejected"), timeout=60)
    assert view.state == "published", view.timeline
    assert len(b_posts(world)) == before + 1
    assert all(p.alive() for p in cluster.parts if p.name.startswith(("api-", "worker-"))), "nobody crashed"
