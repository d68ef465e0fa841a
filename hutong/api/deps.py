"""What routes depend on: the services (from the app built by the composition root), who is calling, and
the shared error documentation. Routes take these as ``Annotated`` parameters and stay thin."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Path, Request

from hutong.api import schemas
from hutong.app import Hutong
from hutong.errors import PlatformError
from hutong.platform import Platform
from hutong.platform.accounts import AccountView

MAX_ID = 2**63 - 1  # database integers: a larger id is bad input (422), not a crash


def get_hutong(request: Request) -> Hutong:
    return request.app.state.hutong


def get_platform(request: Request) -> Platform:
    return request.app.state.hutong.platform


HutongDep = Annotated[Hutong, Depends(get_hutong)]
PlatformDep = Annotated[Platform, Depends(get_platform)]
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]


def bearer_token(authorization: str | None) -> str:
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return ""


def api_account(platform: PlatformDep, authorization: Annotated[str | None, Header()] = None) -> AccountView:
    """The account behind a session token (``POST /api/session``)."""
    token = bearer_token(authorization)
    if not token:
        raise PlatformError("send 'Authorization: Bearer <token>' (POST /api/session gives one)", 401)
    account = platform.accounts.by_api_token(token)
    if account is None:
        raise PlatformError("the token is unknown or expired", 401)
    return account


Caller = Annotated[AccountView, Depends(api_account)]


@dataclass(frozen=True)
class AppCaller:
    """An app acting for one of this platform's users, with an OAuth access token."""

    client_id: str
    account_id: int


def app_acting_for_user(scope: str):
    def dependency(platform: PlatformDep, authorization: Annotated[str | None, Header()] = None) -> AppCaller:
        token = bearer_token(authorization)
        found = platform.oauth.bearer(token) if token else None
        if found is None:
            raise PlatformError(
                "send 'Authorization: Bearer <access token>' from this platform's OAuth server", 401
            )
        tok, user = found
        if scope not in tok.scope.split():
            raise PlatformError(f"the access token lacks the {scope} scope", 403)
        if user is None:
            raise PlatformError("this API acts for a user: use a token from the authorization code flow", 403)
        return AppCaller(tok.client_id, user.id)

    return dependency


def errors(*statuses: int) -> dict:
    """OpenAPI entries for the error statuses a route can answer; every error body is ``ErrorOut``. Any
    route may answer 413: the body limit applies to all of them."""
    return {status: {"model": schemas.ErrorOut} for status in (400, 413, 422, *statuses)}
