"""Content ingest for apps acting for a user, in the shape platform developers know from Douyin's open API:
``init_video_part_upload`` → ``upload_video_part`` (any order, each part with its SHA-256) →
``complete_video_part_upload`` → ``create_video`` with the clip's licence certificate."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import secrets
import shutil
import time
import unicodedata
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from hutong.compliance.certificate import Verification
from hutong.config import Settings
from hutong.errors import MediaError, PlatformError
from hutong.media import probe
from hutong.platform.interconnect import Directory
from hutong.platform.webhooks import Webhooks
from hutong.store import Database, Post, Upload, Video, utcnow
from hutong.store.models import UploadPart

log = structlog.get_logger("hutong.ingest")

# A completion claim, an assembly copy or a stray file older than this is a crash's leftover: no completion of
# a video within the platform's limits (2 GiB, read once and written once) takes anywhere near as long.
STALE = timedelta(minutes=15)
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # every id this service hands out (prefix + token_urlsafe)
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_MAX_FILENAME = 300
# text-direction controls make "x\u202ekcod.mp4" display as "xdoc.mp4" (and worse)
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# stored files are named by the container the probe found, never by the client
_SUFFIX = {
    "mov,mp4,m4a,3gp,3g2,mj2": ".mp4",
    "matroska,webm": ".mkv",
    "mpegts": ".ts",
    "avi": ".avi",
    "flv": ".flv",
    "ogg": ".ogv",
    "mpeg": ".mpg",
}


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _shown(value: object) -> str:
    """A client's value, safe to put in an error message (no control characters, bounded)."""
    text = value if isinstance(value, str) else repr(value)
    text = "".join(c if c.isprintable() else "\ufffd" for c in text)
    return text if len(text) <= 40 else text[:40] + "…"


def _id(value: object) -> str | None:
    """The id if it has the shape of one this service issued; anything else cannot name a stored row."""
    return value if isinstance(value, str) and _ID.fullmatch(value) else None


