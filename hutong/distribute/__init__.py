"""Distribution (capability 5): creators connect accounts on other platforms and publish certified clips
to them through platform adapters, with durable, idempotent jobs on a real queue."""

from __future__ import annotations

from dataclasses import dataclass

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
    PublishError,
    Target,
    UnknownJob,
)
from hutong.distribute.queue import EmbeddedConsumer, Queue, make_huey
from hutong.platform.ports import CertificateAuthority
from hutong.platform.vault import Vault
from hutong.store import Database


@dataclass
class Distribution:
    accounts: ConnectedAccounts
    jobs: Jobs
    queue: Queue
    clips: Clips  # clips sent over HTTP, content-addressed
    shared_queue: bool  # Redis: other workers may be running, so only expired leases are recovered
    events: PlatformEvents

    @classmethod
    def create(
        cls,
        settings: Settings,
        db: Database,
        *,
        certificates: CertificateAuthority,
        vault: Vault,
        http: httpx.Client,
        adapters: dict[str, PlatformAdapter] | None = None,
    ) -> Distribution:
        """``certificates`` is this installation's issuer (only its certificates are published), ``vault``
        encrypts the tokens, ``http`` carries every request to other platforms."""
        adapters = adapters or {name: cls(http) for name, cls in ADAPTERS.items()}
        accounts = ConnectedAccounts(db, vault, adapters)
        jobs = Jobs(db, accounts, certificates)
        events = PlatformEvents(db, accounts)
        queue = Queue(make_huey(settings), jobs.run)
        jobs.enqueue = queue.enqueue
        clips = Clips(settings.home / "distribution" / "clips", settings.max_media_bytes)
        return cls(accounts, jobs, queue, clips, bool(settings.redis_url), events)

    def platform_event(self, adapter_name: str, headers: dict, body: bytes) -> EventResult:
        """A webhook from a platform (raw headers and body): verified, applied to its job idempotently.
        Answer the platform with ``result.status`` and ``result.body``."""
        return self.events.receive(adapter_name, headers, body)

    def worker(self, workers: int = 2, *, recover: bool = True) -> EmbeddedConsumer:
        """An embedded consumer; ``recover`` first queues again whatever a stopped worker left in flight."""
        if recover:
            self.jobs.recover(all_in_flight=not self.shared_queue)
            self.jobs.take_down_revoked()  # revocations made while no worker ran
        return self.queue.consumer(workers, housekeeping=self.housekeeping, every=RECOVER_SECONDS)

    def housekeeping(self) -> None:
        """Every minute on a running worker: take over what a worker that died left behind (once its lease
        runs out), take down posts whose certificate was revoked since, expire shares nobody confirmed."""
        self.jobs.recover(stale_only=True)
        self.jobs.take_down_revoked()
        self.events.expire()


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
    "JobStateError",
    "JobView",
    "Jobs",
    "Outcome",
    "PlatformAdapter",
    "PlatformEvents",
    "PublishError",
    "Queue",
    "Target",
    "UnknownAccount",
    "UnknownClip",
    "UnknownJob",
    "owner_of",
]
