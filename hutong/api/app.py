"""``hutong serve``: the platform over HTTP (FastAPI). Pages for people, a JSON API for programs, OAuth 2.0
and OpenID Connect for apps. OpenAPI at /docs and /openapi.json."""

import hashlib
import json
import secrets
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode, urlsplit

import httpx
import structlog
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi import Depends, FastAPI, Form, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select
from starlette.middleware.sessions import SessionMiddleware

from hutong.api import schemas
from hutong.api.limits import BodyLimit
from hutong.app import Hutong
from hutong.errors import HutongError, PlatformError
from hutong.platform import Platform
from hutong.platform.accounts import AccountView
from hutong.platform.interconnect import signed_manifest
from hutong.platform.oauth import Request as OAuthRequest
from hutong.platform.oauth import user_info
from hutong.platform.webhooks import Worker
from hutong.store import App, Developer

WEB = Path(__file__).resolve().parent.parent / "web"
log = structlog.get_logger("hutong.api")
AUTH_PARAMS = ("response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge",
               "code_challenge_method", "prompt")  # fmt: skip


def _session_secret(h: Hutong) -> str:
    path = h.settings.keys_dir / "session.key"
    if not path.exists():
        from hutong.store.keys import write_private

        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(path, secrets.token_urlsafe(48))
    return path.read_text().strip()


def _own_status(h: Hutong):
    def status(jti: str) -> dict | None:
        try:
            return h.compliance.status_claims(jti)
        except HutongError:
            return None  # not one of ours: the caller reports it as unknown

    return status


def _recogniser(h: Hutong):
    def recognise(path: Path) -> list[str]:
        return sorted({f"《{seg.work_title}》" for seg in h.recognizer.match(path).segments})

    return recognise


