from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect

from hutong.store import Database, Work


def test_migrations_create_schema_and_are_idempotent(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    db = Database(url)
    tables = set(inspect(db.engine).get_table_names())
    assert {"works", "work_fingerprints", "catalogue_state", "alembic_version"} <= tables
    db.dispose()
    Database(url).dispose()  # second start: nothing to do, no error


def test_utc_datetimes_survive_sqlite(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    when = datetime(2026, 11, 24, 20, 30, tzinfo=timezone(timedelta(hours=8)))
    with db.session() as s:
        s.add(Work(title="t", holder="", source_path="/x", sha256="a" * 64, duration=1.0, created_at=when))
    with db.session() as s:
        got = s.get(Work, 1).created_at
    assert got.tzinfo is not None and got == when and got.utcoffset() == timedelta(0)
    assert got == datetime(2026, 11, 24, 12, 30, tzinfo=UTC)


def test_naive_datetime_is_refused(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(Exception, match="naive datetime"), db.session() as s:
        s.add(
            Work(
                title="t",
                holder="",
                source_path="/x",
                sha256="b" * 64,
                duration=1.0,
                created_at=datetime(2026, 1, 1),
            )
        )
        s.flush()
    with db.session() as s:
        assert s.query(Work).count() == 0


def test_migrations_match_the_models(tmp_path):
    """Alembic autogenerate finds nothing to add, drop or change (float/double spelling aside)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from hutong.store import Base

    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    db.dispose()

    def real(d) -> bool:
        op = d[0] if isinstance(d, tuple) else d[0][0]
        return op != "modify_type"  # SQLAlchemy 2 maps Mapped[float] to Double; the migration says Float

    assert [d for d in diff if real(d)] == []


def test_lookups_run_in_autocommit_and_hand_back_transactional_connections(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'h.db'}")
    try:
        for _ in range(3):
            with db.read() as c:
                assert c.connection.dbapi_connection.isolation_level is None  # sqlite3's autocommit
                assert c.exec_driver_sql("SELECT 1").scalar() == 1
            with db.engine.connect() as c:
                assert c.connection.dbapi_connection.isolation_level is not None
    finally:
        db.dispose()
