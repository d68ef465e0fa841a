"""Ingest on the service layer: limits, parts, deadlines, idempotency, the uncertified-post policy."""

import hashlib
import shutil
from datetime import timedelta

import pytest
from sqlalchemy import update

from hutong.app import Hutong
from hutong.config import get_settings
from hutong.errors import PlatformError
from hutong.store import Upload, utcnow
from tests.conftest import CHAPLIN, SINTEL


@pytest.fixture
def make(tmp_path, registered_home):
    """The platform of an installation whose catalogue holds the three sample works (real recognition)."""
    made = []

    def build(**settings):
        home = tmp_path / f"home{len(made)}"
        shutil.copytree(registered_home, home)
        h = Hutong.create(get_settings(home=home, ingest_part_bytes=64 * 1024, **settings))
        made.append(h)
        p = h.platform
        account = p.accounts.register(f"user{len(made)}", "a long enough password").id
        return p, account

    yield build
    for h in made:
        h.close()


def upload(p, account, data: bytes, name="clip.mp4") -> str:
    init = p.ingest.init("app_x", account, size=len(data), filename=name)
    for k in range(1, init["part_count"] + 1):
        part = data[(k - 1) * init["part_size"] : k * init["part_size"]]
        p.ingest.put_part(init["upload_id"], "app_x", account, k, part, hashlib.sha256(part).hexdigest())
    return p.ingest.complete(init["upload_id"], "app_x", account)["video_id"]


def test_uncompleted_uploads_are_cleaned_after_their_deadline(make):
    p, account = make()
    init = p.ingest.init("app_x", account, size=100_000)
    part = b"x" * 64 * 1024
    p.ingest.put_part(init["upload_id"], "app_x", account, 1, part, hashlib.sha256(part).hexdigest())
    folder = p.ingest.uploads / init["upload_id"]
    assert folder.exists() and p.ingest.cleanup() == 0
    with p.ingest.db.session() as s:
        s.execute(
            update(Upload)
            .where(Upload.id == init["upload_id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    with pytest.raises(PlatformError, match="expired") as err:
        p.ingest.put_part(init["upload_id"], "app_x", account, 2, b"y", "")
    assert err.value.status == 410
    assert p.ingest.cleanup() == 1 and not folder.exists()
    with pytest.raises(PlatformError, match="no upload"):
        p.ingest.complete(init["upload_id"], "app_x", account)


def test_other_apps_and_users_cannot_touch_an_upload(make):
    p, account = make()
    init = p.ingest.init("app_x", account, size=10)
    for client, who in (("app_y", account), ("app_x", account + 1)):
        with pytest.raises(PlatformError, match="no upload") as err:
            p.ingest.put_part(
                init["upload_id"], client, who, 1, b"0123456789", hashlib.sha256(b"0123456789").hexdigest()
            )
        assert err.value.status == 404
    with pytest.raises(PlatformError, match="size"):
        p.ingest.init("app_x", account, size=0)


@pytest.mark.parametrize(
    ("policy", "status", "needle"),
    [
        ("reject", "rejected", "no-certificate"),
        ("accept", "published", "without a certificate"),
        ("hold", "published", "no registered work"),
    ],
)
def test_uncertified_posts_follow_the_platform_policy(make, policy, status, needle):
    p, account = make(uncertified=policy)
    video = upload(p, account, CHAPLIN.read_bytes())
    post = p.ingest.create("app_x", account, video_id=video)
    assert post["status"] == status and needle in post["reason"]


def test_uncertified_post_using_a_registered_work_is_held(make):
    """The default policy with the installation's own recognition: a registered work without a licence
    certificate is held for review, never published."""
    p, account = make()
    assert p.settings.uncertified == "hold"
    video = upload(p, account, SINTEL.read_bytes(), name="renamed.mp4")
    post = p.ingest.create("app_x", account, video_id=video)
    assert post["status"] == "held", post
    assert "《sintel_trailer》" in post["reason"] and "held for review" in post["reason"]


def test_idempotency_keys(make):
    p, account = make(uncertified="accept")
    video = upload(p, account, CHAPLIN.read_bytes())
    first = p.ingest.create("app_x", account, video_id=video, text="a", idempotency_key="k1")
    assert (
        p.ingest.create("app_x", account, video_id=video, text="a", idempotency_key="k1")["post_id"]
        == first["post_id"]
    )
    with pytest.raises(PlatformError, match="different request"):
        p.ingest.create("app_x", account, video_id=video, text="b", idempotency_key="k1")
    assert (
        p.ingest.create("app_x", account, video_id=video, text="a", idempotency_key="k2")["post_id"]
        != first["post_id"]
    )
    with pytest.raises(PlatformError, match="no video"):
        p.ingest.create("app_y", account, video_id=video)
    taken = p.ingest.take_down(first["post_id"], "court order")
    assert taken["status"] == "taken_down"
    with pytest.raises(PlatformError, match="say why"):
        p.ingest.take_down(first["post_id"], " ")


def test_the_server_worker_runs_the_cleanup_chore(make):
    import time

    from hutong.platform.webhooks import Worker

    p, account = make()
    init = p.ingest.init("app_x", account, size=10)
    with p.ingest.db.session() as s:
        s.execute(
            update(Upload)
            .where(Upload.id == init["upload_id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    worker = Worker(p.webhooks, interval=0.05, chores=[(0.05, p.ingest.cleanup)])
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while (p.ingest.uploads / init["upload_id"]).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
    assert not (p.ingest.uploads / init["upload_id"]).exists()
