"""The OAuth server in process, on a real database: what the authorization route hands over to it."""

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from authlib.oauth2.rfc6749.errors import OAuth2Error
from sqlalchemy import select

from hutong.platform.oauth import CodeGrant, Reply, Request
from hutong.store import OAuthToken

REDIRECT = "http://127.0.0.1:9/cb"


def _setup(platform_factory, account):
    p = platform_factory()
    uid = account(p)
    p.developers.register_individual(uid, "Dev")
    app, secret = p.apps.register(p.developers.verified_developer_id(uid), name="A", client_type="confidential",
                                  redirect_uris=[REDIRECT], scopes=["openid", "profile"])  # fmt: skip
    return p, uid, app["client_id"], secret


def _authorize(p, client_id: str, scope: str, **extra) -> tuple[Request, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    query = [("response_type", "code"), ("client_id", client_id), ("redirect_uri", REDIRECT), ("scope", scope),
             ("state", "s1"), ("code_challenge", challenge), ("code_challenge_method", "S256"), *extra.items()]  # fmt: skip
    uri = p.oauth.issuer + "/oauth/authorize?" + urlencode(query)
    return Request("GET", uri, {}, query, []), verifier


def _params(reply: Reply) -> dict:
    assert reply.status == 302 and reply.location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(reply.location).query).items()}


def test_start_authorization_steps(platform_factory, account):
    p, uid, client_id, secret = _setup(platform_factory, account)
    req, _ = _authorize(p, client_id, "openid profile")
    assert p.oauth.start_authorization(req, None) is None  # log in first
    grant = p.oauth.start_authorization(req, uid)
    assert isinstance(grant, CodeGrant)  # ask for consent
    # prompt=none: no session, then no grant yet
    req, _ = _authorize(p, client_id, "openid", prompt="none")
    assert _params(p.oauth.start_authorization(req, None))["error"] == "login_required"
    params = _params(p.oauth.start_authorization(req, uid))
    assert (
        params["error"] == "consent_required" and params["iss"] == p.oauth.issuer and params["state"] == "s1"
    )
    # the user consents once, the app redeems the code...
    req, verifier = _authorize(p, client_id, "openid profile")
    grant = p.oauth.start_authorization(req, uid)
    code = _params(p.oauth.create_authorization_response(req, grant_user=p.oauth.user(uid), grant=grant))[
        "code"
    ]
    form = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT),
            ("code_verifier", verifier), ("client_id", client_id), ("client_secret", secret)]  # fmt: skip
    assert (
        p.oauth.create_token_response(Request("POST", p.oauth.issuer + "/oauth/token", {}, [], form)).status
        == 200
    )
    # ...then prompt=none gets a code for any part of what was granted, without UI
    req, _ = _authorize(p, client_id, "openid", prompt="none")
    params = _params(p.oauth.start_authorization(req, uid))
    assert params["code"] and params["iss"] == p.oauth.issuer
    p.oauth.revoke_grant(uid, client_id)
    assert _params(p.oauth.start_authorization(req, uid))["error"] == "consent_required"
    # an unknown client is never redirected to: the route shows an error page
    req, _ = _authorize(p, "app_nope", "openid", prompt="none")
    with pytest.raises(OAuth2Error, match="invalid_client"):
        p.oauth.start_authorization(req, uid)


def test_a_refresh_token_presented_twice_at_once_rotates_once(platform_factory, account):
    """Requests racing with one refresh token (threads here; API processes in production): at most one gets a
    new pair; a second that got past the lookup meanwhile is a reuse and ends the family."""
    import threading

    p, uid, client_id, secret = _setup(platform_factory, account)
    req, verifier = _authorize(p, client_id, "openid")
    grant = p.oauth.start_authorization(req, uid)
    code = _params(p.oauth.create_authorization_response(req, grant_user=p.oauth.user(uid), grant=grant))[
        "code"
    ]
    form = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT),
            ("code_verifier", verifier), ("client_id", client_id), ("client_secret", secret)]  # fmt: skip
    first = p.oauth.create_token_response(Request("POST", p.oauth.issuer + "/oauth/token", {}, [], form))
    refresh = first.body["refresh_token"] if isinstance(first.body, dict) else None
    assert first.status == 200 and refresh, first
    form = [("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", client_id),
            ("client_secret", secret)]  # fmt: skip
    start, statuses = threading.Barrier(8), []

    def spend():
        start.wait()
        statuses.append(
            p.oauth.create_token_response(
                Request("POST", p.oauth.issuer + "/oauth/token", {}, [], form)
            ).status
        )

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(statuses) == 8 and statuses.count(200) <= 1 and statuses.count(400) >= 7, statuses
    with p.oauth.db.session() as s:
        family = s.scalars(select(OAuthToken)).all()
    # the code's pair and at most one rotation's: a request that lost the race had its pair never stored
    assert len(family) == 1 + statuses.count(200), [(t.id, t.grant_type) for t in family]
    assert all(t.revoked_at is not None for t in family)  # a loser is a reuse: the family ends
    assert {t.revoke_reason for t in family} == {"refresh token reused"}
