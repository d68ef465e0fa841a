"""A local stand-in for the public shape of the YouTube Data API v3 and Google's OAuth 2.0 endpoints.

A FAKE, used only because the real YouTube cannot be reached from here: it is built from Google's public
documentation ("Resumable Uploads" — developers.google.com/youtube/v3/guides/using_resumable_upload_protocol;
the ``videos`` resource and ``videos.insert/update/list/delete`` references; "Using OAuth 2.0 for Web Server
Applications"; the YouTube Data API errors page), not from YouTube's code, and it models only what hutong's
adapter uses. It serves, on one origin:

- ``GET /o/oauth2/v2/auth`` (a consent page) and ``POST /o/oauth2/v2/auth`` (allow / deny → redirect with
  ``code`` or ``error=access_denied``); ``POST /token`` (``authorization_code`` with PKCE S256, a refresh
  token only for ``access_type=offline``; ``refresh_token`` without a new refresh token; ``invalid_grant``
  once consent is revoked);
- ``POST /upload/youtube/v3/videos?uploadType=resumable&part=…`` → ``200`` with ``Location`` (the session
  URI); ``PUT`` on it with ``Content-Range: bytes a-b/total`` → ``308`` with ``Range: bytes=0-n`` or, with the
  last byte, ``201`` with the video; ``Content-Range: bytes */total`` asks how much it has (or returns the
  video once complete);
- ``GET/PUT/DELETE /youtube/v3/videos`` (list with ``status``/``processingDetails``, update, delete);
- errors in Google's shape (``{"error": {"code", "message", "errors": [{"reason"}]}}``).

Faults for tests (attributes of :class:`YouTubeStandIn`): ``drop_chunks`` (chunk numbers whose answer is
dropped after the bytes were kept — the connection closes mid-answer), ``answers`` / ``chunk_answers``
(forced answers for the next API calls / chunks), ``reject`` (a ``rejectionReason`` for the next video), ``processing_reads`` (how
many reads show a video still processing), :meth:`revoke_consent`."""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
from dataclasses import dataclass, field
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

UNIT = 256 * 1024


def google_error(code: int, reason: str, message: str, headers: dict | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message,
                      "errors": [{"domain": "youtube", "reason": reason, "message": message}]}}  # fmt: skip
    return JSONResponse(body, status_code=code, headers=headers)


class DropConnection(Response):
    """Starts the answer, then closes the connection: the client never learns what happened."""

    async def __call__(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"100"), (b"content-type", b"application/json")]})  # fmt: skip
        raise ConnectionAbortedError("stand-in: connection dropped on purpose")


@dataclass
class Session:
    uri_id: str
    channel: str
    meta: dict
    total: int
    data: bytearray = field(default_factory=bytearray)
    video_id: str = ""


