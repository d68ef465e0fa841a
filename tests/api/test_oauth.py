"""OAuth 2.0 / OIDC against a running server: the happy paths, then the RFC 9700 threat matrix."""

import os
import secrets
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.api.conftest import UserAgent, api_user, bearer, new_app, pkce, redirect_params

REDIRECT = "http://127.0.0.1:9/cb"


def auth_query(app: dict, challenge: str | None, **over) -> str:
    q = {"response_type": "code", "client_id": app["client_id"], "redirect_uri": REDIRECT, "scope": "openid profile",
         "state": "st-123", "nonce": secrets.token_hex(8), "code_challenge": challenge, "code_challenge_method": "S256", **over}  # fmt: skip
    return urlencode({k: v for k, v in q.items() if v is not None})


@pytest.fixture(scope="module")
def user(server):
    api_user(server.url, "wanglei")
    with UserAgent(server.url) as ua:
        assert ua.login("wanglei").status_code == 303
        yield ua


def code_for(user: UserAgent, app: dict, **over) -> tuple[str, str]:
    verifier, challenge = pkce()
    params = redirect_params(user.authorize(auth_query(app, challenge, **over)))
    assert "code" in params, params
    return params["code"], verifier


def token(server, app: dict, **data) -> httpx.Response:
    auth = (app["client_id"], app["client_secret"]) if app.get("client_secret") else None
    if auth is None:
        data.setdefault("client_id", app["client_id"])
    return httpx.post(server.url + "/oauth/token", data=data, auth=auth)


def introspect(server, app: dict, tok: str) -> dict:
    return httpx.post(
        server.url + "/oauth/introspect", data={"token": tok}, auth=(app["client_id"], app["client_secret"])
    ).json()


def test_code_flow_with_pkce_id_token_and_rotation(server, user):
    app = new_app(server.url)
    verifier, challenge = pkce()
    back = user.authorize(auth_query(app, challenge, nonce="n-456"))
    params = redirect_params(back)
    assert back.headers["location"].startswith(REDIRECT + "?")
    assert params["state"] == "st-123" and params["iss"] == server.url  # RFC 9207 mix-up defence
    r = token(
        server,
        app,
        grant_type="authorization_code",
        code=params["code"],
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )
    assert r.status_code == 200, r.text
    t = r.json()
    assert r.headers["cache-control"] == "no-store" and t["token_type"].lower() == "bearer"
    keys = KeySet.import_key_set(httpx.get(server.url + "/.well-known/jwks.json").json())
    claims = jwt.decode(t["id_token"], keys, algorithms=["RS256"]).claims
    assert claims["iss"] == server.url and claims["aud"] == [app["client_id"]] and claims["nonce"] == "n-456"
    assert claims["preferred_username"] == "wanglei"
    info = httpx.get(server.url + "/oauth/userinfo", headers=bearer(t["access_token"])).json()
    assert info["sub"] == claims["sub"] and info["name"] == "wanglei"
    assert introspect(server, app, t["access_token"])["active"] is True

    r2 = token(server, app, grant_type="refresh_token", refresh_token=t["refresh_token"])
    assert r2.status_code == 200, r2.text
    t2 = r2.json()
    assert t2["refresh_token"] != t["refresh_token"] and t2["access_token"] != t["access_token"]
    # the user sees the grant and ends it
    api = api_user(server.url, "wanglei")
    grants = httpx.get(server.url + "/api/grants", headers=bearer(api)).json()["grants"]
    assert [g["client_id"] for g in grants] == [app["client_id"]] and "openid" in grants[0]["scopes"]
    assert (
        httpx.delete(server.url + f"/api/grants/{app['client_id']}", headers=bearer(api)).json()[
            "revoked_tokens"
        ]
        >= 1
    )
    assert introspect(server, app, t2["access_token"])["active"] is False
    assert (
        token(server, app, grant_type="refresh_token", refresh_token=t2["refresh_token"]).json()["error"]
        == "invalid_grant"
    )


