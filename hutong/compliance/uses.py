"""Where a rights holder's works are used: certificates issued over them, posts on this platform that carry
those certificates, and posts published to other platforms through distribution. One row per use and work,
read in SQL (a union of the three), so the console pages through tens of thousands of uses.

A certificate is tied to the works it covers (``certificate_works``, the works its token names); a clip using
two of the holder's works is a use of each."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import String, cast, literal, select, union_all

from hutong.store import Certificate, Database, DistributionAccount, Post, PublishJob, Work
from hutong.store.models import CertificateWork
from hutong.store.paging import ListQuery, Page, contains

KINDS = ("certificate", "post", "distribution")
SORT_KEYS = {
    "at": lambda u: u.at,
    "work": lambda u: u.work_title,
    "kind": lambda u: u.kind,
    "platform": lambda u: ",".join(u.platforms),
    "status": lambda u: u.status,
    "creator": lambda u: u.creator,
}


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
    def __init__(self, db: Database, *, platform_name: str, issuer: str, cache_ttl: float) -> None:
        self.db, self.platform_name, self.issuer, self.cache_ttl = db, platform_name, issuer, cache_ttl
        self._lists: dict[tuple, tuple[float, tuple[list[Use], dict]]] = {}
        self._guard, self._reading = threading.Lock(), {}

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
        """One page of uses, newest first unless the person sorts otherwise.

        The union of three joins cannot be paged through an index, so a holder's filtered uses are read once
        and kept for ``cache_ttl`` seconds (``HUTONG_CONSOLE_USES_SECONDS``) per holder set and filters, each
        order sorted once: paging and sorting then cost a slice. A new use shows at most that late."""
        if not query.sort or query.sort not in SORT_KEYS:
            query = replace(query, sort="at", descending=True)
        rows, orders = self._cached(
            self._lists, self._key(holders, query), lambda: self._read(holders, query)
        )
        order = (query.sort, query.descending)
        if order not in orders:
            by = SORT_KEYS[query.sort]
            orders[order] = sorted(rows, key=lambda u: (by(u), u.ref), reverse=query.descending)
        ordered = orders[order]
        last = max(1, -(-len(ordered) // query.per_page))
        if query.page > last:
            query = query.at(last)
        start = (query.page - 1) * query.per_page
        return Page(ordered[start : start + query.per_page], len(ordered), query, query.sort)

    def _read(self, holders: Iterable[str], query: ListQuery) -> tuple[list[Use], dict]:
        _, stmt = self._filtered(holders, query)
        with self.db.session() as s:
            return [Use.of(r) for r in s.execute(stmt)], {}

    @staticmethod
    def _key(holders: Iterable[str], query: ListQuery) -> tuple:
        return (tuple(sorted(holders)), query.text, tuple(sorted(query.filters.items())))

    def _cached(self, store: dict, key: tuple, compute):
        """``compute()``'s answer for ``key``, kept ``cache_ttl`` seconds; people asking at once for the same
        key while it is read wait for that one read instead of each running it."""
        hit = store.get(key)
        if hit and time.monotonic() - hit[0] < self.cache_ttl:
            return hit[1]
        with self._guard:
            lock = self._reading.setdefault((id(store), key), threading.Lock())
        with lock:
            hit = store.get(key)
            if hit and time.monotonic() - hit[0] < self.cache_ttl:
                return hit[1]
            value = compute()
            if len(store) >= 64:  # many filter combinations: forget the oldest half
                for k in sorted(store, key=lambda k: store[k][0])[:32]:
                    store.pop(k, None)
            store[key] = (time.monotonic(), value)
        with self._guard:
            self._reading.pop((id(store), key), None)
        return value

    def counts(self, holders: Iterable[str], query: ListQuery) -> tuple[str, list[UseCount]]:
        """Uses per period, work and platform under the same filters (what the chart draws): the period is
        a day, week or month, whichever gives at most about 30 between the first use and the last (UTC days;
        weeks start on Monday). Counted from the same rows the list reads (kept ``cache_ttl`` seconds), so
        the chart costs no second pass over the database. A certificate covering several platforms counts
        once for each."""
        rows, kept = self._cached(self._lists, self._key(holders, query), lambda: self._read(holders, query))
        if "counts" not in kept:  # counted once per read, like each order of the list
            kept["counts"] = self._count(rows)
        return kept["counts"]

    @staticmethod
    def _count(rows: list[Use]) -> tuple[str, list[UseCount]]:
        if not rows:
            return "day", []
        days = [(as_utc(u.at).date(), u) for u in rows]
        unit = period(min(d for d, _ in days), max(d for d, _ in days))
        totals: Counter = Counter()
        for d, u in days:
            for p in u.platforms:
                totals[(period_of(unit, d), u.work_title, p)] += 1
        return unit, [UseCount(d, t, p, n) for (d, t, p), n in sorted(totals.items())]


def as_utc(at) -> datetime:
    """A use's moment as an aware UTC datetime (a union may hand back the stored text)."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


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
