"""The Douyin Open Platform (抖音开放平台), in its current shape for general apps: background posting
(``video.create``) was withdrawn from general apps in October 2022, so publishing is a **share intent**.
The service uploads the video in parts (``/video/part/init/``, ``/video/part/upload/``,
``/video/part/complete/``), asks for a ``share_id`` (``/share-id/?need_callback=true``, with the app's
``client_token``), and the user confirms the share in the Douyin app; the result reaches the service as a
webhook signed with ``X-Douyin-Signature`` (SHA-1 of client secret + body), read by :meth:`read_event`.

So ``create_post`` ends in ``needs_confirmation`` with the ``share_id`` as the post id, and the job moves
to ``published`` or ``rejected`` only when the webhook arrives (``hutong.distribute.events``).

Differences from hutong's own API that this adapter handles:
- OAuth uses ``client_key`` (not ``client_id``), a comma-separated ``scope``, no PKCE (the verifier is not
  sent), and answers errors inside an HTTP 200 envelope (``data.error_code``), which are mapped here;
- an ``access_token`` belongs to one ``open_id`` and every call names it: the adapter keeps
  ``open_id`` with the token (stored as ``open_id␟access_token``, ciphertext at rest like any token);
- a refresh does not renew the refresh token (``/oauth/renew_refresh_token/`` would): the one we have stays;
- no idempotency key and no status query by ``share_id``: asking for a ``share_id`` posts nothing, so a
  lost answer is asked again; the outcome is known only from the webhook;
- no certificate field: the licence's attribution travels in the caption.
See docs/distribution.md ("Douyin") for the documents followed."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx

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
    response_detail,
    transport_outcome,
)

SEP = "\u241f"  # between open_id and access token in the stored token
AUTH_CODES = {2190002, 2190008, 28001003, 28001008, 10008, 10010, 10007, 10013}  # token / grant refused
RETRY_CODES = {2100004, 28001005, 2190004, -1}  # 系统繁忙 / 系统内部错误
DEFAULT_URL = "https://open.douyin.com"


class DouyinError(Exception):
    """An answer in Douyin's envelope with ``error_code`` ≠ 0 (usually with HTTP 200)."""

    def __init__(self, code: int, description: str, *, token_endpoint: bool = False) -> None:
        super().__init__(f"Douyin error {code}: {description}")
        self.code, self.description, self.token_endpoint = code, description, token_endpoint


@dataclass(frozen=True)
class PlatformEvent:
    """A verified webhook, as the job state machine reads it."""

    kind: str  # published | rejected | verify | other
    share_id: str = ""
    open_id: str = ""
    item_id: str = ""
    reason: str = ""
    msg_id: str = ""
    challenge: object = None
    raw: dict | None = None


def split_token(token: str) -> tuple[str, str]:
    open_id, _, access = token.partition(SEP)
    return (open_id, access) if access else ("", token)


