"""OAuth 2.0 + OpenID Connect on Authlib's core: code + PKCE (S256, required for every client), refresh
tokens with rotation and reuse detection, client credentials, revocation (RFC 7009), introspection
(RFC 7662), the ``iss`` authorization-response parameter (RFC 9207) and ID tokens (RS256).

Authlib ships no FastAPI adapter; :class:`OAuthServer` takes requests already read by the thin Starlette
adapter in ``hutong.api.oauth`` and returns ``(status, body, headers)`` for it to send.
"""

from __future__ import annotations

import hmac
import re
import secrets
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Payload, OAuth2Request, TokenMixin
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    UnauthorizedClientError,
    UnsupportedResponseTypeError,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, ClientCredentialsGrant, RefreshTokenGrant
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import OpenIDCode, UserInfo
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from sqlalchemy import bindparam, insert, select, update

from hutong.keys import KeyRing
from hutong.platform.accounts import token_hash
from hutong.platform.policy import ReviewPolicy
from hutong.store import Account, App, Database, OAuthCode, OAuthToken, utcnow

log = structlog.get_logger("hutong.oauth")
ACCESS_LIFETIME = 3600
REFRESH_LIFETIME = timedelta(days=30)
CODE_LIFETIME = timedelta(minutes=2)
APP_LEVEL = {"links.card"}  # scopes that carry no user data: the only ones client credentials may get
# RFC 6749 appendix A: response-type is names of ALPHA / DIGIT / "_"; a redirect URI is a URI (RFC 3986),
# so printable ASCII without space, '"', '<', '>', '\\', '^', '`', '{', '|', '}'
RESPONSE_TYPE = re.compile(r"[A-Za-z0-9_]+( [A-Za-z0-9_]+)*")
URI_CHARS = re.compile(r"[!#-;=?-\[\]_a-z~]*")


# -- the objects Authlib asks about --------------------------------------------------------------


