"""Share intents (how Douyin has worked since 2022): the app asks for a ``share_id``, sends the user to the
platform's share page, the user confirms there, and the result reaches the app by webhook. Nothing is posted
without the user's own click on this platform."""

from __future__ import annotations

import secrets
from datetime import timedelta

from hutong.errors import PlatformError
from hutong.platform.ingest import Ingest
from hutong.platform.webhooks import Webhooks
from hutong.store import Database, ShareIntent, Video, utcnow

SHARE_LIFETIME = timedelta(hours=1)


class Shares:
    def __init__(self, db: Database, ingest: Ingest, webhooks: Webhooks, issuer: str) -> None:
        self.db, self.ingest, self.webhooks, self.issuer = db, ingest, webhooks, issuer

    def create(
        self, client_id: str, account_id: int, *, video_id: str, text: str = "", certificate: str = ""
    ) -> dict:
        with self.db.session() as s:
            video = s.get(Video, video_id)
            if video is None or video.client_id != client_id or video.account_id != account_id:
                raise PlatformError(f"no video {video_id} uploaded by this app for this user", 404)
            intent = ShareIntent(id="sh_" + secrets.token_urlsafe(16), client_id=client_id, account_id=account_id,
                                 video_id=video_id, text=text[:5000], certificate=certificate.strip(), status="pending",
                                 expires_at=utcnow() + SHARE_LIFETIME)  # fmt: skip
            s.add(intent)
        return {
            "share_id": intent.id,
            "share_url": f"{self.issuer}/share/{intent.id}",
            "expires_at": intent.expires_at.isoformat(),
        }

    def for_user(self, share_id: str, account_id: int) -> dict:
        with self.db.session() as s:
            intent = s.get(ShareIntent, share_id)
            if intent is None or intent.account_id != account_id:
                raise PlatformError("no such share waiting for you", 404)
            if intent.status == "pending" and intent.expires_at <= utcnow():
                intent.status = "expired"
            return {"share_id": intent.id, "client_id": intent.client_id, "video_id": intent.video_id, "text": intent.text,
                    "has_certificate": bool(intent.certificate), "status": intent.status, "post_id": intent.post_id}  # fmt: skip

    def decide(self, share_id: str, account_id: int, *, confirm: bool) -> dict:
        view = self.for_user(share_id, account_id)
        if view["status"] != "pending":
            raise PlatformError(f"this share is {view['status']}", 409)
        with self.db.session() as s:
            intent = s.get(ShareIntent, share_id)
            client_id, video_id, text, cert = (
                intent.client_id,
                intent.video_id,
                intent.text,
                intent.certificate,
            )
        if not confirm:
            with self.db.session() as s:
                s.get(ShareIntent, share_id).status = "cancelled"
            self.webhooks.enqueue(client_id, "share.cancelled", {"share_id": share_id})
            return {**view, "status": "cancelled"}
        post = self.ingest.create(client_id, account_id, video_id=video_id, text=text, certificate=cert)
        with self.db.session() as s:
            intent = s.get(ShareIntent, share_id)
            intent.status, intent.post_id = "confirmed", post["post_id"]
        self.webhooks.enqueue(
            client_id,
            "share.completed",
            {
                "share_id": share_id,
                "post_id": post["post_id"],
                "status": post["status"],
                "reason": post["reason"],
            },
        )
        return {**view, "status": "confirmed", "post_id": post["post_id"], "post": post}
