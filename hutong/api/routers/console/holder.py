"""The rights holder's console: the catalogue (add works by upload, a work's page with thumbnails along its
timeline, remove), licences (grant, read with history, amend, revoke after seeing what it brings down), and
where the holder's works are used, with a chart. Another holder's works and licences are "not found"."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from starlette.datastructures import UploadFile

from hutong.api.console import ConsoleRefusal, HolderSeat, ListDep, render, render_list
from hutong.api.deps import HutongDep
from hutong.api.web import check_csrf
from hutong.compliance.uses import KINDS, UseCount, periods
from hutong.errors import HutongError
from hutong.rights.holdings import THUMBNAILS, LicenceForm, NotYours

router = APIRouter(prefix="/console/holder", include_in_schema=False)
Csrf = Annotated[str, Form(max_length=100)]
WorkId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Code = Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z]-?[0-9]{1,12}$")]
FORM_FIELDS = ("scope", "creators", "organisation", "platforms", "valid_from", "valid_until", "max_segment",
               "max_total", "max_share", "forbid", "embargo", "attribution", "reason")  # fmt: skip


def _refused(exc: HutongError) -> ConsoleRefusal:
    return ConsoleRefusal(str(exc), 404 if isinstance(exc, NotYours) else 400)


@router.get("")
def holder_home():
    return RedirectResponse("/console/holder/works", status_code=303)


# -- the catalogue -------------------------------------------------------------------------------------


@router.get("/works", response_class=HTMLResponse)
def holder_works(request: Request, h: HutongDep, seat: HolderSeat, query: ListDep):
    page = h.catalogue.page(seat.membership.holders, query)
    return render_list(request, seat, "console/holder/works.html", "console/holder/_works_table.html", page,
                       max_bytes=h.settings.max_media_bytes)  # fmt: skip


async def _store(h, chunks, filename: str):
    """Write an upload to disk as it arrives; anything that goes wrong removes what was written."""
    writer = h.registrations.writer(filename)
    try:
        async for chunk in chunks:
            writer.write(chunk)
        return writer.finish()
    except HutongError as exc:
        writer.abort()
        raise ConsoleRefusal(str(exc), 413 if writer.size > writer.max_bytes else 400) from None
    except BaseException:
        writer.abort()  # the connection was lost or the body was over the limit: keep nothing
        raise


async def _parts(upload: UploadFile):
    while chunk := await upload.read(1 << 20):
        yield chunk


@router.post("/works/upload", response_class=HTMLResponse)
async def holder_upload(request: Request, h: HutongDep, seat: HolderSeat):
    """With script, the file's bytes are the body (console.js sends them with upload progress) and the
    title, holder and file name come in the query string: the answer is the registration's status part,
    which then polls itself. Without script, the form itself (multipart): the answer is a redirect to the
    registration's page."""
    _ = seat.viewer.gettext
    form = None
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=6)
        params = form
        check_csrf(request, str(form.get("csrf", "")))
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ConsoleRefusal(_("Choose a video or audio file first."), 400)
        filename = upload.filename
    else:
        params = request.query_params
        check_csrf(request, "")
        filename = params.get("filename", "")
    holder = str(params.get("holder") or seat.membership.holders[0])
    if holder not in seat.membership.holders:
        raise ConsoleRefusal(_("You do not act for that rights holder."), 403)
    filename = filename[:300] or "upload"
    try:
        path = await _store(h, _parts(upload) if form else request.stream(), filename)
    finally:
        if form:
            await form.close()  # the spooled copy the multipart parser kept
    try:
        job = h.registrations.start(
            path, title=str(params.get("title", ""))[:600], holder=holder, filename=filename
        )
    except HutongError as exc:
        raise ConsoleRefusal(str(exc), 400) from None
    if form:
        return RedirectResponse(f"/console/holder/works/registrations/{job.id}", status_code=303)
    return render(request, seat, "console/holder/_registration.html", job=job, status=202)


