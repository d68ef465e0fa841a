"""What apps do for their users: chunked ingest with certificate-checked posts, share intents, link cards."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request

from hutong.api import schemas
from hutong.api.deps import AppCaller, Caller, PlatformDep, app_acting_for_user, bearer_token, errors
from hutong.errors import PlatformError

router = APIRouter()
Uploader = Annotated[AppCaller, Depends(app_acting_for_user("video.create"))]
Sharer = Annotated[AppCaller, Depends(app_acting_for_user("share.create"))]
UploadId = Annotated[str, Query(max_length=64)]
PostId = Annotated[str, Path(max_length=64)]
RAW_BODY = {"requestBody": {"required": True, "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}  # fmt: skip


@router.post("/open/video/init_video_part_upload", tags=["ingest"], responses=errors(401, 403, 413))
def init_upload(body: schemas.InitUploadIn, caller: Uploader, platform: PlatformDep) -> schemas.UploadOut:
    """Start a resumable upload: returns the upload id, the part size and how many parts to send."""
    return platform.ingest.init(caller.client_id, caller.account_id, size=body.size, filename=body.filename)


@router.post("/open/video/upload_video_part", tags=["ingest"], responses=errors(401, 403, 404, 409, 410, 413),
             openapi_extra=RAW_BODY)  # fmt: skip
async def upload_part(request: Request, upload_id: UploadId, part_number: Annotated[int, Query(ge=1, le=100_000)],
                      caller: Uploader, platform: PlatformDep,
                      x_part_sha256: Annotated[str, Header(max_length=64)] = "") -> schemas.PartOut:  # fmt: skip
    """Send one part (raw bytes), in any order, with its SHA-256 in ``X-Part-SHA256``; resending a part is harmless."""
    data = await request.body()
    return platform.ingest.put_part(
        upload_id, caller.client_id, caller.account_id, part_number, data, x_part_sha256
    )


@router.post(
    "/open/video/complete_video_part_upload", tags=["ingest"], responses=errors(401, 403, 404, 409, 410, 413)
)
def complete_upload(upload_id: UploadId, caller: Uploader, platform: PlatformDep) -> schemas.VideoOut:
    """Assemble the parts; the file must be a video within the platform's limits."""
    return platform.ingest.complete(upload_id, caller.client_id, caller.account_id)


@router.post("/open/video/create_video", tags=["ingest"], responses=errors(401, 403, 404))
def create_video(body: schemas.CreateVideoIn, caller: Uploader, platform: PlatformDep,
                 idempotency_key: Annotated[str, Header(max_length=200)] = "") -> schemas.PostOut:  # fmt: skip
    """Post an uploaded video with its licence certificate. ``Idempotency-Key``: the same request twice makes one post."""
    return platform.ingest.create(caller.client_id, caller.account_id, video_id=body.video_id, text=body.text,
                                  certificate=body.certificate, idempotency_key=idempotency_key)  # fmt: skip


@router.get("/open/video/{post_id}", tags=["ingest"], responses=errors(401, 403, 404))
def get_post(post_id: str, caller: Uploader, platform: PlatformDep) -> schemas.PostOut:
    return platform.ingest.get(post_id, caller.client_id)


@router.post("/open/video/{post_id}/delete", tags=["ingest"], responses=errors(401, 403, 404))
def delete_post(
    post_id: PostId, body: schemas.DeletePostIn, caller: Uploader, platform: PlatformDep
) -> schemas.PostOut:
    """Take down a post this app made for this user, saying why (e.g. its licence was revoked). The post stays
    readable with status ``taken_down`` and the reason; asking again is harmless."""
    return platform.ingest.delete(post_id, caller.client_id, caller.account_id, body.reason)


@router.post("/open/share/create", tags=["share"], responses=errors(401, 403, 404))
def share_create(body: schemas.ShareIn, caller: Sharer, platform: PlatformDep) -> schemas.ShareOut:
    """A share intent: send the user to ``share_url``; the result comes by webhook (share.completed / share.cancelled)."""
    return platform.shares.create(caller.client_id, caller.account_id, video_id=body.video_id, text=body.text,
                                  certificate=body.certificate)  # fmt: skip


@router.post("/links/card", tags=["links"], responses=errors(401, 403, 429, 502, 504))
def link_card(body: schemas.LinkIn, platform: PlatformDep,
              authorization: Annotated[str | None, Header()] = None) -> schemas.CardOut:  # fmt: skip
    """Any URL becomes a preview card. Only a safety blocklist restricts links, and every restriction says why.
    Send a session token (a person) or an access token with the ``links.card`` scope (an app)."""
    token = bearer_token(authorization)
    account = platform.accounts.by_api_token(token) if token.startswith("hta_") else None
    client_id = ""
    if account is None:
        found = platform.oauth.bearer(token) if token else None
        if found is None:
            raise PlatformError("send a session token or an access token with the links.card scope", 401)
        tok, account = found
        if "links.card" not in tok.scope.split():
            raise PlatformError("the access token lacks the links.card scope", 403)
        client_id = tok.client_id
    return platform.links.card(
        body.url, account_id=account.id if account else None, client_id=client_id
    ).as_dict()


@router.get("/api/links/restrictions", tags=["links"], responses=errors(401))
def link_restrictions(me: Caller, platform: PlatformDep) -> schemas.RestrictionsOut:
    """Every link of yours the safety policy restricted, and why."""
    return schemas.RestrictionsOut(restrictions=platform.links.restrictions(me.id))
