"""Distribution (capability 5): creators connect accounts on other platforms and publish certified clips
to them through platform adapters, with durable, idempotent jobs on a real queue."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from hutong.config import Settings
from hutong.distribute.accounts import AccountError, AccountView, ConnectedAccounts
from hutong.distribute.adapters import ADAPTERS, HutongAdapter, Outcome, PlatformAdapter
from hutong.distribute.jobs import RECOVER_SECONDS, Jobs, JobView, PublishError, Target
from hutong.distribute.queue import EmbeddedConsumer, Queue, make_huey
from hutong.platform.ports import CertificateAuthority
from hutong.platform.vault import Vault
from hutong.store import Database


@dataclass
class Distribution:
    accounts: ConnectedAccounts
    jobs: Jobs
    queue: Queue
    shared_queue: bool  # Redis: other workers may be running, so only expired leases are recovered

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
        queue = Queue(make_huey(settings), jobs.run)
        jobs.enqueue = queue.enqueue
        return cls(accounts, jobs, queue, bool(settings.redis_url))

    def worker(self, workers: int = 2, *, recover: bool = True) -> EmbeddedConsumer:
        """An embedded consumer; ``recover`` first queues again whatever a stopped worker left in flight."""
        if recover:
            self.jobs.recover(all_in_flight=not self.shared_queue)
        # while it runs, it takes over what a worker that died since left behind (once its lease runs out)
        return self.queue.consumer(
            workers, housekeeping=lambda: self.jobs.recover(stale_only=True), every=RECOVER_SECONDS
        )


__all__ = [
    "ADAPTERS",
    "AccountError",
    "AccountView",
    "ConnectedAccounts",
    "Distribution",
    "EmbeddedConsumer",
    "HutongAdapter",
    "JobView",
    "Jobs",
    "Outcome",
    "PlatformAdapter",
    "PublishError",
    "Queue",
    "Target",
]
