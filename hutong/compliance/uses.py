"""Where a rights holder's works are used: certificates issued over them, posts on this platform that carry
those certificates, and posts published to other platforms through distribution. One row per use and work,
read in SQL (a union of the three), so the console pages through tens of thousands of uses.

A certificate is tied to the works it covers (``certificate_works``, the works its token names); a clip using
two of the holder's works is a use of each."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta

from sqlalchemy import Date, String, cast, func, literal, select, union_all

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
    def __init__(self, db: Database, *, platform_name: str, issuer: str, counts_ttl: float) -> None:
        self.db, self.platform_name, self.issuer, self.counts_ttl = db, platform_name, issuer, counts_ttl
        self._counts: dict[tuple, tuple[float, tuple[str, list[UseCount]]]] = {}

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

    def counts(self, holders: Iterable[str], query: ListQuery) -> tuple[str, list[UseCount]]:
        """Uses per period, work and platform under the same filters (what the chart draws): the period is
        a day, week or month, whichever gives at most about 30 between the first use and the last. The
        database groups by day (one pass; the answer stays small however many uses there are); days are
        gathered into weeks or months here. A certificate covering several platforms counts once for each.

        Paging and sorting a list keep its filters, so the answer is kept for ``counts_ttl`` seconds per
        holder set and filters (``HUTONG_CONSOLE_CHART_SECONDS``): the chart may lag a new use by that long."""
        holders = sorted(holders)
        key = (tuple(holders), query.text, tuple(sorted(query.filters.items())))
        now = time.monotonic()
        hit = self._counts.get(key)
        if hit and now - hit[0] < self.counts_ttl:
            return hit[1]
        answer = self._count(holders, query)
        if len(self._counts) > 1000:  # many filter combinations: forget the oldest half
            for k in sorted(self._counts, key=lambda k: self._counts[k][0])[:500]:
                self._counts.pop(k, None)
        self._counts[key] = (now, answer)
        return answer

    def _count(self, holders: list[str], query: ListQuery) -> tuple[str, list[UseCount]]:
        u, stmt = self._filtered(holders, query)
        f = stmt.subquery()
        day = self._period_start("day", f.c.at)
        grouped = select(day, f.c.work_id, f.c.platform, func.count()).group_by(
            day, f.c.work_id, f.c.platform
        )
        with self.db.session() as s:
            rows = [(date.fromisoformat(str(d)[:10]), w, p, n) for d, w, p, n in s.execute(grouped)]
            if not rows:
                return "day", []
            titles = dict(s.execute(select(Work.id, Work.title).where(Work.holder.in_(holders))).all())
        unit = period(min(r[0] for r in rows), max(r[0] for r in rows))
        totals: Counter = Counter()
        for d, work_id, platform, n in rows:
            for p in platforms_of(platform):
                totals[(period_of(unit, d), titles.get(work_id, str(work_id)), p)] += n
        return unit, [UseCount(d, t, p, n) for (d, t, p), n in sorted(totals.items())]

    def _period_start(self, unit: str, at):
        """The first day of the period holding ``at``, in SQL (UTC days; weeks start on Monday)."""
        if self.db.engine.dialect.name == "postgresql":
            if unit == "day":
                return cast(func.timezone("UTC", at), Date)
            return cast(func.date_trunc(unit, func.timezone("UTC", at)), Date)
        if unit == "week":
            return func.date(at, "weekday 0", "-6 days")
        return func.strftime("%Y-%m-01", at) if unit == "month" else func.date(at)


def period(first: date, last: date) -> str:
    span = (last - first).days + 1
    return "day" if span <= 31 else "week" if span <= 31 * 7 else "month"


def period_of(unit: str, d: date) -> date:
    if unit == "week":
        return d - timedelta(days=d.weekday())
    return d.replace(day=1) if unit == "month" else d


def periods(unit: str, first: date, last: date) -> list[date]:
    """Every period from the one holding ``first`` to the one holding ``last``."""
    out, d = [], period_of(unit, first)
    while d <= last:
        out.append(d)
        d = (
            d + timedelta(days=1 if unit == "day" else 7)
            if unit != "month"
            else (d.replace(day=28) + timedelta(days=4)).replace(day=1)
        )
    return out