@router.get("/works/registrations/{job_id}", response_class=HTMLResponse)
def holder_registration(request: Request, h: HutongDep, seat: HolderSeat,
                        job_id: Annotated[str, Path(max_length=40)]):  # fmt: skip
    """The status part for htmx's polling; a whole page for a browser without script."""
    try:
        job = h.registrations.get(job_id, seat.membership.holders)
    except HutongError as exc:
        raise _refused(exc) from None
    response = render(request, seat, "console/holder/registration.html", part="console/holder/_registration.html",
                      parts=("registration",), job=job)  # fmt: skip
    if job.state == "done":
        response.headers["HX-Trigger"] = "work-registered"  # the list of works on the page shows it
    return response


@router.get("/works/{work_id}", response_class=HTMLResponse)
def holder_work(request: Request, h: HutongDep, seat: HolderSeat, work_id: WorkId):
    holders = seat.membership.holders
    try:
        work = h.holdings.work(holders, work_id)
    except HutongError as exc:
        raise _refused(exc) from None
    licences = h.holdings.licences_naming(holders, work_id)
    active = [lic for lic in licences if lic.status == "active"]
    return render(request, seat, "console/holder/work.html", work=work, licences=licences, active=active,
                  positions=h.holdings.positions(work), thumbnails=THUMBNAILS)  # fmt: skip


@router.get("/works/{work_id}/frames/{n}.png")
def holder_frame(
    h: HutongDep, seat: HolderSeat, work_id: WorkId, n: Annotated[int, Path(ge=0, lt=THUMBNAILS)]
):
    try:
        path = h.holdings.thumbnail(h.holdings.work(seat.membership.holders, work_id), n)
    except HutongError as exc:
        raise ConsoleRefusal(str(exc), 404) from None
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"})


@router.post("/works/{work_id}/remove")
def holder_remove(request: Request, h: HutongDep, seat: HolderSeat, work_id: WorkId, csrf: Csrf = ""):
    check_csrf(request, csrf)
    try:
        work = h.holdings.work(seat.membership.holders, work_id)
        h.catalogue.remove(work.work_id)
    except HutongError as exc:
        raise _refused(exc) from None
    return RedirectResponse("/console/holder/works?removed=" + str(work_id), status_code=303)


# -- licences ------------------------------------------------------------------------------------------


@router.get("/licences", response_class=HTMLResponse)
def holder_licences(request: Request, h: HutongDep, seat: HolderSeat, query: ListDep):
    page = h.holdings.licence_page(seat.membership.holders, query)
    return render_list(
        request, seat, "console/holder/licences.html", "console/holder/_licences_table.html", page
    )


def _form_page(request, h, seat, form: LicenceForm, *, code: str = "", error: str = "", status: int = 200):
    works = h.holdings.works(seat.membership.holders)
    return render(request, seat, "console/holder/licence_form.html", form=form, works=works, code=code,
                  error=error, status=status)  # fmt: skip


async def _read_form(request: Request) -> tuple[LicenceForm, str, str]:
    data = await request.form(max_files=0, max_fields=40)
    text = {k: str(data.get(k, ""))[:20_000] for k in FORM_FIELDS}
    form = LicenceForm(works=[str(w)[:20] for w in data.getlist("work")][:1000],
                       monetisation=data.get("monetisation") == "on", allow_overlap=data.get("allow_overlap") == "on",
                       **{k: v for k, v in text.items() if k != "scope"},
                       scope=text["scope"] if text["scope"] in ("verified", "creators", "organisation") else "verified")  # fmt: skip
    return form, str(data.get("csrf", "")), str(data.get("holder", ""))


@router.get("/licences/new", response_class=HTMLResponse)
def holder_licence_new(request: Request, h: HutongDep, seat: HolderSeat, work: str = ""):
    form = LicenceForm(works=[work] if work.isdigit() else [],
                       valid_until=f"{date.today() + timedelta(days=365):%Y-%m-%d}")  # fmt: skip
    return _form_page(request, h, seat, form)