@dataclass
class Client(ClientMixin):
    client_id: str
    secret_hash: str
    client_type: str
    redirect_uris: list[str]
    scopes: list[str]
    name: str
    status: str

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # with several registered URIs the request must name one exactly
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str) -> str:
        if not scope:
            return ""
        return " ".join(s for s in scope.split() if s in self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris  # exact string match, no prefixes or patterns

    def check_client_secret(self, client_secret: str) -> bool:
        return bool(self.secret_hash) and hmac.compare_digest(token_hash(client_secret), self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.client_type == "public":
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and self.status == "active"

    def check_grant_type(self, grant_type: str) -> bool:
        allowed = {"authorization_code", "refresh_token"}
        if self.client_type == "confidential":
            allowed.add("client_credentials")
        return grant_type in allowed and self.status == "active"


# the token endpoint's statements, built once (their compiled form is cached by SQLAlchemy)
CLIENT_BY_ID = select(  # the fields of Client, in order
    App.client_id,
    App.client_secret_hash,
    App.client_type,
    App.redirect_uris,
    App.scopes_granted,
    App.name,
    App.status,
).where(App.client_id == bindparam("client_id"))
INSERT_TOKEN = insert(OAuthToken.__table__)
TOKEN_BY_REFRESH_HASH = select(OAuthToken.__table__).where(
    OAuthToken.refresh_hash == bindparam("refresh_hash")
)
ACCOUNT_BY_ID = select(Account.id, Account.username, Account.display_name, Account.email).where(
    Account.id == bindparam("account_id")
)
#: rotation, claimed in the transaction that stores the new pair: of two requests racing with one refresh
#: token (threads, or API processes), one marks it rotated and the other's pair is never stored
ROTATE_REFRESH = (
    update(OAuthToken.__table__)
    .where(OAuthToken.id == bindparam("token_id"), OAuthToken.rotated_at.is_(None))
    .values(rotated_at=bindparam("now"))
)
CONSUME_CODE = (
    update(OAuthCode.__table__)
    .where(
        OAuthCode.id == bindparam("code_id"),
        OAuthCode.used_at.is_(None),
        OAuthCode.expires_at > bindparam("now"),
    )
    .values(used_at=bindparam("now"))
)


@dataclass
class User:
    id: int
    username: str
    display_name: str
    email: str

    def get_user_id(self) -> int:
        return self.id


@dataclass
class Code:
    id: int
    client_id: str
    account_id: int
    redirect_uri: str
    scope: str
    nonce: str
    code_challenge: str
    code_challenge_method: str
    auth_time: int
    family: str

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce or None

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self):
        return None

    def get_amr(self):
        return None


@dataclass
class Token(TokenMixin):
    id: int
    family: str
    client_id: str
    account_id: int | None
    scope: str
    issued_at: datetime
    expires_at: datetime | None
    revoked: bool
    kind: str  # which half was presented: access_token | refresh_token

    @classmethod
    def of(cls, row: OAuthToken, kind: str, app_status: str) -> Token:
        exp = row.access_expires_at if kind == "access_token" else row.refresh_expires_at
        revoked = row.revoked_at is not None or (kind == "refresh_token" and row.rotated_at is not None)
        revoked = revoked or app_status != "active"  # a suspended app's tokens work nowhere until reinstated
        return cls(
            row.id, row.family, row.client_id, row.account_id, row.scope, row.issued_at, exp, revoked, kind
        )

    def check_client(self, client: Client) -> bool:
        return self.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int((self.expires_at - self.issued_at).total_seconds()) if self.expires_at else 0

    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.revoked


class FormPayload(OAuth2Payload):
    """Query and form parameters together, keeping repeats (Authlib refuses repeated parameters)."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._list: defaultdict[str, list] = defaultdict(list)
        for k, v in items:
            self._list[k].append(v)
        self._data = {k: v[0] for k, v in self._list.items()}

    @property
    def data(self) -> dict:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list]:
        return self._list


class Request(OAuth2Request):
    def __init__(
        self, method: str, uri: str, headers: dict, query: list[tuple[str, str]], form: list[tuple[str, str]]
    ) -> None:
        super().__init__(method, uri, headers=headers)
        self._args = dict(query)
        self._form = dict(form)
        self.payload = FormPayload(query + form)

    @property
    def args(self) -> dict:
        return self._args

    @property
    def form(self) -> dict:
        return self._form


# -- grants --------------------------------------------------------------------------------------


def _check_scope_escalation(grant, allowed: set[str]) -> None:
    requested = set((grant.request.payload.scope or "").split())
    extra = requested - allowed
    if extra:
        raise InvalidScopeError(f"scope(s) {' '.join(sorted(extra))} not granted to this app")


class PKCE(CodeChallenge):
    """S256 for every client, confidential ones included (RFC 9700 §2.1.1); refused at the authorize step."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        return super().validate_code_challenge(grant, redirect_uri)


class CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def validate_requested_scope(self):
        super().validate_requested_scope()
        _check_scope_escalation(self, set(self.request.client.scopes) - APP_LEVEL)

    def save_authorization_code(self, code: str, request) -> None:
        data = request.payload.data
        with self.server.db.session() as s:
            s.add(OAuthCode(
                code_hash=token_hash(code), client_id=request.client.client_id, account_id=request.user.id,
                redirect_uri=data.get("redirect_uri") or "", scope=request.scope or "", nonce=data.get("nonce") or "",
                code_challenge=data.get("code_challenge") or "", code_challenge_method=data.get("code_challenge_method") or "",
                auth_time=int(utcnow().timestamp()), expires_at=utcnow() + CODE_LIFETIME, family=uuid.uuid4().hex,
            ))  # fmt: skip

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        with self.server.db.session() as s:
            row = s.execute(
                select(OAuthCode).where(OAuthCode.code_hash == token_hash(code))
            ).scalar_one_or_none()
            if row is None or row.client_id != client.client_id:
                return None  # unknown, or issued to another client (mix-up)
            if row.used_at is not None:
                # a code used twice was stolen: revoke what the first use obtained (RFC 9700 §4.5)
                self.server.revoke_family(row.family, "authorization code replayed")
                return None
            if row.expires_at <= utcnow():
                return None  # expired, or the user revoked the grant since (revoke_grant expires its codes)
            return Code(row.id, row.client_id, row.account_id, row.redirect_uri, row.scope, row.nonce,
                        row.code_challenge, row.code_challenge_method, row.auth_time, row.family)  # fmt: skip

    def delete_authorization_code(self, code: Code) -> None:
        pass  # consumed by OAuthServer.save_token, in the transaction that stores the tokens

    def authenticate_user(self, code: Code) -> User | None:
        return self.server.user(code.account_id)


class RefreshGrant(RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: every refresh returns a new refresh token

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        with self.server.db.read() as c:  # a hot path: a cached Core statement, no ORM session
            row = c.execute(TOKEN_BY_REFRESH_HASH, {"refresh_hash": token_hash(refresh_token)}).first()
        if row is None or row.revoked_at is not None:
            return None
        if row.rotated_at is not None:
            # reuse of a rotated refresh token: someone holds a copy; end the whole family
            self.server.revoke_family(row.family, "refresh token reused")
            return None
        if row.refresh_expires_at is None or row.refresh_expires_at <= utcnow():
            return None
        return Token.of(row, "refresh_token", "active")  # the client's status is checked on its own

    def authenticate_user(self, refresh_token: Token) -> User | None:
        return self.server.user(refresh_token.account_id) if refresh_token.account_id else None

    def revoke_old_credential(self, refresh_token: Token) -> None:
        pass  # rotated by OAuthServer.save_token, in the transaction that stores the new pair


class AppGrant(ClientCredentialsGrant):
    def validate_requested_scope(self):
        super().validate_requested_scope()
        _check_scope_escalation(self, set(self.request.client.scopes) & APP_LEVEL)


class OpenID(OpenIDCode):
    def __init__(self, server: OAuthServer) -> None:
        super().__init__(require_nonce=False)
        self.server = server

    def resolve_client_private_key(self, client):
        return self.server.id_keys.private_key(self.server.id_keys.active_kid())

    def get_client_algorithm(self, client) -> str:
        return "RS256"

    def get_encode_header(self, client) -> dict:
        return {"alg": "RS256", "kid": self.server.id_keys.active_kid(), "typ": "JWT"}

    def get_client_claims(self, client) -> dict:
        return {
            "iss": self.server.issuer,
            "aud": [client.get_client_id()],
            "exp": int(utcnow().timestamp()) + ACCESS_LIFETIME,
        }

    def exists_nonce(self, nonce: str, request) -> bool:
        with self.server.db.session() as s:
            return (
                s.execute(
                    select(OAuthCode.id).where(
                        OAuthCode.client_id == request.payload.client_id, OAuthCode.nonce == nonce
                    )
                ).first()
                is not None
            )

    def generate_user_info(self, user: User, scope: str) -> UserInfo:
        return user_info(user, scope)


def user_info(user: User, scope: str) -> UserInfo:
    info = UserInfo(sub=str(user.id))
    scopes = set(scope.split())
    if scopes & {"profile", "user.info"}:
        info.update(name=user.display_name, preferred_username=user.username)
    return info


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return self.server.find_token(token_string, token_type_hint)

    def revoke_token(self, token: Token, request) -> None:
        if token.kind == "refresh_token":
            self.server.revoke_family(token.family, "revoked by the client")  # RFC 7009 §2.1
        else:
            with self.server.db.session() as s:
                s.execute(
                    update(OAuthToken)
                    .where(OAuthToken.id == token.id)
                    .values(revoked_at=utcnow(), revoke_reason="revoked by the client")
                )


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return self.server.find_token(token_string, token_type_hint)

    def check_permission(self, token: Token, client: Client, request) -> bool:
        return token.client_id == client.client_id  # an app may look only at its own tokens

    def introspect_token(self, token: Token) -> dict:
        user = self.server.user(token.account_id) if token.account_id else None
        return {
            "active": True, "client_id": token.client_id, "token_type": "Bearer" if token.kind == "access_token" else "refresh_token",
            "scope": token.scope, "sub": str(user.id) if user else token.client_id, "username": user.username if user else None,
            "iat": int(token.issued_at.timestamp()), "exp": int(token.expires_at.timestamp()) if token.expires_at else None,
            "iss": self.server.issuer, "aud": token.client_id,
        }  # fmt: skip


# -- the server ----------------------------------------------------------------------------------


@dataclass
class Reply:
    """What Authlib answers; the HTTP adapter turns it into a response (hooks may edit ``location``)."""

    status: int
    body: object
    headers: dict

    @property
    def location(self) -> str | None:
        return self.headers.get("Location")

    @location.setter
    def location(self, value: str) -> None:
        self.headers["Location"] = value


class OAuthServer(AuthorizationServer):
    def __init__(self, db: Database, policy: ReviewPolicy, id_keys: KeyRing, issuer: str) -> None:
        super().__init__(scopes_supported=list(policy.scopes))
        self.db, self.id_keys, self.issuer = db, id_keys, issuer
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda **_: "hto_" + secrets.token_urlsafe(32),
                refresh_token_generator=lambda **_: "htr_" + secrets.token_urlsafe(32),
                expires_generator=lambda client, grant_type: ACCESS_LIFETIME,
            ),
        )
        self.register_grant(CodeGrant, [PKCE(required=True), OpenID(self)])
        self.register_grant(RefreshGrant)
        self.register_grant(AppGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)

    def query_client(self, client_id: str) -> Client | None:
        if not client_id or len(client_id) > 64:
            return None
        with self.db.read() as c:  # every token request: a cached Core statement, no ORM session
            row = c.execute(CLIENT_BY_ID, {"client_id": client_id}).first()
        return Client(*row) if row else None

    def authenticate_client(self, request, methods, endpoint="token"):
        client = super().authenticate_client(request, methods, endpoint)
        # a suspended app may still revoke and introspect (its tokens read as inactive), nothing else
        if client.status != "active" and endpoint == "token":
            raise UnauthorizedClientError("this app is suspended by the platform", status_code=400)
        return client

    def user(self, account_id: int) -> User | None:
        with self.db.read() as c:  # every refresh asks: a cached Core statement
            row = c.execute(ACCOUNT_BY_ID, {"account_id": account_id}).first()
        return User(*row) if row else None

    def save_token(self, token: dict, request) -> None:
        now = utcnow()
        code = request.authorization_code
        if code is not None:
            family = code.family
        elif request.refresh_token is not None:
            family = request.refresh_token.family
        else:
            family = uuid.uuid4().hex
        refresh = token.get("refresh_token")
        row = {
            "family": family, "client_id": request.client.client_id, "account_id": request.user.id if request.user else None,
            "grant_type": request.payload.grant_type or "", "scope": token.get("scope", ""),
            "access_hash": token_hash(token["access_token"]), "refresh_hash": token_hash(refresh) if refresh else None,
            "issued_at": now, "access_expires_at": now + timedelta(seconds=token["expires_in"]),
            "refresh_expires_at": now + REFRESH_LIFETIME if refresh else None, "revoke_reason": "",
        }  # fmt: skip
        rotating = request.refresh_token if code is None else None
        # Core statements on one connection: the ORM's unit of work cost more than the INSERT on this hot path
        with self.db.engine.begin() as c:
            # consume the code in the transaction that stores its tokens: of two redemptions racing, or a
            # redemption racing the user's revocation of the grant, at most one gets tokens
            if code is not None and c.execute(CONSUME_CODE, {"code_id": code.id, "now": now}).rowcount != 1:
                raise InvalidGrantError("the authorization code was used, expired or revoked")
            reused = (
                rotating is not None
                and c.execute(ROTATE_REFRESH, {"token_id": rotating.id, "now": now}).rowcount != 1
            )
            if not reused:
                c.execute(INSERT_TOKEN, row)
        if reused:  # another request rotated it first: someone holds a copy; end the whole family
            self.revoke_family(rotating.family, "refresh token reused")
            raise InvalidGrantError("the refresh token was already used")

    def find_token(self, token_string: str, hint: str | None) -> Token | None:
        h = token_hash(token_string)
        order = (
            ("refresh_token", "access_token")
            if hint == "refresh_token"
            else ("access_token", "refresh_token")
        )
        column = {"access_token": OAuthToken.access_hash, "refresh_token": OAuthToken.refresh_hash}
        with self.db.session() as s:
            for kind in order:
                found = s.execute(
                    select(OAuthToken, App.status)
                    .outerjoin(App, App.client_id == OAuthToken.client_id)
                    .where(column[kind] == h)
                ).first()
                if found:
                    return Token.of(found[0], kind, found[1] or "deleted")
        return None

    def revoke_family(self, family: str, reason: str) -> int:
        with self.db.session() as s:
            n = s.execute(
                update(OAuthToken)
                .where(OAuthToken.family == family, OAuthToken.revoked_at.is_(None))
                .values(revoked_at=utcnow(), revoke_reason=reason)
            ).rowcount
        log.warning("oauth.family_revoked", family=family, reason=reason, tokens=n)
        return n

    def bearer(self, token_string: str) -> tuple[Token, User | None] | None:
        """Resolve an access token presented to this platform's own APIs (None when not usable)."""
        t = self.find_token(token_string, "access_token")
        if t is None or t.kind != "access_token" or t.is_expired() or t.is_revoked():
            return None
        return t, self.user(t.account_id) if t.account_id else None

    # -- the authorization endpoint ---------------------------------------------------------------

    def get_authorization_grant(self, request):
        # Authlib quotes response_type and redirect_uri in error descriptions, and refuses (ValueError, a 500)
        # descriptions with '"' or '\\': check their syntax first and say what is wrong without quoting them
        redirect_uri = request.payload.redirect_uri
        if redirect_uri is not None and not (len(redirect_uri) <= 2000 and URI_CHARS.fullmatch(redirect_uri)):
            raise InvalidRequestError("redirect_uri is not a URI registered for this client")
        if not RESPONSE_TYPE.fullmatch(request.payload.response_type or ""):
            raise UnsupportedResponseTypeError(
                "response_type must be code", redirect_uri=self._verified_redirect_uri(request)
            )
        return super().get_authorization_grant(request)

    def _verified_redirect_uri(self, request) -> str | None:
        """Where errors may go: only a registered URI of a known client (else: an open redirector)."""
        client = self.query_client(request.payload.client_id or "")
        if client is None:
            return None
        uri = request.payload.redirect_uri
        if uri:
            return uri if client.check_redirect_uri(uri) else None
        return client.get_default_redirect_uri()

    def get_consent_grant(self, request=None, end_user=None):
        grant = super().get_consent_grant(request, end_user)
        prompts = set((request.payload.data.get("prompt") or "").split())
        if "none" in prompts and end_user is not None:
            # OIDC Core 3.1.2.6: no UI at all; without a live grant covering every scope, tell the client
            covered = set((request.scope or "").split()) <= self.granted_scopes(
                end_user.id, grant.client.client_id
            )
            if len(prompts) > 1 or not covered:
                error = (
                    InvalidRequestError("prompt=none cannot be combined with other values")
                    if len(prompts) > 1
                    else ConsentRequiredError()
                )
                error.redirect_uri, error.state = grant.redirect_uri, request.payload.state
                raise error
        return grant

    def start_authorization(self, request: Request, account_id: int | None) -> Reply | CodeGrant | None:
        """GET /oauth/authorize. Returns the Reply to send when the answer goes to the client (an error, or
        with ``prompt=none`` the code, ``login_required`` or ``consent_required``), the grant to ask the user's
        consent for, or None when the user must log in first. Raises OAuth2Error only when the client or its
        redirect URI is not verified: show an error page then, never redirect."""
        user = self.user(account_id) if account_id is not None else None
        prompts = set((request.payload.data.get("prompt") or "").split())
        try:
            # validates the client, redirect URI, PKCE, scope and prompt
            grant = self.get_consent_grant(request, end_user=user)
            if "none" in prompts and user is None:
                raise LoginRequiredError(redirect_uri=grant.redirect_uri, state=request.payload.state)
        except OAuth2Error as error:
            if error.redirect_uri:
                return self.handle_error_response(request, error)
            raise
        if "none" not in prompts:
            return grant if user is not None else None
        log.info("oauth.consent", client=grant.client.client_id, allowed=True, user=user.id, prompt="none")
        return self.create_authorization_response(request, grant_user=user, grant=grant)

    # -- Authlib's framework hooks: requests come in already read, responses go out as tuples --

    def create_oauth2_request(self, request) -> OAuth2Request:
        return request

    def create_json_request(self, request):
        return request

    def handle_response(self, status: int, body, headers) -> Reply:
        reply = Reply(status, body, dict(headers or []))
        if reply.location:
            # only authorization responses redirect, to the client: RFC 9207 wants iss on each, errors included
            reply.location = add_params_to_uri(reply.location, [("iss", self.issuer)])
        return reply

    def send_signal(self, name, *args, **kwargs) -> None:
        log.debug("oauth.signal", name=name)

    # -- grants the user can see and end ---------------------------------------------------------

    def _live_tokens(self, s, account_id: int, client_id: str | None = None):
        now = utcnow()
        q = (
            select(OAuthToken, App)
            .join(App, App.client_id == OAuthToken.client_id)
            .where(OAuthToken.account_id == account_id, OAuthToken.revoked_at.is_(None))
        )
        if client_id is not None:
            q = q.where(OAuthToken.client_id == client_id)
        for tok, app in s.execute(q).all():
            live = (
                tok.refresh_expires_at and tok.refresh_expires_at > now and tok.rotated_at is None
            ) or tok.access_expires_at > now
            if live:
                yield tok, app

    def granted_scopes(self, account_id: int, client_id: str) -> set[str]:
        """Every scope the user has granted the app and not revoked (live tokens only)."""
        with self.db.session() as s:
            return {sc for tok, _ in self._live_tokens(s, account_id, client_id) for sc in tok.scope.split()}

    def grants_of(self, account_id: int) -> list[dict]:
        with self.db.session() as s:
            apps: dict[str, dict] = {}
            for tok, app in self._live_tokens(s, account_id):
                entry = apps.setdefault(
                    app.client_id,
                    {"client_id": app.client_id, "app": app.name, "scopes": set(), "since": tok.issued_at},
                )
                entry["scopes"] |= set(tok.scope.split())
                entry["since"] = min(entry["since"], tok.issued_at)
            return [
                {**e, "scopes": sorted(e["scopes"]), "since": e["since"].isoformat()} for e in apps.values()
            ]

    def revoke_grant(self, account_id: int, client_id: str) -> int:
        """End what the user granted the app: its tokens, and the codes not yet redeemed (they expire now)."""
        now = utcnow()
        with self.db.session() as s:
            s.execute(
                update(OAuthCode)
                .where(
                    OAuthCode.account_id == account_id,
                    OAuthCode.client_id == client_id,
                    OAuthCode.used_at.is_(None),
                    OAuthCode.expires_at > now,
                )
                .values(expires_at=now)
            )
            return s.execute(
                update(OAuthToken)
                .where(
                    OAuthToken.account_id == account_id,
                    OAuthToken.client_id == client_id,
                    OAuthToken.revoked_at.is_(None),
                )
                .values(revoked_at=now, revoke_reason="revoked by the user")
            ).rowcount