def test_public_client_and_client_credentials(server, user):
    spa = new_app(server.url, client_type="public", scopes=("openid", "video.create"))
    code, verifier = code_for(user, spa, scope="openid video.create")
    r = token(
        server, spa, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier
    )
    assert r.status_code == 200 and r.json()["scope"] == "openid video.create"
    backend = new_app(server.url)
    r = token(server, backend, grant_type="client_credentials", scope="links.card")
    assert r.status_code == 200 and "refresh_token" not in r.json()
    # a public client has no credentials to present
    assert token(server, spa, grant_type="client_credentials").json()["error"] in (
        "invalid_client",
        "unauthorized_client",
    )


def test_replayed_nonce_is_refused(server, user):
    app = new_app(server.url)
    code_for(user, app, nonce="once-only")
    _, challenge = pkce()
    params = redirect_params(user.authorize(auth_query(app, challenge, nonce="once-only")))
    assert params["error"] == "invalid_request" and "code" not in params


# -- RFC 9700 threat matrix --------------------------------------------------------------------


@pytest.mark.parametrize(
    "redirect",
    ["http://127.0.0.1:9/evil", "http://127.0.0.1:9/cb/", "http://127.0.0.1:9/cbx", "http://127.0.0.1:9/cb?x=1",
     "http://127.0.0.1:9/cb/../evil", "https://attacker.example/cb", "HTTP://127.0.0.1:9/cb"],
)  # fmt: skip
def test_wrong_or_partial_redirect_uri_is_never_followed(server, user, redirect):
    app = new_app(server.url)
    _, challenge = pkce()
    r = user.get("/oauth/authorize?" + auth_query(app, challenge, redirect_uri=redirect))
    assert r.status_code == 400 and "location" not in r.headers and "redirect" in r.text.lower()


def test_unknown_client_is_an_error_page(server, user):
    _, challenge = pkce()
    r = user.get("/oauth/authorize?" + auth_query({"client_id": "app_nope"}, challenge))
    assert r.status_code == 400 and "location" not in r.headers and "invalid_client" in r.text


@pytest.mark.parametrize(
    ("over", "fragment"),
    [({"code_challenge": None, "code_challenge_method": None}, "PKCE is required"),
     ({"code_challenge_method": "plain"}, "S256"),
     ({"code_challenge": "short"}, "code_challenge")],
)  # fmt: skip
def test_missing_or_weak_pkce_is_refused_at_the_authorize_step(server, user, over, fragment):
    app = new_app(server.url)
    _, challenge = pkce()
    r = user.get("/oauth/authorize?" + auth_query(app, challenge, **over))
    params = redirect_params(r)  # the client is told, at its verified redirect URI; no consent page
    assert (
        params["error"] == "invalid_request"
        and fragment in params["error_description"]
        and "code" not in params
    )
    assert params["state"] == "st-123"


