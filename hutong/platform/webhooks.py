"""Webhooks to apps, after the Standard Webhooks specification (https://www.standardwebhooks.com): each
delivery is signed with the app's ``whsec_`` secret (headers ``webhook-id``, ``webhook-timestamp``,
``webhook-signature``), retried with exponential backoff, given up on after a number of tries, and every
attempt is kept in a delivery log.

An app checks a delivery with the ``standardwebhooks`` library of its language (:func:`verify_webhook` does
exactly that)::

    from standardwebhooks import Webhook
    payload = Webhook(webhook_secret).verify(raw_body, headers)  # raises if forged, altered or stale

Webhook URLs are outbound HTTP to an address a developer chose: the address policy of
:mod:`hutong.platform.outbound` is applied at registration and again at every attempt (the name is resolved
and checked again, and the checked address is the one connected to), each attempt has one deadline, and the
log says only "could not deliver" when no HTTP answer came, so it cannot be used to scan ports.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import select, update
from standardwebhooks import Webhook, WebhookVerificationError
from standardwebhooks.webhooks import EmptyWebhookSecretError

from hutong.errors import PlatformError
from hutong.platform.outbound import AddressRefused, Deadline, Outbound, Unresolvable, parse_target
from hutong.platform.vault import Vault
from hutong.store import App, Database, WebhookDelivery, utcnow
from hutong.store.paging import ListQuery, Page, contains, page_of

log = structlog.get_logger("hutong.webhooks")
NO_ANSWER = "could not deliver (no HTTP answer)"
NOT_PUBLIC = "could not deliver: the webhook URL does not resolve to a public address"
CLAIM_MARGIN = 30.0  # seconds a claimed attempt may outlive its deadline before another process may retry it


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _signer(secret: str) -> Webhook:
    # secrets made before Standard Webhooks (``whs_…``) are used as raw bytes, as they were
    return Webhook(secret if secret.startswith("whsec_") else secret.encode())


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``."""
    when = datetime.fromtimestamp(timestamp, tz=UTC)
    signature = _signer(secret).sign(msg_id, when, body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def verify_webhook(secret: str, headers, body: bytes) -> bool:
    """True when ``headers`` carry a valid, recent Standard Webhooks signature of ``body`` by ``secret``."""
    try:
        _signer(secret).verify(body, dict(headers), json_parse=False)
    except (WebhookVerificationError, EmptyWebhookSecretError, ValueError, binascii.Error):
        return False
    return True


class Webhooks:
    def __init__(
        self,
        db: Database,
        vault: Vault,
        *,
        attempts: int,
        backoff: float,
        timeout: float,
        outbound: Outbound,
    ) -> None:
        """``timeout``: the deadline of one attempt; ``outbound``: the address policy endpoints must pass."""
        self.db, self.vault, self.attempts, self.backoff = db, vault, attempts, backoff
        self.timeout, self.outbound = timeout, outbound

    def secret_for(self, app: App) -> str | None:
        if not app.webhook_secret_enc:
            return None
        return self.vault.decrypt(app.webhook_secret_enc, context=f"app:{app.client_id}:webhook")

    def enqueue(self, client_id: str, event: str, payload: dict) -> int | None:
        with self.db.session() as s:
            app = s.execute(select(App).where(App.client_id == client_id)).scalar_one_or_none()
            if app is None or not app.webhook_url:
                return None
            d = WebhookDelivery(client_id=client_id, event=event, payload=payload, status="pending", attempts=0,
                                next_attempt_at=utcnow(), last_error="", log=[])  # fmt: skip
            s.add(d)
            s.flush()
            return d.id

    def due(self, *, busy: set[str] = frozenset(), limit: int = 50) -> list[tuple[int, str]]:
        """(delivery id, app) of due deliveries, the oldest of each app only and none of the ``busy`` apps:
        an app's deliveries go one at a time, in order."""
        picked: dict[str, int] = {}
        with self.db.session() as s:
            rows = s.execute(
                select(WebhookDelivery.id, WebhookDelivery.client_id)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= utcnow())
                .order_by(WebhookDelivery.id)
                .limit(500)
            ).all()
        for delivery_id, client_id in rows:
            if client_id not in busy and client_id not in picked:
                picked[client_id] = delivery_id
                if len(picked) >= limit:
                    break
        return [(d, c) for c, d in picked.items()]

    def deliver_due(self) -> int:
        """Try every due delivery now, one after another (for the CLI and tests; the server uses
        :class:`Worker`); returns how many were attempted."""
        done = 0
        while batch := self.due():
            for delivery_id, _ in batch:
                self.attempt(delivery_id)
                done += 1
        return done

    def attempt(self, delivery_id: int) -> None:
        """One try of one delivery, within the deadline; the outcome goes to the delivery log. Nothing
        happens when the delivery is not due or another process (or thread) has just claimed it."""
        if not self._claim(delivery_id):
            return
        with self.db.session() as s:
            d = s.get(WebhookDelivery, delivery_id)
            if d is None or d.status != "pending":
                return
            app = s.execute(select(App).where(App.client_id == d.client_id)).scalar_one_or_none()
            if app is None or not app.webhook_url:
                d.status, d.last_error = "failed", "the app has no webhook URL any more"
                return
            url, secret, event = app.webhook_url, self.secret_for(app), d.event
            if not secret:
                d.status, d.last_error = "failed", "the app has no webhook secret to sign with"
                return
            body = json.dumps({"type": d.event, "timestamp": d.created_at.isoformat(), "data": d.payload},
                              ensure_ascii=False, separators=(",", ":")).encode()  # fmt: skip
        headers = {"content-type": "application/json", "user-agent": "hutong-webhooks/2",
                   **sign(secret, f"msg_{delivery_id}", int(time.time()), body)}  # fmt: skip
        ok, outcome = self._post(url, body, headers, delivery_id)
        with self.db.session() as s:
            d = s.get(WebhookDelivery, delivery_id)
            d.attempts += 1
            d.log = [*d.log, {"at": utcnow().isoformat(), "attempt": d.attempts, "outcome": outcome}]
            if ok:
                d.status, d.delivered_at, d.last_error = "delivered", utcnow(), ""
            elif d.attempts >= self.attempts:
                d.status, d.last_error = "failed", f"gave up after {d.attempts} attempts: {outcome}"
                log.warning("webhook.failed", delivery=d.id, app=d.client_id, kind=event, error=outcome)
            else:
                d.last_error = outcome
                d.next_attempt_at = utcnow() + timedelta(seconds=self.backoff * 2 ** (d.attempts - 1))

    def _claim(self, delivery_id: int) -> bool:
        """Take a due delivery for one attempt, whichever of several API processes asks first.

        The claim is one conditional UPDATE: it moves ``next_attempt_at`` past the attempt's deadline, so
        the delivery is no longer due for anyone else. SQLite runs writes one at a time; PostgreSQL makes
        a concurrent UPDATE of the same row wait, then re-checks the condition on the committed row and
        changes nothing. A process killed mid-attempt leaves the delivery due again once the claim lapses
        (at-least-once; receivers drop repeats by the ``webhook-id`` header, as Standard Webhooks says)."""
        now = utcnow()
        with self.db.session() as s:
            claimed = s.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == delivery_id,
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + timedelta(seconds=self.timeout + CLAIM_MARGIN))
            )
        return claimed.rowcount == 1

    def _post(self, url: str, body: bytes, headers: dict, delivery_id: int) -> tuple[bool, str]:
        """(delivered, what the log says). The log shows an HTTP status only when one came back; every other
        failure reads the same, whatever the cause, so the log tells nothing about other hosts or ports."""
        deadline = Deadline(self.timeout)
        try:
            target = parse_target(url, "webhook_url")
            with self.outbound.exchange(
                "POST", target, deadline, headers=list(headers.items()), content=body
            ) as r:
                for _ in r.iter_stream():  # the answer's body is not needed; drain a little, then close
                    break
                return 200 <= r.status < 300, f"HTTP {r.status}"
        except Exception as exc:  # a delivery never takes the worker down; the detail stays in our own log
            log.info(
                "webhook.not_delivered",
                delivery=delivery_id,
                cause=exc.__class__.__name__,
                detail=str(exc)[:200],
            )
            if isinstance(exc, AddressRefused | Unresolvable):
                return False, NOT_PUBLIC
            return False, NO_ANSWER

    def deliveries(self, client_id: str) -> list[dict]:
        with self.db.session() as s:
            rows = s.execute(
                select(WebhookDelivery)
                .where(WebhookDelivery.client_id == client_id)
                .order_by(WebhookDelivery.id)
            ).scalars()
            return [
                {"id": d.id, "event": d.event, "status": d.status, "attempts": d.attempts, "last_error": d.last_error,
                 "log": d.log, "data": d.payload, "created_at": d.created_at.isoformat(),
                 "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None}
                for d in rows
            ]  # fmt: skip

    # -- the developer portal (the caller has checked that the app is the developer's) -------------

    @staticmethod
    def _row(d: WebhookDelivery) -> dict:
        return {"id": d.id, "event": d.event, "status": d.status, "attempts": d.attempts, "last_error": d.last_error,
                "log": d.log, "data": d.payload, "created_at": d.created_at, "delivered_at": d.delivered_at}  # fmt: skip

    def deliveries_page(self, client_id: str, query: ListQuery) -> Page[dict]:
        """One page of the app's delivery log. Filter ``status`` (pending, delivered, failed); text: the
        event type."""
        stmt = select(WebhookDelivery).where(WebhookDelivery.client_id == client_id)
        if status := query.filters.get("status"):
            stmt = stmt.where(WebhookDelivery.status == status)
        if query.text:
            stmt = stmt.where(contains(WebhookDelivery.event, query.text))
        columns = {"id": WebhookDelivery.id, "event": WebhookDelivery.event, "status": WebhookDelivery.status,
                   "attempts": WebhookDelivery.attempts}  # fmt: skip
        with self.db.session() as s:
            return page_of(
                s, stmt, query, columns=columns, default="id", row=self._row, tiebreak=WebhookDelivery.id
            )

    def send_test(self, client_id: str) -> int:
        """Queue a ``webhook.test`` event, for a developer to see their endpoint receive and verify one."""
        delivery_id = self.enqueue(
            client_id, "webhook.test", {"message": "a test delivery from the developer portal"}
        )
        if delivery_id is None:
            raise PlatformError("the app has no webhook URL: give it one when you register it", 409)
        return delivery_id

    def redeliver(self, client_id: str, delivery_id: int) -> int:
        """Send a finished delivery (delivered or given up on) again: a new delivery with the same event and
        data, so the log keeps what happened to the first; returns its id."""
        with self.db.session() as s:
            d = s.get(WebhookDelivery, delivery_id)
            if d is None or d.client_id != client_id:
                raise PlatformError(f"no delivery {delivery_id} of this app", 404)
            if d.status == "pending":
                raise PlatformError(
                    f"delivery {delivery_id} is still being tried: wait for it to finish", 409
                )
            event, payload = d.event, d.payload
        new_id = self.enqueue(client_id, event, payload)
        if new_id is None:
            raise PlatformError("the app has no webhook URL any more", 409)
        return new_id


class Worker:
    """Delivers due webhooks in the background of ``hutong serve`` and runs housekeeping ``chores``.

    The database is the queue (deliveries survive restarts). A dispatcher hands the oldest due delivery of
    each app to a pool of ``workers`` threads, at most one per app at a time: an app whose endpoint is slow
    holds one thread for at most the attempt deadline and never delays another app's deliveries (unless
    more apps than ``workers`` are slow at once, and then by at most the deadline). ``chores`` —
    ``(every_seconds, function)``, such as deleting uploads past their deadline — run on a thread of their
    own, so deliveries never block them."""

    def __init__(
        self, webhooks: Webhooks, *, chores: list | None = None, interval: float = 0.5, workers: int = 4
    ) -> None:
        self.webhooks, self.interval, self.workers = webhooks, interval, workers
        self.chores = [(every, fn, [0.0]) for every, fn in (chores or [])]
        self._stop, self._wake = threading.Event(), threading.Event()
        self._busy: set[str] = set()
        self._resting: dict[str, float] = {}  # app -> until when (monotonic) after an unexpected error
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="hutong-webhook")
        self._threads = [
            threading.Thread(target=self._dispatch, name="hutong-webhooks", daemon=True),
            threading.Thread(target=self._run_chores, name="hutong-chores", daemon=True),
        ]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(10)
        self._pool.shutdown(wait=True, cancel_futures=True)  # an attempt in flight ends by its deadline

    def _dispatch(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                with self._lock:
                    now = time.monotonic()
                    self._resting = {app: t for app, t in self._resting.items() if t > now}
                    free, busy = self.workers - len(self._busy), self._busy | set(self._resting)
                for delivery_id, client_id in self.webhooks.due(busy=busy, limit=free) if free > 0 else []:
                    with self._lock:
                        self._busy.add(client_id)
                    self._pool.submit(self._attempt, delivery_id, client_id)
            except Exception as exc:  # a bad row must not stop deliveries for everyone
                log.error("webhook.worker_error", error=str(exc)[:300])
            self._wake.wait(self.interval)

    def _attempt(self, delivery_id: int, client_id: str) -> None:
        try:
            self.webhooks.attempt(delivery_id)
        except Exception as exc:  # the delivery stays due: rest this app a while rather than retry at once
            log.error("webhook.worker_error", delivery=delivery_id, error=str(exc)[:300])
            with self._lock:
                self._resting[client_id] = time.monotonic() + max(5.0, self.interval)
        finally:
            with self._lock:
                self._busy.discard(client_id)
            self._wake.set()

    def _run_chores(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for every, chore, last in self.chores:
                if now - last[0] >= every:
                    last[0] = now
                    try:
                        chore()
                    except Exception as exc:
                        log.error(
                            "chore.failed", chore=getattr(chore, "__qualname__", "?"), error=str(exc)[:300]
                        )
            self._stop.wait(min([self.interval, *(every for every, _, _ in self.chores)]))