def _whole(value: object, name: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise PlatformError(f"{name}: a whole number from {low} to {high}, not {_shown(value)}", 422)
    return value


def _text(value: object, name: str, limit: int) -> str:
    """Client text the database stores: valid UTF-8 with no NUL (PostgreSQL refuses both), bounded."""
    if not isinstance(value, str):
        raise PlatformError(f"{name}: text expected", 422)
    if len(value) > limit:
        raise PlatformError(f"{name}: at most {limit} characters, not {len(value)}", 422)
    try:
        value.encode()
    except UnicodeEncodeError:
        raise PlatformError(f"{name}: not valid UTF-8 text (a lone surrogate)", 422) from None
    if "\x00" in value:
        raise PlatformError(f"{name}: NUL characters are not allowed", 422)
    return value


def _filename(value: object) -> str:
    """The client's file name as metadata only: one path component, no control or text-direction characters."""
    name = _text(value, "filename", _MAX_FILENAME)
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise PlatformError("filename: control characters (NUL, newline, escape…) are not allowed", 422)
    if any(c in _BIDI for c in name):
        raise PlatformError("filename: text-direction controls (such as U+202E) are not allowed", 422)
    return re.split(r"[\\/]", unicodedata.normalize("NFC", name))[-1].strip()[:_MAX_FILENAME]


class Ingest:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        directory: Directory,
        webhooks: Webhooks,
        recognise: Callable[[Path], list[str]],
        own_status: Callable[[str], dict | None],
        held: Callable[[str, Path, str, int], object],
    ) -> None:
        self.settings, self.db, self.directory, self.webhooks = settings, db, directory, webhooks
        self.recognise, self.own_status, self.held = recognise, own_status, held
        self.uploads = (
            settings.media_dir / "uploads"
        )  # one folder per open upload: parts and the assembly copy
        self.videos = settings.media_dir / "videos"  # complete videos only, each named after its row

    # -- chunked upload --------------------------------------------------------------------------

    def init(self, client_id: str, account_id: int, *, size: int, filename: str = "") -> dict:
        if type(size) is not int:
            raise PlatformError(f"size: the video's size in bytes, a whole number, not {_shown(size)}", 422)
        if size <= 0:
            raise PlatformError("size: the video's size in bytes, more than 0", 422)
        if size > self.settings.ingest_max_bytes:
            raise PlatformError(
                f"size: {_shown(size)} bytes is over this platform's limit of {self.settings.ingest_max_bytes}",
                413,
            )
        filename = _filename(filename)
        self._expire()
        part = self.settings.ingest_part_bytes
        upload = Upload(
            id="up_" + secrets.token_urlsafe(16), client_id=client_id, account_id=account_id, filename=filename,
            size=size, part_size=part, part_count=math.ceil(size / part),
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

    def _upload(self, s, upload_id: object, client_id: str, account_id: int) -> Upload:
        u = s.get(Upload, upload_id) if _id(upload_id) else None
        if u is None or u.client_id != client_id or u.account_id != account_id:
            shown = upload_id if _id(upload_id) else "with that id"
            raise PlatformError(f"no upload {shown} for this app and user", 404)
        if u.completed_at is not None:
            raise PlatformError(f"upload {upload_id} is already complete: video {u.video_id}", 409)
        if u.completing_since is not None:
            raise PlatformError(
                f"upload {upload_id} is already being completed by another request: wait for its answer", 409
            )
        if u.expires_at <= utcnow():
            raise PlatformError(
                f"upload {upload_id} expired at {u.expires_at:%Y-%m-%d %H:%M} UTC: start again", 410
            )
        return u

    def put_part(
        self, upload_id: str, client_id: str, account_id: int, number: int, data: bytes, sha256: str
    ) -> dict:
        if type(number) is not int:  # bool and float are not part numbers
            raise PlatformError(f"part_number: a whole number, not {_shown(number)}", 422)
        with self.db.session() as s:
            u = self._upload(s, upload_id, client_id, account_id)
            count, size, part_size = u.part_count, u.size, u.part_size
            _whole(number, "part_number", 1, count)  # checked before the number reaches SQL
            known = s.get(UploadPart, (upload_id, number))
            known = known.sha256 if known else None
        expected = part_size if number < count else size - part_size * (count - 1)
        if len(data) != expected:
            raise PlatformError(f"part {number} must be {expected} bytes, not {len(data)}", 422)
        claimed = sha256.strip().lower() if isinstance(sha256, str) else ""
        if not _SHA256.fullmatch(claimed):
            raise PlatformError(
                f"X-Part-SHA256: the part's SHA-256 as 64 hex digits, not {_shown(sha256) or 'nothing'}", 422
            )
        digest = hashlib.sha256(data).hexdigest()
        if digest != claimed:
            raise PlatformError(
                f"part {number} is corrupted: its SHA-256 is {digest}, X-Part-SHA256 says {claimed}", 422
            )
        duplicate = known is not None
        if known is None:
            known, duplicate = self._store_part(upload_id, number, data, digest)
        if known != digest:
            raise PlatformError(f"part {number} was already received with different content", 409)
        with self.db.session() as s:
            received = s.scalar(select(func.count()).where(UploadPart.upload_id == upload_id))
        return {
            "part_number": number,
            "received": received,
            "part_count": count,
            "duplicate": duplicate,
        }

    def _store_part(self, upload_id: str, number: int, data: bytes, digest: str) -> tuple[str, bool]:
        """Store a part once: the row is the claim (a second sender of the same number loses the insert),
        and the file takes its final name only under that claim. Returns the digest on record and whether
        another request had stored it first."""
        folder = self.uploads / upload_id
        tmp = folder / f"{number}.{secrets.token_hex(8)}.tmp"  # unique: parallel senders never share it
        try:
            tmp.write_bytes(data)
            with self.db.session() as s:
                s.add(UploadPart(upload_id=upload_id, number=number, sha256=digest))
                s.flush()
                tmp.replace(folder / f"{number}.part")
            return digest, False
        except IntegrityError:  # the same part arrived at the same moment, or the upload was just cleaned
            with self.db.session() as s:
                row = s.get(UploadPart, (upload_id, number))
            if row is None:
                raise PlatformError(f"upload {upload_id} expired or was deleted: start again", 410) from None
            return row.sha256, True
        except FileNotFoundError:  # its folder went with the upload, cleaned at its deadline
            raise PlatformError(f"upload {upload_id} expired or was deleted: start again", 410) from None
        finally:
            tmp.unlink(missing_ok=True)

    def complete(self, upload_id: str, client_id: str, account_id: int) -> dict:
        video_id = "v_" + secrets.token_urlsafe(16)
        with self.db.session() as s:
            u = self._upload(s, upload_id, client_id, account_id)
            size, count = u.size, u.part_count
            parts = dict(s.execute(select(UploadPart.number, UploadPart.sha256).where(UploadPart.upload_id == upload_id)).all())  # fmt: skip
            missing = [n for n in range(1, count + 1) if n not in parts]
            if missing:
                shown = ", ".join(map(str, missing[:20])) + ("…" if len(missing) > 20 else "")
                raise PlatformError(f"parts {shown} are missing: upload them, then complete again", 409)
            # the claim: of concurrent completions, exactly one changes the row; the others are told why
            claim = s.execute(
                update(Upload)
                .where(
                    Upload.id == upload_id, Upload.completing_since.is_(None), Upload.completed_at.is_(None)
                )
                .values(completing_since=utcnow(), video_id=video_id)
            )
        if claim.rowcount != 1:
            with self.db.session() as s:
                self._upload(s, upload_id, client_id, account_id)  # says "being completed" or "complete"
            raise PlatformError(f"upload {upload_id} is already being completed by another request", 409)
        folder = self.uploads / upload_id
        work = folder / f"{video_id}.assembling"  # a crash leaves it here, where the clean-up looks
        target: Path | None = None
        try:
            digest = hashlib.sha256()
            with open(work, "wb") as out:
                for n in range(1, count + 1):
                    chunk = (folder / f"{n}.part").read_bytes()
                    if hashlib.sha256(chunk).hexdigest() != parts[n]:
                        raise PlatformError(
                            f"part {n} changed on disk since it was received: upload it again", 409
                        )
                    digest.update(chunk)
                    out.write(chunk)
            try:
                info = probe(
                    work,
                    max_bytes=self.settings.ingest_max_bytes,
                    max_seconds=self.settings.ingest_max_seconds,
                )
                if not info.has_video:
                    raise MediaError("no video stream")
            except MediaError as exc:
                raise PlatformError(
                    f"the uploaded file is not a video this platform accepts: {str(exc).split(': ', 1)[-1]}",
                    422,
                ) from None
            self.videos.mkdir(parents=True, exist_ok=True)
            target = self.videos / f"{video_id}{_SUFFIX.get(info.container, '')}"
            work.replace(target)
            with self.db.session() as s:
                done = s.execute(
                    update(Upload)
                    .where(Upload.id == upload_id, Upload.video_id == video_id, Upload.completed_at.is_(None))
                    .values(completed_at=utcnow())
                )
                if done.rowcount != 1:  # the clean-up took this claim for a crashed one
                    raise PlatformError(
                        f"completing upload {upload_id} took too long: complete it again", 409
                    )
                s.add(Video(id=video_id, client_id=client_id, account_id=account_id, path=str(target),
                            sha256=digest.hexdigest(), size=size, duration=info.duration))  # fmt: skip
        except FileNotFoundError:
            self._abandon(upload_id, video_id, work, target)
            raise PlatformError(f"upload {upload_id} expired or was deleted: start again", 410) from None
        except BaseException:
            self._abandon(upload_id, video_id, work, target)
            raise
        shutil.rmtree(folder, ignore_errors=True)
        return {
            "video_id": video_id,
            "sha256": digest.hexdigest(),
            "size": size,
            "duration": round(info.duration, 3),
        }

    def _abandon(self, upload_id: str, video_id: str, work: Path, target: Path | None) -> None:
        """A completion that failed: its files go, its claim is released so the client may try again."""
        work.unlink(missing_ok=True)
        if target is not None:
            target.unlink(missing_ok=True)
        with self.db.session() as s:
            s.execute(
                update(Upload)
                .where(Upload.id == upload_id, Upload.video_id == video_id, Upload.completed_at.is_(None))
                .values(completing_since=None, video_id=None)
            )

    # -- clean-up (the server runs it every 10 minutes) -----------------------------------------

    def cleanup(self) -> int:
        """Delete uploads never completed by their deadline, release completions that crashed (the upload
        can be completed again), and remove files no row accounts for. Returns how many uploads it changed."""
        changed = self._expire() + self._release_crashed()
        removed = self._sweep()
        if removed:
            log.info("ingest.orphans_removed", files=removed)
        return changed

    def _expire(self) -> int:
        now = utcnow()
        with self.db.session() as s:
            stale = list(
                s.execute(
                    select(Upload).where(
                        Upload.completed_at.is_(None),
                        Upload.expires_at <= now,
                        (Upload.completing_since.is_(None)) | (Upload.completing_since <= now - STALE),
                    )
                ).scalars()
            )
            for u in stale:
                shutil.rmtree(self.uploads / u.id, ignore_errors=True)
                s.delete(u)
        if stale:
            log.info("uploads.cleaned", count=len(stale))
        return len(stale)

    def _release_crashed(self) -> int:
        with self.db.session() as s:
            crashed = s.execute(
                select(Upload.id, Upload.video_id).where(
                    Upload.completed_at.is_(None), Upload.completing_since <= utcnow() - STALE
                )
            ).all()
        for upload_id, video_id in crashed:
            self._abandon(upload_id, video_id, self.uploads / upload_id / f"{video_id}.assembling", None)
            for f in self.videos.glob(f"{video_id}.*"):  # moved into place, but its row was never written
                f.unlink(missing_ok=True)
            log.warning("upload.completion_released", upload=upload_id, video=video_id)
        return len(crashed)

    def _sweep(self) -> int:
        """Files no row accounts for, untouched for longer than any completion takes."""
        cutoff = time.time() - STALE.total_seconds()
        with self.db.session() as s:
            open_uploads = set(s.scalars(select(Upload.id).where(Upload.completed_at.is_(None))))
            videos = {Path(p).name for p in s.scalars(select(Video.path))}
        removed = 0

        def old(entry: os.DirEntry) -> bool:
            return entry.stat(follow_symlinks=False).st_mtime < cutoff

        if self.uploads.is_dir():
            for entry in os.scandir(self.uploads):
                if entry.is_dir(follow_symlinks=False) and entry.name in open_uploads:
                    for f in os.scandir(entry.path):  # assembly copies and part writes nobody finished
                        if f.name.endswith((".assembling", ".tmp")) and old(f):
                            os.unlink(f.path)
                            removed += 1
                elif old(entry):
                    if entry.is_dir(follow_symlinks=False):
                        removed += sum(len(files) for _, _, files in os.walk(entry.path))
                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        os.unlink(entry.path)
                        removed += 1
        if self.videos.is_dir():
            for entry in os.scandir(self.videos):
                if entry.name not in videos and not entry.is_dir(follow_symlinks=False) and old(entry):
                    os.unlink(entry.path)
                    removed += 1
        return removed

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
        text = _text(text, "text", 100_000)[:5000]
        certificate = _text(certificate, "certificate", 100_000)
        idempotency_key = _text(idempotency_key, "Idempotency-Key", 200)
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
            video = s.get(Video, video_id) if _id(video_id) else None
            if video is None or video.client_id != client_id or video.account_id != account_id:
                shown = video_id if _id(video_id) else "with that id"
                raise PlatformError(f"no video {shown} uploaded by this app for this user", 404)
            path, digest = Path(video.path), video.sha256
        status, reason, issuer, jti = self._decide(path, digest, certificate)
        post = Post(
            id="p_" + secrets.token_urlsafe(16), video_id=video_id, account_id=account_id, client_id=client_id,
            text=text, status=status, reason=reason, certificate=certificate, certificate_id=jti,
            certificate_issuer=issuer, idempotency_key=key, request_hash=request_hash,
        )  # fmt: skip
        with self.db.session() as s:
            s.add(post)
        log.info("post.created", post=post.id, status=status, app=client_id, issuer=issuer or None)
        if status == "held":
            try:  # the post stands whatever happens to its claims; a failure is logged, never hidden
                self.held(post.id, path, digest, account_id)
            except Exception:  # noqa: BLE001
                log.exception("post.claims_failed", post=post.id)
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
            if v.valid and self.settings.hold_certified:  # this platform checks every post itself first
                return (
                    "held",
                    f"certificate {claims.get('jti')} from {claims.get('iss')} holds; held for this platform's own "
                    "check before it is published",
                    claims.get("iss", ""),
                    claims.get("jti", ""),
                )
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
        if not _text(reason, "reason", 5000).strip():
            raise PlatformError("say why the post is taken down", 422)
        with self.db.session() as s:
            post = s.get(Post, post_id) if _id(post_id) else None
            if post is None:
                raise PlatformError(f"no post {post_id if _id(post_id) else 'with that id'}", 404)
            post.status, post.reason, post.updated_at = "taken_down", reason.strip(), utcnow()
            view = self.view(post)
        self.webhooks.enqueue(
            view["client_id"],
            "post.taken_down",
            {"post_id": post_id, "status": "taken_down", "reason": reason},
        )
        return view

    def release(self, post_id: str, *, publish: bool, reason: str = "") -> dict:
        """Staff decide a held post: published, or rejected with the reason; the app is told by webhook
        (``post.published`` / ``post.rejected``). Only a held post is decided."""
        reason = _text(reason, "reason", 5000).strip()
        if not publish and not reason:
            raise PlatformError("say why the post is rejected (reason)", 422)
        with self.db.session() as s:
            post = s.get(Post, post_id) if _id(post_id) else None
            if post is None:
                raise PlatformError(f"no post {post_id if _id(post_id) else 'with that id'}", 404)
            if post.status != "held":
                raise PlatformError(f"post {post_id} is {post.status}, not held: nothing to decide", 409)
            post.status = "published" if publish else "rejected"
            post.reason = reason or f"released after this platform's own check ({post.reason})"
            post.updated_at = utcnow()
            view = self.view(post)
        log.info("post.released" if publish else "post.rejected", post=post_id)
        self.webhooks.enqueue(view["client_id"], f"post.{view['status']}",
                              {"post_id": post_id, "status": view["status"], "reason": view["reason"]})  # fmt: skip
        return view

    def delete(self, post_id: str, client_id: str, account_id: int, reason: str) -> dict:
        """The app that made a post takes it down (its licence was revoked, the user asked): the post's
        status becomes ``taken_down`` with the reason; asking again answers the same."""
        reason = _text(reason, "reason", 5000).strip()
        if not reason:
            raise PlatformError("say why the post is taken down (reason)", 422)
        with self.db.session() as s:
            post = s.get(Post, post_id) if _id(post_id) else None
            if post is None or post.client_id != client_id or post.account_id != account_id:
                raise PlatformError(
                    f"no post {post_id if _id(post_id) else 'with that id'} made by this app for this user",
                    404,
                )
            if post.status == "taken_down":
                return self.view(post)
        log.info("post.deleted_by_app", post=post_id, app=client_id)
        return self.take_down(post_id, f"taken down by the app that posted it: {reason}")

    def get(self, post_id: str, client_id: str | None = None) -> dict:
        with self.db.session() as s:
            post = s.get(Post, post_id) if _id(post_id) else None
            if post is None or (client_id and post.client_id != client_id):
                raise PlatformError(f"no post {post_id if _id(post_id) else 'with that id'}", 404)
            return self.view(post)

    @staticmethod
    def view(p: Post) -> dict:
        return {"post_id": p.id, "video_id": p.video_id, "client_id": p.client_id, "status": p.status, "reason": p.reason,
                "certificate_id": p.certificate_id or None, "certificate_issuer": p.certificate_issuer or None,
                "text": p.text, "created_at": p.created_at.isoformat()}  # fmt: skip