def test_wrong_or_missing_code_verifier(server, user):
    app = new_app(server.url)
    code, verifier = code_for(user, app)
    r = token(
        server,
        app,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=verifier[:-1] + "x",
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    code, _ = code_for(user, app)
    r = token(server, app, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert r.status_code == 400 and r.json()["error"] in ("invalid_request", "invalid_grant")


def test_code_replay_revokes_what_the_first_use_got(server, user):
    app = new_app(server.url)
    code, verifier = code_for(user, app)
    first = token(
        server, app, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier
    ).json()
    again = token(
        server, app, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert introspect(server, app, first["access_token"])["active"] is False


def test_refresh_token_reuse_revokes_the_family(server, user):
    app = new_app(server.url)
    code, verifier = code_for(user, app)
    t1 = token(
        server, app, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier
    ).json()
    t2 = token(server, app, grant_type="refresh_token", refresh_token=t1["refresh_token"]).json()
    stolen = token(server, app, grant_type="refresh_token", refresh_token=t1["refresh_token"])
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    assert introspect(server, app, t2["access_token"])["active"] is False
    assert (
        token(server, app, grant_type="refresh_token", refresh_token=t2["refresh_token"]).json()["error"]
        == "invalid_grant"
    )
    log = server.log.read_text()
    assert "refresh token reused" in log


def test_code_of_one_client_is_useless_to_another(server, user):
    a, b = new_app(server.url), new_app(server.url)
    code, verifier = code_for(user, a)
    r = token(
        server, b, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    # and the code still works for its own client (the failed attempt did not consume it)
    assert (
        token(
            server,
            a,
            grant_type="authorization_code",
            code=code,
            redirect_uri=REDIRECT,
            code_verifier=verifier,
        ).status_code
        == 200
    )


def test_client_authentication(server, user):
    app = new_app(server.url)
    wrong = {**app, "client_secret": "not-the-secret"}
    assert token(server, wrong, grant_type="client_credentials").json()["error"] == "invalid_client"
    no_secret = {**app, "client_secret": None}
    assert token(server, no_secret, grant_type="client_credentials").status_code in (400, 401)


def test_forged_tampered_and_expired_tokens(server, user):
    app = new_app(server.url)
    code, verifier = code_for(user, app)
    t = token(
        server, app, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier
    ).json()
    for bad in ("hto_forged", t["access_token"][:-2] + "xx", "-"):
        r = httpx.get(server.url + "/oauth/userinfo", headers=bearer(bad))
        assert r.status_code == 401 and r.json()["error"] == "invalid_token"
        assert introspect(server, app, bad)["active"] is False
    head, body, sig = t["id_token"].split(".")
    keys = KeySet.import_key_set(httpx.get(server.url + "/.well-known/jwks.json").json())
    with pytest.raises(Exception, match="signature"):
        jwt.decode(f"{head}.{body[:-4]}AAAA.{sig}", keys, algorithms=["RS256"])
    # an hour passes (the server reads expiry from its database)
    with sqlite3.connect(server.home / "hutong.db") as db:
        past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(" ")
        db.execute(
            "UPDATE oauth_tokens SET access_expires_at = ? WHERE client_id = ?", (past, app["client_id"])
        )
    assert httpx.get(server.url + "/oauth/userinfo", headers=bearer(t["access_token"])).status_code == 401
    assert introspect(server, app, t["access_token"])["active"] is False


def test_open_redirects_are_closed(server, user):
    api_user(server.url, "zhaomin")
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        with UserAgent(server.url) as ua:
            page = ua.get("/login?next=" + target)
            r = ua.submit(page.text, "/login", {"username": "zhaomin", "password": "a long enough password"})
            assert r.status_code == 303 and r.headers["location"] == "/"


def test_consent_requires_the_pages_csrf_token(server, user):
    app = new_app(server.url)
    _, challenge = pkce()
    page = user.get("/oauth/authorize?" + auth_query(app, challenge))
    assert page.status_code == 200 and "Test app" in page.text and "openid" in page.text
    for csrf in ("", "guessed"):
        r = user.submit(page.text, "/oauth/authorize", {"csrf": csrf}, button="allow")
        assert r.status_code == 403 and "location" not in r.headers
    with UserAgent(server.url) as fresh:  # a cross-site POST carries no session: nobody is logged in
        r = fresh.http.post("/oauth/authorize", data={"decision": "allow", "client_id": app["client_id"]})
        assert r.status_code == 401
    denied = user.submit(page.text, "/oauth/authorize", button="deny")
    assert redirect_params(denied)["error"] == "access_denied"


def test_scope_escalation_is_refused(server, user):
    app = new_app(server.url)  # granted openid, profile, video.create, links.card
    _, challenge = pkce()
    params = redirect_params(
        user.get("/oauth/authorize?" + auth_query(app, challenge, scope="openid video.data"))
    )
    assert params["error"] == "invalid_scope"
    params = redirect_params(
        user.get("/oauth/authorize?" + auth_query(app, challenge, scope="openid links.card"))
    )
    assert params["error"] == "invalid_scope"  # app-level scopes are not for users' grants
    code, verifier = code_for(user, app, scope="openid")
    t = token(
        server, app, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier
    ).json()
    r = token(
        server, app, grant_type="refresh_token", refresh_token=t["refresh_token"], scope="openid video.create"
    )
    assert r.json()["error"] == "invalid_scope"
    assert (
        token(server, app, grant_type="client_credentials", scope="video.create").json()["error"]
        == "invalid_scope"
    )


def test_revocation_endpoint(server, user):
    app = new_app(server.url)
    code, verifier = code_for(user, app)
    t = token(
        server, app, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier
    ).json()
    r = httpx.post(
        server.url + "/oauth/revoke",
        data={"token": t["refresh_token"], "token_type_hint": "refresh_token"},
        auth=(app["client_id"], app["client_secret"]),
    )
    assert r.status_code == 200
    assert introspect(server, app, t["access_token"])["active"] is False  # the whole grant ends
    r = httpx.post(
        server.url + "/oauth/revoke", data={"token": "unknown"}, auth=(app["client_id"], app["client_secret"])
    )
    assert r.status_code == 200  # RFC 7009: unknown tokens are not an error


@pytest.mark.parametrize(
    ("data", "error"),
    [({"grant_type": "password", "username": "x", "password": "y"}, "unsupported_grant_type"),
     ({}, "unsupported_grant_type"),
     ({"grant_type": "authorization_code"}, "invalid_request"),
     ({"grant_type": "refresh_token"}, "invalid_request")],
)  # fmt: skip
def test_malformed_token_requests(server, data, error):
    app = new_app(server.url)
    r = httpx.post(server.url + "/oauth/token", data=data, auth=(app["client_id"], app["client_secret"]))
    assert r.status_code == 400 and r.json()["error"] == error


def test_oversized_and_malformed_bodies(server):
    r = httpx.post(
        server.url + "/oauth/token",
        content=b"x" * (2 * 1024 * 1024),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 413 and "over" in r.json()["detail"]
    r = httpx.post(
        server.url + "/api/accounts", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"
    r = httpx.post(server.url + "/api/accounts", json={"username": "ab", "password": "x"})
    assert r.status_code == 422
    r = httpx.post(
        server.url + "/api/accounts", json={"username": "Bad Name!", "password": "long enough password"}
    )
    assert r.status_code == 422 and "username" in r.json()["detail"]
    r = httpx.get(server.url + "/api/me", headers=bearer("hta_nope"))
    assert r.status_code == 401


# -- grants end codes too, suspended apps, odd input, iss on every redirect, prompt=none ------------


def staff(server, *args: str) -> subprocess.CompletedProcess:
    """A staff command on the running server's home (same database, same policy)."""
    env = {**os.environ, "HUTONG_HOME": str(server.home),
           "HUTONG_REVIEW_POLICY": str(server.home.parent / "policy.toml")}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "hutong", *args], capture_output=True, text=True, env=env, timeout=120
    )


def redeem(server, app: dict, code: str, verifier: str) -> httpx.Response:
    return token(
        server, app, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier
    )


def test_revoking_the_grant_voids_outstanding_codes(server, user):
    app = new_app(server.url)
    api = api_user(server.url, "wanglei")
    code, verifier = code_for(user, app)  # consented, not yet redeemed: the user revokes in between
    r = httpx.delete(server.url + f"/api/grants/{app['client_id']}", headers=bearer(api))
    assert r.status_code == 200
    r = redeem(server, app, code, verifier)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    # the same through the grants page, with tokens already out and a second code waiting
    first = redeem(server, app, *code_for(user, app)).json()
    code, verifier = code_for(user, app)
    page = user.get("/account/grants")
    r = user.submit(page.text, f"/account/grants/{app['client_id']}/revoke")
    assert r.status_code == 303
    assert redeem(server, app, code, verifier).json()["error"] == "invalid_grant"
    assert introspect(server, app, first["access_token"])["active"] is False


def test_suspended_app_is_refused_everywhere_until_unsuspended(server, user):
    owner = f"dev{secrets.token_hex(4)}"
    app = new_app(server.url, owner=owner)
    t = redeem(server, app, *code_for(user, app)).json()
    machine = token(server, app, grant_type="client_credentials", scope="links.card").json()["access_token"]
    code, verifier = code_for(user, app)  # outstanding when the app is suspended

    r = staff(server, "platform", "suspend", app["client_id"], "--reason", "malware reported by users")
    assert r.returncode == 0 and "suspended" in r.stdout, r.stderr
    assert httpx.get(server.url + "/oauth/userinfo", headers=bearer(t["access_token"])).status_code == 401
    r = httpx.get(server.url + "/open/video/nope", headers=bearer(t["access_token"]))
    assert r.status_code == 401
    assert introspect(server, app, t["access_token"])["active"] is False
    assert introspect(server, app, machine)["active"] is False
    refused = ("invalid_client", "unauthorized_client")
    for data in ({"grant_type": "client_credentials", "scope": "links.card"},
                 {"grant_type": "refresh_token", "refresh_token": t["refresh_token"]},
                 {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}):  # fmt: skip
        r = token(server, app, **data)
        assert r.status_code in (400, 401) and r.json()["error"] in refused, r.text
    _, challenge = pkce()
    params = redirect_params(user.get("/oauth/authorize?" + auth_query(app, challenge)))
    assert params["error"] == "unauthorized_client" and "code" not in params
    # the developer sees why, as a review decision
    decisions = httpx.get(
        server.url + "/api/developers/me/decisions", headers=bearer(api_user(server.url, owner))
    ).json()["decisions"]
    assert any(d["outcome"] == "suspended" and "malware" in d["reason"] for d in decisions)

    assert staff(server, "platform", "suspend", app["client_id"], "--reason", "again").returncode == 2
    r = staff(server, "platform", "unsuspend", app["client_id"], "--reason", "the developer fixed it")
    assert r.returncode == 0 and "active" in r.stdout, r.stderr
    assert httpx.get(server.url + "/oauth/userinfo", headers=bearer(t["access_token"])).status_code == 200
    assert token(server, app, grant_type="client_credentials", scope="links.card").status_code == 200


@pytest.mark.parametrize(
    "over",
    [{"redirect_uri": REDIRECT + '"'}, {"redirect_uri": REDIRECT + "\\"}, {"redirect_uri": 'http://127.0.0.1:9/"x\\'},
     {"response_type": 'code"'}, {"response_type": "co\\de"}, {"response_type": "code\x7f"}],
)  # fmt: skip
def test_quotes_and_backslashes_at_authorize_are_a_clear_error(server, user, over):
    app = new_app(server.url)
    _, challenge = pkce()
    r = user.get("/oauth/authorize?" + auth_query(app, challenge, **over))
    if "redirect_uri" in over:  # not a registered URI: an error page, never a redirect
        assert r.status_code == 400 and "location" not in r.headers and "redirect_uri" in r.text
    else:  # the client and its redirect URI are verified: the client is told
        params = redirect_params(r)
        assert params["error"] == "unsupported_response_type" and params["state"] == "st-123"


def test_every_redirect_to_the_client_carries_iss(server, user):
    app = new_app(server.url)
    _, challenge = pkce()
    for over in ({"scope": "openid video.data"}, {"code_challenge": None, "code_challenge_method": None},
                 {"response_type": "token"}, {"nonce": "x", "prompt": "none login"}):  # fmt: skip
        params = redirect_params(user.get("/oauth/authorize?" + auth_query(app, challenge, **over)))
        assert "error" in params and params["iss"] == server.url, (over, params)
    page = user.get("/oauth/authorize?" + auth_query(app, challenge))
    params = redirect_params(user.submit(page.text, "/oauth/authorize", button="deny"))
    assert params["error"] == "access_denied" and params["iss"] == server.url


def test_prompt_none_without_a_grant_is_consent_required(server, user):
    app = new_app(server.url)
    _, challenge = pkce()
    params = redirect_params(user.get("/oauth/authorize?" + auth_query(app, challenge, prompt="none")))
    assert params["error"] == "consent_required" and params["iss"] == server.url and "code" not in params
    # a grant for fewer scopes does not cover more
    redeem(server, app, *code_for(user, app, scope="openid"))
    params = redirect_params(
        user.get("/oauth/authorize?" + auth_query(app, challenge, prompt="none", scope="openid profile"))
    )
    assert params["error"] == "consent_required"


def test_prompt_none_with_a_live_grant_issues_the_code_without_ui(server, user):
    app = new_app(server.url)
    redeem(server, app, *code_for(user, app, scope="openid profile"))
    verifier, challenge = pkce()
    params = redirect_params(
        user.get("/oauth/authorize?" + auth_query(app, challenge, prompt="none", scope="openid"))
    )
    assert params["iss"] == server.url and params["state"] == "st-123"
    assert redeem(server, app, params["code"], verifier).status_code == 200


def test_prompt_none_without_a_session_is_login_required(server):
    app = new_app(server.url)
    _, challenge = pkce()
    with UserAgent(server.url) as nobody:
        params = redirect_params(nobody.get("/oauth/authorize?" + auth_query(app, challenge, prompt="none")))
    assert params["error"] == "login_required" and params["iss"] == server.url
