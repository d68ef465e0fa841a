"""Any hutong-compatible platform, found from its signed ``/.well-known/hutong-interconnect`` manifest:
OAuth 2.0 authorization code + PKCE against its OpenID configuration, chunked upload with a SHA-256 per
part, ``create_video`` with the licence certificate and an ``Idempotency-Key``, and the post's status.

hutong's ingest is idempotent per (app, key): replaying ``create_video`` with the same key returns the
first post. So a create whose outcome is unknown (a timeout) is resolved by replaying it with the same
key, which either returns the post that was made or makes the one that was not — never a second one."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
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
from hutong.errors import PlatformError
from hutong.platform.interconnect import fetch_manifest

STATUS = {"published": "published", "held": "processing", "rejected": "rejected", "taken_down": "taken_down"}


@register
class HutongAdapter(PlatformAdapter):
    name = "hutong"
    scope = "openid video.create"

    def __init__(self, http: httpx.Client, *, timeout: float = 30.0) -> None:
        self.http, self.timeout = http, timeout
        self._manifests: dict[str, dict] = {}
        self._oidc: dict[str, dict] = {}
        self._lock = threading.Lock()

    # -- discovery -------------------------------------------------------------------------------

    def discover(self, platform_url: str) -> dict:
        base = platform_url.rstrip("/")
        with self._lock:
            if base in self._manifests:
                return self._manifests[base]
        try:
            body = fetch_manifest(self.http, base)
        except PlatformError as exc:
            raise AdapterError(
                Outcome.RETRY_LATER, f"the platform cannot be reached or read: {exc}"
            ) from None
        if "ingest" not in body.get("opens", {}):
            raise AdapterError(
                Outcome.REJECTED, f"{base} does not open ingest to apps (its manifest says so)"
            )
        with self._lock:
            self._manifests[base] = body
        return body

    def _endpoints(self, platform_url: str) -> dict:
        return self.discover(platform_url)["opens"]["ingest"]["endpoints"]

    def _openid(self, platform_url: str) -> dict:
        base = platform_url.rstrip("/")
        with self._lock:
            if base in self._oidc:
                return self._oidc[base]
        url = self.discover(base)["opens"]["login"]["openid_configuration"]
        doc = self._call("GET", url).json()
        with self._lock:
            self._oidc[base] = doc
        return doc

    def capabilities(self, platform_url: str) -> Capabilities:
        ingest = self.discover(platform_url)["opens"]["ingest"]
        return Capabilities(
            direct_post=True,
            scheduled=False,
            max_bytes=int(ingest.get("max_bytes") or 0) or None,
            max_seconds=float(ingest.get("max_seconds") or 0) or None,
            caption_max_chars=5000,
            certificate_field="certificate",
            idempotent_create=True,
        )

    # -- OAuth -----------------------------------------------------------------------------------

    def authorization_url(
        self, conn: Connection, *, state: str, code_challenge: str, scope: str | None = None
    ) -> str:
        endpoint = self._openid(conn.platform_url)["authorization_endpoint"]
        query = {"response_type": "code", "client_id": conn.client_id, "redirect_uri": conn.redirect_uri,
                 "scope": scope or self.scope, "state": state, "code_challenge": code_challenge,
                 "code_challenge_method": "S256"}  # fmt: skip
        return f"{endpoint}?{urlencode(query)}"

    def _token(self, conn: Connection, data: dict) -> Tokens:
        endpoint = self._openid(conn.platform_url)["token_endpoint"]
        r = self._call("POST", endpoint, data=data, auth=(conn.client_id, conn.client_secret), what="token")
        body = r.json()
        if not body.get("access_token"):
            raise AdapterError(Outcome.FAILED, f"the token endpoint answered without an access token: {body}")
        return Tokens.from_response(body)

    def exchange_code(self, conn: Connection, code: str, code_verifier: str) -> Tokens:
        return self._token(conn, {"grant_type": "authorization_code", "code": code,
                                  "redirect_uri": conn.redirect_uri, "code_verifier": code_verifier})  # fmt: skip

    def refresh(self, conn: Connection, refresh_token: str) -> Tokens:
        return self._token(conn, {"grant_type": "refresh_token", "refresh_token": refresh_token})

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
        ep, auth = self._endpoints(conn.platform_url), self._bearer(conn)
        size = clip.stat().st_size
        if resume and resume.upload_id and resume.part_size > 0:
            upload_id, part_size, first = resume.upload_id, resume.part_size, resume.parts_done + 1
        else:
            init = self._call(
                "POST", ep["init"], json={"size": size, "filename": clip.name}, headers=auth
            ).json()
            upload_id, part_size, first = init["upload_id"], int(init["part_size"]), 1
            if checkpoint:
                checkpoint(UploadState(upload_id, part_size=part_size))
        count = max(1, -(-size // part_size))
        try:
            with clip.open("rb") as f:
                f.seek((first - 1) * part_size)
                for k in range(first, count + 1):
                    part = f.read(part_size)
                    self._call("POST", ep["part"], params={"upload_id": upload_id, "part_number": k}, content=part,
                               headers={**auth, "X-Part-SHA256": hashlib.sha256(part).hexdigest(),
                                        "Content-Type": "application/octet-stream"})  # fmt: skip
                    if checkpoint:
                        checkpoint(UploadState(upload_id, part_size=part_size, parts_done=k))
                    if progress:
                        progress(k, count)
            done = self._call("POST", ep["complete"], params={"upload_id": upload_id}, headers=auth).json()
        except AdapterError as exc:
            if first > 1 and exc.status in (
                404,
                409,
                410,
            ):  # the platform no longer has that upload: start over
                return self.upload(conn, clip, progress=progress, checkpoint=checkpoint)
            raise
        return UploadState(upload_id, done["video_id"], part_size, count)

    def create_post(
        self, conn: Connection, upload: UploadState, *, caption: str, certificate: str, idempotency_key: str
    ) -> PostResult:
        ep = self._endpoints(conn.platform_url)
        r = self._call("POST", ep["create"], irreversible=True,
                       json={"video_id": upload.video_id, "text": caption, "certificate": certificate},
                       headers={**self._bearer(conn), "Idempotency-Key": idempotency_key})  # fmt: skip
        return self._post(conn, r.json())

    def post_status(self, conn: Connection, post_id: str) -> PostResult:
        base = conn.platform_url.rstrip("/")
        return self._post(
            conn, self._call("GET", f"{base}/open/video/{post_id}", headers=self._bearer(conn)).json()
        )

    def take_down(self, conn: Connection, post_id: str, reason: str) -> PostResult:
        """``POST /open/video/{post_id}/delete``: the app that made a post takes it down (repeating it is harmless)."""
        base = conn.platform_url.rstrip("/")
        r = self._call("POST", f"{base}/open/video/{post_id}/delete", json={"reason": reason[:5000] or "taken down"},
                       headers=self._bearer(conn))  # fmt: skip
        return self._post(conn, r.json())

    def _post(self, conn: Connection, body: dict) -> PostResult:
        status = STATUS.get(body.get("status", ""), "processing")
        return PostResult(post_id=body["post_id"], status=status, reason=body.get("reason", ""),
                          url=f"{conn.platform_url.rstrip('/')}/open/video/{body['post_id']}",
                          replay=bool(body.get("idempotent_replay")), raw=body)  # fmt: skip

    # -- errors ----------------------------------------------------------------------------------

    @staticmethod
    def _bearer(conn: Connection) -> dict:
        return {"Authorization": f"Bearer {conn.access_token}"}

    def _call(
        self, method: str, url: str, *, irreversible: bool = False, what: str = "", **kw
    ) -> httpx.Response:
        try:
            r = self.http.request(method, url, timeout=self.timeout, follow_redirects=False, **kw)
            r.raise_for_status()
            return r
        except httpx.HTTPError as exc:
            classified = self.classify(exc, irreversible=irreversible, token_endpoint=what == "token")
            if isinstance(exc, httpx.HTTPStatusError):
                classified.status = exc.response.status_code
            raise classified from None

    def classify(
        self, error: BaseException, *, irreversible: bool = False, token_endpoint: bool = False
    ) -> AdapterError:
        if isinstance(error, AdapterError):
            return error
        shared = transport_outcome(error, irreversible=irreversible, platform="the platform",
                                   call="an irreversible call", made="the post")  # fmt: skip
        if shared is not None:
            return shared
        if isinstance(error, httpx.HTTPStatusError):
            r = error.response
            code, detail = r.status_code, response_detail(r)
            if token_endpoint:
                try:
                    err = r.json().get("error", "")
                except ValueError:
                    err = ""
                if err in ("invalid_grant", "invalid_client", "unauthorized_client"):
                    return AdapterError(Outcome.AUTH, f"{err}: {detail}")
                return AdapterError(Outcome.FAILED, f"token endpoint said {code}: {detail}")
            if code in (401, 403):
                return AdapterError(
                    Outcome.AUTH, f"the platform refused the account's token ({code}): {detail}"
                )
            if code in (409, 413, 415, 422):
                return AdapterError(Outcome.REJECTED, f"{code}: {detail}")
            return AdapterError(Outcome.FAILED, f"{code}: {detail}")
        return AdapterError(Outcome.FAILED, f"{error.__class__.__name__}: {error}")
