"""The creator's console: upload a clip, watch it being checked, read the timeline and each segment's verdict,
what to change, get the certificate, publish to connected accounts and follow the jobs.

A creator acts for the creator handles of their membership; another creator's checks, certificates and jobs
are answered 404, as if they did not exist."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from hutong.api.console import CreatorSeat, ListDep, Seat, render, render_list
from hutong.api.deps import HutongDep
from hutong.api.web import check_csrf
from hutong.compliance.checks import CheckError, UnknownCheck
from hutong.distribute import AccountError, ClipError, PublishError, UnknownJob
from hutong.errors import CertificateError, MediaError, PlatformError

router = APIRouter(prefix="/console/creator", include_in_schema=False)
Csrf = Annotated[str, Form(max_length=100)]
CheckId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{32}$")]
BASE = "/console/creator"


def _refused(exc: Exception, status: int | None = None) -> PlatformError:
    if status is None:
        status = 404 if isinstance(exc, (UnknownCheck, UnknownJob)) else 422
    return PlatformError(str(exc), status)


def _handle(seat: Seat, wanted: str) -> str:
    """The creator handle to act for: the one asked for if it is the seat's, else the only one."""
    handles = seat.membership.creators
    if wanted in handles:
        return wanted
    if not wanted and len(handles) == 1:
        return handles[0]
    raise PlatformError(seat.viewer.gettext("Choose which of your creator names the clip is for."), 422)


def _platforms(h, seat: Seat) -> list[str]:
    """Platforms worth offering: those of the creator's connected accounts and those licences name."""
    names = {
        a.platform_name.lower()
        for c in seat.membership.creators
        for a in h.distribution.accounts.list(creator=c)
    }
    names |= {p for lic in h.licences.list(include_revoked=False) for p in lic.terms.platforms if p != "*"}
    return sorted(names) or ["douyin"]


@router.get("")
def creator_home():
    return RedirectResponse(f"{BASE}/checks", status_code=303)


# -- upload ------------------------------------------------------------------------------------------------


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, h: HutongDep, seat: CreatorSeat):
    return render(request, seat, "console/creator/upload.html", platforms=_platforms(h, seat),
                  max_bytes=h.settings.max_media_bytes)  # fmt: skip


@router.post("/upload")
async def upload(
    request: Request,
    h: HutongDep,
    seat: CreatorSeat,
    name: Annotated[str, Query(min_length=1, max_length=255)],
    platform: Annotated[str, Query(min_length=1, max_length=100)],
    creator: Annotated[str, Query(max_length=64)] = "",
    monetised: bool = False,
):
    """The clip's bytes as the body (console.js sends them with a progress bar), streamed to disk within
    ``max_media_bytes``; then recognition runs as a job on the queue and the check's page follows it."""
    check_csrf(request, "")
    handle = _handle(seat, creator)
    writer = h.distribution.clips.writer()
    try:
        async for chunk in request.stream():
            writer.write(chunk)
        clip_id, _size = writer.finish()
    except ClipError as exc:
        writer.abort()
        raise _refused(exc, 413 if "over" in str(exc) else 422) from None
    except BaseException:
        writer.abort()
        raise
    try:
        # probing and hashing read the file: off the event loop
        check = await run_in_threadpool(h.checks.start, h.distribution.clips.path(clip_id), name=Path(name).name,
                                        creator=handle, platform=platform, monetised=monetised,
                                        account_id=seat.user.id)  # fmt: skip
    except (CheckError, MediaError) as exc:
        raise _refused(exc) from None
    await run_in_threadpool(h.checks.enqueue, check.id)  # whichever worker takes it recognises the clip
    return RedirectResponse(f"{BASE}/checks/{check.id}", status_code=303)


# -- checks ------------------------------------------------------------------------------------------------


@router.get("/checks", response_class=HTMLResponse)
def checks(request: Request, h: HutongDep, seat: CreatorSeat, query: ListDep):
    page = h.checks.page(seat.membership.creators, query)
    return render_list(
        request, seat, "console/creator/checks.html", "console/creator/_checks_table.html", page
    )


def _check_page(request: Request, h, seat: Seat, check_id: str, **extra) -> HTMLResponse:
    try:
        c = h.checks.get(check_id, seat.membership.creators)
    except UnknownCheck as exc:
        raise _refused(exc) from None
    accounts = [a for a in h.distribution.accounts.list(creator=c.creator)]
    return render(request, seat, "console/creator/check.html", part="console/creator/_check.html",
                  parts=("check",), check=c, fixes=h.checks.fixes(c) if c.state == "done" else [],
                  platforms=_platforms(h, seat), accounts=accounts, **extra)  # fmt: skip


@router.get("/checks/{check_id}", response_class=HTMLResponse)
def check(request: Request, h: HutongDep, seat: CreatorSeat, check_id: CheckId):
    return _check_page(request, h, seat, check_id)


