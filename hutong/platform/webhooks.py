"""Webhooks to apps: signed (HMAC-SHA256 over timestamp and body, per-app secret), retried with exponential
backoff, given up on after a number of tries, every attempt kept in a delivery log.

How an app checks a delivery (:func:`verify_webhook` does exactly this)::

    signed = f"{headers['X-Hutong-Timestamp']}.{raw_body}"
    expected = hmac_sha256(webhook_secret, signed).hexdigest()
    headers['X-Hutong-Signature'] == f"v1={expected}", and the timestamp is recent (replays fail)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta

import httpx
import structlog
from sqlalchemy import select

from hutong.platform.vault import Vault
from hutong.store import App, Database, WebhookDelivery, utcnow

log = structlog.get_logger("hutong.webhooks")
TOLERANCE = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_webhook(secret: str, headers, body: bytes, *, now: float | None = None) -> bool:
    ts = headers.get("X-Hutong-Timestamp", "")
    sig = headers.get("X-Hutong-Signature", "")
    if not ts.isdigit() or abs((now or time.time()) - int(ts)) > TOLERANCE:
        return False
    return hmac.compare_digest(sig, signature(secret, ts, body))


class Webhooks:
    def __init__(self, db: Database, vault: Vault, *, attempts: int, backoff: float) -> None:
        self.db, self.vault, self.attempts, self.backoff = db, vault, attempts, backoff

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

    def deliver_due(self, *, http: httpx.Client | None = None) -> int:
        """Try every delivery that is due; returns how many were attempted."""
        now = utcnow()
        with self.db.session() as s:
            due = [
                d.id
                for d in s.execute(
                    select(WebhookDelivery)
                    .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
                    .order_by(WebhookDelivery.id)
                    .limit(50)
                ).scalars()
            ]
        client = http or httpx.Client(timeout=5)
        try:
            for delivery_id in due:
                self._attempt(delivery_id, client)
        finally:
            if http is None:
                client.close()
        return len(due)

    def _attempt(self, delivery_id: int, client: httpx.Client) -> None:
        with self.db.session() as s:
            d = s.get(WebhookDelivery, delivery_id)
            app = s.execute(select(App).where(App.client_id == d.client_id)).scalar_one_or_none()
            if app is None or not app.webhook_url:
                d.status, d.last_error = "failed", "the app has no webhook URL any more"
                return
            url, secret = app.webhook_url, self.secret_for(app) or ""
            body = json.dumps({"id": d.id, "event": d.event, "created_at": d.created_at.isoformat(), "data": d.payload},
                              ensure_ascii=False, separators=(",", ":")).encode()  # fmt: skip
        ts = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Hutong-Event": d.event, "X-Hutong-Delivery": str(delivery_id),
                   "X-Hutong-Timestamp": ts, "X-Hutong-Signature": signature(secret, ts, body)}  # fmt: skip
        try:
            r = client.post(url, content=body, headers=headers)
            ok, outcome = 200 <= r.status_code < 300, f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            ok, outcome = False, f"{exc.__class__.__name__}: {str(exc)[:200]}"
        with self.db.session() as s:
            d = s.get(WebhookDelivery, delivery_id)
            d.attempts += 1
            d.log = [*d.log, {"at": utcnow().isoformat(), "attempt": d.attempts, "outcome": outcome}]
            if ok:
                d.status, d.delivered_at, d.last_error = "delivered", utcnow(), ""
            elif d.attempts >= self.attempts:
                d.status, d.last_error = "failed", f"gave up after {d.attempts} attempts: {outcome}"
                log.warning("webhook.failed", delivery=d.id, app=d.client_id, error=outcome)
            else:
                d.last_error = outcome
                d.next_attempt_at = utcnow() + timedelta(seconds=self.backoff * 2 ** (d.attempts - 1))

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


class Worker:
    """Delivers due webhooks in the background of ``hutong serve`` (one thread; the database is the queue,
    so deliveries survive restarts), and runs housekeeping ``chores`` — ``(every_seconds, function)`` —
    such as deleting uploads past their deadline."""

    def __init__(self, webhooks: Webhooks, interval: float = 0.5, chores: list | None = None) -> None:
        self.webhooks, self.interval = webhooks, interval
        self.chores = [(every, fn, [0.0]) for every, fn in (chores or [])]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hutong-webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with httpx.Client(timeout=5) as http:
            while not self._stop.is_set():
                try:
                    self.webhooks.deliver_due(http=http)
                    now = time.monotonic()
                    for every, chore, last in self.chores:
                        if now - last[0] >= every:
                            last[0] = now
                            chore()
                except Exception as exc:  # a bad row must not stop deliveries for everyone
                    log.error("webhook.worker_error", error=str(exc)[:300])
                self._stop.wait(self.interval)
