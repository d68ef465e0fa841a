"""Sign-in, the console's home (one card per role the person has), the language switch, sign-out."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from hutong.api.console import Seat, render, viewer_of
from hutong.api.deps import PlatformDep
from hutong.api.web import check_csrf, local_next, session_user, sign_in
from hutong.web.i18n import LANGUAGES

router = APIRouter(prefix="/console", include_in_schema=False)
log = structlog.get_logger("hutong.console")
Csrf = Annotated[str, Form(max_length=100)]
ONE_YEAR = 365 * 24 * 3600


def _console_next(target: str | None) -> str:
    target = local_next(target)
    return target if target.startswith("/console") else "/console"


@router.get("", response_class=HTMLResponse)
def console_home(request: Request, platform: PlatformDep, next: str = ""):
    user = session_user(request)
    if user is None:  # a fresh visitor gets the sign-in page right here
        return render(request, None, "console/sign_in.html", next=_console_next(next))
    seat = Seat(user, platform.roles.of(user.id), viewer_of(request))
    return render(request, seat, "console/home.html")


@router.post("/login", response_class=HTMLResponse)
def console_login(request: Request, platform: PlatformDep, username: Annotated[str, Form(max_length=64)] = "",
                  password: Annotated[str, Form(max_length=1024)] = "", csrf: Csrf = "",
                  next: Annotated[str, Form(max_length=4000)] = "/console"):  # fmt: skip
    check_csrf(request, csrf)
    account = platform.accounts.authenticate(username, password)
    if account is None:
        log.info("console.login_failed", username=username[:64])
        viewer = viewer_of(request)
        return render(request, None, "console/sign_in.html", status=401, next=_console_next(next),
                      error=viewer.gettext("Wrong username or password."), username=username)  # fmt: skip
    sign_in(request, account.id)
    return RedirectResponse(_console_next(next), status_code=303)


@router.post("/logout")
def console_logout(request: Request, csrf: Csrf = ""):
    check_csrf(request, csrf)
    request.session.clear()
    return RedirectResponse("/console", status_code=303)


@router.post("/language")
def console_language(request: Request, lang: Annotated[str, Form(max_length=10)] = "", csrf: Csrf = "",
                     next: Annotated[str, Form(max_length=4000)] = "/console"):  # fmt: skip
    check_csrf(request, csrf)
    response = RedirectResponse(_console_next(next), status_code=303)
    if lang in LANGUAGES:
        secure = request.app.state.hutong.settings.issuer.startswith("https://")
        response.set_cookie("lang", lang, max_age=ONE_YEAR, samesite="lax", httponly=True, secure=secure)
    return response
