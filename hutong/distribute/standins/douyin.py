"""A local stand-in for the Douyin Open Platform (抖音开放平台) — a FAKE of a third party that cannot be
reached from here, built from its public documentation, for tests, the demo and the benchmark.

Documents followed (developer.open-douyin.com / open.douyin.com):
- 网站应用 抖音授权: ``GET /platform/oauth/connect/`` (``client_key``, ``scope`` comma-separated, ``state``),
  ``POST /oauth/access_token/``, ``POST /oauth/refresh_token/``, ``POST /oauth/client_token/``; answers in
  the ``{"data": {..., "error_code": 0, "description": ""}, "message": ...}`` envelope, with
  ``access_token`` per ``open_id`` (the user), ``refresh_token`` not renewed by a refresh;
- 视频管理 上传视频 / 分片上传: ``POST /video/part/init/?open_id=`` → ``upload_id``,
  ``POST /video/part/upload/?open_id=&upload_id=&part_number=`` (multipart ``video``),
  ``POST /video/part/complete/?open_id=&upload_id=`` → ``data.video.video_id``; header ``access-token``;
  parts of 5 MB minimum (20 MB advised) except the last;
- 查询视频分享结果及数据 / 发布内容至抖音 H5 场景: ``GET /share-id/?need_callback=true`` with a
  ``client_token`` → ``data.share_id``, which the share carries as ``state``; the result reaches the
  developer's server as the ``create_video`` webhook with ``share_id`` and ``item_id``;
- Webhooks 概述: JSON ``{"event", "client_key", "from_user_id", "content", "log_id"}`` POSTed to the
  developer's callback, ``X-Douyin-Signature`` = hex SHA-1 of (client secret + raw body), ``Msg-Id`` for
  de-duplication, retried (so it may arrive more than once); ``verify_webhook`` with a ``challenge``.

Where the stand-in must differ (there is no Douyin app here):
- the consent page is a plain form; posting it with ``open_id`` is "the user allowing" (``decision=deny``
  refuses);
- ``/share-id/`` also takes ``open_id``, ``video_id`` and ``text``: the real share hands the video to the
  user's app through the mobile / H5 SDK with ``state=share_id``; here the uploaded video stands for it;
- ``POST /standin/confirm`` is the user in the app: ``action=publish`` posts the video and sends the
  ``create_video`` webhook; ``action=cancel`` sends a ``share_cancel`` event with a ``reason`` (the real
  platform reports a cancel to the app through the SDK callback, not by webhook);
- the smaller part size (``part_bytes``, default 64 KiB) so that small test clips go in several parts;
- ``faults`` injects what tests need: an answer for the next calls to a path (429 / 5xx, Retry-After), an
  access token that expires after some parts.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from urllib.parse import urlencode

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

__all__ = ["DouyinStandin", "Share", "sign"]

ACCESS_TOKEN_EXPIRED = 2190008  # access_token 过期 (28001008 on newer endpoints)
ACCESS_TOKEN_INVALID = 2190002
REFRESH_TOKEN_EXPIRED = 10010
CODE_INVALID = 10007
PARAM_ERROR = 2100005


def sign(client_secret: str, body: bytes) -> str:
    """``X-Douyin-Signature``: SHA-1 of the client secret followed by the raw body, hex."""
    return hashlib.sha1(client_secret.encode() + body).hexdigest()


def ok(data: dict) -> JSONResponse:
    return JSONResponse({"data": {**data, "error_code": 0, "description": ""}, "message": "success",
                         "extra": {"error_code": 0, "description": "", "logid": secrets.token_hex(8)}})  # fmt: skip


def err(code: int, description: str, status: int = 200) -> JSONResponse:
    return JSONResponse({"data": {"error_code": code, "description": description}, "message": "error",
                         "extra": {"error_code": code, "description": description}}, status_code=status)  # fmt: skip


@dataclass
class Share:
    share_id: str
    client_key: str
    open_id: str = ""
    video_id: str = ""
    text: str = ""
    status: str = "pending"  # pending | published | cancelled
    item_id: str = ""


@dataclass
class Fault:
    status: int
    times: int
    retry_after: str | None = None


@dataclass
class DouyinStandin:
    """``clients``: client_key → (client_secret, redirect_uri). ``deliver`` receives each webhook as
    ``(headers, body)`` (in-process); ``webhook_url`` is POSTed to instead when set."""

    clients: dict[str, tuple[str, str]] = field(default_factory=dict)
    deliver: Callable[[dict, bytes], object] | None = None
    webhook_url: str = ""
    part_bytes: int = 64 * 1024
    token_seconds: int = 1296000  # 15 days, as documented for access_token
    sent: list[tuple[dict, bytes]] = field(default_factory=list)  # every webhook sent, for replays
    posts: list[dict] = field(default_factory=list)  # what appeared on "Douyin"
    faults: dict[str, Fault] = field(default_factory=dict)
    expire_token_after_parts: int | None = None
    calls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._codes: dict[str, tuple[str, str]] = {}  # code → (client_key, open_id)
        self._tokens: dict[str, str] = {}  # access token → open_id
        self._refresh: dict[str, tuple[str, str]] = {}  # refresh token → (client_key, open_id)
        self._client_tokens: set[str] = set()
        self._uploads: dict[str, dict] = {}
        self._videos: dict[str, dict] = {}
        self.shares: dict[str, Share] = {}

    # -- the test's controls ----------------------------------------------------------------------

    def fail(self, path: str, status: int, times: int = 1, retry_after: str | None = None) -> None:
        with self._lock:
            self.faults[path] = Fault(status, times, retry_after)

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def confirm(self, share_id: str, action: str = "publish", reason: str = "") -> tuple[dict, bytes]:
        """The user, in the app: publish the shared video, or cancel. Returns the webhook sent."""
        with self._lock:
            share = self.shares.get(share_id)
            if share is None or share.status != "pending":
                raise KeyError(f"no pending share {share_id}")
            if action == "publish":
                share.status, share.item_id = "published", "@" + secrets.token_hex(10)
                self.posts.append({"item_id": share.item_id, "open_id": share.open_id, "text": share.text,
                                   "video_id": share.video_id, "share_id": share_id})  # fmt: skip
                event, content = "create_video", {"share_id": share_id, "item_id": share.item_id}
            else:
                share.status = "cancelled"
                event = "share_cancel"
                content = {"share_id": share_id, "reason": reason or "the user cancelled the share"}
            secret = self.clients[share.client_key][0]
        return self.send(event, share.client_key, share.open_id, content, secret)

    def send(
        self, event: str, client_key: str, open_id: str, content: dict, secret: str
    ) -> tuple[dict, bytes]:
        body = json.dumps({"event": event, "client_key": client_key, "from_user_id": open_id,
                           "content": content, "log_id": secrets.token_hex(12)},
                          ensure_ascii=False).encode()  # fmt: skip
        headers = {"Content-Type": "application/json", "Msg-Id": secrets.token_hex(16),
                   "X-Douyin-Signature": sign(secret, body)}  # fmt: skip
        self.sent.append((headers, body))
        if self.webhook_url:
            httpx.post(self.webhook_url, content=body, headers=headers, timeout=5)
        elif self.deliver:
            self.deliver(headers, body)
        return headers, body

    # -- the API ----------------------------------------------------------------------------------

    def _fault(self, path: str) -> Response | None:
        with self._lock:
            self.calls.append(path)
            f = self.faults.get(path)
            if f is None or f.times <= 0:
                return None
            f.times -= 1
        headers = {"Retry-After": f.retry_after} if f.retry_after is not None else {}
        if f.status >= 500:
            busy = err(2100004, "系统繁忙，请稍后重试 (stand-in fault)", f.status)
            busy.headers.update(headers)
            return busy
        return JSONResponse(
            {"message": "rate limited (stand-in fault)"}, status_code=f.status, headers=headers
        )

    def _user(self, request: Request) -> str | Response:
        token = request.headers.get("access-token", "")
        open_id = request.query_params.get("open_id", "")
        with self._lock:
            owner = self._tokens.get(token)
        if owner is None:
            return err(ACCESS_TOKEN_EXPIRED, "access_token过期,请刷新或重新授权")
        if owner != open_id:
            return err(ACCESS_TOKEN_INVALID, "access_token无效 (open_id 不匹配)")
        return owner

    async def connect_page(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_key") not in self.clients or q.get("response_type") != "code":
            return HTMLResponse("<p>client_key 无效</p>", status_code=400)
        if q.get("redirect_uri") != self.clients[q["client_key"]][1]:
            return HTMLResponse("<p>redirect_uri 与配置不一致</p>", status_code=400)
        hidden = "".join(
            f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in q.items()
        )
        return HTMLResponse(f"<form method=post>{hidden}<input name=open_id>"
                            "<button name=decision value=allow>授权</button></form>")  # fmt: skip

    async def connect_submit(self, request: Request) -> Response:
        form = await request.form()
        key, redirect = str(form.get("client_key", "")), str(form.get("redirect_uri", ""))
        if key not in self.clients or redirect != self.clients[key][1]:
            return HTMLResponse("<p>client_key 或 redirect_uri 无效</p>", status_code=400)
        state = str(form.get("state", ""))
        if form.get("decision") != "allow":
            return RedirectResponse(
                f"{redirect}?{urlencode({'error': 'access_denied', 'state': state})}", 302
            )
        code = secrets.token_hex(16)
        with self._lock:
            self._codes[code] = (key, str(form.get("open_id") or "open-" + secrets.token_hex(8)))
        return RedirectResponse(f"{redirect}?{urlencode({'code': code, 'state': state})}", 302)

    async def _params(self, request: Request) -> dict:
        if request.headers.get("content-type", "").startswith("application/json"):
            return dict(await request.json())
        return {k: str(v) for k, v in (await request.form()).items()}

    def _issue(self, key: str, open_id: str, refresh: str | None = None) -> JSONResponse:
        access = "act." + secrets.token_hex(20)
        refresh = refresh or "rft." + secrets.token_hex(20)
        with self._lock:
            self._tokens[access] = open_id
            self._refresh[refresh] = (key, open_id)
        return ok({"access_token": access, "expires_in": self.token_seconds, "open_id": open_id,
                   "refresh_token": refresh, "refresh_expires_in": 2592000, "scope": "video.create,aweme.share"})  # fmt: skip

    async def access_token(self, request: Request) -> Response:
        if (f := self._fault("/oauth/access_token/")) is not None:
            return f
        p = await self._params(request)
        key = p.get("client_key", "")
        if key not in self.clients or p.get("client_secret") != self.clients[key][0]:
            return err(10013, "client_key 或 client_secret 无效")
        with self._lock:
            got = self._codes.pop(p.get("code", ""), None)
        if got is None or got[0] != key or p.get("grant_type") != "authorization_code":
            return err(CODE_INVALID, "授权码 code 无效或已过期")
        return self._issue(key, got[1])

    async def refresh_token(self, request: Request) -> Response:
        if (f := self._fault("/oauth/refresh_token/")) is not None:
            return f
        p = await self._params(request)
        with self._lock:
            got = self._refresh.get(p.get("refresh_token", ""))
        if got is None or got[0] != p.get("client_key") or p.get("grant_type") != "refresh_token":
            return err(REFRESH_TOKEN_EXPIRED, "refresh_token 过期或无效, 请用户重新授权")
        return self._issue(got[0], got[1], refresh=p["refresh_token"])  # the refresh token is not renewed

    async def client_token(self, request: Request) -> Response:
        p = await self._params(request)
        key = p.get("client_key", "")
        if key not in self.clients or p.get("client_secret") != self.clients[key][0]:
            return err(10013, "client_key 或 client_secret 无效")
        token = "clt." + secrets.token_hex(20)
        with self._lock:
            self._client_tokens.add(token)
        return ok({"access_token": token, "expires_in": 7200})

    async def part_init(self, request: Request) -> Response:
        if (f := self._fault("/video/part/init/")) is not None:
            return f
        user = self._user(request)
        if isinstance(user, Response):
            return user
        upload_id = secrets.token_hex(12)
        with self._lock:
            self._uploads[upload_id] = {"open_id": user, "parts": {}}
        return ok({"upload_id": upload_id, "part_size": self.part_bytes})  # part_size: a stand-in addition

    async def part_upload(self, request: Request) -> Response:
        if (f := self._fault("/video/part/upload/")) is not None:
            return f
        user = self._user(request)
        if isinstance(user, Response):
            return user
        q = request.query_params
        with self._lock:
            up = self._uploads.get(q.get("upload_id", ""))
        if up is None or up["open_id"] != user:
            return err(PARAM_ERROR, "upload_id 无效")
        if not q.get("part_number", "").isdigit() or int(q["part_number"]) < 1:
            return err(PARAM_ERROR, "part_number 无效")
        async with request.form() as form:  # closes the spooled part file
            video = form.get("video")
            if video is None or isinstance(video, str):
                return err(PARAM_ERROR, "缺少 video 分片")
            data = await video.read()
        with self._lock:
            up["parts"][int(q["part_number"])] = data
            n = len(up["parts"])
            if self.expire_token_after_parts is not None and n >= self.expire_token_after_parts:
                self.expire_token_after_parts = None
                self._tokens.clear()  # every access token expires now (the next call is refused)
        return ok({})

    async def part_complete(self, request: Request) -> Response:
        if (f := self._fault("/video/part/complete/")) is not None:
            return f
        user = self._user(request)
        if isinstance(user, Response):
            return user
        with self._lock:
            up = self._uploads.get(request.query_params.get("upload_id", ""))
            if up is None or up["open_id"] != user:
                return err(PARAM_ERROR, "upload_id 无效")
            numbers = sorted(up["parts"])
            if numbers != list(range(1, len(numbers) + 1)) or not numbers:
                return err(PARAM_ERROR, f"分片不连续: {numbers}")
            data = b"".join(up["parts"][k] for k in numbers)
            video_id = "v0200f" + secrets.token_hex(12)
            self._videos[video_id] = {
                "open_id": user,
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        return ok({"video": {"video_id": video_id, "width": 720, "height": 1280}})

    async def share_id(self, request: Request) -> Response:
        if (f := self._fault("/share-id/")) is not None:
            return f
        with self._lock:
            known = request.headers.get("access-token", "") in self._client_tokens
        if not known:
            return err(ACCESS_TOKEN_INVALID, "client_token 无效")
        q = request.query_params
        key = q.get("client_key", "")
        with self._lock:
            video = self._videos.get(q.get("video_id", ""))
            if key not in self.clients or video is None or video["open_id"] != q.get("open_id"):
                return err(PARAM_ERROR, "video_id 或 open_id 无效 (stand-in parameters)")
            share = Share(
                "share." + secrets.token_hex(10), key, q["open_id"], q["video_id"], q.get("text", "")
            )
            self.shares[share.share_id] = share
        return ok({"share_id": share.share_id})

    async def confirm_route(self, request: Request) -> Response:
        p = await self._params(request)
        try:
            self.confirm(p.get("share_id", ""), p.get("action", "publish"), p.get("reason", ""))
        except KeyError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        return JSONResponse({"ok": True})

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/platform/oauth/connect/", self.connect_page, methods=["GET"]),
            Route("/platform/oauth/connect/", self.connect_submit, methods=["POST"]),
            Route("/oauth/access_token/", self.access_token, methods=["POST"]),
            Route("/oauth/refresh_token/", self.refresh_token, methods=["POST"]),
            Route("/oauth/client_token/", self.client_token, methods=["POST"]),
            Route("/video/part/init/", self.part_init, methods=["POST"]),
            Route("/video/part/upload/", self.part_upload, methods=["POST"]),
            Route("/video/part/complete/", self.part_complete, methods=["POST"]),
            Route("/share-id/", self.share_id, methods=["GET"]),
            Route("/standin/confirm", self.confirm_route, methods=["POST"]),
        ])  # fmt: skip
