"""Who may do what in the console. A platform account can speak for rights holders (the ``holder`` name on
works and licences) and act as creators (creator handles); staff review developers; an account with a
developer record has a developer portal. Roles are granted by staff (``hutong platform roles grant``) and
every console page checks them on the server."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select

from hutong.errors import PlatformError
from hutong.rights.creators import normalise_handle
from hutong.store import Account, AccountRole, Creator, Database, Developer

ROLES = ("holder", "creator")


@dataclass(frozen=True)
class Membership:
    """What one account may see and do in the console."""

    account_id: int
    holders: tuple[str, ...]
    creators: tuple[str, ...]
    staff: bool
    developer: bool

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(
            role
            for role, held in (
                ("holder", self.holders),
                ("creator", self.creators),
                ("reviewer", self.staff),
                ("developer", self.developer),
            )  # fmt: skip
            if held
        )


class Roles:
    def __init__(self, db: Database) -> None:
        self.db = db

    def of(self, account_id: int) -> Membership:
        with self.db.session() as s:
            account = s.get(Account, account_id)
            if account is None:
                raise PlatformError("no such account", 404)
            rows = s.execute(
                select(AccountRole.role, AccountRole.subject)
                .where(AccountRole.account_id == account_id)
                .order_by(AccountRole.subject)
            ).all()
            developer = s.execute(select(Developer.id).where(Developer.account_id == account_id)).first()
            return Membership(
                account_id,
                tuple(sub for role, sub in rows if role == "holder"),
                tuple(sub for role, sub in rows if role == "creator"),
                account.is_staff,
                developer is not None,
            )

    def of_username(self, username: str) -> Membership:
        with self.db.session() as s:
            account_id = self._account(s, username).id
        return self.of(account_id)

    def grant(self, username: str, role: str, subject: str) -> Membership:
        role, subject = self._check(role, subject)
        with self.db.session() as s:
            account = self._account(s, username)
            if role == "creator":
                subject = normalise_handle(subject)
                if not s.execute(select(Creator.id).where(Creator.handle == subject)).first():
                    raise PlatformError(
                        f"no creator with handle {subject!r} (hutong creators add it first)", 404
                    )
            exists = s.execute(
                select(AccountRole.id).where(
                    AccountRole.account_id == account.id,
                    AccountRole.role == role,
                    AccountRole.subject == subject,
                )
            ).first()
            if not exists:
                s.add(AccountRole(account_id=account.id, role=role, subject=subject))
            account_id = account.id
        return self.of(account_id)

    def revoke(self, username: str, role: str, subject: str) -> Membership:
        role, subject = self._check(role, subject)
        with self.db.session() as s:
            account = self._account(s, username)
            if role == "creator":
                subject = normalise_handle(subject)
            gone = s.execute(
                delete(AccountRole).where(
                    AccountRole.account_id == account.id,
                    AccountRole.role == role,
                    AccountRole.subject == subject,
                )
            ).rowcount
            if not gone:
                raise PlatformError(f"{account.username} has no {role} role for {subject!r}", 404)
            account_id = account.id
        return self.of(account_id)

    def set_staff(self, username: str, staff: bool) -> Membership:
        with self.db.session() as s:
            account = self._account(s, username)
            account.is_staff = staff
            account_id = account.id
        return self.of(account_id)

    @staticmethod
    def _check(role: str, subject: str) -> tuple[str, str]:
        if role not in ROLES:
            raise PlatformError(f"role must be one of {', '.join(ROLES)} (staff: --staff)", 422)
        subject = subject.strip()
        if not subject or len(subject) > 500:
            raise PlatformError(f"a {role} role needs the name it stands for (1-500 characters)", 422)
        return role, subject

    @staticmethod
    def _account(s, username: str) -> Account:
        account = s.execute(
            select(Account).where(Account.username == username.strip().lower())
        ).scalar_one_or_none()
        if account is None:
            raise PlatformError(f"no account {username!r}", 404)
        return account
