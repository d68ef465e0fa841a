"""Pages for people: sign-up, login, the user's grants, share confirmation."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

import structlog
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from hutong.api.deps import PlatformDep
from hutong.api.web import check_csrf, error_page, local_next, page, session_user, sign_in
from hutong.errors import PlatformError

router = APIRouter(include_in_schema=False)
log = structlog.get_logger("hutong.api")
Csrf = Annotated[str, Form(max_length=100)]


@router.get("/", response_class=HTMLResponse)
def home(request: Request, platform: PlatformDep):
    return page(request, "home.html", policy_version=platform.policy.version)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, platform: PlatformDep, next: str = "/"):
    return page(request, "login.html", next=local_next(next), idps=platform.directory.idps())


@router.post("/login")
def login(request: Request, platform: PlatformDep, username: Annotated[str, Form(max_length=64)] = "",
          password: Annotated[str, Form(max_length=1024)] = "", csrf: Csrf = "",
          next: Annotated[str, Form(max_length=4000)] = "/"):  # fmt: skip
    check_csrf(request, csrf)
    account = platform.accounts.authenticate(username, password)
    if account is None:
        log.info("login.failed", username=username[:64])
        return page(request, "login.html", status=401, next=local_next(next), error="Wrong username or password.",
                    idps=platform.directory.idps())  # fmt: skip
    sign_in(request, account.id)
    return RedirectResponse(local_next(next), status_code=303)


@router.get("/register", response_class=HTMLResponse)
def register_page(request: Request, next: str = "/"):
    return page(request, "register.html", next=local_next(next))


@router.post("/register")
def register(request: Request, platform: PlatformDep, username: Annotated[str, Form(max_length=64)] = "",
             password: Annotated[str, Form(max_length=1024)] = "", display_name: Annotated[str, Form(max_length=200)] = "",
             csrf: Csrf = "", next: Annotated[str, Form(max_length=4000)] = "/"):  # fmt: skip
    check_csrf(request, csrf)
    try:
        account = platform.accounts.register(username, password, display_name=display_name)
    except PlatformError as exc:
        return page(request, "register.html", status=exc.status, next=local_next(next), error=str(exc))
    sign_in(request, account.id)
    return RedirectResponse(local_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, csrf: Csrf = ""):
    check_csrf(request, csrf)
    request.session.clear()
    return RedirectResponse("/", status_code=303)


@router.get("/account/grants", response_class=HTMLResponse)
def grants_page(request: Request, platform: PlatformDep):
    user = session_user(request)
    if user is None:
        return RedirectResponse("/login?next=/account/grants", status_code=303)
    return page(request, "grants.html", grants=platform.oauth.grants_of(user.id))


@router.post("/account/grants/{client_id}/revoke")
def grants_revoke(request: Request, platform: PlatformDep, client_id: str, csrf: Csrf = ""):
    user = session_user(request)
    if user is None:
        raise PlatformError("log in first", 401)
    check_csrf(request, csrf)
    platform.oauth.revoke_grant(user.id, client_id)
    return RedirectResponse("/account/grants", status_code=303)


@router.get("/share/{share_id}", response_class=HTMLResponse)
def share_page(request: Request, platform: PlatformDep, share_id: str):
    user = session_user(request)
    if user is None:
        return RedirectResponse("/login?" + urlencode({"next": f"/share/{share_id}"}), status_code=303)
    try:
        view = platform.shares.for_user(share_id, user.id)
    except PlatformError as exc:
        return error_page(request, exc)
    return page(request, "share.html", share=view, app_name=platform.apps.name_of(view["client_id"]))


@router.post("/share/{share_id}", response_class=HTMLResponse)
def share_decide(request: Request, platform: PlatformDep, share_id: str, csrf: Csrf = "",
                 decision: Annotated[str, Form(max_length=10)] = ""):  # fmt: skip
    user = session_user(request)
    if user is None:
        raise PlatformError("log in first", 401)
    check_csrf(request, csrf)
    result = platform.shares.decide(share_id, user.id, confirm=decision == "confirm")
    return page(request, "share.html", share=result, app_name=platform.apps.name_of(result["client_id"]))
