"""Accounts of the platform's users: register, log in (Argon2id), first-party API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select

from hutong.errors import PlatformError
from hutong.store import Account, ApiToken, Database, FederatedIdentity, utcnow

USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,31}$")
MIN_PASSWORD = 10
API_TOKEN_LIFETIME = timedelta(hours=12)
_hasher = PasswordHasher()  # Argon2id with the library's current recommended parameters
_DUMMY = _hasher.hash("timing-equaliser")


def token_hash(token: str) -> str:
    """Random tokens have 256 bits of entropy: a fast hash is enough to store them safely."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class AccountView:
    id: int
    username: str
    display_name: str
    email: str
    is_staff: bool

    @classmethod
    def of(cls, a: Account) -> AccountView:
        return cls(a.id, a.username, a.display_name, a.email, a.is_staff)

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "email": self.email,
        }


class Accounts:
    def __init__(self, db: Database) -> None:
        self.db = db

    def register(
        self, username: str, password: str, *, display_name: str = "", email: str = "", is_staff: bool = False
    ) -> AccountView:
        u = username.strip().lower()
        if not USERNAME.match(u):
            raise PlatformError(
                "username: 3-32 of a-z, 0-9, '_', '.', '-', starting with a letter or digit", 422
            )
        if len(password) < MIN_PASSWORD or len(password) > 1024:
            raise PlatformError(f"password: at least {MIN_PASSWORD} characters (and at most 1024)", 422)
        if email and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", email):
            raise PlatformError("email: not an e-mail address", 422)
        with self.db.session() as s:
            if s.execute(select(Account.id).where(Account.username == u)).first():
                raise PlatformError(f"username {u!r} is taken", 409)
            a = Account(
                username=u,
                display_name=(display_name.strip() or u)[:200],
                email=email,
                password_hash=_hasher.hash(password),
                is_staff=is_staff,
            )
            s.add(a)
            s.flush()
            return AccountView.of(a)

    def authenticate(self, username: str, password: str) -> AccountView | None:
        with self.db.session() as s:
            a = s.execute(
                select(Account).where(Account.username == username.strip().lower())
            ).scalar_one_or_none()
            try:
                _hasher.verify(
                    a.password_hash if a else _DUMMY, password
                )  # same work whether or not the user exists
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return None
            if a is None:
                return None
            if _hasher.check_needs_rehash(a.password_hash):
                a.password_hash = _hasher.hash(password)
            return AccountView.of(a)

    def get(self, account_id: int) -> AccountView | None:
        with self.db.session() as s:
            a = s.get(Account, account_id)
            return AccountView.of(a) if a else None

    def federated(self, issuer: str, subject: str, username_hint: str, display_name: str) -> AccountView:
        """The local account of a user of another platform (made at their first login here)."""
        with self.db.session() as s:
            link = s.execute(
                select(FederatedIdentity).where(
                    FederatedIdentity.issuer == issuer, FederatedIdentity.subject == subject
                )
            ).scalar_one_or_none()
            if link is not None:
                return AccountView.of(s.get(Account, link.account_id))
            base = re.sub(r"[^a-z0-9_.-]", "", username_hint.lower())[:20] or "user"
            tag = hashlib.sha256(issuer.encode()).hexdigest()[:6]
            username = f"{base}.{tag}"
            n = 1
            while s.execute(select(Account.id).where(Account.username == username)).first():
                n += 1
                username = f"{base}.{tag}{n}"
            # no password: this account logs in only through its provider
            a = Account(username=username, display_name=(display_name or base)[:200], email="",
                        password_hash=_hasher.hash(secrets.token_urlsafe(32)), is_staff=False)  # fmt: skip
            s.add(a)
            s.flush()
            s.add(FederatedIdentity(account_id=a.id, issuer=issuer, subject=subject))
            return AccountView.of(a)

    def issue_api_token(self, account_id: int) -> tuple[str, int]:
        token = "hta_" + secrets.token_urlsafe(32)
        with self.db.session() as s:
            s.add(
                ApiToken(
                    token_hash=token_hash(token),
                    account_id=account_id,
                    expires_at=utcnow() + API_TOKEN_LIFETIME,
                )
            )
        return token, int(API_TOKEN_LIFETIME.total_seconds())

    def by_api_token(self, token: str) -> AccountView | None:
        with self.db.session() as s:
            row = s.execute(
                select(ApiToken).where(ApiToken.token_hash == token_hash(token))
            ).scalar_one_or_none()
            if row is None or row.expires_at <= utcnow():
                return None
            a = s.get(Account, row.account_id)
            return AccountView.of(a) if a else None
