"""Server-rendered pages: templates, the session's user, CSRF tokens, safe ``next`` targets."""

from __future__ import annotations

import secrets
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from hutong.errors import PlatformError
from hutong.platform.accounts import AccountView

WEB = Path(__file__).resolve().parent.parent / "web"
templates = Jinja2Templates(directory=WEB / "templates")


def session_user(request: Request) -> AccountView | None:
    uid = request.session.get("account_id")
    return request.app.state.hutong.platform.accounts.get(uid) if isinstance(uid, int) else None


def csrf_token(request: Request) -> str:
    if "csrf" not in request.session:
        request.session["csrf"] = secrets.token_urlsafe(24)
    return request.session["csrf"]


def check_csrf(request: Request, token: str) -> None:
    """Forms carry the token in a field; htmx requests in the ``X-CSRF-Token`` header."""
    token = token or request.headers.get("x-csrf-token", "")
    expected = request.session.get("csrf")
    if not expected or not secrets.compare_digest(expected, token or ""):
        raise PlatformError(
            "the form expired or did not come from this site (CSRF check failed): reload the page", 403
        )


def sign_in(request: Request, account_id: int) -> None:
    request.session.clear()  # a fresh session at login: no fixation
    request.session.update(account_id=account_id, csrf=secrets.token_urlsafe(24))


def page(request: Request, name: str, status: int = 200, **ctx) -> HTMLResponse:
    base = {
        "platform_name": request.app.state.hutong.settings.platform_name,
        "user": session_user(request),
        "csrf": csrf_token(request),
    }
    return templates.TemplateResponse(request, name, {**base, **ctx}, status_code=status)


def error_page(request: Request, exc: PlatformError) -> HTMLResponse:
    return page(request, "error.html", status=exc.status, message=str(exc))


def local_next(target: str | None) -> str:
    # only same-site paths: "//evil.example" and absolute URLs would make login an open redirect
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"