@router.get("/checks/{check_id}/timeline.svg")
def timeline(h: HutongDep, seat: CreatorSeat, check_id: CheckId):
    try:
        svg = h.checks.timeline(check_id, seat.membership.creators)
    except UnknownCheck as exc:
        raise _refused(exc) from None
    if not svg:
        raise PlatformError("the timeline is drawn once the check is done", 404)
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/checks/{check_id}/frames/{n}/{side}.png")
def frame(h: HutongDep, seat: CreatorSeat, check_id: CheckId, n: Annotated[int, PathParam(ge=0, le=10_000)],
          side: Annotated[str, PathParam(pattern="^(clip|work)$")]):  # fmt: skip
    try:
        png = h.checks.frame(check_id, seat.membership.creators, n, side)
    except UnknownCheck as exc:
        raise _refused(exc) from None
    except MediaError as exc:
        raise _refused(exc, 422) from None
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.post("/checks/{check_id}/platform")
def decide_again(request: Request, h: HutongDep, seat: CreatorSeat, check_id: CheckId,
                 platform: Annotated[str, Form(max_length=100)] = "", csrf: Csrf = ""):  # fmt: skip
    check_csrf(request, csrf)
    try:
        new = h.checks.again(check_id, seat.membership.creators, platform, account_id=seat.user.id)
    except CheckError as exc:
        raise _refused(exc) from None
    return RedirectResponse(f"{BASE}/checks/{new.id}", status_code=303)


@router.post("/checks/{check_id}/certificate")
def certify(request: Request, h: HutongDep, seat: CreatorSeat, check_id: CheckId, csrf: Csrf = ""):
    check_csrf(request, csrf)
    try:
        h.checks.certify(check_id, seat.membership.creators)
    except (CheckError, CertificateError) as exc:
        raise _refused(exc) from None
    return RedirectResponse(f"{BASE}/checks/{check_id}#certificate", status_code=303)


@router.get("/certificates/{jti}.jws")
def certificate_file(
    h: HutongDep, seat: CreatorSeat, jti: Annotated[str, PathParam(pattern=r"^[0-9a-f]{32}$")]
):
    try:
        cert = h.checks.certificate(jti, seat.membership.creators)
    except UnknownCheck as exc:
        raise _refused(exc) from None
    return Response(cert.token + "\n", media_type="application/jose",
                    headers={"Content-Disposition": f'attachment; filename="{jti}.jws"'})  # fmt: skip


@router.get("/certificates/{jti}.c2pa.mp4")
def certificate_copy(
    h: HutongDep, seat: CreatorSeat, jti: Annotated[str, PathParam(pattern=r"^[0-9a-f]{32}$")]
):
    try:
        path = h.checks.embedded_copy(jti, seat.membership.creators, h.settings.home / "console" / "c2pa")
    except (CheckError, CertificateError) as exc:
        raise _refused(exc) from None
    return FileResponse(path, media_type="video/mp4", filename=path.name)


# -- publishing --------------------------------------------------------------------------------------------


@router.post("/checks/{check_id}/publish", response_class=HTMLResponse)
def publish(request: Request, h: HutongDep, seat: CreatorSeat, check_id: CheckId,
            to: Annotated[list[str], Form(max_length=20)] = [], caption: Annotated[str, Form(max_length=5000)] = "",  # noqa: B006
            dry_run: Annotated[str, Form(max_length=5)] = "", csrf: Csrf = ""):  # fmt: skip
    """Check first (dry run), or publish: one job per chosen account, all checked by distribution (the
    certificate must hold for these exact bytes, cover each account's platform, the account be connected)."""
    check_csrf(request, csrf)
    _ = seat.viewer.gettext
    try:
        c = h.checks.get(check_id, seat.membership.creators)
    except UnknownCheck as exc:
        raise _refused(exc) from None
    if not c.certificate_id:
        raise PlatformError(_("Get the certificate first: only a certified clip is published."), 422)
    if not to:
        return _check_page(
            request, h, seat, check_id, publish_error=_("Choose at least one connected account.")
        )
    token = h.compliance.get(c.certificate_id).token
    try:
        targets = h.distribution.jobs.submit(Path(c.clip_path), token, to, caption=caption, dry_run=bool(dry_run),
                                             creator=c.creator)  # fmt: skip
    except (PublishError, AccountError) as exc:
        # the reason names the file as the creator uploaded it, not where or under which hash it is kept
        reason = str(exc).replace(c.clip_path, c.name).replace(Path(c.clip_path).name, c.name)
        return _check_page(
            request, h, seat, check_id, status=422, publish_error=reason, caption=caption, chosen=to
        )
    # after a dry run the form keeps what was asked, so publishing is one click more
    return _check_page(request, h, seat, check_id, targets=targets, dry_run=bool(dry_run), caption=caption,
                       chosen=to if dry_run else [])  # fmt: skip


@router.get("/jobs", response_class=HTMLResponse)
def jobs(request: Request, h: HutongDep, seat: CreatorSeat, query: ListDep):
    page = h.distribution.jobs.page(seat.membership.creators, query)
    return render_list(request, seat, "console/creator/jobs.html", "console/creator/_jobs_table.html", page)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job(request: Request, h: HutongDep, seat: CreatorSeat, job_id: Annotated[int, PathParam(ge=1, le=2**62)]):
    view = None
    for handle in seat.membership.creators:
        try:
            view = h.distribution.jobs.show(job_id, creator=handle)
            break
        except UnknownJob:
            continue
    if view is None:
        raise PlatformError(
            seat.viewer.gettext("No publishing job %(id)s among yours.") % {"id": job_id}, 404
        )
    return render(request, seat, "console/creator/job.html", part="console/creator/_job.html", parts=("job",),
                  job=view, clip_url=quote(view.clip_sha256))  # fmt: skip
