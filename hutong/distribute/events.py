"""Events that platforms send to this service (webhooks): verified, then applied to the publishing job
they concern, idempotently. A platform that only lets the user confirm a share (Douyin) reports the
outcome this way, so a job waits in ``needs_confirmation`` until its event arrives.

:meth:`PlatformEvents.receive` is what an HTTP route calls with the raw request: it answers with the HTTP
status to send back. Forged (bad signature, unknown app) → 403 and nothing changes; the same event twice, or
a late event for a job already settled → 200 and nothing changes (the platform stops retrying); an event
for a share this service does not know (yet) → 404 (the platform retries)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import structlog
from sqlalchemy import select

from hutong.distribute.accounts import AccountError, ConnectedAccounts
from hutong.distribute.adapters import AdapterError
from hutong.store import Database, DistributionAccount, PublishEvent, PublishJob, utcnow

log = structlog.get_logger("hutong.distribute")
EXPIRED = "expired: "  # the reason of a share the user never confirmed


@dataclass
class EventResult:
    status: int  # the HTTP status to answer the platform with
    outcome: str  # applied | duplicate | ignored | refused | unknown | verified
    message: str
    job_id: int | None = None
    body: dict = field(default_factory=dict)  # the JSON to answer with

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class PlatformEvents:
    def __init__(self, db: Database, accounts: ConnectedAccounts) -> None:
        self.db, self.accounts = db, accounts

    def receive(self, adapter_name: str, headers: dict, body: bytes) -> EventResult:
        try:
            adapter = self.accounts.adapter(adapter_name)
        except AccountError as exc:
            return EventResult(404, "refused", str(exc))
        if not hasattr(adapter, "read_event"):  # an adapter that receives webhooks has read_event,
            # client_key (which app an event is for) and account_user (which user sent it)
            return EventResult(404, "refused", f"{adapter_name} sends no webhooks to this service")
        key = adapter.client_key(body)
        with self.db.session() as s:
            rows = s.execute(select(DistributionAccount).where(DistributionAccount.adapter == adapter_name,
                                                               DistributionAccount.client_id == key)).scalars().all()  # fmt: skip
            apps = {r.id: self.accounts._connection(r) for r in rows if key and r.client_secret_enc}
        if not apps:
            return EventResult(
                403, "refused", f"no {adapter_name} account is connected with app {key!r}: refused"
            )
        try:
            event = adapter.read_event(headers, body, sorted({c.client_secret for c in apps.values()}))
        except AdapterError as exc:
            log.warning("webhook.refused", adapter=adapter_name, reason=str(exc))
            return EventResult(403, "refused", str(exc))
        if event.kind == "verify":
            return EventResult(
                200, "verified", "webhook address verified", body={"challenge": event.challenge}
            )
        if event.kind not in ("published", "rejected"):
            return EventResult(
                200, "ignored", f"event {event.raw and event.raw.get('event')!r} is not about a share"
            )
        owners = [
            i for i, c in apps.items() if not event.open_id or adapter.account_user(c) in ("", event.open_id)
        ]
        return self._apply(event, owners)

    def _apply(self, event, account_ids: list[int]) -> EventResult:
        with self.db.session() as s:
            j = s.execute(select(PublishJob).where(PublishJob.remote_post_id == event.share_id,
                                                   PublishJob.account_id.in_(account_ids or [-1]))).scalar_one_or_none()  # fmt: skip
            if j is None:
                return EventResult(404, "unknown", f"no publishing job has share {event.share_id} (yet)")
            said = f" (Msg-Id {event.msg_id})" if event.msg_id else ""
            if j.state == event.kind or (j.state == "published" and event.kind == "rejected"):
                return EventResult(
                    200, "duplicate", f"job {j.id} is already {j.state}: no change{said}", j.id
                )
            if j.state == "rejected" and not j.reason.startswith(EXPIRED):
                return EventResult(
                    200, "ignored", f"job {j.id} was rejected ({j.reason}): no change{said}", j.id
                )
            if j.state == "cancelled":
                return EventResult(200, "ignored", f"job {j.id} was cancelled: no change{said}", j.id)
            now = utcnow()
            if event.kind == "published":
                j.state, j.reason = "published", ""
                message = f"published on the platform as {event.item_id} (share {event.share_id}, confirmed by the user){said}"
            else:
                j.state = "rejected"
                j.reason = f"the user did not publish share {event.share_id}: {event.reason}"[:5000]
                message = j.reason + said
            j.updated_at, j.lease_until, j.not_before = now, None, None
            s.add(PublishEvent(job_id=j.id, state=j.state, message=message[:5000]))
            job_id, state = j.id, j.state
        log.info("webhook.applied", job=job_id, state=state)
        return EventResult(200, "applied", message, job_id)

    def expire(self, older_than: timedelta = timedelta(days=3)) -> list[int]:
        """Shares the user never confirmed: ``rejected`` with an ``expired:`` reason once they have waited
        ``older_than`` (a confirmation that still arrives later publishes them)."""
        cutoff, done = utcnow() - older_than, []
        with self.db.session() as s:
            rows = s.execute(select(PublishJob, DistributionAccount).join(DistributionAccount).where(
                PublishJob.state == "needs_confirmation", PublishJob.remote_post_id != "",
                PublishJob.updated_at < cutoff)).all()  # fmt: skip
            for j, acc in rows:
                if self.accounts.adapter(acc.adapter).capabilities(acc.platform_url).direct_post:
                    continue  # not a share: an unknown outcome, for the creator to check
                hours = older_than.total_seconds() / 3600
                j.state, j.updated_at = "rejected", utcnow()
                j.reason = (f"{EXPIRED}the user never confirmed share {j.remote_post_id} within {hours:g} h "
                            "(a confirmation that still arrives publishes it)")  # fmt: skip
                s.add(PublishEvent(job_id=j.id, state="rejected", message=j.reason))
                done.append(j.id)
        return done
