"""The platform reviewer's console: developers waiting for review (masked personal data only, the policy
rule beside each decision), appeals, the link-card restriction log, trusted certificate issuers, and every
review decision. The same service calls as ``hutong platform review|resolve`` and ``hutong interconnect``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from hutong.api.console import ListDep, ReviewerSeat, render, render_list
from hutong.api.deps import PlatformDep
from hutong.api.web import check_csrf
from hutong.platform.developers import APPEAL_STATES, DECISION_OUTCOMES

router = APIRouter(prefix="/console/review", include_in_schema=False)
Csrf = Annotated[str, Form(max_length=100)]
Note = Annotated[str, Form(max_length=5000)]


def _done(request: Request, notice: str, to: str) -> RedirectResponse:
    """After a change: back to the list (a reload does not repeat it), with a line saying what was done."""
    request.session["notice"] = notice
    return RedirectResponse(to, status_code=303)


def _notice(request: Request) -> str:
    return request.session.pop("notice", "")


@router.get("")
def review_home(seat: ReviewerSeat):
    return RedirectResponse("/console/review/queue", status_code=303)


@router.get("/queue", response_class=HTMLResponse)
def review_queue(request: Request, platform: PlatformDep, seat: ReviewerSeat, query: ListDep):
    page = platform.developers.pending_page(query)
    return render_list(request, seat, "console/review/queue.html", "console/review/_queue_table.html", page,
                       notice=_notice(request), policy_version=platform.policy.version)  # fmt: skip


@router.post("/queue/{developer_id}")
def review_decide(request: Request, developer_id: int, platform: PlatformDep, seat: ReviewerSeat,
                  decision: Annotated[Literal["approve", "reject"], Form()], note: Note = "", csrf: Csrf = ""):  # fmt: skip
    check_csrf(request, csrf)
    _ = seat.viewer.gettext
    d = platform.developers.decide_pending(
        developer_id, approve=decision == "approve", note=note, staff=seat.user.username
    )
    said = _("%(name)s approved.") if d["status"] == "verified" else _("%(name)s rejected.")
    return _done(request, said % {"name": d["display_name"]}, "/console/review/queue")


@router.get("/appeals", response_class=HTMLResponse)
def review_appeals(request: Request, platform: PlatformDep, seat: ReviewerSeat, query: ListDep):
    page = platform.developers.decisions_page(query, open_appeals=True)
    return render_list(request, seat, "console/review/appeals.html", "console/review/_appeals_table.html", page,
                       notice=_notice(request))  # fmt: skip


@router.post("/appeals/{decision_id}")
def review_resolve(request: Request, decision_id: int, platform: PlatformDep, seat: ReviewerSeat,
                   resolution: Annotated[Literal["overturn", "uphold"], Form()], note: Note = "", csrf: Csrf = ""):  # fmt: skip
    check_csrf(request, csrf)
    _ = seat.viewer.gettext
    x = platform.developers.resolve_appeal(
        decision_id, overturn=resolution == "overturn", note=note, staff=seat.user.username
    )
    said = (
        _("Decision %(id)s overturned.") if x.appeal_status == "overturned" else _("Decision %(id)s upheld.")
    )
    return _done(request, said % {"id": x.id}, "/console/review/appeals")


@router.get("/links", response_class=HTMLResponse)
def review_links(request: Request, platform: PlatformDep, seat: ReviewerSeat, query: ListDep):
    page = platform.links.restrictions_page(query)
    return render_list(request, seat, "console/review/links.html", "console/review/_links_table.html", page)


@router.get("/issuers", response_class=HTMLResponse)
def review_issuers(request: Request, platform: PlatformDep, seat: ReviewerSeat):
    return render(request, seat, "console/review/issuers.html", issuers=platform.directory.trusted(),
                  own=platform.settings.issuer, notice=_notice(request))  # fmt: skip


@router.post("/issuers")
def review_trust(request: Request, platform: PlatformDep, seat: ReviewerSeat,
                 manifest_url: Annotated[str, Form(max_length=2000)] = "",
                 note: Annotated[str, Form(max_length=1000)] = "", csrf: Csrf = ""):  # fmt: skip
    check_csrf(request, csrf)
    _ = seat.viewer.gettext
    row = platform.directory.trust_manifest(manifest_url, note.strip())
    return _done(request, _("Now trusting certificates from %(issuer)s.") % row, "/console/review/issuers")


@router.post("/issuers/distrust")
def review_distrust(request: Request, platform: PlatformDep, seat: ReviewerSeat,
                    issuer: Annotated[str, Form(max_length=500)] = "", csrf: Csrf = ""):  # fmt: skip
    check_csrf(request, csrf)
    _ = seat.viewer.gettext
    platform.directory.distrust(issuer)
    return _done(request, _("No longer trusting %(issuer)s.") % {"issuer": issuer}, "/console/review/issuers")


@router.get("/decisions", response_class=HTMLResponse)
def review_decisions(request: Request, platform: PlatformDep, seat: ReviewerSeat, query: ListDep):
    page = platform.developers.decisions_page(query)
    return render_list(request, seat, "console/review/decisions.html", "console/review/_decisions_table.html",
                       page, outcomes=DECISION_OUTCOMES, appeal_states=list(APPEAL_STATES),
                       rules=sorted(platform.policy.rules))  # fmt: skip
