"""Ingest on the service layer: limits, parts, deadlines, idempotency, the uncertified-post policy."""

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from hutong.app import Hutong
from hutong.config import get_settings
from hutong.errors import PlatformError
from hutong.store import Upload, Video, utcnow
from tests.conftest import CHAPLIN, SINTEL


@pytest.fixture
def make(tmp_path, registered_home):
    """The platform of an installation whose catalogue holds the three sample works (real recognition)."""
    made = []

    def build(**settings):
        home = tmp_path / f"home{len(made)}"
        shutil.copytree(registered_home, home)
        h = Hutong.create(get_settings(home=home, **{"ingest_part_bytes": 64 * 1024, **settings}))
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


# -- issue 9: concurrency, crashes, hostile input ------------------------------------------------------


def parts_of(p, account, data: bytes, name="clip.mp4") -> str:
    """An upload with every part received, not yet completed."""
    init = p.ingest.init("app_x", account, size=len(data), filename=name)
    for k in range(1, init["part_count"] + 1):
        part = data[(k - 1) * init["part_size"] : k * init["part_size"]]
        p.ingest.put_part(init["upload_id"], "app_x", account, k, part, hashlib.sha256(part).hexdigest())
    return init["upload_id"]


def stored_files(p) -> list[Path]:
    """Every file the ingest keeps on disk: video files and whatever sits in upload folders."""
    return sorted(
        f
        for folder in (p.ingest.videos, p.ingest.uploads)
        if folder.exists()
        for f in folder.rglob("*")
        if f.is_file()
    )


def video_rows(p) -> list[Video]:
    with p.ingest.db.session() as s:
        return list(s.execute(select(Video)).scalars())


def test_parallel_completions_make_one_video_and_tell_the_others_why(make):
    p, account = make()
    up = parts_of(p, account, CHAPLIN.read_bytes())
    start = threading.Barrier(4)

    def complete(_):
        start.wait()
        try:
            return p.ingest.complete(up, "app_x", account)
        except PlatformError as exc:
            return exc

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(complete, range(4)))
    won = [r for r in results if isinstance(r, dict)]
    lost = [r for r in results if not isinstance(r, dict)]
    assert len(won) == 1, results
    assert all(isinstance(r, PlatformError) and r.status == 409 for r in lost), results
    assert all(re.search(r"being completed|already complete", str(r)) for r in lost), results
    rows = video_rows(p)
    assert [v.id for v in rows] == [won[0]["video_id"]]
    assert stored_files(p) == [Path(rows[0].path)]  # no partial copies, no parts left behind
    again = pytest.raises(PlatformError, p.ingest.complete, up, "app_x", account)
    assert again.value.status == 409 and won[0]["video_id"] in str(again.value)


def test_parts_sent_in_parallel_are_all_recorded(make):
    p, account = make()
    data = CHAPLIN.read_bytes()
    init = p.ingest.init("app_x", account, size=len(data))
    size, n = init["part_size"], init["part_count"]
    assert n >= 4
    start = threading.Barrier(n)

    def put(k: int) -> dict:
        part = data[(k - 1) * size : k * size]
        start.wait()
        return p.ingest.put_part(
            init["upload_id"], "app_x", account, k, part, hashlib.sha256(part).hexdigest()
        )

    with ThreadPoolExecutor(n) as pool:
        list(pool.map(put, range(1, n + 1)))
    done = p.ingest.complete(init["upload_id"], "app_x", account)  # no part lost to a concurrent write
    assert done["sha256"] == hashlib.sha256(data).hexdigest()


def test_the_same_part_sent_twice_at_once_is_stored_once(make):
    p, account = make()
    data = CHAPLIN.read_bytes()
    init = p.ingest.init("app_x", account, size=len(data))
    part = data[: init["part_size"]]
    start = threading.Barrier(6)

    def put(_) -> dict:
        start.wait()
        return p.ingest.put_part(
            init["upload_id"], "app_x", account, 1, part, hashlib.sha256(part).hexdigest()
        )

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(put, range(6)))
    assert sorted(r["duplicate"] for r in results) == [False] + [True] * 5
    assert [f.name for f in stored_files(p)] == ["1.part"]


