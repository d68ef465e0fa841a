"""Distribution for a signed-in creator (session token): connected accounts on other platforms, sending a
clip, publishing it (now or at a time), and the jobs that carry it. Every account and job is the caller's
own: the services filter by the creator (:func:`hutong.distribute.owner_of`), and another's is a 404.

A browser cannot name a file on the server, so a clip travels in two steps: ``POST /api/distribution/clips``
with the video's bytes as the body (``application/octet-stream``, at most ``max_media_bytes``) answers its
SHA-256, and ``POST /api/distribution/publish`` names that id with the clip's certificate."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from hutong.api import schemas
from hutong.api.deps import Caller, HutongDep, PlatformDep, RowId, errors
from hutong.distribute import (
    AccountError,
    ClipError,
    JobStateError,
    NotYourCertificate,
    PublishError,
    UnknownAccount,
    UnknownClip,
    UnknownJob,
    owner_of,
)
from hutong.distribute.jobs import parse_when
from hutong.errors import PlatformError

router = APIRouter(prefix="/api/distribution", tags=["distribution"])
Name = Annotated[str, Path(min_length=1, max_length=100)]
CLIP_BODY = {"requestBody": {"required": True, "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}  # fmt: skip


@contextmanager
def _answers() -> Iterator[None]:
    """The services' refusals as HTTP statuses: not yours or not there 404, a state conflict 409, a request
    that cannot be carried out as asked 422 (with the service's reason)."""
    try:
        yield
    except (UnknownAccount, UnknownJob, UnknownClip) as exc:
        raise PlatformError(str(exc), 404) from None
    except JobStateError as exc:
        raise PlatformError(str(exc), 409) from None
    except NotYourCertificate as exc:
        raise PlatformError(str(exc), 403) from None
    except (AccountError, PublishError, ClipError) as exc:
        raise PlatformError(str(exc), 422) from None


def _account(view) -> schemas.ConnectedAccountOut:
    return schemas.ConnectedAccountOut(**view.as_dict())


# -- connected accounts ------------------------------------------------------------------------------


@router.get("/accounts", responses=errors(401))
def accounts(me: Caller, h: HutongDep) -> schemas.ConnectedAccountsOut:
    """Your connected accounts and their state (``needs_reconnect`` says why)."""
    return schemas.ConnectedAccountsOut(
        accounts=[_account(a) for a in h.distribution.accounts.list(creator=owner_of(me.id))]
    )


@router.post("/accounts", status_code=201, responses=errors(401))
def connect(body: schemas.ConnectIn, me: Caller, h: HutongDep, platform: PlatformDep) -> schemas.ConnectOut:
    """Start connecting an account: open ``authorization_url``, allow, then send the URL you are redirected
    to to ``/accounts/finish``. A name you already use reconnects that account; another creator's is refused.
    The platform must be at a public address (the outbound policy of link cards and webhooks)."""
    platform.apps.outbound.check(body.platform_url, "platform_url")
    with _answers():
        started = h.distribution.accounts.start(
            body.name, body.platform_url, client_id=body.client_id, client_secret=body.client_secret,
            redirect_uri=body.redirect_uri, adapter=body.adapter, owner=owner_of(me.id),
        )  # fmt: skip
    return schemas.ConnectOut(**started)


@router.post("/accounts/finish", responses=errors(401, 404))
def finish(body: schemas.FinishIn, me: Caller, h: HutongDep) -> schemas.ConnectedAccountOut:
    """Finish a connection with the URL the platform redirected to (its ``code`` and ``state``)."""
    with _answers():
        return _account(h.distribution.accounts.finish(body.redirected_url, creator=owner_of(me.id)))


@router.post("/accounts/{name}/reconnect", responses=errors(401, 404))
def reconnect(name: Name, me: Caller, h: HutongDep) -> schemas.ConnectOut:
    """Connect an account again with the app it was connected with; its jobs and history stay."""
    with _answers():
        return schemas.ConnectOut(**h.distribution.accounts.reconnect(name, creator=owner_of(me.id)))


@router.delete("/accounts/{name}", responses=errors(401, 404))
def remove(name: Name, me: Caller, h: HutongDep) -> schemas.RemovedAccountOut:
    """Forget an account and its tokens (its jobs stay readable)."""
    with _answers():
        h.distribution.accounts.remove(name, creator=owner_of(me.id))
    return schemas.RemovedAccountOut(removed=name)


# -- clips and publishing ------------------------------------------------------------------------------


@router.post("/clips", status_code=201, responses=errors(401), openapi_extra=CLIP_BODY)
async def send_clip(request: Request, me: Caller, h: HutongDep) -> schemas.ClipOut:
    """Send a clip (the video's bytes as the body); the answer's ``clip_id`` is what publish names."""
    writer = h.distribution.clips.writer()
    try:
        with _answers():
            async for chunk in request.stream():
                writer.write(chunk)
            clip_id, size = writer.finish()
    except BaseException:
        writer.abort()
        raise
    return schemas.ClipOut(clip_id=clip_id, size=size)


@router.post("/publish", responses=errors(401, 403, 404))
def publish(body: schemas.PublishIn, me: Caller, h: HutongDep) -> schemas.PublishOut:
    """Publish a clip you sent to your accounts: everything is checked first (the certificate must be this
    installation's, for this clip, covering each account's platform); one durable job per account. ``at``
    holds the jobs until then (cancel before); ``dry_run`` checks and publishes nothing. Each target says
    whether it was queued and why not. A certificate issued to another creator is refused (403): you publish
    clips certified to the creators linked to your account (`hutong creators link`), an organisation its
    members' too."""
    with _answers():
        when = parse_when(body.at, name="at") if body.at is not None else None
        clip = h.distribution.clips.path(body.clip_id)
        targets = h.distribution.jobs.submit(clip, body.certificate, body.to, caption=body.caption,
                                             dry_run=body.dry_run, at=when, creator=owner_of(me.id))  # fmt: skip
    return schemas.PublishOut(dry_run=body.dry_run, at=when.isoformat() if when else None,
                              targets=[schemas.TargetOut(**t.as_dict()) for t in targets])  # fmt: skip


# -- jobs ------------------------------------------------------------------------------------------------


@router.get("/jobs", responses=errors(401))
def jobs(
    me: Caller,
    h: HutongDep,
    state: Annotated[schemas.JobState | None, Query()] = None,
    account: Annotated[str | None, Query(max_length=100)] = None,
) -> schemas.JobsOut:
    """Your publishing jobs, oldest first, optionally in one state or for one account."""
    rows = h.distribution.jobs.list(state, creator=owner_of(me.id), account=account)
    return schemas.JobsOut(jobs=[schemas.JobOut(**r.as_dict()) for r in rows])


@router.get("/jobs/{job_id}", responses=errors(401, 404))
def job(job_id: RowId, me: Caller, h: HutongDep) -> schemas.JobOut:
    """A job with its timeline: every step, and the platform's own words when it refused."""
    with _answers():
        return schemas.JobOut(**h.distribution.jobs.show(job_id, creator=owner_of(me.id)).as_dict())


@router.post("/jobs/{job_id}/retry", responses=errors(401, 404, 409))
def retry(job_id: RowId, me: Caller, h: HutongDep) -> schemas.JobOut:
    """Queue a failed, cancelled or unconfirmed job again (the same Idempotency-Key: never a second post)."""
    with _answers():
        return schemas.JobOut(**h.distribution.jobs.retry(job_id, creator=owner_of(me.id)).as_dict())


@router.post("/jobs/{job_id}/cancel", responses=errors(401, 404, 409))
def cancel(job_id: RowId, me: Caller, h: HutongDep) -> schemas.JobOut:
    """Cancel a queued job (a scheduled one, before its time)."""
    with _answers():
        return schemas.JobOut(**h.distribution.jobs.cancel(job_id, creator=owner_of(me.id)).as_dict())


_JSON = {"application/json": {"schema": {"type": "object"}}}


@router.post("/webhooks/{adapter}", response_class=JSONResponse, responses={
    200: {"description": "applied, already applied, or a verification answered", "content": _JSON},
    403: {"description": "not signed by a connected app", "content": _JSON},
    404: {"description": "an adapter without webhooks, or a share not known yet", "content": _JSON},
    **errors()})  # fmt: skip
async def platform_webhook(
    adapter: Annotated[str, Path(max_length=40)], request: Request, h: HutongDep
) -> Response:
    """Where a platform reports what happened to a share (Douyin: the user confirmed or cancelled). Verified
    with the platform's signature over the raw body, applied to its job once: duplicates change nothing."""
    body = await request.body()
    result = await run_in_threadpool(h.distribution.platform_event, adapter, dict(request.headers), body)
    return JSONResponse(
        result.body or {"outcome": result.outcome, "detail": result.message}, status_code=result.status
    )
