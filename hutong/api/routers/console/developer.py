"""The developer portal: joining as a developer, apps (redirect URIs, the review of each requested scope,
secret rotation), each app's webhook delivery log with redelivery, and this platform's interconnection
manifest. Every app is looked up through its owner: another developer's app is a 404."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from hutong.api.console import DeveloperSeat, ListDep, Seat, SeatDep, render, render_list
from hutong.api.deps import HutongDep, PlatformDep
from hutong.api.web import check_csrf
from hutong.errors import PlatformError
from hutong.platform.interconnect import signed_manifest

router = APIRouter(prefix="/console/developer", include_in_schema=False)
Csrf = Annotated[str, Form(max_length=100)]
ClientId = Annotated[str, Path(max_length=64)]
NO_STORE = {"Cache-Control": "no-store"}  # pages that show a secret once are not kept by the browser


def _done(request: Request, notice: str, to: str) -> RedirectResponse:
    request.session["notice"] = notice
    return RedirectResponse(to, status_code=303)


def _notice(request: Request) -> str:
    return request.session.pop("notice", "")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


@router.get("")
def developer_home(seat: DeveloperSeat):
    return RedirectResponse("/console/developer/apps", status_code=303)


@router.get("/join", response_class=HTMLResponse)
def developer_join(request: Request, seat: SeatDep):
    if seat.membership.developer:
        return RedirectResponse("/console/developer/apps", status_code=303)
    return render(request, seat, "console/developer/join.html", display_name=seat.user.display_name)


@router.post("/join", response_class=HTMLResponse)
def developer_register(request: Request, platform: PlatformDep, seat: SeatDep,
                       display_name: Annotated[str, Form(max_length=400)] = "", csrf: Csrf = ""):  # fmt: skip
    check_csrf(request, csrf)
    _ = seat.viewer.gettext
    try:
        dev = platform.developers.register_individual(seat.user.id, display_name)
    except PlatformError as exc:
        return render(request, seat, "console/developer/join.html", status=exc.status, error=str(exc),
                      display_name=display_name)  # fmt: skip
    if dev["status"] == "verified":
        said = _("Welcome, %(name)s: you are a verified developer. Register your first app.")
    else:
        said = _("Registered as %(name)s; the review decision is below.")
    return _done(request, said % {"name": dev["display_name"]}, "/console/developer/apps")


@router.get("/apps", response_class=HTMLResponse)
def developer_apps(request: Request, platform: PlatformDep, seat: DeveloperSeat, query: ListDep):
    page = platform.apps.page_of_account(seat.user.id, query)
    return render_list(request, seat, "console/developer/apps.html", "console/developer/_apps_table.html", page,
                       developer=platform.developers.mine(seat.user.id),
                       decisions=platform.developers.decisions(seat.user.id), notice=_notice(request))  # fmt: skip


def _new_form(request: Request, platform, seat: Seat, *, status: int = 200, error: str = "", **values):
    return render(request, seat, "console/developer/new_app.html", status=status, error=error,
                  scopes=platform.policy.scopes, values=values)  # fmt: skip


@router.get("/apps/new", response_class=HTMLResponse)
def developer_new_app(request: Request, platform: PlatformDep, seat: DeveloperSeat):
    return _new_form(request, platform, seat, client_type="confidential", scopes_chosen=["openid"])


@router.post("/apps", response_class=HTMLResponse)
def developer_create_app(
    request: Request, platform: PlatformDep, seat: DeveloperSeat,
    name: Annotated[str, Form(max_length=400)] = "",
    client_type: Annotated[Literal["confidential", "public"], Form()] = "confidential",
    redirect_uris: Annotated[str, Form(max_length=25000)] = "",
    scopes: Annotated[list[str], Form(max_length=50)] = [],  # noqa: B006 - FastAPI copies defaults
    privacy_policy_url: Annotated[str, Form(max_length=2000)] = "",
    webhook_url: Annotated[str, Form(max_length=2000)] = "",
    csrf: Csrf = "",
):  # fmt: skip
    check_csrf(request, csrf)
    values = dict(name=name, client_type=client_type, redirect_uris=redirect_uris, scopes_chosen=scopes,
                  privacy_policy_url=privacy_policy_url, webhook_url=webhook_url)  # fmt: skip
    try:
        dev_id = platform.developers.verified_developer_id(seat.user.id)
        view, secret = platform.apps.register(
            dev_id, name=name, client_type=client_type, redirect_uris=_lines(redirect_uris), scopes=scopes,
            privacy_policy_url=privacy_policy_url.strip(), webhook_url=webhook_url,
        )  # fmt: skip
    except PlatformError as exc:
        return _new_form(request, platform, seat, status=exc.status, error=str(exc), **values)
    _ = seat.viewer.gettext
    return _app_page(request, platform, seat, view["client_id"], status=201, secret=secret,
                     webhook_secret=view.get("webhook_secret"), notice=_("App registered."))  # fmt: skip


def _app_page(request: Request, platform, seat: Seat, client_id: str, *, status: int = 200, **ctx):
    app = platform.apps.owned(seat.user.id, client_id)
    response = render(request, seat, "console/developer/app.html", status=status, app=app,
                      scopes=platform.policy.scopes, **ctx)  # fmt: skip
    if ctx.get("secret") or ctx.get("webhook_secret"):
        response.headers.update(NO_STORE)
    return response


@router.get("/apps/{client_id}", response_class=HTMLResponse)
def developer_app(request: Request, client_id: ClientId, platform: PlatformDep, seat: DeveloperSeat):
    return _app_page(request, platform, seat, client_id, notice=_notice(request))


@router.post("/apps/{client_id}/redirects", response_class=HTMLResponse)
def developer_redirects(request: Request, client_id: ClientId, platform: PlatformDep, seat: DeveloperSeat,
                        redirect_uris: Annotated[str, Form(max_length=25000)] = "", csrf: Csrf = ""):  # fmt: skip
    check_csrf(request, csrf)
    try:
        platform.apps.set_redirect_uris(seat.user.id, client_id, _lines(redirect_uris))
    except PlatformError as exc:
        if exc.status == 404:
            raise
        return _app_page(request, platform, seat, client_id, status=exc.status, error=str(exc),
                         redirect_text=redirect_uris)  # fmt: skip
    _ = seat.viewer.gettext
    return _done(request, _("Redirect URIs saved."), f"/console/developer/apps/{client_id}")


@router.post("/apps/{client_id}/secret", response_class=HTMLResponse)
def developer_rotate(request: Request, client_id: ClientId, platform: PlatformDep, seat: DeveloperSeat,
                     csrf: Csrf = ""):  # fmt: skip
    check_csrf(request, csrf)
    secret = platform.apps.rotate_secret(seat.user.id, client_id)
    _ = seat.viewer.gettext
    return _app_page(request, platform, seat, client_id, secret=secret,
                     notice=_("A new client secret was made; the old one no longer works."))  # fmt: skip


@router.get("/apps/{client_id}/webhooks", response_class=HTMLResponse)
def developer_webhooks(request: Request, client_id: ClientId, platform: PlatformDep, seat: DeveloperSeat,
                       query: ListDep):  # fmt: skip
    app = platform.apps.owned(seat.user.id, client_id)
    page = platform.webhooks.deliveries_page(client_id, query)
    return render_list(request, seat, "console/developer/webhooks.html", "console/developer/_webhooks_table.html",
                       page, app=app, notice=_notice(request))  # fmt: skip


@router.post("/apps/{client_id}/webhooks/test")
def developer_webhook_test(request: Request, client_id: ClientId, platform: PlatformDep, seat: DeveloperSeat,
                           csrf: Csrf = ""):  # fmt: skip
    check_csrf(request, csrf)
    platform.apps.require_owned(seat.user.id, client_id)
    n = platform.webhooks.send_test(client_id)
    _ = seat.viewer.gettext
    return _done(
        request,
        _("Test delivery %(id)s queued.") % {"id": n},
        f"/console/developer/apps/{client_id}/webhooks",
    )


@router.post("/apps/{client_id}/webhooks/{delivery_id}/redeliver")
def developer_redeliver(request: Request, client_id: ClientId, delivery_id: int, platform: PlatformDep,
                        seat: DeveloperSeat, csrf: Csrf = ""):  # fmt: skip
    check_csrf(request, csrf)
    platform.apps.require_owned(seat.user.id, client_id)
    n = platform.webhooks.redeliver(client_id, delivery_id)
    _ = seat.viewer.gettext
    said = _("Delivery %(id)s is sent again as delivery %(new)s.") % {"id": delivery_id, "new": n}
    return _done(request, said, f"/console/developer/apps/{client_id}/webhooks")


@router.get("/manifest", response_class=HTMLResponse)
def developer_manifest(request: Request, h: HutongDep, seat: DeveloperSeat):
    p = h.platform
    signed = signed_manifest(h.settings, p.directory, h.compliance.keyring, p.policy.version)
    return render(request, seat, "console/developer/manifest.html", manifest=signed["manifest"],
                  signature=signed["signature"])  # fmt: skip