KILL_SCRIPT = """
import sys
from pathlib import Path
from hutong.app import Hutong
from hutong.config import get_settings
home, upload, account = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
h = Hutong.create(get_settings(home=home, ingest_part_bytes=4 * 1024 * 1024))
h.platform.ingest.complete(upload, "app_x", account)
"""


def test_a_completion_killed_mid_assembly_is_cleaned_and_can_be_retried(make):
    p, account = make(ingest_part_bytes=4 * 1024 * 1024)
    data = CHAPLIN.read_bytes() + bytes(96 * 1024 * 1024)  # an mp4 with trailing padding: slow enough to kill
    up = parts_of(p, account, data)
    parts = set(stored_files(p))
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(p.settings.home), up, str(account)],
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if any(f.stat().st_size for f in set(stored_files(p)) - parts):
                break  # the assembly has started writing
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the completion finished before it could be killed"
    assert set(stored_files(p)) - parts, "the kill left no trace to clean"
    assert video_rows(p) == []
    busy = pytest.raises(PlatformError, p.ingest.complete, up, "app_x", account)
    assert busy.value.status == 409 and "being completed" in str(busy.value)  # the dead claim still holds

    assert p.ingest.cleanup() == 0 and set(stored_files(p)) - parts  # a young claim may still be working
    age(p, up, minutes=60)
    p.ingest.cleanup()
    assert set(stored_files(p)) == parts  # the partial copy is gone, the parts are kept
    done = p.ingest.complete(up, "app_x", account)  # and the upload completes normally
    assert done["sha256"] == hashlib.sha256(data).hexdigest()
    assert stored_files(p) == [Path(v.path) for v in video_rows(p)]


def age(p, upload_id: str | None, *, minutes: float) -> None:
    """What the clock would do: a claim and every stored file become ``minutes`` older."""
    then = utcnow() - timedelta(minutes=minutes)
    if upload_id:
        with p.ingest.db.session() as s:
            s.execute(update(Upload).where(Upload.id == upload_id).values(completing_since=then))
    for f in stored_files(p) + [d for d in p.ingest.uploads.iterdir() if d.is_dir()]:
        os.utime(f, (then.timestamp(), then.timestamp()))


def test_cleanup_removes_orphans_and_keeps_what_is_in_use(make):
    p, account = make()
    kept = p.ingest.complete(parts_of(p, account, CHAPLIN.read_bytes()), "app_x", account)
    busy = parts_of(p, account, CHAPLIN.read_bytes())
    # what crashes leave: a video file whose row was never written, an upload folder whose row is gone,
    # an assembly copy nobody is writing any more
    (p.ingest.videos / "v_crashed.mp4").write_bytes(b"half a video")
    (p.ingest.uploads / "up_gone").mkdir()
    (p.ingest.uploads / "up_gone" / "1.part").write_bytes(b"x")
    (p.ingest.uploads / busy / "v_old.assembling").write_bytes(b"half")
    young = set(stored_files(p))
    assert (
        p.ingest.cleanup() == 0 and set(stored_files(p)) == young
    )  # too young to tell from work in progress
    age(p, None, minutes=60)
    p.ingest.cleanup()
    video = Path(next(v.path for v in video_rows(p) if v.id == kept["video_id"]))
    assert stored_files(p) == sorted([video, *(p.ingest.uploads / busy).glob("*.part")])
    assert not (p.ingest.uploads / "up_gone").exists()
    p.ingest.complete(busy, "app_x", account)


def test_stored_files_never_take_the_clients_name(make):
    p, account = make()
    for name in ("clip.sh", "clip.mp4.sh", "../../etc/passwd", "C:\\Users\\x\\clip.mkv", ""):
        video = p.ingest.complete(parts_of(p, account, CHAPLIN.read_bytes(), name=name), "app_x", account)
        stored = Path(next(v.path for v in video_rows(p) if v.id == video["video_id"]))
        assert stored.parent == p.ingest.videos and stored.name == f"{video['video_id']}.mp4", (
            name
        )  # container's


def test_odd_file_names_are_refused_clearly(make):
    p, account = make()
    for name, needle in [
        ("clip\x00.mp4", "NUL"),
        ("clip\n.sh", "control"),
        ("clip\x1b[31m.mp4", "control"),
        ("x\u202ekcod.mp4", "direction"),
        ("a" * 301, "300"),
        ("\ud800.mp4", "UTF-8"),
        (b"clip.mp4", "text"),
    ]:
        with pytest.raises(PlatformError, match=needle) as err:
            p.ingest.init("app_x", account, size=10, filename=name)
        assert err.value.status == 422
    assert stored_files(p) == []


