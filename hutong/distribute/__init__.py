"""Distribution (capability 5): creators connect accounts on other platforms and publish certified clips
to them through platform adapters, with durable, idempotent jobs on a real queue."""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Protocol

import httpx

from hutong.config import Settings
from hutong.distribute.accounts import AccountError, AccountView, ConnectedAccounts, UnknownAccount, owner_of
from hutong.distribute.adapters import ADAPTERS, HutongAdapter, Outcome, PlatformAdapter
from hutong.distribute.clips import ClipError, Clips, UnknownClip
from hutong.distribute.events import EventResult, PlatformEvents
from hutong.distribute.jobs import (
    RECOVER_SECONDS,
    Jobs,
    JobStateError,
    JobView,
    NotYourCertificate,
    PublishError,
    Target,
    UnknownJob,
)
from hutong.distribute.queue import EmbeddedConsumer, Queue, make_huey
from hutong.distribute.transport import AddressRefusedError, policy_client
from hutong.platform.ports import CertificateAuthority
from hutong.platform.vault import Vault
from hutong.rights.creators import Creators
from hutong.store import Database


class JobKind(Protocol):
    """Another kind of job on the distribution queue, recovered as publishing jobs are (same contract)."""

    def recover(self, *, all_in_flight: bool = False, stale_only: bool = False) -> list: ...


@dataclass
class Distribution:
    accounts: ConnectedAccounts
    jobs: Jobs
    queue: Queue
    clips: Clips  # clips sent over HTTP, content-addressed
    shared_queue: bool  # Redis: other workers may be running, so only expired leases are recovered
    events: PlatformEvents
    http: httpx.Client  # what every adapter talks through: the outbound address policy on every connection
    every: float = RECOVER_SECONDS  # how often a running worker does its housekeeping
    lock_path: Path | None = None  # embedded queue: held by the one consumer that may recover everything
    clip_grace: timedelta = timedelta(hours=24)  # a clip sent but never published is kept this long
    kinds: list[JobKind] = field(default_factory=list)  # other jobs on this queue (registration)

    @classmethod
    def create(
        cls,
        settings: Settings,
        db: Database,
        *,
        certificates: CertificateAuthority,
        creators: Creators,
        vault: Vault,
        http: httpx.Client,
        adapters: dict[str, PlatformAdapter] | None = None,
    ) -> Distribution:
        """``certificates`` is this installation's issuer (only its certificates are published), ``creators``
        says whose certificate is whose, ``vault`` encrypts the tokens, ``http`` carries every request to other
        platforms (build it with :func:`policy_client`: the outbound address policy on every connection)."""
        adapters = adapters or {name: cls(http) for name, cls in ADAPTERS.items()}
        accounts = ConnectedAccounts(db, vault, adapters)
        lease = timedelta(seconds=settings.distribution_lease_seconds)
        jobs = Jobs(db, accounts, certificates, creators, lease=lease, poll_seconds=settings.distribution_poll_seconds,
                    per_minute=settings.distribution_account_per_minute)  # fmt: skip
        events = PlatformEvents(db, accounts)
        queue = Queue(make_huey(settings), jobs.run)
        jobs.enqueue = queue.enqueue
        clips = Clips(settings.media_dir / "distribution" / "clips", settings.max_media_bytes)
        every = min(
            RECOVER_SECONDS, max(1.0, lease.total_seconds() / 2)
        )  # a short lease is looked at as often
        return cls(accounts, jobs, queue, clips, bool(settings.redis_url), events, http, every,
                   None if settings.redis_url else settings.home / "queue.lock",
                   timedelta(hours=settings.upload_hours))  # fmt: skip

    def add_kind(self, kind: JobKind, *, lease: timedelta) -> None:
        """Recover ``kind``'s jobs with the publishing jobs (at a worker's start and in its housekeeping,
        which then runs at least every half ``lease``)."""
        self.kinds.append(kind)
        self.every = min(self.every, max(1.0, lease.total_seconds() / 2))

    def platform_event(self, adapter_name: str, headers: dict, body: bytes) -> EventResult:
        """A webhook from a platform (raw headers and body): verified, applied to its job idempotently.
        Answer the platform with ``result.status`` and ``result.body``."""
        return self.events.receive(adapter_name, headers, body)

    def worker(self, workers: int = 2, *, recover: bool = True) -> EmbeddedConsumer:
        """An embedded consumer; ``recover`` first queues again whatever a stopped worker left in flight.
        On the embedded queue the first consumer of an installation (`hutong serve`, or `hutong worker`)
        holds ``queue.lock``: only it takes over every in-flight job at start, since no other can be running
        them; a second one (a `hutong worker` beside `hutong serve`) takes over only lapsed leases, as on
        Redis."""
        lock = self._sole_consumer()
        if recover:
            self.jobs.recover(all_in_flight=lock is not None)
            self.jobs.take_down_revoked()  # revocations made while no worker ran
            for kind in self.kinds:
                kind.recover(all_in_flight=lock is not None)
        return self.queue.consumer(workers, housekeeping=self.housekeeping, every=self.every,
                                   on_stop=(lambda: os.close(lock)) if lock is not None else None)  # fmt: skip

    def _sole_consumer(self) -> int | None:
        """The lock's file descriptor when this is the installation's only embedded consumer, else None."""
        if self.lock_path is None:
            return None
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        return fd

    def cleanup_clips(self) -> list[str]:
        """Delete clips sent over HTTP that no job needs any more: every job made from the clip is settled
        for good (published, rejected, taken down, flagged; a failed, cancelled or unconfirmed job may be
        retried, so its clip stays), or none was made within ``clip_grace`` of sending it."""
        return self.clips.cleanup(self.jobs.clips_in_use(str(self.clips.folder)), self.clip_grace)

    def housekeeping(self) -> None:
        """Every minute on a running worker: take over what a worker that died left behind (once its lease
        runs out), take down posts whose certificate was revoked since, expire shares nobody confirmed."""
        self.jobs.recover(stale_only=True)
        for kind in self.kinds:
            kind.recover(stale_only=True)
        self.jobs.take_down_revoked()
        self.events.expire()
        self.cleanup_clips()


__all__ = [
    "ADAPTERS",
    "AccountError",
    "AccountView",
    "ClipError",
    "Clips",
    "ConnectedAccounts",
    "Distribution",
    "EmbeddedConsumer",
    "EventResult",
    "HutongAdapter",
    "AddressRefusedError",
    "JobStateError",
    "JobView",
    "Jobs",
    "Outcome",
    "PlatformAdapter",
    "PlatformEvents",
    "NotYourCertificate",
    "PublishError",
    "Queue",
    "Target",
    "UnknownAccount",
    "UnknownClip",
    "UnknownJob",
    "owner_of",
    "policy_client",
]
