"""A third-party web app that offers "log in with <platform>", written the way any developer would, with
Authlib's Starlette client used unchanged: discovery, PKCE, ID-token validation, refresh."""

from __future__ import annotations

from authlib.integrations.starlette_client import OAuth
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from hutong.api.background import Background  # noqa: F401  (re-exported for the tests)


def relying_party(issuer: str, client_id: str, client_secret: str, base: str) -> Starlette:
    oauth = OAuth()
    oauth.register(
        "platform",
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid profile", "code_challenge_method": "S256"},
    )

    async def login(request: Request):
        return await oauth.platform.authorize_redirect(request, f"{base}/cb")

    async def callback(request: Request):
        token = await oauth.platform.authorize_access_token(request)  # validates the ID token
        user = token["userinfo"]
        request.session.update(refresh_token=token["refresh_token"], sub=user["sub"])
        return HTMLResponse(
            f"<h1 id='who'>Hello {user['name']}</h1><p id='sub'>{user['sub']}</p><p id='iss'>{user['iss']}</p>"
        )

    async def refresh(request: Request):
        new = await oauth.platform.fetch_access_token(
            grant_type="refresh_token", refresh_token=request.session["refresh_token"]
        )
        old = request.session["refresh_token"]
        request.session["refresh_token"] = new["refresh_token"]
        userinfo = (await oauth.platform.load_server_metadata())["userinfo_endpoint"]
        info = (await oauth.platform.get(userinfo, token=new)).json()
        return JSONResponse({"rotated": new["refresh_token"] != old, "sub": info["sub"]})

    return Starlette(
        routes=[Route("/login", login), Route("/cb", callback), Route("/refresh", refresh)],
        middleware=[
            Middleware(SessionMiddleware, secret_key="relying-party-secret", session_cookie="rp_session")
        ],
    )