@router.post("/licences", response_class=HTMLResponse)
async def holder_grant(request: Request, h: HutongDep, seat: HolderSeat):
    form, csrf, holder = await _read_form(request)
    check_csrf(request, csrf)
    holders = seat.membership.holders
    holder = holder if holder in holders else holders[0]
    _ = seat.viewer.gettext
    try:
        works = {str(w.work_id) for w in h.holdings.works(holders)}
        if any(w not in works for w in form.works):  # only the holder's own works can be chosen
            raise NotYours("works: choose works from your catalogue")
        terms = form.terms()
        lic = await run_in_threadpool(h.licences.grant, holder, terms, allow_overlap=form.allow_overlap)
    except HutongError as exc:
        error = _("The licence was not granted: %(why)s") % {"why": exc}
        return _form_page(request, h, seat, form, error=error, status=422)
    return RedirectResponse(f"/console/holder/licences/{lic.code}?granted=1", status_code=303)


@router.get("/licences/{code}", response_class=HTMLResponse)
def holder_licence(request: Request, h: HutongDep, seat: HolderSeat, code: Code):
    holders = seat.membership.holders
    try:
        lic = h.holdings.licence(holders, code)
        history = h.licences.history(lic.code)
        effects = h.holdings.consequences(holders, lic.code)
    except HutongError as exc:
        raise _refused(exc) from None
    _ = seat.viewer.gettext
    notice = None
    if request.query_params.get("granted"):
        notice = _("Licence %(code)s granted.") % {"code": lic.code}
    elif request.query_params.get("amended"):
        notice = _("Licence %(code)s amended: now version %(v)s.") % {"code": lic.code, "v": lic.version}
    elif request.query_params.get("revoked"):
        notice = _("Licence %(code)s revoked.") % {"code": lic.code}
    return render(request, seat, "console/holder/licence.html", lic=lic, history=list(reversed(history)),
                  effects=effects, notice=notice)  # fmt: skip


@router.get("/licences/{code}/amend", response_class=HTMLResponse)
def holder_licence_amend_form(request: Request, h: HutongDep, seat: HolderSeat, code: Code):
    try:
        lic = h.holdings.licence(seat.membership.holders, code)
    except HutongError as exc:
        raise _refused(exc) from None
    if lic.status == "revoked":
        raise ConsoleRefusal(
            seat.viewer.gettext("A revoked licence cannot be amended: grant a new one."), 409
        )
    return _form_page(request, h, seat, LicenceForm.of(lic), code=lic.code)


@router.post("/licences/{code}/amend", response_class=HTMLResponse)
async def holder_licence_amend(request: Request, h: HutongDep, seat: HolderSeat, code: Code):
    form, csrf, _holder = await _read_form(request)
    check_csrf(request, csrf)
    holders = seat.membership.holders
    _ = seat.viewer.gettext
    try:
        lic = h.holdings.licence(holders, code)
    except HutongError as exc:
        raise _refused(exc) from None
    try:
        works = {str(w.work_id) for w in h.holdings.works(holders)}
        if any(w not in works for w in form.works):
            raise NotYours("works: choose works from your catalogue")
        terms = form.terms()
        lic = await run_in_threadpool(
            h.licences.amend,
            lic.code,
            terms,
            reason=form.reason.strip()[:2000],
            allow_overlap=form.allow_overlap,
        )
    except HutongError as exc:
        error = _("The licence was not amended: %(why)s") % {"why": exc}
        return _form_page(request, h, seat, form, code=lic.code, error=error, status=422)
    return RedirectResponse(f"/console/holder/licences/{lic.code}?amended=1", status_code=303)


@router.get("/licences/{code}/revoke", response_class=HTMLResponse)
def holder_licence_revoke_form(request: Request, h: HutongDep, seat: HolderSeat, code: Code):
    holders = seat.membership.holders
    try:
        lic = h.holdings.licence(holders, code)
        effects = h.holdings.consequences(holders, lic.code)
    except HutongError as exc:
        raise _refused(exc) from None
    return render(request, seat, "console/holder/revoke.html", lic=lic, effects=effects)


@router.post("/licences/{code}/revoke", response_class=HTMLResponse)
def holder_licence_revoke(request: Request, h: HutongDep, seat: HolderSeat, code: Code, csrf: Csrf = "",
                          reason: Annotated[str, Form(max_length=2000)] = ""):  # fmt: skip
    check_csrf(request, csrf)
    holders = seat.membership.holders
    try:
        lic = h.holdings.licence(holders, code)
        effects = h.holdings.consequences(holders, lic.code)
    except HutongError as exc:
        raise _refused(exc) from None
    try:
        h.licences.revoke(lic.code, reason=reason)
    except HutongError as exc:
        return render(request, seat, "console/holder/revoke.html", lic=lic, effects=effects, status=422,
                      error=str(exc), reason=reason)  # fmt: skip
    h.distribution.jobs.take_down_revoked()  # posts made under its certificates: the worker takes them down
    return RedirectResponse(f"/console/holder/licences/{lic.code}?revoked=1", status_code=303)


