""" "Log in with <another platform>": this platform as an OpenID Connect relying party of the identity
providers staff added (``hutong interconnect idp``). Authorization code with PKCE, state and nonce, the
RFC 9207 ``iss`` check against mix-up, and full ID-token validation."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from hutong.errors import PlatformError
from hutong.platform.accounts import Accounts, AccountView
from hutong.platform.interconnect import Directory


class Federation:
    def __init__(self, directory: Directory, accounts: Accounts, http: httpx.Client, issuer: str) -> None:
        self.directory, self.accounts, self.http, self.issuer = directory, accounts, http, issuer

    @property
    def callback(self) -> str:
        return f"{self.issuer}/login/federated/callback"

    def _metadata(self, idp: dict) -> dict:
        try:
            meta = self.http.get(f"{idp['issuer']}/.well-known/openid-configuration", timeout=5).json()
        except (httpx.HTTPError, ValueError):
            raise PlatformError(f"{idp['name']} cannot be reached right now.", 502) from None
        if not isinstance(meta, dict) or not all(
            isinstance(meta.get(k), str) for k in ("authorization_endpoint", "token_endpoint", "jwks_uri")
        ):
            raise PlatformError(f"{idp['name']} publishes no usable OpenID configuration.", 502)
        return meta

    def start(self, idp_id: int, next_path: str) -> tuple[str, dict]:
        """(where to send the browser, what to keep in the session until the callback)."""
        idp, _ = self.directory.idp(idp_id)
        meta = self._metadata(idp)
        verifier = secrets.token_urlsafe(48)
        pending = {"idp": idp_id, "state": secrets.token_urlsafe(16), "nonce": secrets.token_urlsafe(16),
                   "verifier": verifier, "next": next_path}  # fmt: skip
        query = {"response_type": "code", "client_id": idp["client_id"], "redirect_uri": self.callback,
                 "scope": "openid profile", "state": pending["state"], "nonce": pending["nonce"],
                 "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256"}  # fmt: skip
        return meta["authorization_endpoint"] + "?" + urlencode(query), pending

    def finish(self, pending: dict | None, *, state: str, code: str, iss: str, error: str) -> AccountView:
        """Check the provider's answer, redeem the code, validate its ID token, find or create the account."""
        if not pending or not secrets.compare_digest(str(pending.get("state", "")), state):
            raise PlatformError("This login did not start here (state mismatch): start again.", 400)
        idp, secret = self.directory.idp(pending["idp"])
        if error:
            raise PlatformError(f"{idp['name']} did not log you in ({error[:100]}).", 400)
        if iss != idp["issuer"]:  # RFC 9207: the answer must come from the provider we asked
            raise PlatformError("The answer came from another provider (mix-up): refused.", 400)
        meta = self._metadata(idp)
        try:
            r = self.http.post(meta["token_endpoint"], auth=(idp["client_id"], secret), timeout=10, data={
                "grant_type": "authorization_code", "code": code, "redirect_uri": self.callback,
                "code_verifier": pending["verifier"]})  # fmt: skip
            tokens = r.json()
            keys = KeySet.import_key_set(self.http.get(meta["jwks_uri"], timeout=5).json())
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise PlatformError(
                f"{idp['name']} could not be reached ({exc.__class__.__name__})", 502
            ) from None
        if not isinstance(tokens, dict) or "id_token" not in tokens:
            detail = (
                tokens.get("error_description") or tokens.get("error") if isinstance(tokens, dict) else ""
            )
            raise PlatformError(f"{idp['name']} refused the login: {detail or 'no ID token'}", 400)
        try:
            claims = jwt.decode(tokens["id_token"], keys, algorithms=["RS256"]).claims
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": idp["issuer"]}, aud={"essential": True, "value": idp["client_id"]},
                nonce={"essential": True, "value": pending["nonce"]}, exp={"essential": True}, sub={"essential": True},
            ).validate(claims)  # fmt: skip
        except (JoseError, ValueError) as exc:
            raise PlatformError(f"the ID token from {idp['name']} is not valid ({exc})", 400) from None
        return self.accounts.federated(
            idp["issuer"], str(claims["sub"]), claims.get("preferred_username", ""), claims.get("name", "")
        )


__all__ = ["Federation"]
