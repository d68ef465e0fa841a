"""Creators: the people and organisations who make 二创, and whom licences are granted to."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hutong.errors import RightsError
from hutong.store import Creator, Database

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

    def get(self, handle: str) -> CreatorRecord:
        with self.db.session() as s:
            return CreatorRecord.of(find_creator(s, handle))

    def list(self) -> list[CreatorRecord]:
        with self.db.session() as s:
            return [
                CreatorRecord.of(c) for c in s.execute(select(Creator).order_by(Creator.handle)).scalars()
            ]
