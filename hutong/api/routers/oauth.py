"""OAuth 2.0 and OpenID Connect: discovery, authorization (login, consent), token, revocation,
introspection, userinfo. Authlib's server core does the protocol; this is its thin Starlette adapter."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl, urlencode, urlsplit

import structlog
from authlib.oauth2.rfc6749.errors import OAuth2Error
from fastapi import APIRouter, Header, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from hutong.api import schemas
from hutong.api.deps import HutongDep, PlatformDep, bearer_token
from hutong.api.web import check_csrf, error_page, page, session_user
from hutong.errors import PlatformError
from hutong.platform import Platform
from hutong.platform.oauth import Reply, user_info
from hutong.platform.oauth import Request as OAuthRequest

router = APIRouter(tags=["oauth"])
log = structlog.get_logger("hutong.api")
AUTH_PARAMS = ("response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge",
               "code_challenge_method", "prompt")  # fmt: skip
OAUTH_ERRORS = {400: {"model": schemas.OAuthErrorOut}, 401: {"model": schemas.OAuthErrorOut}}
FORM = {"requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}}}


async def form_items(request: Request) -> list[tuple[str, str]]:
    """The posted form's fields (text only). Urlencoded forms, every OAuth request, are parsed directly:
    cheaper than the multipart machinery on the token endpoint's hot path."""
    if request.method != "POST":
        return []
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        body = (await request.body()).decode("utf-8", errors="replace")
        try:
            return parse_qsl(body, keep_blank_values=True, max_num_fields=100)
        except ValueError:
            raise PlatformError("the form has too many fields", 400) from None
    return [(k, v) for k, v in (await request.form()).multi_items() if isinstance(v, str)]


async def oauth_request(
    request: Request, *, with_query: bool = True, form: list | None = None
) -> OAuthRequest:
    form = await form_items(request) if form is None else form
    query = list(request.query_params.multi_items()) if with_query else []
    return OAuthRequest(request.method, str(request.url), request.headers, query, form)


def respond(reply) -> Response:
    if isinstance(reply.body, dict):
        return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)
    return Response(reply.body or "", status_code=reply.status, headers=reply.headers)


def auth_error_page(request: Request, platform: Platform, exc: OAuth2Error) -> Response:
    if exc.redirect_uri:  # the client and its redirect URI were verified: tell the client
        return respond(platform.oauth.handle_error_response(None, exc))
    # unknown client or unregistered redirect URI: never redirect there (open redirector)
    return page(
        request, "error.html", status=400, message=f"{exc.error}: {exc.description or 'invalid request'}"
    )


@router.get("/.well-known/openid-configuration")
def discovery(h: HutongDep) -> schemas.DiscoveryOut:
    issuer = h.settings.issuer
    return schemas.DiscoveryOut(
        issuer=issuer,
        authorization_endpoint=f"{issuer}/oauth/authorize",
        token_endpoint=f"{issuer}/oauth/token",
        userinfo_endpoint=f"{issuer}/oauth/userinfo",
        jwks_uri=f"{issuer}/.well-known/jwks.json",
        revocation_endpoint=f"{issuer}/oauth/revoke",
        introspection_endpoint=f"{issuer}/oauth/introspect",
        scopes_supported=list(h.platform.policy.scopes),
        response_types_supported=["code"],
        response_modes_supported=["query"],
        grant_types_supported=["authorization_code", "refresh_token", "client_credentials"],
        subject_types_supported=["public"],
        id_token_signing_alg_values_supported=["RS256"],
        token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post", "none"],
        revocation_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post", "none"],
        introspection_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
        code_challenge_methods_supported=["S256"],
        claims_supported=[
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "name",
            "preferred_username",
        ],
        authorization_response_iss_parameter_supported=True,
        service_documentation=f"{issuer}/docs",
        op_policy_uri=f"{issuer}/policy/review",
    )


@router.get(
    "/oauth/authorize",
    response_class=HTMLResponse,
    responses={
        303: {"description": "to login, or back to the client with a code or an error"},
        400: {"description": "an error page: the client or its redirect URI is not verified"},
    },
)
async def authorize(request: Request, platform: PlatformDep):
    """Authorization endpoint: checks the request, logs the user in if needed, then asks for consent
    (``prompt=none``: answers the client at once, with a code or ``login_required`` / ``consent_required``)."""
    user = session_user(request)
    req = await oauth_request(request)
    try:
        step = platform.oauth.start_authorization(req, user.id if user else None)
    except OAuth2Error as exc:
        return auth_error_page(request, platform, exc)
    if step is None:
        target = "/oauth/authorize?" + urlencode(list(request.query_params.multi_items()))
        return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
    if isinstance(step, Reply):
        return respond(step)
    grant = step
    scopes = [
        {"name": sc, "description": platform.policy.scopes[sc].description}
        for sc in (req.scope or "").split() if sc in platform.policy.scopes
    ]  # fmt: skip
    params = [(k, v) for k, v in request.query_params.multi_items() if k in AUTH_PARAMS]
    who = platform.apps.publisher(grant.client.client_id)
    return page(request, "consent.html", app_name=grant.client.name, developer=who["developer"],
                developer_kind=who["developer_kind"], uscc=who["uscc"], scopes=scopes, params=params,
                redirect_host=urlsplit(grant.redirect_uri).netloc)  # fmt: skip