# -- uses ----------------------------------------------------------------------------------------------

PALETTE = ("#1f5fa8", "#c2571a", "#2e7d32", "#8e3b8e", "#8a6d00", "#00838f", "#b3261e", "#5d4037")
MAX_SERIES = 6  # more works or platforms than this: the rest are drawn together as "others"


def chart(unit: str, counts: list[UseCount], by: str, others: str, any_platform: str) -> dict | None:
    """Stacked bars of uses over time, one colour per work or platform (``by``): geometry for the SVG and
    the same numbers for the table beside it."""
    if not counts:
        return None
    buckets = periods(unit, min(c.day for c in counts), max(c.day for c in counts))

    def key(c: UseCount) -> str:
        return c.work_title if by == "work" else (any_platform if c.platform == "*" else c.platform)

    totals: dict[str, int] = {}
    for c in counts:
        totals[key(c)] = totals.get(key(c), 0) + c.count
    names = sorted(totals, key=lambda k: (-totals[k], k))
    shown = names[:MAX_SERIES] if len(names) <= MAX_SERIES else names[: MAX_SERIES - 1]
    series = shown + ([others] if len(names) > len(shown) else [])
    grid = {(b, s): 0 for b in buckets for s in series}
    for c in counts:
        name = key(c) if key(c) in shown else others
        grid[(c.day, name)] += c.count
    peak = max(sum(grid[(b, s)] for s in series) for b in buckets) or 1
    width, height, left, bottom = 640, 220, 40, 28
    slot = (width - left - 8) / len(buckets)
    bar = min(48.0, max(1.0, slot * 0.7))  # one day of uses is a bar, not a wall
    bars = []
    for i, b in enumerate(buckets):
        y = height - bottom
        for j, s in enumerate(series):
            n = grid[(b, s)]
            if n:
                h = (height - bottom - 12) * n / peak
                y -= h
                bars.append({"x": round(left + i * slot + (slot - bar) / 2, 1), "y": round(y, 1),
                             "w": round(bar, 1), "h": round(h, 1),
                             "colour": PALETTE[j % len(PALETTE)], "label": f"{b:%Y-%m-%d} · {s}: {n}"})  # fmt: skip
    every = max(1, len(buckets) // 8)
    ticks = [{"x": round(left + i * slot + slot / 2, 1), "text": f"{b:%m-%d}" if unit != "month" else f"{b:%Y-%m}"}
             for i, b in enumerate(buckets) if i % every == 0]  # fmt: skip
    rows = [{"bucket": b, "counts": [grid[(b, s)] for s in series]} for b in buckets
            if any(grid[(b, s)] for s in series)]  # fmt: skip
    legend = [{"name": s, "colour": PALETTE[j % len(PALETTE)], "total": sum(grid[(b, s)] for b in buckets)}
              for j, s in enumerate(series)]  # fmt: skip
    return {"unit": unit, "bars": bars, "ticks": ticks, "peak": peak, "legend": legend, "rows": rows,
            "series": series, "width": width, "height": height, "left": left, "base": height - bottom}  # fmt: skip


@router.get("/uses", response_class=HTMLResponse)
def holder_uses(request: Request, h: HutongDep, seat: HolderSeat, query: ListDep):
    holders = seat.membership.holders
    page = h.uses.page(holders, query)
    _ = seat.viewer.gettext
    unit, counts = h.uses.counts(holders, query)
    charts = [(_("Uses per work"), chart(unit, counts, "work", _("others"), _("any platform"))),
              (_("Uses per platform"), chart(unit, counts, "platform", _("others"), _("any platform")))]  # fmt: skip
    return render_list(request, seat, "console/holder/uses.html", "console/holder/_uses_table.html", page,
                       charts=charts, kinds=KINDS)  # fmt: skip