def test_numbers_out_of_range_are_refused_clearly(make):
    p, account = make()
    init = p.ingest.init("app_x", account, size=10)
    for number in (99999999999999999999, 2**63, -(2**63) - 1, 0, -1, 2, True, 1.0, "1", None):
        with pytest.raises(PlatformError, match="part_number") as err:
            p.ingest.put_part(
                init["upload_id"],
                "app_x",
                account,
                number,
                b"0123456789",
                hashlib.sha256(b"0123456789").hexdigest(),
            )
        assert err.value.status == 422
    for size in (99999999999999999999, 2**63, -(2**63) - 1, 0, True, 1.5, "10", None):
        with pytest.raises(PlatformError, match="size") as err:
            p.ingest.init("app_x", account, size=size)
        assert err.value.status in (413, 422)


def test_odd_checksum_headers_and_empty_bodies_are_refused_clearly(make):
    p, account = make()
    init = p.ingest.init("app_x", account, size=10)
    odd = [
        "",
        "   ",
        "0" * 63,
        "g" * 64,
        "\x00" * 64,
        "é" * 64,
        "\ud800" * 64,
        "0x" + "0" * 62,
        None,
        b"0" * 64,
    ]
    for header in odd:
        with pytest.raises(PlatformError, match="X-Part-SHA256") as err:
            p.ingest.put_part(init["upload_id"], "app_x", account, 1, b"0123456789", header)
        assert err.value.status == 422 and "\x00" not in str(err.value) and "\ud800" not in str(err.value)
    with pytest.raises(PlatformError, match="must be 10 bytes") as err:
        p.ingest.put_part(init["upload_id"], "app_x", account, 1, b"", hashlib.sha256(b"").hexdigest())
    assert err.value.status == 422
    with pytest.raises(PlatformError, match="corrupted") as err:  # well-formed, wrong: it says both
        p.ingest.put_part(init["upload_id"], "app_x", account, 1, b"0123456789", " " + "0" * 64 + "\n")
    assert err.value.status == 422 and "0" * 64 in str(err.value)
    digest = hashlib.sha256(b"0123456789").hexdigest().upper()  # any case, as sent by any client
    assert (
        p.ingest.put_part(init["upload_id"], "app_x", account, 1, b"0123456789", digest)["duplicate"] is False
    )


def test_unknown_ids_with_odd_characters_are_not_found(make):
    p, account = make(uncertified="accept")
    part = b"0123456789"
    for odd in ("up_\x00", "\ud800", "x" * 10_000, "up_'; drop table uploads; --", "../../keys", None, 7):
        calls = [
            (p.ingest.put_part, (odd, "app_x", account, 1, part, hashlib.sha256(part).hexdigest()), {}),
            (p.ingest.complete, (odd, "app_x", account), {}),
            (p.ingest.create, ("app_x", account), {"video_id": odd}),
            (p.ingest.get, (odd, "app_x"), {}),
            (p.ingest.take_down, (odd, "court order"), {}),
        ]
        for call, args, kwargs in calls:
            with pytest.raises(PlatformError) as err:
                call(*args, **kwargs)
            message = str(err.value)
            assert (
                err.value.status == 404
                and "\x00" not in message
                and "\ud800" not in message
                and len(message) < 200
            )


def test_odd_post_text_is_refused_clearly(make):
    p, account = make(uncertified="accept")
    video = upload(p, account, CHAPLIN.read_bytes())
    for field, value in [
        ("text", "a\x00b"),
        ("text", "\ud800"),
        ("idempotency_key", "\ud800"),
        ("certificate", "\x00"),
    ]:
        with pytest.raises(
            PlatformError, match=field.replace("_", "-").title() if "key" in field else field
        ) as err:
            p.ingest.create("app_x", account, video_id=video, **{field: value})
        assert err.value.status == 422
    with pytest.raises(PlatformError, match="reason") as err:
        p.ingest.take_down(p.ingest.create("app_x", account, video_id=video)["post_id"], "\ud800")
    assert err.value.status == 422