CONSENT_FORM = {"requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "properties": {"csrf": {"type": "string"}, "decision": {"enum": ["allow", "deny"]}}}}}}}  # fmt: skip


@router.post("/oauth/authorize", response_class=HTMLResponse, openapi_extra=CONSENT_FORM,
             responses={303: {"description": "back to the client with a code or an error"},
                        **{s: {"description": "an error page"} for s in (400, 401, 403)}})  # fmt: skip
async def authorize_decision(request: Request, platform: PlatformDep):
    """The consent page's form: the signed-in user allows or denies the app (CSRF-checked)."""
    user = session_user(request)
    try:
        items = await form_items(request)
        form = dict(items)
        if user is None:
            raise PlatformError("Log in first.", 401)
        check_csrf(request, form.get("csrf", ""))
    except PlatformError as exc:
        return error_page(request, exc)
    # only the authorization parameters the consent page carried; never the query string
    req = await oauth_request(request, with_query=False, form=[(k, v) for k, v in items if k in AUTH_PARAMS])
    grant_user = platform.oauth.user(user.id) if form.get("decision") == "allow" else None
    try:
        grant = platform.oauth.get_consent_grant(req, end_user=grant_user)
    except OAuth2Error as exc:
        return auth_error_page(request, platform, exc)
    log.info("oauth.consent", client=grant.client.client_id, allowed=grant_user is not None, user=user.id)
    return respond(platform.oauth.create_authorization_response(req, grant_user=grant_user, grant=grant))


@router.post("/oauth/token", response_model=None, openapi_extra=FORM,
             responses={200: {"model": schemas.TokenOut}, **OAUTH_ERRORS})  # fmt: skip
async def token(request: Request, platform: PlatformDep) -> Response:
    """Token endpoint: authorization_code (with code_verifier), refresh_token (rotating), client_credentials."""
    req = await oauth_request(request, with_query=False)
    # on the event loop: the work is a few milliseconds of CPU (SQLite, synchronous=NORMAL), and handing it to
    # the thread pool measured slower under load (the GIL passes between the loop and the worker)
    return respond(platform.oauth.create_token_response(req))


@router.post("/oauth/revoke", response_model=None, openapi_extra=FORM,
             responses={200: {"description": "revoked, or nothing to revoke (RFC 7009)"}, **OAUTH_ERRORS})  # fmt: skip
async def revoke(request: Request, platform: PlatformDep) -> Response:
    """RFC 7009: revoking a refresh token ends every token of its grant."""
    req = await oauth_request(request, with_query=False)
    return respond(platform.oauth.create_endpoint_response("revocation", req))


@router.post("/oauth/introspect", response_model=None, openapi_extra=FORM,
             responses={200: {"model": schemas.IntrospectionOut}, **OAUTH_ERRORS})  # fmt: skip
async def introspect(request: Request, platform: PlatformDep) -> Response:
    """RFC 7662, for the app that owns the token."""
    req = await oauth_request(request, with_query=False)
    return respond(platform.oauth.create_endpoint_response("introspection", req))


@router.get("/oauth/userinfo", response_model=None,
            responses={200: {"model": schemas.UserInfoOut}, 401: {"model": schemas.OAuthErrorOut},
                       403: {"model": schemas.OAuthErrorOut}})  # fmt: skip
def userinfo(platform: PlatformDep, authorization: Annotated[str | None, Header()] = None) -> Response:
    """OpenID Connect UserInfo for an access token with the openid scope."""
    token = bearer_token(authorization)
    found = platform.oauth.bearer(token) if token else None
    if found is None or found[1] is None:
        return JSONResponse({"error": "invalid_token"}, status_code=401,
                            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})  # fmt: skip
    tok, user = found
    if "openid" not in tok.scope.split():
        return JSONResponse({"error": "insufficient_scope"}, status_code=403,
                            headers={"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="openid"'})  # fmt: skip
    return JSONResponse(dict(user_info(user, tok.scope)))
