"""Creators: the people and organisations who make 二创, and whom licences are granted to."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hutong.errors import RightsError
from hutong.store import Account, AccountRole, Creator, Database

HANDLE = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")
KINDS = ("individual", "organisation")


@dataclass(frozen=True)
class CreatorRecord:
    handle: str
    name: str
    kind: str
    organisation: str | None
    verified: bool

    @classmethod
    def of(cls, c: Creator) -> CreatorRecord:
        return cls(c.handle, c.name, c.kind, c.organisation.handle if c.organisation else None, c.verified)

    def as_dict(self) -> dict:
        return asdict(self)


def normalise_handle(handle: str) -> str:
    h = handle.strip().lstrip("@").lower()
    if not HANDLE.match(h):
        raise RightsError(
            f"creator handle {handle!r} is not valid: use 2-64 of a-z, 0-9, '_', '.', '-', starting with a letter or digit"
        )
    return h


def find_creator(s: Session, handle: str) -> Creator:
    h = normalise_handle(handle)
    c = s.execute(select(Creator).where(Creator.handle == h)).scalar_one_or_none()
    if c is None:
        raise RightsError(f"no creator @{h}")
    return c


class Creators:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(
        self,
        handle: str,
        *,
        name: str = "",
        kind: str = "individual",
        organisation: str | None = None,
        verified: bool = False,
    ) -> CreatorRecord:
        h = normalise_handle(handle)
        if kind not in KINDS:
            raise RightsError(f"creator kind {kind!r} is not one of {', '.join(KINDS)}")
        with self.db.session() as s:
            if s.execute(select(Creator.id).where(Creator.handle == h)).first():
                raise RightsError(f"creator @{h} already exists")
            org = None
            if organisation:
                org = find_creator(s, organisation)
                if org.kind != "organisation":
                    raise RightsError(f"@{org.handle} is an individual, not an organisation")
                if kind == "organisation":
                    raise RightsError("an organisation cannot be a member of another organisation")
            c = Creator(handle=h, name=name or h, kind=kind, organisation=org, verified=verified)
            s.add(c)
            s.flush()
            return CreatorRecord.of(c)

    def set_verified(self, handle: str, verified: bool = True) -> CreatorRecord:
        with self.db.session() as s:
            c = find_creator(s, handle)
            c.verified = verified
            return CreatorRecord.of(c)

    def link(self, handle: str, username: str | None) -> CreatorRecord:
        """Let the platform account ``username`` act as this creator (None: no account does any more): the
        console's creator role (``hutong platform roles grant USER --creator HANDLE`` does the same). That
        user then publishes the clips certified to this creator, and to the members of an organisation."""
        with self.db.session() as s:
            c = find_creator(s, handle)
            if username is None:
                s.execute(
                    delete(AccountRole).where(AccountRole.role == "creator", AccountRole.subject == c.handle)
                )
                return CreatorRecord.of(c)
            account_id = s.execute(
                select(Account.id).where(Account.username == username.strip().lower())
            ).scalar_one_or_none()
            if account_id is None:
                raise RightsError(f"no platform account {username!r}")
            held = select(AccountRole.id).where(
                AccountRole.account_id == account_id,
                AccountRole.role == "creator",
                AccountRole.subject == c.handle,
            )
            if s.execute(held).first() is None:
                s.add(AccountRole(account_id=account_id, role="creator", subject=c.handle))
            return CreatorRecord.of(c)

    def acting_for(self, account_id: int) -> set[str]:
        """The handles a signed-in platform account may publish for: the creators it acts as (its creator
        roles), and every member of an organisation among them."""
        with self.db.session() as s:
            mine = select(AccountRole.subject).where(
                AccountRole.account_id == account_id, AccountRole.role == "creator"
            )
            own = s.execute(select(Creator).where(Creator.handle.in_(mine))).scalars().all()
            handles = {c.handle for c in own}
            orgs = [c.id for c in own if c.kind == "organisation"]
            if orgs:
                members = s.execute(select(Creator.handle).where(Creator.organisation_id.in_(orgs))).scalars()
                handles.update(members)
            return handles

    def acting_for_handle(self, handle: str) -> set[str]:
        """The same for a creator named by handle: that creator, and an organisation's members."""
        with self.db.session() as s:
            c = s.execute(
                select(Creator).where(Creator.handle == handle.strip().lstrip("@").lower())
            ).scalar_one_or_none()
            if c is None:
                return set()
            handles = {c.handle}
            if c.kind == "organisation":
                handles.update(
                    s.execute(select(Creator.handle).where(Creator.organisation_id == c.id)).scalars()
                )
            return handles

    def get(self, handle: str) -> CreatorRecord:
        with self.db.session() as s:
            return CreatorRecord.of(find_creator(s, handle))

    def list(self) -> list[CreatorRecord]:
        with self.db.session() as s:
            return [
                CreatorRecord.of(c) for c in s.execute(select(Creator).order_by(Creator.handle)).scalars()
            ]