@register
class DouyinAdapter(PlatformAdapter):
    name = "douyin"
    scope = "user_info,video.create,aweme.share"

    def __init__(
        self,
        http: httpx.Client,
        *,
        timeout: float = 30.0,
        max_seconds: float = 15 * 60,  # documented: 15 minutes for uploads shared to Douyin
        max_bytes: int = 4 * 1024**3,  # documented: 4 GB in parts
        part_bytes: int = 20 * 1024**2,  # documented: 20 MB advised, 5 MB minimum
    ) -> None:
        self.http, self.timeout = http, timeout
        self.max_seconds, self.max_bytes, self.part_bytes = max_seconds, max_bytes, part_bytes
        self._client_tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    # -- discovery -------------------------------------------------------------------------------

    def discover(self, platform_url: str) -> dict:
        """Douyin publishes no manifest: the platform name is fixed (certificates name ``douyin``)."""
        return {"name": "douyin", "url": (platform_url or DEFAULT_URL).rstrip("/")}

    def capabilities(self, platform_url: str) -> Capabilities:
        return Capabilities(
            direct_post=False,  # share intent, confirmed by the user in the app
            scheduled=False,
            max_bytes=self.max_bytes,
            max_seconds=self.max_seconds,
            aspect_ratios=(),
            caption_max_chars=1000,
            tags_max=5,
            certificate_field="",
            idempotent_create=False,
        )

    # -- OAuth -----------------------------------------------------------------------------------

    def authorization_url(
        self, conn: Connection, *, state: str, code_challenge: str, scope: str | None = None
    ) -> str:
        query = {
            "client_key": conn.client_id,
            "response_type": "code",
            "scope": scope or self.scope,
            "redirect_uri": conn.redirect_uri,
            "state": state,
        }  # fmt: skip  (no PKCE at Douyin)
        return f"{self._base(conn)}/platform/oauth/connect/?{urlencode(query)}"

    def _tokens(self, data: dict) -> Tokens:
        if not data.get("access_token") or not data.get("open_id"):
            raise AdapterError(
                Outcome.FAILED, f"the token endpoint answered without a token or open_id: {data}"
            )
        expires = data.get("expires_in")
        return Tokens(access_token=f"{data['open_id']}{SEP}{data['access_token']}",
                      refresh_token=data.get("refresh_token") or "",
                      expires_in=float(expires) if expires is not None else None, scope=data.get("scope", ""))  # fmt: skip

    def exchange_code(self, conn: Connection, code: str, code_verifier: str) -> Tokens:
        form = {"client_key": conn.client_id, "client_secret": conn.client_secret, "code": code,
                "grant_type": "authorization_code"}  # fmt: skip
        return self._tokens(
            self._call("POST", f"{self._base(conn)}/oauth/access_token/", data=form, token=True)
        )

    def refresh(self, conn: Connection, refresh_token: str) -> Tokens:
        form = {"client_key": conn.client_id, "grant_type": "refresh_token", "refresh_token": refresh_token}
        return self._tokens(
            self._call("POST", f"{self._base(conn)}/oauth/refresh_token/", data=form, token=True)
        )

    def _client_token(self, conn: Connection) -> str:
        key = (self._base(conn), conn.client_id)
        with self._lock:
            got = self._client_tokens.get(key)
        if got and got[1] > time.monotonic():
            return got[0]
        form = {"client_key": conn.client_id, "client_secret": conn.client_secret,
                "grant_type": "client_credential"}  # fmt: skip
        data = self._call("POST", f"{self._base(conn)}/oauth/client_token/", data=form, token=True)
        token = str(data["access_token"])
        with self._lock:
            self._client_tokens[key] = (token, time.monotonic() + float(data.get("expires_in", 7200)) - 300)
        return token

    # -- content ---------------------------------------------------------------------------------

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
        base, (open_id, access) = self._base(conn), split_token(conn.access_token)
        head, who = {"access-token": access}, {"open_id": open_id}
        size = clip.stat().st_size
        if resume and resume.upload_id and resume.part_size > 0:
            upload_id, part_size, first = resume.upload_id, resume.part_size, resume.parts_done + 1
        else:
            init = self._call("POST", f"{base}/video/part/init/", params=who, headers=head)
            upload_id = str(init["upload_id"])
            part_size = int(init.get("part_size") or self.part_bytes)  # the stand-in says; Douyin: ours
            first = 1
            if checkpoint:
                checkpoint(UploadState(upload_id, part_size=part_size))
        count = max(1, -(-size // part_size))
        try:
            with clip.open("rb") as f:
                f.seek((first - 1) * part_size)
                for k in range(first, count + 1):
                    part = f.read(part_size)
                    self._call("POST", f"{base}/video/part/upload/", headers=head,
                               params={**who, "upload_id": upload_id, "part_number": k},
                               files={"video": (clip.name, part, "video/mp4")})  # fmt: skip
                    if checkpoint:
                        checkpoint(UploadState(upload_id, part_size=part_size, parts_done=k))
                    if progress:
                        progress(k, count)
            done = self._call("POST", f"{base}/video/part/complete/", headers=head,
                              params={**who, "upload_id": upload_id})  # fmt: skip
        except AdapterError as exc:
            if first > 1 and exc.status == 2100005:  # the upload is gone (upload_id 无效): start over
                return self.upload(conn, clip, progress=progress, checkpoint=checkpoint)
            raise
        return UploadState(upload_id, str(done["video"]["video_id"]), part_size, count)

    def create_post(
        self, conn: Connection, upload: UploadState, *, caption: str, certificate: str, idempotency_key: str
    ) -> PostResult:
        """Ask for a ``share_id`` bound to the uploaded video: the share waits for the user in the app.
        ``need_callback=true``: the result comes back by webhook. Not an irreversible call: a ``share_id``
        posts nothing until the user confirms it, so a lost answer is simply asked again (an orphan share
        is never confirmed by anyone); the confirmation is the publish, and it arrives once, by webhook."""
        open_id, _ = split_token(conn.access_token)
        data = self._call("GET", f"{self._base(conn)}/share-id/",
                          headers={"access-token": self._client_token(conn)},
                          params={"need_callback": "true", "client_key": conn.client_id, "open_id": open_id,
                                  "video_id": upload.video_id, "text": caption})  # fmt: skip
        share_id = str(data["share_id"])
        return PostResult(post_id=share_id, status="needs_confirmation", raw=data,
                          reason=f"waiting for the user to confirm share {share_id} in the Douyin app "
                                 "(the result arrives by webhook)")  # fmt: skip

    def post_status(self, conn: Connection, post_id: str) -> PostResult:
        """Douyin has no query by ``share_id``: the state is known from the webhook only."""
        return PostResult(post_id=post_id, status="needs_confirmation",
                          reason=f"share {post_id} is waiting for the user's confirmation (webhook)")  # fmt: skip

    def take_down(self, conn: Connection, post_id: str, reason: str) -> PostResult:
        raise AdapterError(Outcome.FAILED, "a Douyin share is the user's own post: general apps cannot delete "
                           "it; ask the user to remove it, or report it to Douyin")  # fmt: skip

    # -- webhooks --------------------------------------------------------------------------------

    def read_event(self, headers: dict, body: bytes, secrets: list[str]) -> PlatformEvent:
        """Verify ``X-Douyin-Signature`` against each candidate client secret, then read the event.
        A signature that matches none raises ``AdapterError(REJECTED)``: the event is refused."""
        lower = {k.lower(): v for k, v in headers.items()}
        given = str(lower.get("x-douyin-signature", ""))
        if not given or not any(hmac.compare_digest(hashlib.sha1(s.encode() + body).hexdigest(), given)
                                for s in secrets if s):  # fmt: skip
            raise AdapterError(
                Outcome.REJECTED, "the webhook's X-Douyin-Signature does not match the app's secret"
            )
        try:
            event = json.loads(body)
            content = event.get("content") or {}
            if isinstance(content, str):
                content = json.loads(content)
        except (ValueError, AttributeError):
            raise AdapterError(Outcome.REJECTED, "the webhook's body is not Douyin's JSON event") from None
        name, msg_id = str(event.get("event", "")), str(lower.get("msg-id", ""))
        common = {"share_id": str(content.get("share_id", "")), "open_id": str(event.get("from_user_id", "")),
                  "msg_id": msg_id, "raw": event}  # fmt: skip
        if name == "verify_webhook":
            return PlatformEvent("verify", challenge=content.get("challenge"), msg_id=msg_id, raw=event)
        if name == "create_video" and common["share_id"]:
            return PlatformEvent("published", item_id=str(content.get("item_id", "")), **common)
        if name == "share_cancel" and common["share_id"]:
            return PlatformEvent(
                "rejected", reason=str(content.get("reason") or "the user cancelled"), **common
            )
        return PlatformEvent("other", **common)

    @staticmethod
    def account_user(conn: Connection) -> str:
        """The platform's user id of a connected account (``open_id``), to match an event's sender."""
        return split_token(conn.access_token)[0]

    @staticmethod
    def client_key(body: bytes) -> str:
        try:
            return str(json.loads(body).get("client_key", ""))
        except (ValueError, AttributeError):
            return ""

    # -- calls and errors ------------------------------------------------------------------------

    @staticmethod
    def _base(conn: Connection) -> str:
        return (conn.platform_url or DEFAULT_URL).rstrip("/")

    def _call(self, method: str, url: str, *, irreversible: bool = False, token: bool = False, **kw) -> dict:
        try:
            r = self.http.request(method, url, timeout=self.timeout, follow_redirects=False, **kw)
            r.raise_for_status()
            body = r.json()
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, dict):
                raise DouyinError(-2, f"not Douyin's envelope: {str(body)[:300]}", token_endpoint=token)
            code = int(data.get("error_code") or 0)
            if code:
                raise DouyinError(code, str(data.get("description", "")), token_endpoint=token)
            return data
        except (httpx.HTTPError, DouyinError, ValueError) as exc:
            classified = self.classify(exc, irreversible=irreversible, token_endpoint=token)
            if isinstance(exc, httpx.HTTPStatusError):
                classified.status = exc.response.status_code
            elif isinstance(exc, DouyinError):
                classified.status = exc.code
            raise classified from None

    def classify(
        self, error: BaseException, *, irreversible: bool = False, token_endpoint: bool = False
    ) -> AdapterError:
        if isinstance(error, AdapterError):
            return error
        if isinstance(error, DouyinError):
            if error.code in RETRY_CODES:
                return AdapterError(
                    Outcome.RETRY_LATER,
                    f"Douyin is busy ({error.code}): {error.description}",
                    rate_limited=True,
                )
            if error.code in AUTH_CODES:
                return AdapterError(
                    Outcome.AUTH, f"Douyin refused the token ({error.code}): {error.description}"
                )
            if error.token_endpoint:
                return AdapterError(Outcome.FAILED, f"token endpoint said {error.code}: {error.description}")
            return AdapterError(Outcome.FAILED, f"Douyin said {error.code}: {error.description}")
        shared = transport_outcome(error, irreversible=irreversible, platform="Douyin",
                                   call="the share request", made="a share")  # fmt: skip
        if shared is not None:
            return shared
        if isinstance(error, httpx.HTTPStatusError):
            code, detail = error.response.status_code, response_detail(error.response)
            if code in (401, 403):
                return AdapterError(Outcome.AUTH, f"Douyin refused the token ({code}): {detail}")
            if code in (409, 413, 415, 422):
                return AdapterError(Outcome.REJECTED, f"{code}: {detail}")
            return AdapterError(Outcome.FAILED, f"{code}: {detail}")
        return AdapterError(Outcome.FAILED, f"{error.__class__.__name__}: {error}")
