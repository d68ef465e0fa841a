"""Content ingest for apps acting for a user, in the shape platform developers know from Douyin's open API:
``init_video_part_upload`` → ``upload_video_part`` (any order, each part with its SHA-256) →
``complete_video_part_upload`` → ``create_video`` with the clip's licence certificate."""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import structlog
from sqlalchemy import select

from hutong.compliance.certificate import Verification
from hutong.config import Settings
from hutong.errors import MediaError, PlatformError
from hutong.media import probe
from hutong.platform.interconnect import Directory
from hutong.platform.webhooks import Webhooks
from hutong.store import Database, Post, Upload, Video, utcnow

log = structlog.get_logger("hutong.ingest")


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Ingest:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        directory: Directory,
        webhooks: Webhooks,
        recognise: Callable[[Path], list[str]],
        own_status: Callable[[str], dict | None],
    ) -> None:
        self.settings, self.db, self.directory, self.webhooks = settings, db, directory, webhooks
        self.recognise, self.own_status = recognise, own_status
        self.uploads = settings.home / "uploads"
        self.videos = settings.home / "videos"

    # -- chunked upload --------------------------------------------------------------------------

    def init(self, client_id: str, account_id: int, *, size: int, filename: str = "") -> dict:
        if size <= 0:
            raise PlatformError("size: the video's size in bytes, more than 0", 422)
        if size > self.settings.ingest_max_bytes:
            raise PlatformError(
                f"size: {size} bytes is over this platform's limit of {self.settings.ingest_max_bytes}", 413
            )
        self.cleanup()
        part = self.settings.ingest_part_bytes
        upload = Upload(
            id="up_" + secrets.token_urlsafe(16), client_id=client_id, account_id=account_id, filename=filename[:300],
            size=size, part_size=part, part_count=math.ceil(size / part), parts={},
            expires_at=utcnow() + timedelta(hours=self.settings.upload_hours),
        )  # fmt: skip
        with self.db.session() as s:
            s.add(upload)
        (self.uploads / upload.id).mkdir(parents=True, exist_ok=True)
        return {
            "upload_id": upload.id,
            "part_size": part,
            "part_count": upload.part_count,
            "expires_at": upload.expires_at.isoformat(),
        }

    def _upload(self, s, upload_id: str, client_id: str, account_id: int) -> Upload:
        u = s.get(Upload, upload_id)
        if u is None or u.client_id != client_id or u.account_id != account_id:
            raise PlatformError(f"no upload {upload_id} for this app and user", 404)
        if u.completed_at is not None:
            raise PlatformError(f"upload {upload_id} is already complete (video {u.video_id})", 409)
        if u.expires_at <= utcnow():
            raise PlatformError(
                f"upload {upload_id} expired at {u.expires_at:%Y-%m-%d %H:%M} UTC: start again", 410
            )
        return u

    def put_part(
        self, upload_id: str, client_id: str, account_id: int, number: int, data: bytes, sha256: str
    ) -> dict:
        with self.db.session() as s:
            u = self._upload(s, upload_id, client_id, account_id)
            if not 1 <= number <= u.part_count:
                raise PlatformError(f"part_number: 1 to {u.part_count} for this upload, not {number}", 422)
            expected = u.part_size if number < u.part_count else u.size - u.part_size * (u.part_count - 1)
            if len(data) != expected:
                raise PlatformError(f"part {number} must be {expected} bytes, not {len(data)}", 422)
            digest = hashlib.sha256(data).hexdigest()
            if not sha256 or digest != sha256.strip().lower():
                raise PlatformError(
                    f"part {number} is corrupted: its SHA-256 is {digest}, the header says {sha256 or 'nothing'}",
                    422,
                )
            known = u.parts.get(str(number))
            if known == digest:
                return {
                    "part_number": number,
                    "received": len(u.parts),
                    "part_count": u.part_count,
                    "duplicate": True,
                }
            if known is not None:
                raise PlatformError(f"part {number} was already received with different content", 409)
            tmp = self.uploads / u.id / f"{number}.part.tmp"
            tmp.write_bytes(data)
            tmp.replace(self.uploads / u.id / f"{number}.part")
            u.parts = {**u.parts, str(number): digest}
            return {
                "part_number": number,
                "received": len(u.parts),
                "part_count": u.part_count,
                "duplicate": False,
            }

    def complete(self, upload_id: str, client_id: str, account_id: int) -> dict:
        with self.db.session() as s:
            u = self._upload(s, upload_id, client_id, account_id)
            missing = [n for n in range(1, u.part_count + 1) if str(n) not in u.parts]
            if missing:
                shown = ", ".join(map(str, missing[:20])) + ("…" if len(missing) > 20 else "")
                raise PlatformError(f"parts {shown} are missing: upload them, then complete again", 409)
            video_id = "v_" + secrets.token_urlsafe(16)
            self.videos.mkdir(parents=True, exist_ok=True)
            target = self.videos / f"{video_id}{Path(u.filename).suffix.lower()[:8] or '.mp4'}"
            digest = hashlib.sha256()
            with open(target, "wb") as out:
                for n in range(1, u.part_count + 1):
                    chunk = (self.uploads / u.id / f"{n}.part").read_bytes()
                    if hashlib.sha256(chunk).hexdigest() != u.parts[str(n)]:
                        target.unlink(missing_ok=True)
                        raise PlatformError(
                            f"part {n} changed on disk since it was received: upload it again", 409
                        )
                    digest.update(chunk)
                    out.write(chunk)
            try:
                info = probe(
                    target,
                    max_bytes=self.settings.ingest_max_bytes,
                    max_seconds=self.settings.ingest_max_seconds,
                )
                if not info.has_video:
                    raise MediaError("no video stream")
            except MediaError as exc:
                target.unlink(missing_ok=True)
                raise PlatformError(
                    f"the uploaded file is not a video this platform accepts: {str(exc).split(': ', 1)[-1]}",
                    422,
                ) from None
            s.add(Video(id=video_id, client_id=client_id, account_id=account_id, path=str(target), sha256=digest.hexdigest(),
                        size=u.size, duration=info.duration))  # fmt: skip
            u.completed_at, u.video_id = utcnow(), video_id
        shutil.rmtree(self.uploads / upload_id, ignore_errors=True)
        return {
            "video_id": video_id,
            "sha256": digest.hexdigest(),
            "size": u.size,
            "duration": round(info.duration, 3),
        }

    def cleanup(self) -> int:
        """Delete uploads never completed by their deadline (their parts and their rows)."""
        now = utcnow()
        with self.db.session() as s:
            stale = list(
                s.execute(
                    select(Upload).where(Upload.completed_at.is_(None), Upload.expires_at <= now)
                ).scalars()
            )
            for u in stale:
                shutil.rmtree(self.uploads / u.id, ignore_errors=True)
                s.delete(u)
        if stale:
            log.info("uploads.cleaned", count=len(stale))
        return len(stale)

    # -- posts -----------------------------------------------------------------------------------

    def create(
        self,
        client_id: str,
        account_id: int,
        *,
        video_id: str,
        text: str = "",
        certificate: str = "",
        idempotency_key: str = "",
    ) -> dict:
        request_hash = hashlib.sha256(json.dumps([video_id, text, certificate]).encode()).hexdigest()
        key = _key_hash(idempotency_key) if idempotency_key else None
        if key:
            with self.db.session() as s:
                prior = s.execute(
                    select(Post).where(Post.client_id == client_id, Post.idempotency_key == key)
                ).scalar_one_or_none()
                if prior is not None:
                    if prior.request_hash != request_hash or prior.account_id != account_id:
                        raise PlatformError("Idempotency-Key was already used for a different request", 422)
                    return {**self.view(prior), "idempotent_replay": True}
        with self.db.session() as s:
            video = s.get(Video, video_id)
            if video is None or video.client_id != client_id or video.account_id != account_id:
                raise PlatformError(f"no video {video_id} uploaded by this app for this user", 404)
            path, digest = Path(video.path), video.sha256
        status, reason, issuer, jti = self._decide(path, digest, certificate)
        post = Post(
            id="p_" + secrets.token_urlsafe(16), video_id=video_id, account_id=account_id, client_id=client_id,
            text=text[:5000], status=status, reason=reason, certificate=certificate, certificate_id=jti,
            certificate_issuer=issuer, idempotency_key=key, request_hash=request_hash,
        )  # fmt: skip
        with self.db.session() as s:
            s.add(post)
        log.info("post.created", post=post.id, status=status, app=client_id, issuer=issuer or None)
        self.webhooks.enqueue(
            client_id,
            f"post.{status}",
            {"post_id": post.id, "video_id": video_id, "status": status, "reason": reason},
        )
        return self.view(post)

    def _decide(self, path: Path, digest: str, certificate: str) -> tuple[str, str, str, str]:
        if certificate.strip():
            v: Verification = self.directory.verify(
                certificate.strip(),
                path,
                platform_name=self.settings.platform_name,
                own_status=self.own_status,
                clip_sha256=digest,  # computed while the parts were assembled
            )
            claims = v.claims or {}
            if v.valid:
                return (
                    "published",
                    f"certificate {claims.get('jti')} from {claims.get('iss')}: {v.reason}",
                    claims.get("iss", ""),
                    claims.get("jti", ""),
                )
            return "rejected", f"{v.code}: {v.reason}", str(claims.get("iss", "")), str(claims.get("jti", ""))
        if self.settings.uncertified == "reject":
            return (
                "rejected",
                "no-certificate: this platform requires a licence certificate for every post",
                "",
                "",
            )
        if self.settings.uncertified == "accept":
            return "published", "accepted without a certificate (platform policy)", "", ""
        works = self.recognise(path)
        if works:
            return (
                "held",
                f"no-certificate: the video uses registered works ({', '.join(works)}) and came without a licence certificate: held for review",
                "",
                "",
            )
        return "published", "no certificate, and no registered work recognised in it", "", ""

    def take_down(self, post_id: str, reason: str) -> dict:
        if not reason.strip():
            raise PlatformError("say why the post is taken down", 422)
        with self.db.session() as s:
            post = s.get(Post, post_id)
            if post is None:
                raise PlatformError(f"no post {post_id}", 404)
            post.status, post.reason, post.updated_at = "taken_down", reason.strip(), utcnow()
            view = self.view(post)
        self.webhooks.enqueue(
            view["client_id"],
            "post.taken_down",
            {"post_id": post_id, "status": "taken_down", "reason": reason},
        )
        return view

    def get(self, post_id: str, client_id: str | None = None) -> dict:
        with self.db.session() as s:
            post = s.get(Post, post_id)
            if post is None or (client_id and post.client_id != client_id):
                raise PlatformError(f"no post {post_id}", 404)
            return self.view(post)

    @staticmethod
    def view(p: Post) -> dict:
        return {"post_id": p.id, "video_id": p.video_id, "client_id": p.client_id, "status": p.status, "reason": p.reason,
                "certificate_id": p.certificate_id or None, "certificate_issuer": p.certificate_issuer or None,
                "text": p.text, "created_at": p.created_at.isoformat()}  # fmt: skip
