"""Where a holder's works are used, on a real database: certificates (tied to the works they cover, also
for certificates issued before the ``certificate_works`` table existed) and distribution posts (posts on
this platform: tests/web/test_console_holder.py)."""

from __future__ import annotations

import base64
import json
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy import insert

from hutong.compliance.uses import periods
from hutong.store import Certificate, DistributionAccount, PublishJob, Work, utcnow
from hutong.store.db import make_engine, migrate
from hutong.store.models import CertificateWork
from hutong.store.paging import ListQuery
from tests.store import test_postgres

STUDIO, OTHER = "Studio", "Other"
pg_url = test_postgres.pg_url  # a PostgreSQL server for this module (skipped where none is installed)


def token(works: list[int]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps({"works": [{"id": w} for w in works]}).encode()).decode()
    return f"e30.{payload.rstrip('=')}.sig"


def rows(app) -> dict[str, int]:
    now = utcnow()
    with app.db.session() as s:
        s.execute(insert(Work), [dict(id=i, title=f"Work {i}", holder=STUDIO if i < 3 else OTHER,
                                      source_path="/x", sha256=f"{i:064x}", duration=60.0) for i in (1, 2, 3)])  # fmt: skip
        certs = [("c1", [1, 2], now - timedelta(days=3)), ("c2", [1], now), ("c3", [3], now)]
        for cid, works, at in certs:
            s.add(Certificate(id=cid, clip_sha256="0" * 64, creator="xm", platforms=["douyin"], kid="k",
                              issued_at=at, expires_at=at + timedelta(days=30), token=token(works)))  # fmt: skip
        s.flush()
        s.execute(
            insert(CertificateWork), [dict(certificate_id=c, work_id=w) for c, ws, _ in certs for w in ws]
        )
        s.add(DistributionAccount(name="bili", adapter="bilibili", platform_url="http://127.0.0.1:9",
                                  platform_name="bilibili", client_id="c", redirect_uri="http://127.0.0.1:9/cb"))  # fmt: skip
        s.flush()
        acc = s.execute(sa.select(DistributionAccount.id)).scalar_one()
        s.add(PublishJob(clip_sha256="1" * 64, account_id=acc, clip_path="/c", certificate="t", certificate_id="c1",
                         state="published", idempotency_key="k"))  # fmt: skip
    return {"account": acc}


def test_uses_are_one_row_per_covered_work_and_never_another_holders(app):
    rows(app)
    page = app.uses.page([STUDIO], ListQuery(per_page=50))
    got = sorted((u.kind, u.ref, u.work_id) for u in page.items)
    assert got == [("certificate", "c1", 1), ("certificate", "c1", 2), ("certificate", "c2", 1),
                   ("distribution", "1", 1), ("distribution", "1", 2)]  # fmt: skip
    ats = [u.at for u in page.items]
    assert ats == sorted(ats, reverse=True) and page.items[-1].ref == "c1"  # newest first by default
    only = app.uses.page([STUDIO], ListQuery(filters={"work": "2"}))
    assert {u.ref for u in only.items} == {"c1", "1"}
    assert app.uses.page([STUDIO], ListQuery(filters={"platform": "bili"})).total == 2
    assert app.uses.page([STUDIO], ListQuery(filters={"kind": "post"})).total == 0
    assert app.uses.page([STUDIO], ListQuery(filters={"work": "9" * 30})).total == 5  # not an id: ignored
    assert {u.ref for u in app.uses.page([OTHER], ListQuery()).items} == {"c3"}
    unit, counts = app.uses.counts([STUDIO], ListQuery())
    assert unit == "day" and sum(c.count for c in counts) == 5
    assert {c.platform for c in counts} == {"douyin", "bilibili"} and len({c.day for c in counts}) == 2
    assert app.uses.counts([STUDIO], ListQuery(filters={"kind": "post"})) == ("day", [])


