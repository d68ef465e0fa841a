"""What every console page shares: who is looking (signed in, with which roles), in which language and
time zone, the role checks (done here, on the server, for every page), list parameters, and rendering
(whole pages, or only the part htmx asked for)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import Depends, Query, Request
from fastapi.responses import HTMLResponse

from hutong.api.deps import PlatformDep
from hutong.api.web import csrf_token, session_user, templates
from hutong.errors import PlatformError
from hutong.platform.accounts import AccountView
from hutong.platform.roles import Membership
from hutong.store.paging import ListQuery, Page
from hutong.web.i18n import LANGUAGES, Viewer, negotiate, zone

ROLE_HOME = {"holder": "/console/holder", "creator": "/console/creator", "reviewer": "/console/review",
             "developer": "/console/developer"}  # fmt: skip


class SignInRequired(Exception):
    """The page needs a signed-in person: answered with a redirect to the sign-in page."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class ConsoleRefusal(PlatformError):
    """A console page refused (wrong role, not yours, bad input): answered as an HTML page."""


def viewer_of(request: Request) -> Viewer:
    lang = negotiate(request.cookies.get("lang"), request.headers.get("accept-language"))
    return Viewer(lang, zone(request.cookies.get("tz")))


@dataclass(frozen=True)
class Seat:
    """A signed-in person at the console."""

    user: AccountView
    membership: Membership
    viewer: Viewer


def seat(request: Request, platform: PlatformDep) -> Seat:
    user = session_user(request)
    if user is None:
        raise SignInRequired(request.url.path)
    return Seat(user, platform.roles.of(user.id), viewer_of(request))


SeatDep = Annotated[Seat, Depends(seat)]


def role(name: str):
    """A dependency that lets only people with role ``name`` through (403 for everyone else signed in)."""

    def check(s: SeatDep) -> Seat:
        if name not in s.membership.roles:
            _ = s.viewer.gettext
            who = {"holder": _("rights holders"), "creator": _("creators"), "reviewer": _("platform reviewers"),
                   "developer": _("registered developers")}[name]  # fmt: skip
            raise ConsoleRefusal(
                _("This page is for %(who)s. Your account does not have that role.") % {"who": who}, 403
            )
        return s

    return Annotated[Seat, Depends(check)]


HolderSeat = role("holder")
CreatorSeat = role("creator")
ReviewerSeat = role("reviewer")
DeveloperSeat = role("developer")


def list_query(
    request: Request,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per: Annotated[int, Query(ge=5, le=200)] = 25,
    sort: Annotated[str, Query(max_length=32)] = "",
    dir: Annotated[Literal["asc", "desc"], Query()] = "asc",
    q: Annotated[str, Query(max_length=200)] = "",
) -> ListQuery:
    reserved = {"page", "per", "sort", "dir", "q"}
    filters = {k: v[:200] for k, v in request.query_params.items() if k not in reserved and v}
    return ListQuery(page, per, sort, dir == "desc", q, filters)


ListDep = Annotated[ListQuery, Depends(list_query)]


def list_url(path: str, query: ListQuery, **changes) -> str:
    """The address of the same list with some parameters changed (sort links, pages, filters)."""
    params = {"q": query.text, "sort": query.sort, "dir": "desc" if query.descending else "asc",
              "page": query.page, "per": query.per_page, **query.filters}  # fmt: skip
    params.update(changes)
    return path + "?" + urlencode({k: v for k, v in params.items() if v not in ("", None)})


def render(
    request: Request, s: Seat | None, template: str, *, status: int = 200, part: str | None = None, **ctx
) -> HTMLResponse:
    """The whole page, or only ``part`` when htmx asks for the element it swaps (``HX-Target``)."""
    viewer = s.viewer if s else viewer_of(request)
    target = request.headers.get("hx-target")
    if (
        part
        and request.headers.get("hx-request") == "true"
        and target
        and target in ctx.get("parts", (target,))
    ):
        template = part
    base = {
        "platform_name": request.app.state.hutong.settings.platform_name,
        "user": s.user if s else session_user(request),
        "membership": s.membership if s else None,
        "csrf": csrf_token(request),
        "viewer": viewer,
        "_": viewer.gettext,
        "languages": LANGUAGES,
        "role_home": ROLE_HOME,
        "path": request.url.path,
        "list_url": list_url,
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    }
    return templates.TemplateResponse(request, template, {**base, **ctx}, status_code=status)


def render_list(request: Request, s: Seat, template: str, part: str, page: Page, **ctx) -> HTMLResponse:
    return render(request, s, template, part=part, page=page, parts=("listing",), **ctx)
