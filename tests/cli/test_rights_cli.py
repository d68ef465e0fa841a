"""creators → licences → check → certificate → verify, through the installed command."""

import json
import shutil
from pathlib import Path

import pytest

from tests.cli.test_cli import hutong


@pytest.fixture
def home(registered_home: Path, tmp_path: Path) -> Path:
    h = tmp_path / "home"
    shutil.copytree(registered_home, h)
    return h


def test_check_certify_verify_revoke(home: Path, tmp_path: Path, two_work_clip):
    clip = str(two_work_clip.path)
    assert hutong(home, "creators", "add", "alice", "--verified").returncode == 0
    assert hutong(home, "creators", "add", "bob").returncode == 0
    r = hutong(
        home, "licences", "grant", "--holder", "Blender Foundation", "--work", "1", "--work", "2",
        "--platform", "douyin", "--until", "2030-01-01", "--max-segment", "30",
        "--forbid", "1 25-29 credits", "--attribution", "© Blender", "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["terms"]["forbidden"][0]["label"] == "credits"

    cert, svg = tmp_path / "c.jws", tmp_path / "t.svg"
    r = hutong(home, "check", clip, "--creator", "alice", "--platform", "douyin", "--certificate", str(cert),
               "--timeline", str(svg), "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["compliant"] and out["certificate"]["claims"]["licences"] == ["L-1@v1"]
    assert cert.read_text().count(".") == 2 and svg.read_text().startswith("<svg")

    jwks = tmp_path / "jwks.json"
    jwks.write_text(hutong(home, "certificate", "jwks").stdout)
    r = hutong(home, "certificate", "verify", clip, str(cert), "--jwks", str(jwks))
    assert r.returncode == 0 and r.stdout.startswith("valid"), r.stdout + r.stderr

    r = hutong(home, "check", clip, "--creator", "bob", "--platform", "douyin")
    assert r.returncode == 1 and "@bob is not verified" in r.stdout

    assert hutong(home, "licences", "revoke", "L-1", "--reason", "sold").returncode == 0
    status = tmp_path / "status.jws"
    status.write_text(hutong(home, "certificate", "status").stdout)
    r = hutong(
        home, "certificate", "verify", clip, str(cert), "--jwks", str(jwks), "--status", str(status), "--json"
    )
    assert r.returncode == 1 and json.loads(r.stdout)["code"] == "revoked"
    r = hutong(home, "licences", "history", "L-1")
    assert "v1 created" in r.stdout and "v1 revoked" in r.stdout and "sold" in r.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["licences", "grant", "--holder", "Blender Foundation", "--work", "1", "--platform", "douyin",
          "--from", "2027-01-01", "--until", "2026-01-01"], "wrong order"),
        (["licences", "grant", "--holder", "Blender Foundation", "--work", "1", "--platform", "douyin",
          "--until", "2030-01-01", "--forbid", "one 2-3"], "WORK START-END"),
        (["licences", "grant", "--holder", "Blender Foundation", "--work", "9", "--platform", "douyin",
          "--until", "2030-01-01"], "unknown work 9"),
        (["licences", "grant", "--holder", "Blender Foundation", "--work", "1", "--until", "2030-01-01"],
         "missing --platform"),
        (["licences", "grant", "--holder", "Blender Foundation", "--work", "1", "--platform", "x",
          "--until", "soon"], "not an ISO 8601"),
        (["certificate", "verify", "nofile.mp4", "nocert.jws"], "cannot read the certificate"),
        (["check", "nofile.mp4", "--creator", "zed", "--platform", "douyin"], "no creator @zed"),
        (["licences", "revoke", "L-3", "--reason", "x"], "no licence L-3"),
        (["licences", "grant", "--holder", "Blender Foundation", "--work", "99999999999999999999",
          "--platform", "douyin", "--until", "2030-01-01"], "WORK 99999999999999999999: no such id"),
        (["licences", "grant", "--holder", "Blender Foundation", "--work", "1", "--platform", "douyin",
          "--until", "2030-01-01", "--forbid", "99999999999999999999 2-3"], "names work 99999999999999999999"),
        (["works", "show", "99999999999999999999"], "WORK_ID 99999999999999999999: no such id"),
        (["works", "remove", "9223372036854775808"], "no such id"),
        (["platform", "review", "99999999999999999999", "--approve", "--note", "x"], "no such id"),
        (["platform", "resolve", "99999999999999999999", "--uphold", "--note", "x"], "no such id"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_changes_nothing(home: Path, args, needle):
    r = hutong(home, *args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) <= 2
    assert json.loads(hutong(home, "licences", "list", "--json").stdout)["licences"] == []


def test_verify_reads_the_c2pa_copy_and_flags_tampering(home: Path, tmp_path: Path, two_work_clip):
    hutong(home, "creators", "add", "alice", "--verified")
    hutong(home, "licences", "grant", "--holder", "Blender Foundation", "--work", "1", "--work", "2",
           "--platform", "*", "--until", "2030-01-01")  # fmt: skip
    copy = tmp_path / "c2pa.mp4"
    r = hutong(
        home,
        "check",
        str(two_work_clip.path),
        "--creator",
        "alice",
        "--platform",
        "weibo",
        "--c2pa",
        str(copy),
    )
    assert r.returncode == 0 and copy.exists(), r.stdout + r.stderr
    r = hutong(
        home, "certificate", "verify", str(copy), "--c2pa-trust", str(home / "keys" / "c2pa" / "ca.pem")
    )
    assert r.returncode == 0 and "C2PA: Trusted" in r.stdout, r.stdout + r.stderr
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    r = hutong(home, "certificate", "verify", str(copy))
    assert r.returncode == 1 and "C2PA manifest does not match" in r.stdout


def rows(home: Path) -> dict:
    import sqlite3

    con = sqlite3.connect(home / "hutong.db")
    try:
        return {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("works", "licences", "licence_events", "licence_works", "work_fingerprints")
        }
    finally:
        con.close()


def test_a_date_as_until_is_the_whole_day_and_titles_keep_one_pair_of_marks(tmp_path: Path):
    from tests.conftest import BBB

    home = tmp_path / "h"
    r = hutong(home, "works", "add", str(BBB), "--title", "《Film》", "--holder", "H", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["works"][0]["title"] == "Film", r.stderr
    r = hutong(home, "licences", "grant", "--holder", "H", "--work", "1", "--platform", "douyin",
               "--until", "2027-12-31", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["terms"]["valid_until"].startswith("2027-12-31T23:59:59")
    shown = hutong(home, "licences", "show", "L-1").stdout
    assert "1 《Film》" in shown and "《《" not in shown and "– 2027-12-31 23:59 UTC" in shown

    # every licence naming the work revoked: the work may go, its licence history stays
    r = hutong(home, "works", "remove", "1")
    assert r.returncode == 2 and "revoke or amend the licence" in r.stderr
    assert hutong(home, "licences", "revoke", "L-1", "--reason", "ended").returncode == 0
    before = rows(home)
    r = hutong(home, "works", "remove", "1")
    assert r.returncode == 0 and "removed work 1" in r.stdout, r.stderr
    after = rows(home)
    assert after == {**before, "work_fingerprints": 0}  # nothing else deleted
    assert json.loads(hutong(home, "works", "list", "--json").stdout)["works"] == []
    assert "1 《Film》" in hutong(home, "licences", "show", "L-1").stdout
    r = hutong(home, "works", "add", str(BBB), "--json")  # registered again: a new id
    assert r.returncode == 0 and json.loads(r.stdout)["works"][0]["work_id"] == 2, r.stderr


def test_works_add_folder_ends_with_a_summary(tmp_path: Path):
    from tests.conftest import BBB

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(BBB.read_bytes())
    (folder / "broken.mp4").write_bytes(b"not a video")
    (folder / "notes.txt").write_text("x")
    r = hutong(tmp_path / "h", "works", "add", str(folder), "--json")
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["summary"] == {"added": 1, "refused": 1, "skipped": 1}
    assert out["skipped"] == [
        {"path": str(folder / "notes.txt"), "reason": "not a media file (by its suffix)"}
    ]
    assert out["failed"][0]["path"].endswith("broken.mp4") and out["failed"][0]["reason"]
    (folder / "a.mp4").unlink()
    (folder / "broken.mp4").unlink()
    r = hutong(tmp_path / "h2", "works", "add", str(folder))
    assert r.returncode == 2 and "no media files" in r.stderr and "1 other file skipped" in r.stderr
    folder2 = tmp_path / "in2"
    folder2.mkdir()
    (folder2 / "b.mp4").write_bytes(BBB.read_bytes())
    (folder2 / "readme.md").write_text("x")
    r = hutong(tmp_path / "h3", "works", "add", str(folder2))
    assert r.returncode == 0 and "1 added, 0 refused, 1 skipped" in r.stdout
    assert "skipped" in r.stderr and "readme.md" in r.stderr


def test_one_issuer_per_installation(tmp_path: Path, monkeypatch):
    import os
    import subprocess
    import sys

    home = tmp_path / "h"

    def run(*args, **env):
        return subprocess.run([sys.executable, "-m", "hutong", *args], capture_output=True, text=True,
                              env={**os.environ, "HUTONG_HOME": str(home), **env}, timeout=120)  # fmt: skip

    monkeypatch.delenv("HUTONG_ISSUER", raising=False)
    r = run("issuer", "--json", HUTONG_ISSUER="http://127.0.0.1:8123")  # first use stores it
    assert r.returncode == 0 and json.loads(r.stdout)["issuer"] == "http://127.0.0.1:8123", r.stderr
    assert "http://127.0.0.1:8123" in run("issuer").stdout  # without the variable: the stored one
    jwks = json.loads(run("certificate", "jwks").stdout)
    assert jwks["issuer"] == "http://127.0.0.1:8123"  # what certificates' `iss` and the served JWKS say
    r = run("issuer", HUTONG_ISSUER="http://127.0.0.1:9000")  # a second identity is refused, loudly
    assert r.returncode == 2 and "hutong issuer set http://127.0.0.1:9000" in r.stderr
    r = run("serve", "--port", "9001")  # would publish keys under another issuer: refused before starting
    assert (
        r.returncode == 2
        and "port 9001" in r.stderr
        and "hutong issuer set http://127.0.0.1:9001" in r.stderr
    )
    r = run("issuer", "set", "http://127.0.0.1:9001/")
    assert r.returncode == 0 and "now http://127.0.0.1:9001" in r.stdout
    assert "certificates and tokens issued before name http://127.0.0.1:8123" in r.stderr
    assert json.loads(run("issuer", "--json").stdout)["issuer"] == "http://127.0.0.1:9001"
    r = run("issuer", "set", "not a url")
    assert r.returncode == 2 and "http(s) URL" in r.stderr
    assert json.loads(run("issuer", "--json").stdout)["issuer"] == "http://127.0.0.1:9001"


def test_serve_port_follows_the_issuer():
    import pytest as _pytest

    from hutong.config import serve_port
    from hutong.errors import HutongError

    assert serve_port("http://127.0.0.1:8123", None) == 8123
    assert serve_port("http://localhost:8123", 8123) == 8123
    assert serve_port("https://hutong.example.org", 9000) == 9000  # behind a proxy: any port
    with _pytest.raises(HutongError, match="another identity"):
        serve_port("http://127.0.0.1:8123", 8124)
