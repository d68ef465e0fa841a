"""Claims over the registered samples (works 1–3, held by the Blender Foundation), with a controlled clock."""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime, timedelta

import pytest

from hutong.app import Hutong
from hutong.claims import ClipUse, Finding
from hutong.config import get_settings
from hutong.store import Account, Post, Video

HOLDER = "Blender Foundation"


class Clock:
    """The time every claims service reads; tests move it forward instead of sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def desk(registered_home, tmp_path, clock):
    """A writable copy of the registered catalogue, built with the controlled clock; alice and bob exist."""
    home = tmp_path / "desk"
    shutil.copytree(registered_home, home)
    h = Hutong.create(get_settings(home=home), clock=clock)
    h.creators.add("alice", name="Alice", verified=True)
    h.creators.add("bob", name="Bob", verified=True)
    # a second holder with a work of its own: work 3 changes hands
    from hutong.store import Work

    with h.db.session() as s:
        s.get(Work, 3).holder = "Studio B"
    yield h
    h.close()


def sha(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def use(name: str = "clip", *findings: Finding, creator: str = "alice", duration: float = 60.0,
        platform: str = "douyin", territory: str = "CN", post_id: str = "") -> ClipUse:  # fmt: skip
    return ClipUse(sha(name), duration, creator, platform, list(findings), territory, post_id)


def seg(work: int, q0: float, q1: float, r0: float | None = None, **kw) -> Finding:
    r0 = q0 if r0 is None else r0
    return Finding(work, q0, q1, r0, r0 + (q1 - q0), **kw)


def post_of(h: Hutong, clip_name: str, username: str = "alice") -> str:
    """A post on this platform of the clip (account, video and post rows, as ingest leaves them)."""
    with h.db.session() as s:
        account = s.query(Account).filter_by(username=username).one_or_none()
        if account is None:
            account = Account(username=username, display_name=username, password_hash="x")
            s.add(account)
            s.flush()
        n = s.query(Post).count() + 1
        video = Video(id=f"v_{n}", client_id="app", account_id=account.id, path="/dev/null", sha256=sha(clip_name),
                      size=1, duration=60.0)  # fmt: skip
        s.add(video)
        s.flush()
        s.add(
            Post(id=f"p_{n}", video_id=video.id, account_id=account.id, client_id="app", status="published")
        )
    return f"p_{n}"
