"""The same schema and flows on PostgreSQL (Debian's server, started for the test in a temporary cluster)."""

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hutong.api.background import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(args: list[str]) -> list[str]:
    # initdb refuses to run as root; the Debian package brings a postgres user
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@contextmanager
def temporary_postgres() -> Iterator[str]:
    """A PostgreSQL 15 cluster in a temporary folder on a free loopback port, stopped at the end; yields the
    SQLAlchemy URL of its ``hutong`` database (the tests' fixture and bench.tokens use it)."""
    # not under pytest's temporary folder: it is private to root, and the server runs as postgres
    root = Path(tempfile.mkdtemp(prefix="hutong-pg-"))
    data = root / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(data, "postgres", "postgres")
    port = free_port()
    subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "hutong", "--auth=trust", "-E", "UTF8"]),
                   check=True, capture_output=True)  # fmt: skip
    subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(data / "log"), "-w", "-o",
                                 f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start"]), check=True, capture_output=True)  # fmt: skip
    try:
        subprocess.run(_as_postgres([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "hutong", "hutong"]),
                       check=True, capture_output=True)  # fmt: skip
        yield f"postgresql+psycopg://hutong@127.0.0.1:{port}/hutong"
    finally:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]), capture_output=True
        )
        time.sleep(0.2)
        shutil.rmtree(root, ignore_errors=True)


def postgres_available() -> bool:
    return (PG_BIN / "initdb").exists() and (os.geteuid() != 0 or shutil.which("runuser") is not None)


@pytest.fixture(scope="module")
def pg_url():
    if not postgres_available():
        pytest.skip("PostgreSQL 15 server binaries are not installed")
    pytest.importorskip("psycopg")
    with temporary_postgres() as url:
        yield url


def test_catalogue_licence_certificate_and_platform_on_postgres(pg_url, tmp_path, two_work_clip):
    from hutong.app import Hutong
    from hutong.config import get_settings
    from hutong.rights import LicenceTerms
    from tests.conftest import BBB, SINTEL

    h = Hutong.create(get_settings(home=tmp_path / "home", database_url=pg_url))
    try:
        for f in (BBB, SINTEL):
            h.catalogue.add_one(f, title=f.stem, holder="Blender Foundation", check_duplicates=False)
        h.creators.add("alice", verified=True)
        h.licences.grant("Blender Foundation", LicenceTerms.parse({"works": [1, 2], "scope": {"kind": "verified"}, "platforms": ["douyin"],
                                                                     "valid_from": "2026-01-01", "valid_until": "2030-01-01"}))  # fmt: skip
        result = h.compliance.check(two_work_clip.path, "alice", "douyin")
        assert result.decision.compliant, result.decision.as_dict()
        cert = h.compliance.certify(result)
        _, n = h.licences.revoke("L-1", reason="test")
        assert n == 1 and h.compliance.status_claims()["revoked"][cert.claims["jti"]]["reason"].endswith(
            "test"
        )
        assert h.licences.get("L-1").created_at.tzinfo is not None  # UTC survives the round trip
        p = h.platform
        acc = p.accounts.register("pguser", "a long enough password").id
        dev = p.developers.register_individual(acc, "PG")
        assert dev["status"] == "verified" and p.developers.decisions(acc)[0].rule == "individual-allowed"
    finally:
        h.close()


def test_lookups_run_in_autocommit_and_hand_back_transactional_connections(pg_url):
    """``Database.read()`` saves the BEGIN and ROLLBACK round trips of a lone lookup; the pooled connection
    it used must come back to every other caller in a transaction again."""
    from hutong.store import Database

    db = Database(pg_url)
    try:
        for _ in range(3):  # one pooled connection, handed out in turn
            with db.read() as c:
                assert c.connection.dbapi_connection.autocommit is True
                assert c.exec_driver_sql("SELECT 1").scalar() == 1
            with db.engine.connect() as c:
                assert c.connection.dbapi_connection.autocommit is False
                c.exec_driver_sql("CREATE TEMPORARY TABLE scratch (x int)")
                c.rollback()  # in a transaction: the table goes with it
                assert c.exec_driver_sql("SELECT to_regclass('pg_temp.scratch')").scalar() is None
    finally:
        db.dispose()
