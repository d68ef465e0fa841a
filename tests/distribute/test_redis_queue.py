"""The same publishing jobs on Redis: a real ``redis-server`` on loopback and a separate ``hutong worker``
process take a job submitted by the creator service and publish it on platform B once; a worker killed with
SIGKILL in the middle is replaced and the job still ends with exactly one post."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hutong.app import Hutong
from hutong.config import installation_settings
from tests.conftest import interrupt
from tests.distribute.conftest import LOOPBACK_ENV
from tests.distribute.test_publish import b_posts, connect, wait_state, world  # noqa: F401  (the fixture)

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None,
    reason="Debian's redis-server is not installed (./run test installs it)",
)
pytest.importorskip("redis", reason="the redis client is in the test extra")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    from hutong.cluster import scratch_redis

    server, url = scratch_redis(tmp_path_factory.mktemp("redis") / "redis.log")
    yield url
    server.terminate()
    server.wait(10)


def start_worker(home: Path, url: str, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUTONG_")}
    env |= LOOPBACK_ENV | {
        "HUTONG_HOME": str(home),
        "HUTONG_REDIS_URL": url,
        "HUTONG_DISTRIBUTION_LEASE_SECONDS": "3",
    }
    with log.open("a") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([sys.executable, "-m", "hutong", "worker", "--workers", "1"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 60
    while "publishing worker:" not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait(10)
            raise RuntimeError(f"hutong worker did not start: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    return proc


def test_a_separate_worker_on_redis_publishes_once_even_when_killed(world, redis_url):  # noqa: F811
    base = world["h"]
    connect(world, "b-redis")
    # the creator service configured for Redis: the same database, the queue elsewhere
    h = Hutong.create(installation_settings(home=world["home_a"], issuer=world["a_url"], redis_url=redis_url,
                                            platform_name="creator-service", distribution_lease_seconds=3))  # fmt: skip
    log = world["tmp"] / "redis-worker.log"
    worker = None
    try:
        before = len(b_posts(world))
        submitted = h.distribution.jobs.submit(world["clip"], world["certs"]["platform-b"], ["b-redis"],
                                               caption="on redis")  # fmt: skip
        job = submitted[0].job_id
        assert h.distribution.jobs.show(job).state == "queued"  # nothing in this process runs Redis jobs
        worker = start_worker(world["home_a"], redis_url, log)
        wait_state(h, job, ("uploading", "processing", "published"), timeout=60)
        worker.send_signal(signal.SIGKILL)  # killed mid-job (or just after): a new worker must finish it
        worker.wait(10)
        worker = start_worker(world["home_a"], redis_url, log)
        view = wait_state(h, job, ("published", "failed", "rejected"), timeout=90)
        assert view.state == "published", view.timeline
        posts = b_posts(world)
        assert len(posts) == before + 1 and posts[-1][2].startswith("on redis")
        # the same submission again: the same job, no second post
        assert h.distribution.jobs.submit(world["clip"], world["certs"]["platform-b"], ["b-redis"])[
            0
        ].duplicate
        time.sleep(1)
        assert len(b_posts(world)) == before + 1
        assert base.distribution.jobs.show(job).state == "published"  # one database: both installations agree
    finally:
        if worker is not None:
            interrupt(worker, within=30)
        h.close()
