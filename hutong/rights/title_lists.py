"""Title lists (片单): a holder's works licensed together, with the creators allowed to use them (授权白名单).

A licence granted over a title list (``title_list = "…"`` in its terms) takes the list's works and allowlist;
changing the list amends every active licence granted over it (a new licence version, so certificates
issued before keep naming the version that decided)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hutong.errors import RightsError
from hutong.rights.creators import find_creator
from hutong.rights.licences import Licences
from hutong.store import Database, Licence, TitleList, Work, utcnow


@dataclass(frozen=True)
class TitleListRecord:
    holder: str
    name: str
    works: list[int]
    creators: list[str]
    updated_at: datetime

    def as_dict(self) -> dict:
        return {"holder": self.holder, "name": self.name, "works": self.works, "creators": self.creators,
                "updated_at": self.updated_at.isoformat()}  # fmt: skip


def find_title_list(s: Session, holder: str, name: str) -> TitleList:
    row = s.execute(
        select(TitleList).where(TitleList.holder == holder, TitleList.name == name.strip())
    ).scalar_one_or_none()
    if row is None:
        raise RightsError(f"{holder!r} has no title list {name.strip()!r} (see `hutong titles list`)")
    return row


class TitleLists:
    def __init__(self, db: Database, licences: Licences) -> None:
        self.db, self.licences = db, licences

    def set(self, holder: str, name: str, works: list[int], creators: list[str]) -> TitleListRecord:
        """Create the list, or replace its works and allowlist (re-deciding the licences granted over it)."""
        holder, name = holder.strip(), name.strip()
        if not holder or not name:
            raise RightsError("a title list needs its holder and a name")
        if len(name) > 200:
            raise RightsError("a title list's name has at most 200 characters")
        if not works:
            raise RightsError(f"title list {name!r} names no work")
        handles = sorted({c.strip().lstrip("@").lower() for c in creators if c.strip()})
        with self.db.session() as s:
            found = {
                w.id: w
                for w in s.execute(
                    select(Work).where(Work.id.in_([w for w in works if 0 < w <= 2**63 - 1]))
                ).scalars()
                if w.removed_at is None
            }
            missing = sorted(set(works) - set(found))
            if missing:
                raise RightsError(
                    f"title list {name!r} names unknown work {', '.join(map(str, missing))} (see `hutong works list`)"
                )
            for w in found.values():
                if w.holder and w.holder != holder:
                    raise RightsError(f"work {w.id} 《{w.title}》 is held by {w.holder!r}, not {holder!r}")
            for h in handles:
                find_creator(s, h)
            row = s.execute(
                select(TitleList).where(TitleList.holder == holder, TitleList.name == name)
            ).scalar_one_or_none()
            now = utcnow()
            if row is None:
                row = TitleList(holder=holder, name=name, created_at=now)
                s.add(row)
            row.works, row.creators, row.updated_at = sorted(set(works)), handles, now
            s.flush()
            record = TitleListRecord(row.holder, row.name, row.works, row.creators, row.updated_at)
        for code in self.granted_over(holder, name):
            lic = self.licences.get(code)
            self.licences.amend(code, lic.terms, reason=f"title list {name!r} changed", allow_overlap=True)
        return record

    def granted_over(self, holder: str, name: str) -> list[str]:
        """Codes of the active licences granted over this list (the ones a change of the list amends)."""
        with self.db.session() as s:
            rows = s.execute(select(Licence).where(Licence.holder == holder, Licence.status == "active"))
            return [lic.code for lic in rows.scalars() if (lic.terms or {}).get("title_list") == name]

    def get(self, holder: str, name: str) -> TitleListRecord:
        with self.db.session() as s:
            row = find_title_list(s, holder, name)
            return TitleListRecord(row.holder, row.name, row.works, row.creators, row.updated_at)

    def list(self, holder: str | None = None) -> list[TitleListRecord]:
        with self.db.session() as s:
            q = select(TitleList).order_by(TitleList.holder, TitleList.name)
            if holder:
                q = q.where(TitleList.holder == holder)
            return [
                TitleListRecord(r.holder, r.name, r.works, r.creators, r.updated_at) for r in s.scalars(q)
            ]
