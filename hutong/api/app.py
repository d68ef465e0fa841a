"""``hutong serve``: the platform over HTTP (FastAPI). Pages for people, a JSON API for programs, OAuth 2.0
and OpenID Connect for apps. OpenAPI at /docs and /openapi.json.

This module only assembles: middleware, error handlers, the routers (one per role, in ``routers/``) and the
background worker. Services come built from the composition root (:class:`hutong.app.Hutong`)."""

from __future__ import annotations

import hashlib
import secrets
from contextlib import asynccontextmanager
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from hutong.api.console import ConsoleRefusal, SignInRequired, render
from hutong.api.headers import SecurityHeaders, ServerTiming
from hutong.api.limits import BodyLimit
from hutong.api.routers import ALL
from hutong.api.web import WEB, templates
from hutong.app import Hutong
from hutong.errors import HutongError, PlatformError, Unavailable
from hutong.platform.webhooks import Worker


def _session_secret(h: Hutong) -> str:
    """The key that signs session cookies. Sessions live in the cookie, so every API process that reads
    the same key (the same keys folder) accepts every session. Made once: of API processes starting
    together, the first to create the file wins and the others read its key."""
    path = h.settings.keys_dir / "session.key"
    if not path.exists():
        from hutong.keys import create_private

        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        create_private(path, secrets.token_urlsafe(48))
    return path.read_text().strip()


ALL_ROUTES = [route for router in ALL for route in router.routes]


def _error(status: int, error: str, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


def create_app(h: Hutong) -> FastAPI:
    platform = h.platform
    issuer = h.settings.issuer
    # webhooks on a small pool, one delivery per app at a time; stale uploads cleaned every 10 minutes
    worker = Worker(
        platform.webhooks, chores=[(600, platform.ingest.cleanup)], workers=h.settings.webhook_workers
    )

    # publishing jobs run here too on the embedded queue (a single-process install needs no `hutong worker`)
    publishing = h.settings.distribution_in_serve and not h.settings.redis_url

    @asynccontextmanager
    async def lifespan(_app):
        h.registrations.sweep()  # uploads a crash left half-written
        worker.start()
        jobs = h.distribution.worker(h.settings.distribution_workers).start() if publishing else None
        try:
            yield
        finally:
            if jobs is not None:
                jobs.stop()
            worker.stop()

    app = FastAPI(
        lifespan=lifespan,
        title=f"{h.settings.platform_name} open platform",
        version="1",
        description="Developer onboarding, apps, OAuth 2.0 / OpenID Connect, certificate-checked ingest, share "
        "intents, link cards, certificate keys and status. Every error body is `{error, detail}`. "
        "See docs/platform.md and docs/interconnect.md.",
        docs_url=None,  # served below from vendored files: no CDN
        redoc_url=None,
    )
    app.state.hutong = h
    part_limit = h.settings.ingest_part_bytes + 4096
    app.add_middleware(
        BodyLimit,
        max_bytes=h.settings.max_body_bytes,
        overrides={
            "/open/video/upload_video_part": part_limit,
            "/api/distribution/clips": h.settings.max_media_bytes,
            "/console/creator/upload": h.settings.max_media_bytes,
            "/console/holder/works/upload": h.settings.max_media_bytes,
        },  # streamed to disk
    )
    # cookies are per host, not per port: name the session after the issuer so two platforms on one host coexist
    cookie = "hutong_" + hashlib.sha256(issuer.encode()).hexdigest()[:10]
    app.add_middleware(
        SessionMiddleware, secret_key=_session_secret(h), session_cookie=cookie, same_site="lax",
        https_only=issuer.startswith("https://"), max_age=8 * 3600,
    )  # fmt: skip
    app.add_middleware(SecurityHeaders)
    app.add_middleware(ServerTiming)  # outermost: counts every other layer
    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired):
        return RedirectResponse(f"/console?{urlencode({'next': exc.path})}", status_code=303)

    @app.exception_handler(PlatformError)
    async def _platform_error(request: Request, exc: PlatformError):
        if isinstance(exc, ConsoleRefusal) or request.url.path.startswith("/console"):
            return render(request, None, "console/error.html", status=exc.status, message=str(exc))
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if exc.status == 429:
            headers = {"Retry-After": "5"}
        return _error(exc.status, "refused", str(exc), headers)

    @app.exception_handler(Unavailable)
    async def _unavailable(request: Request, exc: Unavailable):
        return _error(503, "unavailable", str(exc), {"Retry-After": "5"})

    @app.exception_handler(HutongError)
    async def _hutong_error(request: Request, exc: HutongError):
        return _error(400, "bad_request", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        # the framework's own refusals (unparsable body, unknown path, wrong method) in the same shape
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method the path has, not only those of the route that matched
            path = request.url.path
            matching = [route for route in ALL_ROUTES if route.path_regex.match(path)]
            literal = [route for route in matching if route.path == path]  # a named path before a template
            methods = {m for route in (literal or matching) for m in route.methods or ()}
            headers["Allow"] = ", ".join(sorted(methods))
        words = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
        return _error(exc.status_code, words.get(exc.status_code, "refused"), str(exc.detail), headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        parts = []
        for e in exc.errors()[:5]:
            where = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            parts.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
        if request.url.path.startswith("/console"):  # people get a page, programs the JSON error
            return render(request, None, "console/error.html", status=422, message="; ".join(parts))
        return _error(422, "invalid_request", "; ".join(parts))

    for router in ALL:
        app.include_router(router)

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs(request: Request):
        return templates.TemplateResponse(request, "docs.html", {"title": app.title})

    return app


def from_environment() -> FastAPI:
    """The app of one process of `hutong serve --workers N` (uvicorn's factory: each process builds its
    own hutong from the environment that the parent checked and prepared)."""
    import os

    from hutong.config import get_settings, resolve_issuer
    from hutong.logs import configure

    level = os.environ.get("HUTONG_SERVE_LOG_LEVEL", "info")
    configure("info" if level in ("info", "debug") else level)
    return create_app(Hutong.create(resolve_issuer(get_settings())))