def create_app(h: Hutong) -> FastAPI:
    platform = Platform.create(
        h.settings, h.db, own_jwks=h.compliance.jwks, own_status=_own_status(h), recognise=_recogniser(h)
    )
    issuer = h.settings.issuer
    worker = Worker(platform.webhooks, chores=[(600, platform.ingest.cleanup)])  # stale uploads, every 10 min

    @asynccontextmanager
    async def lifespan(_app):
        worker.start()
        try:
            yield
        finally:
            worker.stop()

    app = FastAPI(
        lifespan=lifespan,
        title=f"{h.settings.platform_name} open platform",
        version="1",
        description="Developer onboarding, apps, OAuth 2.0 / OpenID Connect, certificate keys and status. "
        "See docs/platform.md.",
    )
    app.state.hutong, app.state.platform = h, platform
    part_limit = h.settings.ingest_part_bytes + 4096
    app.add_middleware(
        BodyLimit,
        max_bytes=h.settings.max_body_bytes,
        overrides={"/open/video/upload_video_part": part_limit},
    )
    # cookies are per host, not per port: name the session after the issuer so two platforms on one host coexist
    cookie = "hutong_" + hashlib.sha256(issuer.encode()).hexdigest()[:10]
    app.add_middleware(
        SessionMiddleware, secret_key=_session_secret(h), session_cookie=cookie, same_site="lax",
        https_only=issuer.startswith("https://"), max_age=8 * 3600,
    )  # fmt: skip
    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")
    templates = Jinja2Templates(directory=WEB / "templates")

    # -- errors ----------------------------------------------------------------------------------

    @app.exception_handler(PlatformError)
    async def _platform_error(request: Request, exc: PlatformError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"error": "refused", "detail": str(exc)}, status_code=exc.status, headers=headers)

    @app.exception_handler(HutongError)
    async def _hutong_error(request: Request, exc: HutongError):
        return JSONResponse({"error": "bad_request", "detail": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        parts = []
        for e in exc.errors()[:5]:
            where = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            parts.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
        return JSONResponse({"error": "invalid_request", "detail": "; ".join(parts)}, status_code=422)

    # -- who is calling --------------------------------------------------------------------------

    def api_account(authorization: Annotated[str | None, Header()] = None) -> AccountView:
        if not authorization or not authorization.startswith("Bearer "):
            raise PlatformError("send 'Authorization: Bearer <token>' (POST /api/session gives one)", 401)
        account = platform.accounts.by_api_token(authorization[7:].strip())
        if account is None:
            raise PlatformError("the token is unknown or expired", 401)
        return account

    Caller = Annotated[AccountView, Depends(api_account)]

    def session_user(request: Request) -> AccountView | None:
        uid = request.session.get("account_id")
        return platform.accounts.get(uid) if isinstance(uid, int) else None

    def csrf_token(request: Request) -> str:
        if "csrf" not in request.session:
            request.session["csrf"] = secrets.token_urlsafe(24)
        return request.session["csrf"]

    def check_csrf(request: Request, token: str) -> None:
        expected = request.session.get("csrf")
        if not expected or not secrets.compare_digest(expected, token or ""):
            raise PlatformError(
                "the form expired or did not come from this site (CSRF check failed): reload the page", 403
            )

    def page(request: Request, name: str, status: int = 200, **ctx) -> HTMLResponse:
        base = {
            "platform_name": h.settings.platform_name,
            "user": session_user(request),
            "csrf": csrf_token(request),
        }
        return templates.TemplateResponse(request, name, {**base, **ctx}, status_code=status)

    def local_next(target: str | None) -> str:
        # only same-site paths: "//evil.example" and absolute URLs would make login an open redirect
        if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
            return target
        return "/"

    # -- public documents ------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request):
        return page(request, "home.html", policy_version=platform.policy.version)

    @app.get("/policy/review", response_class=PlainTextResponse, tags=["public"])
    def review_policy():
        """The review policy applied to every developer and app, as published (TOML)."""
        return PlainTextResponse(platform.policy_text, headers={"X-Policy-Version": platform.policy.version})

    @app.get("/policy/review.json", tags=["public"])
    def review_policy_json() -> dict:
        return json.loads(platform.policy.model_dump_json())

    @app.get("/.well-known/openid-configuration", tags=["oauth"])
    def discovery() -> dict:
        return {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/oauth/authorize",
            "token_endpoint": f"{issuer}/oauth/token",
            "userinfo_endpoint": f"{issuer}/oauth/userinfo",
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "revocation_endpoint": f"{issuer}/oauth/revoke",
            "introspection_endpoint": f"{issuer}/oauth/introspect",
            "scopes_supported": list(platform.policy.scopes),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": [
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
            "authorization_response_iss_parameter_supported": True,
            "service_documentation": f"{issuer}/docs",
            "op_policy_uri": f"{issuer}/policy/review",
        }

    @app.get("/.well-known/jwks.json", tags=["public"])
    def jwks() -> dict:
        """Every public key of this issuer: RS256 for ID tokens, Ed25519 for licence certificates."""
        oidc = platform.oauth.id_keys.jwks()["keys"]
        return {"issuer": issuer, "keys": oidc + h.compliance.jwks()["keys"]}

    @app.get("/certificates/status", response_class=PlainTextResponse, tags=["certificates"])
    def certificates_status():
        """Signed list of revoked licence certificates (valid for a day)."""
        return PlainTextResponse(h.compliance.status_document(), media_type="application/jwt")

    @app.get("/certificates/{jti}/status", response_class=PlainTextResponse, tags=["certificates"])
    def certificate_status(jti: str):
        """Signed status of one certificate."""
        if len(jti) > 64:
            raise PlatformError("no such certificate", 404)
        try:
            return PlainTextResponse(h.compliance.status_document(jti), media_type="application/jwt")
        except HutongError:
            raise PlatformError(f"no certificate {jti}", 404) from None

    # -- pages: accounts -------------------------------------------------------------------------

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request, next: str = "/"):
        return page(request, "login.html", next=local_next(next), idps=platform.directory.idps())

    @app.post("/login", include_in_schema=False)
    def login(request: Request, username: Annotated[str, Form(max_length=64)] = "", password: Annotated[str, Form(max_length=1024)] = "",
              csrf: Annotated[str, Form(max_length=100)] = "", next: Annotated[str, Form(max_length=4000)] = "/"):  # fmt: skip
        check_csrf(request, csrf)
        account = platform.accounts.authenticate(username, password)
        if account is None:
            log.info("login.failed", username=username[:64])
            return page(
                request, "login.html", status=401, next=local_next(next), error="Wrong username or password."
            )
        request.session.clear()  # a fresh session at login: no fixation
        request.session.update(account_id=account.id, csrf=secrets.token_urlsafe(24))
        return RedirectResponse(local_next(next), status_code=303)

    @app.get("/register", response_class=HTMLResponse, include_in_schema=False)
    def register_page(request: Request, next: str = "/"):
        return page(request, "register.html", next=local_next(next))

    @app.post("/register", include_in_schema=False)
    def register(request: Request, username: Annotated[str, Form(max_length=64)] = "", password: Annotated[str, Form(max_length=1024)] = "",
                 display_name: Annotated[str, Form(max_length=200)] = "", csrf: Annotated[str, Form(max_length=100)] = "",
                 next: Annotated[str, Form(max_length=4000)] = "/"):  # fmt: skip
        check_csrf(request, csrf)
        try:
            account = platform.accounts.register(username, password, display_name=display_name)
        except PlatformError as exc:
            return page(request, "register.html", status=exc.status, next=local_next(next), error=str(exc))
        request.session.clear()
        request.session.update(account_id=account.id, csrf=secrets.token_urlsafe(24))
        return RedirectResponse(local_next(next), status_code=303)

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request, csrf: Annotated[str, Form(max_length=100)] = ""):
        check_csrf(request, csrf)
        request.session.clear()
        return RedirectResponse("/", status_code=303)

    # -- OAuth 2.0 / OpenID Connect --------------------------------------------------------------

    async def oauth_request(request: Request, *, with_query: bool = True) -> OAuthRequest:
        form = list((await request.form()).multi_items()) if request.method == "POST" else []
        query = list(request.query_params.multi_items()) if with_query else []
        form = [(k, v) for k, v in form if isinstance(v, str)]
        return OAuthRequest(
            request.method, str(request.url), request.headers, query, form
        )  # case-insensitive

    def respond(reply) -> Response:
        if isinstance(reply.body, dict):
            return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)
        return Response(reply.body or "", status_code=reply.status, headers=reply.headers)

    def auth_error_page(request: Request, exc: OAuth2Error) -> Response:
        if exc.redirect_uri:  # the client and its redirect URI were verified: tell the client
            return respond(platform.oauth.handle_error_response(None, exc))
        # unknown client or unregistered redirect URI: never redirect there (open redirector)
        return page(
            request, "error.html", status=400, message=f"{exc.error}: {exc.description or 'invalid request'}"
        )

    @app.get("/oauth/authorize", response_class=HTMLResponse, tags=["oauth"])
    async def authorize(request: Request):
        """Authorization endpoint: logs the user in if needed, then asks for consent."""
        user = session_user(request)
        if user is None:
            target = "/oauth/authorize?" + urlencode(list(request.query_params.multi_items()))
            return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
        req = await oauth_request(request)
        try:
            grant = platform.oauth.get_consent_grant(req, end_user=platform.oauth.user(user.id))
        except OAuth2Error as exc:
            return auth_error_page(request, exc)
        with h.db.session() as s:
            app_row = s.execute(select(App).where(App.client_id == grant.client.client_id)).scalar_one()
            dev = s.get(Developer, app_row.developer_id)
            developer, kind, uscc = dev.display_name, dev.kind, dev.uscc
        scopes = [
            {"name": sc, "description": platform.policy.scopes[sc].description}
            for sc in (req.scope or "").split() if sc in platform.policy.scopes
        ]  # fmt: skip
        params = [(k, v) for k, v in request.query_params.multi_items() if k in AUTH_PARAMS]
        return page(
            request, "consent.html", app_name=grant.client.name, developer=developer, developer_kind=kind, uscc=uscc,
            scopes=scopes, params=params, redirect_host=urlsplit(grant.redirect_uri).netloc,
        )  # fmt: skip

    @app.post("/oauth/authorize", include_in_schema=False)
    async def authorize_decision(request: Request):
        user = session_user(request)
        if user is None:
            raise PlatformError("log in first", 401)
        form = await request.form()
        check_csrf(request, str(form.get("csrf", "")))
        req = await oauth_request(request, with_query=False)
        req.payload = type(req.payload)(
            [(k, v) for k, v in form.multi_items() if k in AUTH_PARAMS and isinstance(v, str)]
        )
        grant_user = platform.oauth.user(user.id) if form.get("decision") == "allow" else None
        try:
            grant = platform.oauth.get_consent_grant(req, end_user=grant_user)
        except OAuth2Error as exc:
            return auth_error_page(request, exc)
        log.info("oauth.consent", client=grant.client.client_id, allowed=grant_user is not None, user=user.id)
        return respond(platform.oauth.create_authorization_response(req, grant_user=grant_user, grant=grant))

    @app.post("/oauth/token", tags=["oauth"])
    async def token(request: Request):
        """Token endpoint: authorization_code (with code_verifier), refresh_token (rotating), client_credentials."""
        return respond(platform.oauth.create_token_response(await oauth_request(request, with_query=False)))

    @app.post("/oauth/revoke", tags=["oauth"])
    async def revoke(request: Request):
        """RFC 7009: revoking a refresh token ends every token of its grant."""
        return respond(
            platform.oauth.create_endpoint_response(
                "revocation", await oauth_request(request, with_query=False)
            )
        )

    @app.post("/oauth/introspect", tags=["oauth"])
    async def introspect(request: Request):
        """RFC 7662, for the app that owns the token."""
        return respond(
            platform.oauth.create_endpoint_response(
                "introspection", await oauth_request(request, with_query=False)
            )
        )

    @app.get("/oauth/userinfo", tags=["oauth"])
    def userinfo(authorization: Annotated[str | None, Header()] = None):
        """OpenID Connect UserInfo for an access token with the openid scope."""
        found = (
            platform.oauth.bearer(authorization[7:].strip())
            if authorization and authorization.startswith("Bearer ")
            else None
        )
        if found is None or found[1] is None:
            return JSONResponse(
                {"error": "invalid_token"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        tok, user = found
        if "openid" not in tok.scope.split():
            return JSONResponse(
                {"error": "insufficient_scope"},
                status_code=403,
                headers={"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="openid"'},
            )
        return dict(user_info(user, tok.scope))

    # -- pages: the user's grants ----------------------------------------------------------------

    @app.get("/account/grants", response_class=HTMLResponse, include_in_schema=False)
    def grants_page(request: Request):
        user = session_user(request)
        if user is None:
            return RedirectResponse("/login?next=/account/grants", status_code=303)
        return page(request, "grants.html", grants=platform.oauth.grants_of(user.id))

    @app.post("/account/grants/{client_id}/revoke", include_in_schema=False)
    def grants_revoke(request: Request, client_id: str, csrf: Annotated[str, Form(max_length=100)] = ""):
        user = session_user(request)
        if user is None:
            raise PlatformError("log in first", 401)
        check_csrf(request, csrf)
        platform.oauth.revoke_grant(user.id, client_id)
        return RedirectResponse("/account/grants", status_code=303)

    # -- JSON API --------------------------------------------------------------------------------

    @app.post(
        "/api/accounts",
        status_code=201,
        tags=["accounts"],
        responses={409: {"model": schemas.ErrorOut}, 422: {"model": schemas.ErrorOut}},
    )
    def api_register(body: schemas.AccountIn) -> dict:
        return platform.accounts.register(
            body.username, body.password, display_name=body.display_name, email=body.email
        ).as_dict()

    @app.post("/api/session", tags=["accounts"], responses={401: {"model": schemas.ErrorOut}})
    def api_session(body: schemas.SessionIn) -> schemas.SessionOut:
        account = platform.accounts.authenticate(body.username, body.password)
        if account is None:
            raise PlatformError("wrong username or password", 401)
        token, ttl = platform.accounts.issue_api_token(account.id)
        return schemas.SessionOut(token=token, expires_in=ttl)

    @app.get("/api/me", tags=["accounts"], responses={401: {"model": schemas.ErrorOut}})
    def api_me(me: Caller) -> dict:
        return me.as_dict()

    @app.post(
        "/api/developers",
        status_code=201,
        tags=["developers"],
        responses={
            401: {"model": schemas.ErrorOut},
            409: {"model": schemas.ErrorOut},
            422: {"model": schemas.ErrorOut},
        },
    )
    def api_developer(body: schemas.DeveloperIn, me: Caller) -> dict:
        """Register as a developer. Enterprise data is checked, encrypted and reviewed under /policy/review."""
        if body.kind == "individual":
            return platform.developers.register_individual(me.id, body.display_name)
        if body.route is None:
            raise PlatformError(
                "route: required for an enterprise (resident_id, attestation or micro_deposit)", 422
            )
        return platform.developers.register_enterprise(
            me.id, display_name=body.display_name, company_name=body.company_name, uscc=body.uscc, route=body.route,
            legal_rep_name=body.legal_rep_name, legal_rep_id=body.legal_rep_id, attestation=body.attestation,
            bank_account=body.bank_account,
        )  # fmt: skip

    @app.get(
        "/api/developers/me",
        tags=["developers"],
        responses={401: {"model": schemas.ErrorOut}, 404: {"model": schemas.ErrorOut}},
    )
    def api_developer_me(me: Caller) -> dict:
        return platform.developers.mine(me.id)

    @app.get(
        "/api/developers/me/decisions",
        tags=["developers"],
        responses={401: {"model": schemas.ErrorOut}, 404: {"model": schemas.ErrorOut}},
    )
    def api_decisions(me: Caller) -> dict:
        """Every review decision about you and your apps, with the policy version and rule."""
        return {
            "policy": f"{issuer}/policy/review",
            "decisions": [d.as_dict() for d in platform.developers.decisions(me.id)],
        }

    @app.post(
        "/api/developers/me/decisions/{decision_id}/appeal",
        tags=["developers"],
        responses={
            401: {"model": schemas.ErrorOut},
            404: {"model": schemas.ErrorOut},
            409: {"model": schemas.ErrorOut},
        },
    )
    def api_appeal(decision_id: int, body: schemas.AppealIn, me: Caller) -> dict:
        return platform.developers.appeal(me.id, decision_id, body.text).as_dict()

    @app.post(
        "/api/developers/me/deposit",
        tags=["developers"],
        responses={
            401: {"model": schemas.ErrorOut},
            409: {"model": schemas.ErrorOut},
            422: {"model": schemas.ErrorOut},
        },
    )
    def api_deposit(body: schemas.DepositIn, me: Caller) -> dict:
        """Confirm the micro-deposit's amount (in fen)."""
        return platform.developers.confirm_deposit(me.id, body.amount_cents)

    @app.delete(
        "/api/developers/me/legal-representative",
        tags=["developers"],
        responses={
            401: {"model": schemas.ErrorOut},
            404: {"model": schemas.ErrorOut},
            409: {"model": schemas.ErrorOut},
        },
    )
    def api_erase(me: Caller) -> dict:
        """Delete the legal representative's name and ID number (after verification)."""
        return platform.developers.erase_legal_rep(me.id)

    @app.post(
        "/api/apps",
        status_code=201,
        tags=["apps"],
        responses={
            401: {"model": schemas.ErrorOut},
            403: {"model": schemas.ErrorOut},
            404: {"model": schemas.ErrorOut},
            422: {"model": schemas.ErrorOut},
        },
    )
    def api_app(body: schemas.AppIn, me: Caller) -> dict:
        """Register an app. The client secret is shown once; each scope is reviewed under the policy."""
        dev_id = platform.developers.verified_developer_id(me.id)
        view, secret = platform.apps.register(
            dev_id, name=body.name, client_type=body.client_type, redirect_uris=body.redirect_uris, scopes=body.scopes,
            privacy_policy_url=body.privacy_policy_url, webhook_url=body.webhook_url,
        )  # fmt: skip
        return {**view, "client_secret": secret}

    @app.get(
        "/api/apps",
        tags=["apps"],
        responses={401: {"model": schemas.ErrorOut}, 404: {"model": schemas.ErrorOut}},
    )
    def api_apps(me: Caller) -> dict:
        with h.db.session() as s:
            dev = s.execute(select(Developer).where(Developer.account_id == me.id)).scalar_one_or_none()
        if dev is None:
            raise PlatformError("this account is not registered as a developer", 404)
        return {"apps": platform.apps.of_developer(dev.id)}

    @app.get("/api/grants", tags=["accounts"], responses={401: {"model": schemas.ErrorOut}})
    def api_grants(me: Caller) -> dict:
        """Apps that can use your account, and what they may do."""
        return {"grants": platform.oauth.grants_of(me.id)}

    @app.delete("/api/grants/{client_id}", tags=["accounts"], responses={401: {"model": schemas.ErrorOut}})
    def api_grant_revoke(client_id: str, me: Caller) -> dict:
        return {"revoked_tokens": platform.oauth.revoke_grant(me.id, client_id)}

    # -- open APIs for apps acting for a user (OAuth access tokens) -------------------------------

    def access(scope: str):
        def dependency(authorization: Annotated[str | None, Header()] = None):
            found = (
                platform.oauth.bearer(authorization[7:].strip())
                if authorization and authorization.startswith("Bearer ")
                else None
            )
            if found is None:
                raise PlatformError(
                    "send 'Authorization: Bearer <access token>' from this platform's OAuth server", 401
                )
            tok, user = found
            if scope not in tok.scope.split():
                raise PlatformError(f"the access token lacks the {scope} scope", 403)
            return tok, user

        return dependency

    AppUser = Annotated[tuple, Depends(access("video.create"))]
    ShareUser = Annotated[tuple, Depends(access("share.create"))]

    def _user_id(caller: tuple) -> int:
        tok, user = caller
        if user is None:
            raise PlatformError("this API acts for a user: use a token from the authorization code flow", 403)
        return user.id

    @app.post(
        "/open/video/init_video_part_upload",
        tags=["ingest"],
        responses={
            401: {"model": schemas.ErrorOut},
            403: {"model": schemas.ErrorOut},
            413: {"model": schemas.ErrorOut},
        },
    )
    def init_upload(body: schemas.InitUploadIn, caller: AppUser) -> dict:
        """Start a resumable upload: returns the upload id, the part size and how many parts to send."""
        return platform.ingest.init(
            caller[0].client_id, _user_id(caller), size=body.size, filename=body.filename
        )

    @app.post("/open/video/upload_video_part", tags=["ingest"], responses={401: {"model": schemas.ErrorOut}, 404: {"model": schemas.ErrorOut}, 409: {"model": schemas.ErrorOut}, 422: {"model": schemas.ErrorOut}},
              openapi_extra={"requestBody": {"required": True, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})  # fmt: skip
    async def upload_part(request: Request, upload_id: str, part_number: int, caller: AppUser,
                          x_part_sha256: Annotated[str, Header(max_length=64)] = ""):  # fmt: skip
        """Send one part (raw bytes), in any order, with its SHA-256 in ``X-Part-SHA256``; resending a part is harmless."""
        data = await request.body()
        return platform.ingest.put_part(
            upload_id, caller[0].client_id, _user_id(caller), part_number, data, x_part_sha256
        )

    @app.post(
        "/open/video/complete_video_part_upload",
        tags=["ingest"],
        responses={
            401: {"model": schemas.ErrorOut},
            404: {"model": schemas.ErrorOut},
            409: {"model": schemas.ErrorOut},
            422: {"model": schemas.ErrorOut},
        },
    )
    def complete_upload(upload_id: str, caller: AppUser) -> dict:
        """Assemble the parts; the file must be a video within the platform's limits."""
        return platform.ingest.complete(upload_id, caller[0].client_id, _user_id(caller))

    @app.post(
        "/open/video/create_video",
        tags=["ingest"],
        responses={
            401: {"model": schemas.ErrorOut},
            404: {"model": schemas.ErrorOut},
            422: {"model": schemas.ErrorOut},
        },
    )
    def create_video(
        body: schemas.CreateVideoIn,
        caller: AppUser,
        idempotency_key: Annotated[str, Header(max_length=200)] = "",
    ) -> dict:
        """Post an uploaded video with its licence certificate. ``Idempotency-Key``: the same request twice makes one post."""
        return platform.ingest.create(caller[0].client_id, _user_id(caller), video_id=body.video_id, text=body.text,
                                      certificate=body.certificate, idempotency_key=idempotency_key)  # fmt: skip

    @app.get(
        "/open/video/{post_id}",
        tags=["ingest"],
        responses={401: {"model": schemas.ErrorOut}, 404: {"model": schemas.ErrorOut}},
    )
    def get_post(post_id: str, caller: AppUser) -> dict:
        return platform.ingest.get(post_id, caller[0].client_id)

    @app.post(
        "/open/share/create",
        tags=["share"],
        responses={401: {"model": schemas.ErrorOut}, 404: {"model": schemas.ErrorOut}},
    )
    def share_create(body: schemas.ShareIn, caller: ShareUser) -> dict:
        """A share intent: send the user to ``share_url``; the result comes by webhook (share.completed / share.cancelled)."""
        return platform.shares.create(
            caller[0].client_id,
            _user_id(caller),
            video_id=body.video_id,
            text=body.text,
            certificate=body.certificate,
        )

    @app.get("/share/{share_id}", response_class=HTMLResponse, include_in_schema=False)
    def share_page(request: Request, share_id: str):
        user = session_user(request)
        if user is None:
            return RedirectResponse("/login?" + urlencode({"next": f"/share/{share_id}"}), status_code=303)
        try:
            view = platform.shares.for_user(share_id, user.id)
        except PlatformError as exc:
            return page(request, "error.html", status=exc.status, message=str(exc))
        app_row = platform.apps.get(view["client_id"])
        return page(
            request, "share.html", share=view, app_name=app_row.name if app_row else view["client_id"]
        )

    @app.post("/share/{share_id}", response_class=HTMLResponse, include_in_schema=False)
    def share_decide(
        request: Request,
        share_id: str,
        csrf: Annotated[str, Form(max_length=100)] = "",
        decision: Annotated[str, Form(max_length=10)] = "",
    ):
        user = session_user(request)
        if user is None:
            raise PlatformError("log in first", 401)
        check_csrf(request, csrf)
        result = platform.shares.decide(share_id, user.id, confirm=decision == "confirm")
        app_row = platform.apps.get(result["client_id"])
        return page(
            request, "share.html", share=result, app_name=app_row.name if app_row else result["client_id"]
        )

    # -- link cards ------------------------------------------------------------------------------

    @app.post(
        "/links/card",
        tags=["links"],
        responses={
            401: {"model": schemas.ErrorOut},
            422: {"model": schemas.ErrorOut},
            502: {"model": schemas.ErrorOut},
            504: {"model": schemas.ErrorOut},
        },
    )
    def link_card(body: schemas.LinkIn, authorization: Annotated[str | None, Header()] = None) -> dict:
        """Any URL becomes a preview card. Only a safety blocklist restricts links, and every restriction says why."""
        token = authorization[7:].strip() if authorization and authorization.startswith("Bearer ") else ""
        account = platform.accounts.by_api_token(token) if token.startswith("hta_") else None
        client_id = ""
        if account is None:
            found = platform.oauth.bearer(token) if token else None
            if found is None:
                raise PlatformError("send a session token or an access token with the links.card scope", 401)
            tok, user = found
            if "links.card" not in tok.scope.split():
                raise PlatformError("the access token lacks the links.card scope", 403)
            client_id, account = tok.client_id, user
        return platform.links.card(
            body.url, account_id=account.id if account else None, client_id=client_id
        ).as_dict()

    @app.get("/api/links/restrictions", tags=["links"], responses={401: {"model": schemas.ErrorOut}})
    def link_restrictions(me: Caller) -> dict:
        """Every link of yours the safety policy restricted, and why."""
        return {"restrictions": platform.links.restrictions(me.id)}

    @app.get(
        "/api/apps/{client_id}/webhooks",
        tags=["apps"],
        responses={401: {"model": schemas.ErrorOut}, 404: {"model": schemas.ErrorOut}},
    )
    def webhook_log(client_id: str, me: Caller) -> dict:
        """The delivery log of an app's webhooks: every attempt and its outcome."""
        with h.db.session() as s:
            dev = s.execute(select(Developer).where(Developer.account_id == me.id)).scalar_one_or_none()
            row = s.execute(select(App).where(App.client_id == client_id)).scalar_one_or_none()
        if dev is None or row is None or row.developer_id != dev.id:
            raise PlatformError(f"no app {client_id} of yours", 404)
        return {"deliveries": platform.webhooks.deliveries(client_id)}

    # -- interconnection -------------------------------------------------------------------------

    @app.get("/.well-known/hutong-interconnect", tags=["public"])
    def interconnect_manifest() -> dict:
        """What this platform opens to others, signed with its certificate keys."""
        return signed_manifest(h.settings, platform.directory, h.compliance.keyring, platform.policy.version)

    @app.get("/login/federated/callback", include_in_schema=False)
    def federated_callback(request: Request, state: str = "", code: str = "", iss: str = "", error: str = ""):
        pending = request.session.pop("federated", None)
        if not pending or not secrets.compare_digest(pending["state"], state):
            return page(
                request,
                "error.html",
                status=400,
                message="This login did not start here (state mismatch): start again.",
            )
        idp, secret = platform.directory.idp(pending["idp"])
        if error:
            return page(
                request, "error.html", status=400, message=f"{idp['name']} did not log you in ({error})."
            )
        if iss != idp["issuer"]:  # RFC 9207: the answer must come from the provider we asked
            return page(
                request,
                "error.html",
                status=400,
                message="The answer came from another provider (mix-up): refused.",
            )
        try:
            account = federated_login(platform, idp, secret, code, pending, issuer)
        except PlatformError as exc:
            return page(request, "error.html", status=exc.status, message=str(exc))
        request.session.clear()
        request.session.update(account_id=account.id, csrf=secrets.token_urlsafe(24))
        return RedirectResponse(pending["next"], status_code=303)

    @app.get("/login/federated/{idp_id}", include_in_schema=False)
    def federated_start(request: Request, idp_id: int, next: str = "/"):
        idp, _ = platform.directory.idp(idp_id)
        try:
            meta = httpx.get(f"{idp['issuer']}/.well-known/openid-configuration", timeout=5).json()
        except (httpx.HTTPError, ValueError):
            return page(
                request, "error.html", status=502, message=f"{idp['name']} cannot be reached right now."
            )
        verifier = secrets.token_urlsafe(48)
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        request.session["federated"] = {
            "idp": idp_id,
            "state": state,
            "nonce": nonce,
            "verifier": verifier,
            "next": local_next(next),
        }
        query = {"response_type": "code", "client_id": idp["client_id"], "redirect_uri": f"{issuer}/login/federated/callback",
                 "scope": "openid profile", "state": state, "nonce": nonce,
                 "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256"}  # fmt: skip
        return RedirectResponse(meta["authorization_endpoint"] + "?" + urlencode(query), status_code=303)

    return app


def federated_login(
    platform: Platform, idp: dict, secret: str, code: str, pending: dict, issuer: str
) -> AccountView:
    """Redeem the code at the provider, validate its ID token, and find or create the local account."""
    try:
        meta = httpx.get(f"{idp['issuer']}/.well-known/openid-configuration", timeout=5).json()
        r = httpx.post(meta["token_endpoint"], auth=(idp["client_id"], secret), timeout=10, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": f"{issuer}/login/federated/callback",
            "code_verifier": pending["verifier"]})  # fmt: skip
        tokens = r.json()
        keys = KeySet.import_key_set(httpx.get(meta["jwks_uri"], timeout=5).json())
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        raise PlatformError(f"{idp['name']} could not be reached ({exc.__class__.__name__})", 502) from None
    if "id_token" not in tokens:
        raise PlatformError(
            f"{idp['name']} refused the login: {tokens.get('error_description') or tokens.get('error')}", 400
        )
    try:
        claims = jwt.decode(tokens["id_token"], keys, algorithms=["RS256"]).claims
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": idp["issuer"]}, aud={"essential": True, "value": idp["client_id"]},
            nonce={"essential": True, "value": pending["nonce"]}, exp={"essential": True}, sub={"essential": True},
        ).validate(claims)  # fmt: skip
    except (JoseError, ValueError) as exc:
        raise PlatformError(f"the ID token from {idp['name']} is not valid ({exc})", 400) from None
    return platform.accounts.federated(
        idp["issuer"], str(claims["sub"]), claims.get("preferred_username", ""), claims.get("name", "")
    )
