"""The YouTube Data API v3: Google OAuth 2.0 (authorization code + PKCE, ``access_type=offline`` for a refresh
token), ``videos.insert`` through Google's resumable upload protocol, ``videos.update`` for the post's text,
``videos.list`` for ``status.uploadStatus`` / ``processingDetails.processingStatus``, ``videos.delete``.

Documents followed (developers.google.com): "Resumable Uploads" (youtube/v3/guides/using_resumable_upload_protocol),
the ``videos`` resource and ``videos.insert`` / ``videos.update`` / ``videos.list`` / ``videos.delete``
references, "Using OAuth 2.0 for Web Server Applications" (identity/protocols/oauth2/web-server) and the
YouTube Data API errors page. How hutong's steps map onto them:

- ``upload`` starts a resumable ``videos.insert`` session (a private video with a placeholder title) and
  ``PUT``s the file in chunks of a multiple of 256 KiB with ``Content-Range: bytes a-b/total``; ``308 Resume
  Incomplete`` with ``Range: bytes=0-n`` says how much YouTube has. The session URI is checkpointed, so
  after a dropped connection, a 5xx or a dead worker the upload asks the session (``Content-Range:
  bytes */total``) and continues from YouTube's ``Range`` — never from its own count.
- ``videos.insert`` has no idempotency key and makes the video when the last byte arrives: a lost final
  answer is *outcome unknown*. It is resolved by asking the session URI, which answers ``200``/``201`` with
  the video once complete — never by inserting again. Only a session YouTube no longer has (404/410) starts
  over, and not if the last chunk may already have been sent (then the creator must check: unknown).
- ``create_post`` is ``videos.update`` of that video: the title, the description (the creator's text, the
  licence's attribution, then a line with the certificate id and the issuer's verification URL, since YouTube
  has no certificate field) and the tags, within YouTube's limits, and ``privacyStatus: public``. An update
  replayed gives the same video, so a create whose answer was lost is simply replayed.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import httpx

from hutong.compliance.certificate import peek
from hutong.distribute.adapters.base import (
    AdapterError,
    Capabilities,
    Connection,
    Outcome,
    PlatformAdapter,
    PostResult,
    Tokens,
    UploadState,
    register,
    retry_after,
)

GOOGLE_API = "https://www.googleapis.com"
GOOGLE_AUTH = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN = "https://oauth2.googleapis.com/token"
CHUNK_UNIT = 256 * 1024  # Google: every chunk but the last is a multiple of 256 KiB
TITLE_MAX = 100  # characters
DESCRIPTION_MAX = 5000  # bytes (UTF-8)
TAGS_MAX = 500  # characters in all: commas between tags count, a tag with a space counts its quotes
QUOTA_REASONS = ("quotaExceeded", "dailyLimitExceeded", "rateLimitExceeded", "userRateLimitExceeded",
                 "uploadLimitExceeded")  # fmt: skip
PACIFIC = ZoneInfo("America/Los_Angeles")  # the daily quota resets at midnight Pacific time
HASHTAG = re.compile(r"#([^\s#,<>]{1,100})")
REJECTION = {  # status.rejectionReason, in words the creator reads
    "claim": "claimed by a rights holder",
    "copyright": "copyright infringement",
    "duplicate": "a duplicate of a video already on YouTube",
    "inappropriate": "inappropriate content",
    "legal": "a legal reason",
    "length": "too long for this channel",
    "termsOfUse": "a violation of YouTube's terms of use",
    "trademark": "trademark infringement",
    "uploaderAccountClosed": "the channel is closed",
    "uploaderAccountSuspended": "the channel is suspended",
}


def _google_error(r: httpx.Response) -> tuple[str, str]:
    """(reason, message) of a Google error body ``{"error": {"errors": [{"reason": …}], "message": …}}``,
    or of an OAuth error ``{"error": "invalid_grant", "error_description": …}``."""
    try:
        body = r.json()
    except ValueError:
        return "", r.text[:500].strip() or r.reason_phrase
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, str):
        return err, str(body.get("error_description") or err)[:500]
    if isinstance(err, dict):
        errors = err.get("errors") or [{}]
        return str(errors[0].get("reason", "")), str(err.get("message") or errors[0].get("message") or "")[
            :500
        ]
    return "", str(body)[:500]


def _until_pacific_midnight(now: datetime | None = None) -> float:
    now = (now or datetime.now(PACIFIC)).astimezone(PACIFIC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=5, second=0, microsecond=0)
    return (midnight - now).total_seconds()


def _clean(text: str) -> str:
    """YouTube refuses ``<`` and ``>`` in titles and descriptions: single angle quotes look the same."""
    return text.replace("<", "‹").replace(">", "›")


def _cut_bytes(text: str, limit: int) -> str:
    if len(text.encode()) <= limit:
        return text
    if limit < 4:
        return ""
    cut = text.encode()[: limit - 3].decode(errors="ignore").rstrip()  # "…" is 3 bytes
    return cut + "…"


def tags_within(tags: list[str], limit: int = TAGS_MAX) -> list[str]:
    """Tags in order, dropped from the end until YouTube's count (commas, quotes around tags with spaces)
    fits the limit."""
    kept: list[str] = []
    used = 0
    for tag in dict.fromkeys(t.strip() for t in tags if t.strip()):
        cost = len(tag) + (2 if " " in tag else 0) + (1 if kept else 0)
        if used + cost > limit:
            break
        kept.append(tag)
        used += cost
    return kept


def video_text(caption: str, certificate: str) -> dict:
    """The snippet for a caption made by hutong (the creator's text, then the licence's attribution on the
    last line) and a certificate: the attribution and the certificate line are kept whole; the creator's
    text is shortened to fit 5000 bytes; the title is its first line (100 characters); the tags its
    hashtags (500 characters)."""
    try:
        claims = peek(certificate)[1]
    except ValueError:
        claims = {}
    jti, iss = str(claims.get("jti", "")), str(claims.get("iss", "")).rstrip("/")
    cert_line = f"hutong certificate {jti} · verify: {iss}/certificates/{jti}/status" if jti else ""
    body, _, credit = caption.strip().rpartition("\n")
    body, credit = _clean(body.strip()), _clean(credit.strip())
    tail = "\n".join(x for x in (credit, cert_line) if x)
    if len(tail.encode()) > DESCRIPTION_MAX:
        raise AdapterError(Outcome.REJECTED, f"the attribution and certificate line ({len(tail.encode())} bytes) "
                           f"exceed YouTube's description limit ({DESCRIPTION_MAX} bytes)")  # fmt: skip
    room = DESCRIPTION_MAX - len(tail.encode()) - 1
    body = _cut_bytes(body, room)
    description = f"{body}\n{tail}" if body else tail
    first = (
        next((line.strip() for line in (body or credit).splitlines() if line.strip()), "") or "hutong clip"
    )
    title = first if len(first) <= TITLE_MAX else first[: TITLE_MAX - 1].rstrip() + "…"
    return {"title": title, "description": description, "tags": tags_within(HASHTAG.findall(caption))}


@register
class YouTubeAdapter(PlatformAdapter):
    """``platform_url`` is ``https://www.googleapis.com`` (then the OAuth endpoints are Google's own) or a
    stand-in serving the same paths on one origin."""

    name = "youtube"
    scope = "https://www.googleapis.com/auth/youtube.upload https://www.googleapis.com/auth/youtube"

    def __init__(
        self, http: httpx.Client, *, timeout: float = 60.0, chunk_size: int = 8 * 1024 * 1024
    ) -> None:
        if chunk_size <= 0 or chunk_size % CHUNK_UNIT:
            raise ValueError(
                f"chunk_size must be a positive multiple of 256 KiB ({CHUNK_UNIT} bytes), Google's rule"
            )
        self.http, self.timeout, self.chunk_size = http, timeout, chunk_size
        self._lock = threading.Lock()

    # -- discovery -------------------------------------------------------------------------------

    @staticmethod
    def _urls(platform_url: str) -> dict:
        base = platform_url.rstrip("/")
        google = urlsplit(base).hostname == "www.googleapis.com"
        return {"api": base, "auth": GOOGLE_AUTH if google else f"{base}/o/oauth2/v2/auth",
                "token": GOOGLE_TOKEN if google else f"{base}/token"}  # fmt: skip

    def discover(self, platform_url: str) -> dict:
        """YouTube publishes no manifest: what hutong knows of it is fixed here."""
        return {"name": "youtube", "api": self._urls(platform_url)["api"], "protocol": "youtube-data-api-v3"}

    def capabilities(self, platform_url: str) -> Capabilities:
        return Capabilities(
            direct_post=True,
            scheduled=False,  # status.publishAt exists; hutong schedules on its side
            max_bytes=256 * 1024**3,  # 256 GB
            max_seconds=12 * 3600.0,  # verified channels; unverified ones: 15 min (rejectionReason "length")
            caption_max_chars=DESCRIPTION_MAX - 200,  # the certificate line takes the rest
            tags_max=TAGS_MAX,  # characters in all, not a count of tags
            certificate_field="description",  # no certificate field: a line of the description
            idempotent_create=True,  # create is videos.update of the uploaded video; insert resolved by session
        )

    # -- OAuth -----------------------------------------------------------------------------------

    def authorization_url(
        self, conn: Connection, *, state: str, code_challenge: str, scope: str | None = None
    ) -> str:
        query = {"response_type": "code", "client_id": conn.client_id, "redirect_uri": conn.redirect_uri,
                 "scope": scope or self.scope, "state": state, "code_challenge": code_challenge,
                 "code_challenge_method": "S256", "access_type": "offline", "prompt": "consent",
                 "include_granted_scopes": "true"}  # fmt: skip
        return f"{self._urls(conn.platform_url)['auth']}?{urlencode(query)}"

    def _token(self, conn: Connection, data: dict) -> Tokens:
        data = {**data, "client_id": conn.client_id, "client_secret": conn.client_secret}
        body = self._call("POST", self._urls(conn.platform_url)["token"], data=data, token=True).json()
        if not body.get("access_token"):
            raise AdapterError(
                Outcome.FAILED, f"Google's token endpoint answered without an access token: {body}"
            )
        return Tokens.from_response(body)

    def exchange_code(self, conn: Connection, code: str, code_verifier: str) -> Tokens:
        return self._token(conn, {"grant_type": "authorization_code", "code": code,
                                  "redirect_uri": conn.redirect_uri, "code_verifier": code_verifier})  # fmt: skip

    def refresh(self, conn: Connection, refresh_token: str) -> Tokens:
        return self._token(conn, {"grant_type": "refresh_token", "refresh_token": refresh_token})

    # -- upload (videos.insert, resumable) --------------------------------------------------------

    def upload(
        self,
        conn: Connection,
        clip: Path,
        *,
        resume: UploadState | None = None,
        progress: Callable[[int, int], None] | None = None,
        checkpoint: Callable[[UploadState], None] | None = None,
    ) -> UploadState:
        if resume and resume.video_id:
            return resume
        size = clip.stat().st_size
        if size == 0:
            raise AdapterError(Outcome.REJECTED, f"{clip.name} is empty: YouTube takes no empty file")
        part = resume.part_size if resume and resume.part_size > 0 else self.chunk_size
        count = max(1, -(-size // part))
        session, offset = (resume.upload_id if resume else ""), 0
        if session:
            r = self._ask(conn, session, size)
            if r.status_code in (404, 410):  # YouTube no longer has the session (they last a week)
                if size - resume.parts_done * part <= 2 * part:
                    raise AdapterError(Outcome.UNKNOWN, "YouTube no longer has the upload session, and its last "
                                       "chunk may have been sent: the video may exist. Check the channel")  # fmt: skip
                session = ""
            elif (done := self._done(r)) is not None:
                return UploadState(session, done, part, count)
            else:
                offset = self._offset(r)
        if not session:
            session = self._start(conn, clip, size)
            if checkpoint:
                checkpoint(UploadState(session, part_size=part))
        troubles = 0
        with clip.open("rb") as f:
            while True:
                f.seek(offset)
                data = f.read(part)
                end = offset + len(data) - 1
                try:
                    r = self.http.put(session, content=data, timeout=self.timeout,
                                      headers={**self._bearer(conn), "Content-Range": f"bytes {offset}-{end}/{size}",
                                               "Content-Type": "application/octet-stream"})  # fmt: skip
                    if r.status_code >= 500:
                        raise httpx.HTTPStatusError("5xx on a chunk", request=r.request, response=r)
                except (httpx.TransportError, httpx.HTTPStatusError) as exc:
                    # the answer is lost (or YouTube failed): ask the session how much it has; the final
                    # chunk's answer may be the only sign the video exists, so this is never a re-insert
                    troubles += 1
                    if troubles > 3:
                        raise self.classify(exc) from None
                    r = self._ask(conn, session, size)
                    if r.status_code in (404, 410):
                        raise AdapterError(Outcome.UNKNOWN, "the upload session vanished while its chunks were "
                                           "being sent: the video may exist. Check the channel") from None  # fmt: skip
                if (done := self._done(r)) is not None:
                    if progress:
                        progress(count, count)
                    return UploadState(session, done, part, count)
                if r.status_code != 308:
                    raise self._status_error(r)
                new = self._offset(r)
                if new > offset:
                    troubles = 0
                else:  # YouTube kept nothing of that chunk: try again a few times, then later
                    troubles += 1
                    if troubles > 3:
                        raise AdapterError(Outcome.RETRY_LATER, f"YouTube keeps no more than {new} bytes of the "
                                           f"upload; the session is kept and the upload resumes later")  # fmt: skip
                offset = new
                if checkpoint:
                    checkpoint(UploadState(session, part_size=part, parts_done=offset // part))
                if progress:
                    progress(offset // part, count)

    def _start(self, conn: Connection, clip: Path, size: int) -> str:
        """A resumable videos.insert session for a private video; its text is set by create_post."""
        meta = {"snippet": {"title": _clean(clip.stem)[:TITLE_MAX] or "hutong clip", "categoryId": "22"},
                "status": {"privacyStatus": "private", "selfDeclaredMadeForKids": False}}  # fmt: skip
        r = self._call("POST", f"{self._urls(conn.platform_url)['api']}/upload/youtube/v3/videos",
                       params={"uploadType": "resumable", "part": "snippet,status"}, json=meta,
                       headers={**self._bearer(conn), "X-Upload-Content-Length": str(size),
                                "X-Upload-Content-Type": "video/*"})  # fmt: skip
        location = r.headers.get("location", "")
        if not location:
            raise AdapterError(Outcome.FAILED, "YouTube started an upload session without a Location")
        return location

    def _ask(self, conn: Connection, session: str, size: int) -> httpx.Response:
        """``PUT`` with ``Content-Range: bytes */total``: 308 with how much the session has, or the video."""
        try:
            r = self.http.put(session, content=b"", timeout=self.timeout,
                              headers={**self._bearer(conn), "Content-Range": f"bytes */{size}"})  # fmt: skip
        except httpx.HTTPError as exc:
            raise self.classify(exc) from None
        if r.status_code in (308, 200, 201, 404, 410):
            return r
        raise self._status_error(r)

    @staticmethod
    def _done(r: httpx.Response) -> str | None:
        if r.status_code in (200, 201):
            try:
                return str(r.json()["id"])
            except (ValueError, KeyError, TypeError):
                raise AdapterError(
                    Outcome.FAILED, f"YouTube finished the upload without a video id: {r.text[:300]}"
                ) from None
        return None

    @staticmethod
    def _offset(r: httpx.Response) -> int:
        """The next byte to send, from ``Range: bytes=0-n`` (no Range: YouTube has nothing yet)."""
        m = re.fullmatch(r"bytes=0-(\d+)", r.headers.get("range", "").strip())
        return int(m.group(1)) + 1 if m else 0

    # -- the post --------------------------------------------------------------------------------

    def create_post(
        self, conn: Connection, upload: UploadState, *, caption: str, certificate: str, idempotency_key: str
    ) -> PostResult:
        text = video_text(caption, certificate)
        body = {"id": upload.video_id, "snippet": {**text, "categoryId": "22"},
                "status": {"privacyStatus": "public", "selfDeclaredMadeForKids": False}}  # fmt: skip
        self._call("PUT", f"{self._urls(conn.platform_url)['api']}/youtube/v3/videos",
                   params={"part": "snippet,status"}, json=body, headers=self._bearer(conn))  # fmt: skip
        return self.post_status(conn, upload.video_id)

    def post_status(self, conn: Connection, post_id: str) -> PostResult:
        r = self._call("GET", f"{self._urls(conn.platform_url)['api']}/youtube/v3/videos",
                       params={"id": post_id, "part": "status,processingDetails"}, headers=self._bearer(conn))  # fmt: skip
        items = r.json().get("items") or []
        if not items:
            return PostResult(post_id, "taken_down", reason="YouTube no longer lists the video (deleted)")
        return self._result(post_id, items[0])

    @staticmethod
    def _result(post_id: str, video: dict) -> PostResult:
        status, details = video.get("status") or {}, video.get("processingDetails") or {}
        upload, processing = status.get("uploadStatus", ""), details.get("processingStatus", "")
        url = f"https://www.youtube.com/watch?v={post_id}"
        if upload == "rejected":
            why = status.get("rejectionReason", "")
            reason = f"YouTube rejected the video: {why}" + (
                f" ({REJECTION[why]})" if why in REJECTION else ""
            )
            return PostResult(post_id, "rejected", reason=reason, url=url, raw=video)
        if upload == "failed" or processing in ("failed", "terminated"):
            why = status.get("failureReason") or details.get("processingFailureReason") or processing
            return PostResult(post_id, "rejected", reason=f"YouTube could not process the video: {why}", url=url,
                              raw=video)  # fmt: skip
        if upload == "deleted":
            return PostResult(post_id, "taken_down", reason="deleted on YouTube", url=url, raw=video)
        if upload == "processed" and processing in ("", "succeeded"):
            return PostResult(post_id, "published", reason=f"{status.get('privacyStatus', '')} on YouTube", url=url,
                              raw=video)  # fmt: skip
        return PostResult(post_id, "processing", url=url, raw=video,
                          reason=f"uploadStatus {upload or '?'}, processingStatus {processing or '?'}")  # fmt: skip

    def take_down(self, conn: Connection, post_id: str, reason: str) -> PostResult:
        self._call("DELETE", f"{self._urls(conn.platform_url)['api']}/youtube/v3/videos",
                   params={"id": post_id}, headers=self._bearer(conn))  # fmt: skip
        return PostResult(post_id, "taken_down", reason=reason)

    # -- errors ----------------------------------------------------------------------------------

    @staticmethod
    def _bearer(conn: Connection) -> dict:
        return {"Authorization": f"Bearer {conn.access_token}"}

    def _status_error(self, r: httpx.Response, *, token: bool = False) -> AdapterError:
        err = self.classify(
            httpx.HTTPStatusError("answer", request=r.request, response=r), token_endpoint=token
        )
        err.status = r.status_code
        return err

    def _call(self, method: str, url: str, *, token: bool = False, **kw) -> httpx.Response:
        try:
            r = self.http.request(method, url, timeout=self.timeout, follow_redirects=False, **kw)
        except httpx.HTTPError as exc:
            raise self.classify(exc) from None
        if r.status_code >= 400:
            raise self._status_error(r, token=token)
        return r

    def classify(
        self, error: BaseException, *, irreversible: bool = False, token_endpoint: bool = False
    ) -> AdapterError:
        if isinstance(error, AdapterError):
            return error
        if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
            return AdapterError(
                Outcome.RETRY_LATER, f"YouTube cannot be reached ({error.__class__.__name__})"
            )
        if isinstance(error, httpx.TransportError):
            if irreversible:
                return AdapterError(Outcome.UNKNOWN, f"no answer to an irreversible call ({error.__class__.__name__})"
                                    ": the video may or may not exist")  # fmt: skip
            return AdapterError(Outcome.RETRY_LATER, f"no answer from YouTube ({error.__class__.__name__})")
        if not isinstance(error, httpx.HTTPStatusError):
            return AdapterError(Outcome.FAILED, f"{error.__class__.__name__}: {error}")
        r = error.response
        code = r.status_code
        reason, message = _google_error(r)
        said = f"{code} {reason}: {message}".replace(" : ", ": ").strip() if reason else f"{code}: {message}"
        if code == 429:
            return AdapterError(
                Outcome.RETRY_LATER,
                f"rate limited by YouTube ({said})",
                retry_after=retry_after(r),
                rate_limited=True,
            )
        if code >= 500:
            if irreversible and code in (502, 504):
                return AdapterError(
                    Outcome.UNKNOWN, f"{code} from a gateway on an irreversible call: {message}"
                )
            return AdapterError(Outcome.RETRY_LATER, f"YouTube failed ({said})", retry_after=retry_after(r))
        if token_endpoint:
            if reason in ("invalid_grant", "invalid_client", "unauthorized_client"):
                return AdapterError(Outcome.AUTH, f"Google refused the grant: {reason}: {message}")
            return AdapterError(Outcome.FAILED, f"Google's token endpoint said {said}")
        if code == 403 and reason in QUOTA_REASONS:
            wait = retry_after(r)
            if wait is None and reason in ("quotaExceeded", "dailyLimitExceeded", "uploadLimitExceeded"):
                wait = _until_pacific_midnight()
            return AdapterError(
                Outcome.RETRY_LATER, f"YouTube quota ({said})", retry_after=wait, rate_limited=True
            )
        if code in (401, 403):
            return AdapterError(Outcome.AUTH, f"YouTube refused the account's token ({said})")
        if code in (400, 409, 413, 415, 422):
            return AdapterError(Outcome.REJECTED, f"YouTube refused the request ({said})")
        return AdapterError(Outcome.FAILED, f"YouTube said {said}")
