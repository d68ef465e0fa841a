"""Work ids are never reused, and a work whose licences are all revoked can be removed without losing the
licences' history (issue 9)."""

import sqlite3

import pytest
from sqlalchemy import func, select

from hutong.errors import CatalogueError, RightsError
from hutong.match.index import catalogue_generation
from hutong.rights import LicenceTerms
from hutong.store import Database, Licence, LicenceEvent, LicenceWork, WorkFingerprint
from tests.conftest import BBB, CARS, EVERY_SIGNAL

HOLDER = "Blender Foundation"


def terms(works) -> LicenceTerms:
    return LicenceTerms.parse(
        {"works": works, "scope": {"kind": "verified"}, "platforms": ["douyin"], "valid_from": "2026-01-01",
         "valid_until": "2030-01-01"}
    )  # fmt: skip


def rows(app) -> dict:
    with app.db.session() as s:
        return {
            t.__name__: s.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (Licence, LicenceEvent, LicenceWork, WorkFingerprint)
        }


def test_ids_are_not_reused_after_a_removal(app):
    first = app.catalogue.add_one(BBB, title=None, holder="")
    second = app.catalogue.add_one(CARS, title=None, holder="")
    app.catalogue.remove(
        second.work_id
    )  # the highest id: SQLite would hand it out again without AUTOINCREMENT
    again = app.catalogue.add_one(CARS, title=None, holder="")  # the same file may be registered again
    assert again.work_id > second.work_id > first.work_id
    assert [w.work_id for w in app.catalogue.list()] == [first.work_id, again.work_id]


def test_a_work_whose_licences_are_all_revoked_can_be_removed(registered):
    app = registered
    app.creators.add("alice", verified=True)
    a = app.licences.grant(HOLDER, terms([1, 2]))
    b = app.licences.grant(HOLDER, terms([1]), allow_overlap=True)
    app.licences.revoke(a.code, reason="sold")
    before, gen = rows(app), catalogue_generation(app.db)
    with pytest.raises(CatalogueError, match=f"named by licence {b.code}"):
        app.catalogue.remove(1)  # b is still active
    assert rows(app) == before and catalogue_generation(app.db) == gen
    app.licences.revoke(b.code, reason="sold")
    before = rows(app)
    removed = app.catalogue.remove(1)
    assert removed.work_id == 1 and 1 not in [w.work_id for w in app.catalogue.list()]
    after = rows(app)
    # the licences, their history and the works they named stay; only the fingerprints go
    assert {k: v for k, v in after.items() if k != "WorkFingerprint"} == {
        k: v for k, v in before.items() if k != "WorkFingerprint"
    }
    # one row per signal the catalogue was registered with (every installed one: tests/conftest.py)
    assert after["WorkFingerprint"] == before["WorkFingerprint"] - len(EVERY_SIGNAL.split(","))
    assert catalogue_generation(app.db) > gen
    assert app.licences.get(a.code).work_titles[1] == "bbb_30s"  # history still names it
    with pytest.raises(CatalogueError, match="no work with id 1"):
        app.catalogue.get(1)
    with pytest.raises(CatalogueError, match="no work with id 1"):
        app.catalogue.remove(1)
    with pytest.raises(RightsError, match="unknown work 1"):  # a removed work cannot be licensed again
        app.licences.grant(HOLDER, terms([1, 2]), allow_overlap=True)
    assert app.recognizer is not None


def test_upgrade_keeps_rows_and_gives_works_autoincrement(tmp_path):
    """A home made before this change: migrated in place, nothing lost, and ids no longer reused."""
    from hutong.store.db import make_engine, migrate

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    migrate(engine, "0004")  # a home made before this change
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO works (id, title, holder, source_path, sha256, duration, width, height, fps, has_audio, "
            "created_at) VALUES (1, '《Film》', 'H', '/x', 'aa', 10, 1, 1, 25, 0, '2026-01-01 00:00:00'),"
            " (2, 'Two', 'H', '/y', 'bb', 10, 1, 1, 25, 0, '2026-01-01 00:00:00')"
        )
        conn.exec_driver_sql(
            "INSERT INTO work_fingerprints (work_id, signal, count, times, vectors) VALUES (1, 's', 0, x'', x'')"
        )
    engine.dispose()
    db = Database(url)  # upgrades to head
    db.dispose()
    con = sqlite3.connect(tmp_path / "old.db")
    try:
        sql = con.execute("SELECT sql FROM sqlite_master WHERE name = 'works'").fetchone()[0]
        assert "AUTOINCREMENT" in sql
        assert con.execute("SELECT id, title FROM works ORDER BY id").fetchall() == [(1, "Film"), (2, "Two")]
        assert con.execute("SELECT count(*) FROM work_fingerprints").fetchone()[0] == 1
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        con.close()