def test_long_spans_are_counted_per_week_or_month(app):
    rows(app)
    now = utcnow()
    with app.db.session() as s:  # a year of certificates over work 2: 53 weeks, so months
        for i in range(0, 365, 5):
            at = now - timedelta(days=i)
            s.add(Certificate(id=f"y{i}", clip_sha256="0" * 64, creator="xm", platforms=["*"], kid="k",
                              issued_at=at, expires_at=at, token="t"))  # fmt: skip
            s.flush()
            s.add(CertificateWork(certificate_id=f"y{i}", work_id=2))
    unit, counts = app.uses.counts([STUDIO], ListQuery(filters={"work": "2"}))
    assert unit == "month" and all(c.day.day == 1 for c in counts)
    assert sum(c.count for c in counts) == 73 + 2 and len({c.day for c in counts}) in (12, 13)
    unit, counts = app.uses.counts(
        [STUDIO], ListQuery(filters={"work": "2", "kind": "certificate"}, text="xm")
    )
    assert unit == "month"
    with app.db.session() as s:
        s.execute(sa.delete(CertificateWork).where(CertificateWork.certificate_id.like("y%")))
        s.add_all(CertificateWork(certificate_id=f"y{i}", work_id=1) for i in range(0, 100, 5))  # 95 days
    unit, counts = app.uses.counts([STUDIO], ListQuery(filters={"work": "1"}))
    assert unit == "week" and all(c.day.weekday() == 0 for c in counts)
    assert periods("week", date(2026, 1, 7), date(2026, 1, 20)) == [date(2026, 1, 5), date(2026, 1, 12),
                                                                      date(2026, 1, 19)]  # fmt: skip
    assert periods("month", date(2026, 11, 30), date(2027, 1, 1)) == [date(2026, 11, 1), date(2026, 12, 1),
                                                                       date(2027, 1, 1)]  # fmt: skip


def test_the_migration_fills_in_the_works_of_certificates_issued_before_it(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(engine, "0011_console")
    with engine.begin() as c:
        c.execute(sa.text("INSERT INTO works (id, title, holder, source_path, sha256, duration, width, height, fps,"
                          " has_audio, created_at) VALUES (1, 'W', 'S', '/x', 'a', 1, 0, 0, 0, 0, '2026-01-01')"))  # fmt: skip
        for cid, tok in (("old", token([1, 77])), ("unreadable", "not-a-token")):
            c.execute(sa.text("INSERT INTO certificates (id, clip_sha256, creator, platforms, kid, issued_at, "
                              "expires_at, status, revoke_reason, token) VALUES (:id, 'x', 'xm', '[]', 'k', "
                              "'2026-01-01', '2027-01-01', 'valid', '', :t)"), {"id": cid, "t": tok})  # fmt: skip
    migrate(engine)
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT certificate_id, work_id FROM certificate_works")).all() == [
            ("old", 1)
        ]
    engine.dispose()


def test_uses_and_their_periods_on_postgres(pg_url, tmp_path):
    from hutong.app import Hutong
    from hutong.config import get_settings

    h = Hutong.create(get_settings(home=tmp_path / "home", database_url=pg_url, console_uses_seconds=0))
    try:
        rows(h)
        page = h.uses.page([STUDIO], ListQuery(per_page=50, sort="platform"))
        assert sorted((u.kind, u.ref, u.work_id) for u in page.items) == [
            ("certificate", "c1", 1), ("certificate", "c1", 2), ("certificate", "c2", 1),
            ("distribution", "1", 1), ("distribution", "1", 2)]  # fmt: skip
        assert h.uses.page([STUDIO], ListQuery(filters={"platform": "douyin"})).total == 3
        unit, counts = h.uses.counts([STUDIO], ListQuery())
        assert unit == "day" and sum(c.count for c in counts) == 5
        with h.db.session() as s:
            at = utcnow() - timedelta(days=100)
            s.add(Certificate(id="old", clip_sha256="0" * 64, creator="xm", platforms=["*"], kid="k", issued_at=at,
                              expires_at=at, token="t"))  # fmt: skip
            s.flush()
            s.add(CertificateWork(certificate_id="old", work_id=1))
        unit, counts = h.uses.counts([STUDIO], ListQuery())
        assert (
            unit == "week" and all(c.day.weekday() == 0 for c in counts) and sum(c.count for c in counts) == 6
        )
    finally:
        h.close()


def test_uses_and_their_chart_are_reused_while_the_filters_stay_then_read_again(app):
    rows(app)
    first = app.uses.counts([STUDIO], ListQuery())
    listed = app.uses.page([STUDIO], ListQuery()).total
    with app.db.session() as s:  # a new use of work 1
        s.add(Certificate(id="c9", clip_sha256="0" * 64, creator="xm", platforms=["douyin"], kid="k",
                          issued_at=utcnow(), expires_at=utcnow(), token="t"))  # fmt: skip
        s.flush()
        s.add(CertificateWork(certificate_id="c9", work_id=1))
    assert app.uses.counts([STUDIO], ListQuery()) == first  # paging the same list: the chart is not recounted
    assert app.uses.page([STUDIO], ListQuery(page=2, sort="work")).total == listed  # nor the list re-read
    assert (
        sum(c.count for c in app.uses.counts([STUDIO], ListQuery(text="xm"))[1]) == 6
    )  # other filters: fresh
    app.uses.cache_ttl = 0  # HUTONG_CONSOLE_USES_SECONDS=0
    assert sum(c.count for c in app.uses.counts([STUDIO], ListQuery())[1]) == 6
    assert app.uses.page([STUDIO], ListQuery()).total == listed + 1
