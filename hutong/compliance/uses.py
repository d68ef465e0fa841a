"""Where a rights holder's works are used: certificates issued over them, posts on this platform that carry
those certificates, and posts published to other platforms through distribution. One row per use and work,
read in SQL (a union of the three), so the console pages through tens of thousands of uses.

A certificate is tied to the works it covers (``certificate_works``, the works its token names); a clip using
two of the holder's works is a use of each."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy import String, cast, func, literal, select, union_all

from hutong.store import Certificate, Database, DistributionAccount, Post, PublishJob, Work
from hutong.store.models import CertificateWork
from hutong.store.paging import ListQuery, Page, contains, page_of

KINDS = ("certificate", "post", "distribution")


def platforms_of(text: str) -> list[str]:
    """A use's platform column: a name, or a certificate's JSON list of the platforms it covers."""
    if text.startswith("["):
        try:
            return [str(p) for p in json.loads(text)] or ["*"]
        except ValueError:
            return [text]
    return [text]


@dataclass(frozen=True)
class Use:
    kind: str  # certificate | post | distribution
    ref: str  # certificate id, post id, or publish job id
    work_id: int
    work_title: str
    platforms: list[str]
    creator: str
    status: str
    at: object  # datetime

    @classmethod
    def of(cls, row) -> Use:
        return cls(row.kind, row.ref, row.work_id, row.work_title, platforms_of(row.platform), row.creator,
                   row.status, row.at)  # fmt: skip


@dataclass(frozen=True)
class UseCount:
    day: date
    work_title: str
    platform: str
    count: int


class Uses:
    def __init__(self, db: Database, *, platform_name: str, issuer: str) -> None:
        self.db, self.platform_name, self.issuer = db, platform_name, issuer

    def _union(self, holders: list[str]):
        def of_works(stmt):
            return (
                stmt.join(CertificateWork, CertificateWork.certificate_id == Certificate.id)
                .join(Work, Work.id == CertificateWork.work_id)
                .where(Work.holder.in_(holders))
            )

        common = (
            Work.id.label("work_id"),
            Work.title.label("work_title"),
            Certificate.creator.label("creator"),
        )
        certificates = of_works(
            select(
                literal("certificate", String).label("kind"),
                Certificate.id.label("ref"),
                *common,
                cast(Certificate.platforms, String).label("platform"),
                Certificate.status.label("status"),
                Certificate.issued_at.label("at"),
            )  # fmt: skip
        )
        posts = of_works(
            select(
                literal("post", String).label("kind"),
                Post.id.label("ref"),
                *common,
                literal(self.platform_name, String).label("platform"),
                Post.status.label("status"),
                Post.created_at.label("at"),
            )  # fmt: skip
            .select_from(Post)
            .join(Certificate, Certificate.id == Post.certificate_id)
            .where(Post.certificate_issuer == self.issuer)
        )
        distributed = of_works(
            select(
                literal("distribution", String).label("kind"),
                cast(PublishJob.id, String).label("ref"),
                *common,
                DistributionAccount.platform_name.label("platform"),
                PublishJob.state.label("status"),
                PublishJob.created_at.label("at"),
            )  # fmt: skip
            .select_from(PublishJob)
            .join(DistributionAccount, DistributionAccount.id == PublishJob.account_id)
            .join(Certificate, Certificate.id == PublishJob.certificate_id)
        )
        return union_all(certificates, posts, distributed).subquery("uses")

    def _filtered(self, holders: Iterable[str], query: ListQuery):
        u = self._union(list(holders))
        stmt = select(u)
        if query.text:  # a work's title or a creator's handle
            stmt = stmt.where(
                contains(u.c.work_title, query.text) | contains(u.c.creator, query.text.lstrip("@"))
            )
        f = query.filters
        if f.get("kind") in KINDS:
            stmt = stmt.where(u.c.kind == f["kind"])
        if f.get("work", "").isdigit() and len(f["work"]) < 19:
            stmt = stmt.where(u.c.work_id == int(f["work"]))
        if f.get("platform"):
            stmt = stmt.where(contains(u.c.platform, f["platform"].strip().lower()))
        if f.get("status"):
            stmt = stmt.where(u.c.status == f["status"].strip())
        return u, stmt

    def page(self, holders: Iterable[str], query: ListQuery) -> Page[Use]:
        """One page of uses, newest first unless the person sorts otherwise."""
        if not query.sort:
            query = replace(query, sort="at", descending=True)
        u, stmt = self._filtered(holders, query)
        columns = {"at": u.c.at, "work": u.c.work_title, "kind": u.c.kind, "platform": u.c.platform,
                   "status": u.c.status, "creator": u.c.creator}  # fmt: skip
        with self.db.session() as s:
            return page_of(s, stmt, query, columns=columns, default="at", row=Use.of, tiebreak=u.c.ref)

    def counts(self, holders: Iterable[str], query: ListQuery) -> list[UseCount]:
        """Uses per day, work and platform under the same filters (what the chart draws); a certificate
        covering several platforms counts once for each."""
        u, stmt = self._filtered(holders, query)
        f = stmt.subquery()
        day = func.date(f.c.at)
        grouped = select(day, f.c.work_title, f.c.platform, func.count()).group_by(
            day, f.c.work_title, f.c.platform
        )
        totals: Counter = Counter()
        with self.db.session() as s:
            for d, title, platform, n in s.execute(grouped):
                for p in platforms_of(platform):
                    totals[(date.fromisoformat(str(d)[:10]), title, p)] += n
        return [UseCount(d, t, p, n) for (d, t, p), n in sorted(totals.items())]