class YouTubeStandIn:
    def __init__(self, clients: dict[str, tuple[str, list[str]]]) -> None:
        self.clients = clients  # client_id → (secret, redirect URIs)
        self.base = ""  # set by the test once the port is known
        self.lock = threading.Lock()
        self.codes: dict[str, dict] = {}
        self.access: dict[str, str] = {}  # token → channel
        self.refresh: dict[str, str] = {}
        self.sessions: dict[str, Session] = {}
        self.videos: dict[str, dict] = {}
        self.inserts = 0  # videos made (the count a test asserts: never two for one clip)
        self.chunks = 0
        self.dropped = 0  # answers dropped on purpose
        self.drop_chunks: set[int] = set()
        self.answers: list[Response] = []  # forced answers to the next API calls (insert, videos)
        self.chunk_answers: list[
            Response
        ] = []  # forced answers to the next chunks (their bytes are not kept)
        self.reject = ""
        self.processing_reads = 1
        self.reads: dict[str, int] = {}
        self.app = Starlette(routes=[
            Route("/o/oauth2/v2/auth", self.consent, methods=["GET", "POST"]),
            Route("/token", self.token, methods=["POST"]),
            Route("/upload/youtube/v3/videos", self.insert, methods=["POST"]),
            Route("/upload/session/{sid}", self.session, methods=["PUT"]),
            Route("/youtube/v3/videos", self.videos_api, methods=["GET", "PUT", "DELETE"]),
        ])  # fmt: skip

    # -- OAuth -----------------------------------------------------------------------------------

    def revoke_consent(self) -> None:
        """The user removed the app's access in their Google account: every token stops working."""
        with self.lock:
            self.access.clear()
            self.refresh.clear()

    async def consent(self, request: Request) -> Response:
        q = dict(request.query_params) if request.method == "GET" else dict(await request.form())
        client = self.clients.get(q.get("client_id", ""))
        if client is None:
            return HTMLResponse("Error 401: invalid_client", status_code=401)
        if q.get("redirect_uri") not in client[1]:
            return HTMLResponse("Error 400: redirect_uri_mismatch", status_code=400)
        if (
            q.get("response_type") != "code"
            or q.get("code_challenge_method") != "S256"
            or not q.get("code_challenge")
        ):
            return HTMLResponse("Error 400: invalid_request (code flow with PKCE S256 only)", status_code=400)
        if request.method == "GET":
            hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                             for k, v in q.items())  # fmt: skip
            return HTMLResponse(f'<form method="post" action="/o/oauth2/v2/auth">{hidden}'
                                '<button name="decision" value="allow">Allow</button>'
                                '<button name="decision" value="deny">Cancel</button></form>')  # fmt: skip
        sep = "&" if "?" in q["redirect_uri"] else "?"
        if q.get("decision") != "allow":
            return RedirectResponse(
                f"{q['redirect_uri']}{sep}{urlencode({'error': 'access_denied', 'state': q.get('state', '')})}",
                302,
            )
        code = "4/" + secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = {**q, "channel": "UC" + secrets.token_hex(11)}
        return RedirectResponse(
            f"{q['redirect_uri']}{sep}{urlencode({'code': code, 'state': q.get('state', '')})}", 302
        )

    async def token(self, request: Request) -> Response:
        f = dict(await request.form())
        client = self.clients.get(f.get("client_id", ""))
        if client is None or client[0] != f.get("client_secret"):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "The OAuth client was not found."}, 401
            )
        grant = f.get("grant_type")
        with self.lock:
            if grant == "authorization_code":
                c = self.codes.pop(f.get("code", ""), None)
                if (
                    c is None
                    or c["client_id"] != f["client_id"]
                    or c["redirect_uri"] != f.get("redirect_uri")
                ):
                    return JSONResponse({"error": "invalid_grant", "error_description": "Bad Request"}, 400)
                digest = hashlib.sha256(f.get("code_verifier", "").encode()).digest()
                if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != c["code_challenge"]:
                    return JSONResponse(
                        {"error": "invalid_grant", "error_description": "Invalid code verifier."}, 400
                    )
                channel = c["channel"]
                body = {"token_type": "Bearer", "expires_in": 3599, "scope": c.get("scope", "")}
                if c.get("access_type") == "offline":
                    body["refresh_token"] = rt = "1//" + secrets.token_urlsafe(32)
                    self.refresh[rt] = channel
            elif grant == "refresh_token":
                channel = self.refresh.get(f.get("refresh_token", ""))
                if channel is None:
                    return JSONResponse(
                        {"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
                        400,
                    )
                body = {"token_type": "Bearer", "expires_in": 3599}  # Google sends no new refresh token
            else:
                return JSONResponse({"error": "unsupported_grant_type"}, 400)
            body["access_token"] = at = "ya29." + secrets.token_urlsafe(32)
            self.access[at] = channel
        return JSONResponse(body)

    def _channel(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        return self.access.get(auth[7:]) if auth.startswith("Bearer ") else None

    def _forced(self, chunk: bool = False) -> Response | None:
        queue = self.chunk_answers if chunk else self.answers
        with self.lock:
            return queue.pop(0) if queue else None

    @staticmethod
    def _unauthorized() -> Response:
        return google_error(401, "authError", "Request had invalid authentication credentials.")

    # -- videos.insert, resumable ----------------------------------------------------------------

    @staticmethod
    def _invalid(snippet: dict) -> Response | None:
        title, description, tags = (
            snippet.get("title", ""),
            snippet.get("description", ""),
            snippet.get("tags") or [],
        )
        if not title.strip() or len(title) > 100 or "<" in title or ">" in title:
            return google_error(400, "invalidTitle", "The request metadata specifies an invalid video title.")
        if len(description.encode()) > 5000 or "<" in description or ">" in description:
            return google_error(
                400, "invalidDescription", "The request metadata specifies an invalid video description."
            )
        if sum(len(t) + (2 if " " in t else 0) for t in tags) + max(0, len(tags) - 1) > 500:
            return google_error(400, "invalidTags", "The request metadata specifies invalid video keywords.")
        return None

    async def insert(self, request: Request) -> Response:
        if (forced := self._forced()) is not None:
            return forced
        channel = self._channel(request)
        if channel is None:
            return self._unauthorized()
        if request.query_params.get("uploadType") != "resumable" or not request.query_params.get("part"):
            return google_error(400, "badRequest", "uploadType=resumable and part are required here")
        try:
            meta = await request.json()
            total = int(request.headers["x-upload-content-length"])
        except (ValueError, KeyError):
            return google_error(
                400, "badRequest", "a video resource and X-Upload-Content-Length are required"
            )
        if (bad := self._invalid(meta.get("snippet") or {})) is not None:
            return bad
        sid = secrets.token_urlsafe(16)
        with self.lock:
            self.sessions[sid] = Session(sid, channel, meta, total)
        return Response(
            status_code=200, headers={"Location": f"{self.base}/upload/session/{sid}?upload_id={sid}"}
        )

    async def session(self, request: Request) -> Response:
        s = self.sessions.get(request.path_params["sid"])
        if s is None:
            return google_error(404, "notFound", "Upload session not found or expired.")
        if self._channel(request) != s.channel:
            return self._unauthorized()
        crange = request.headers.get("content-range", "")
        body = await request.body()
        if crange == f"bytes */{s.total}":  # how much do you have?
            return self._progress(s)
        try:
            span, total = crange.removeprefix("bytes ").split("/")
            first, last = (int(x) for x in span.split("-"))
        except ValueError:
            return google_error(400, "badContent", f"bad Content-Range: {crange!r}")
        if int(total) != s.total or first != len(s.data) or last - first + 1 != len(body):
            return google_error(
                400, "badContent", f"Content-Range {crange} does not continue at byte {len(s.data)}"
            )
        if last + 1 < s.total and len(body) % UNIT:
            return google_error(400, "badContent", "chunks other than the last must be a multiple of 256 KiB")
        if (forced := self._forced(chunk=True)) is not None:
            return forced
        with self.lock:
            s.data.extend(body)
            self.chunks += 1
            number = self.chunks
            if len(s.data) == s.total and not s.video_id:
                s.video_id = self._make(s)
        if number in self.drop_chunks:
            self.dropped += 1
            return DropConnection()
        return self._progress(s, created=True)

    def _progress(self, s: Session, *, created: bool = False) -> Response:
        if s.video_id:
            return JSONResponse(
                self._resource(s.video_id, "snippet,status"), status_code=201 if created else 200
            )
        headers = {"Range": f"bytes=0-{len(s.data) - 1}"} if s.data else {}
        return Response(status_code=308, headers=headers)

    def _make(self, s: Session) -> str:
        vid = secrets.token_urlsafe(8)[:11]
        status = {**(s.meta.get("status") or {}), "uploadStatus": "uploaded"}
        if self.reject:
            status |= {"uploadStatus": "rejected", "rejectionReason": self.reject}
            self.reject = ""
        self.videos[vid] = {"kind": "youtube#video", "id": vid, "channel": s.channel,
                            "snippet": {**(s.meta.get("snippet") or {}), "channelId": s.channel},
                            "status": status, "processingDetails": {"processingStatus": "processing"},
                            "sha256": hashlib.sha256(bytes(s.data)).hexdigest()}  # fmt: skip
        self.inserts += 1
        return vid

    def _resource(self, vid: str, part: str) -> dict:
        v = self.videos[vid]
        return {"kind": v["kind"], "id": vid, **{p: v[p] for p in part.split(",") if p in v}}

    # -- videos.list / update / delete -----------------------------------------------------------

    async def videos_api(self, request: Request) -> Response:
        if (forced := self._forced()) is not None:
            return forced
        channel = self._channel(request)
        if channel is None:
            return self._unauthorized()
        if request.method == "PUT":
            body = await request.json()
            v = self.videos.get(body.get("id", ""))
            if v is None or v["channel"] != channel:
                return google_error(
                    404, "videoNotFound", "The video that you are trying to update cannot be found."
                )
            if (bad := self._invalid(body.get("snippet") or {})) is not None:
                return bad
            with self.lock:
                v["snippet"] = {**v["snippet"], **body.get("snippet", {})}
                v["status"] = {
                    **v["status"],
                    **{k: x for k, x in body.get("status", {}).items() if k != "uploadStatus"},
                }
            return JSONResponse(self._resource(v["id"], request.query_params.get("part", "snippet,status")))
        vid = request.query_params.get("id", "")
        if request.method == "DELETE":
            v = self.videos.get(vid)
            if v is None or v["channel"] != channel:
                return google_error(
                    404, "videoNotFound", "The video that you are trying to delete cannot be found."
                )
            with self.lock:
                del self.videos[vid]
            return Response(status_code=204)
        items = []
        for one in filter(None, vid.split(",")):
            v = self.videos.get(one)
            if v is None:
                continue
            with self.lock:
                self.reads[one] = self.reads.get(one, 0) + 1
                if v["status"]["uploadStatus"] == "uploaded" and self.reads[one] > self.processing_reads:
                    v["status"]["uploadStatus"] = "processed"
                    v["processingDetails"]["processingStatus"] = "succeeded"
            items.append(self._resource(one, request.query_params.get("part", "status")))
        return JSONResponse({"kind": "youtube#videoListResponse", "items": items})
